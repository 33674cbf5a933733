//! Domain types: values parsed once at the edge and trusted after.

pub mod attendance;
pub mod names;
pub mod range;
pub mod rules;
pub mod time;
pub mod token;
pub mod zoom_url;
pub mod zoom_webhook;

pub use entity::{ApiKeyId, LinkId, StudentId, TeacherId};
pub use rules::SessionRules;
pub use token::{ApiToken, Secret, TrackingToken, bearer};
pub use zoom_url::ZoomUrl;

/// Who is calling an authenticated operation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Caller {
    Admin,
    Teacher(TeacherId),
}

impl Caller {
    pub fn is_admin(self) -> bool {
        matches!(self, Caller::Admin)
    }
}
