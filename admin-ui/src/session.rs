//! The admin's credential, kept in the browser session (gone when the browser closes).

const KEY: &str = "zoomtrack.admin-token";

#[derive(Clone, Debug, PartialEq)]
pub struct Credential(String);

impl Credential {
    pub fn new(token: &str) -> Option<Self> {
        let token = token.trim();
        (!token.is_empty()).then(|| Self(token.to_owned()))
    }

    pub fn bearer(&self) -> String {
        format!("Bearer {}", self.0)
    }

    fn storage() -> Option<web_sys::Storage> {
        web_sys::window()?.session_storage().ok()?
    }

    pub fn stored() -> Option<Self> {
        Self::storage()?
            .get_item(KEY)
            .ok()?
            .and_then(|t| Self::new(&t))
    }

    pub fn keep(&self) {
        if let Some(storage) = Self::storage() {
            let _ = storage.set_item(KEY, &self.0);
        }
    }

    pub fn forget() {
        if let Some(storage) = Self::storage() {
            let _ = storage.remove_item(KEY);
        }
    }
}
