//! Secrets: tracking tokens in student links and API tokens for admins and teachers.

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use sha2::{Digest, Sha256};

/// Random bytes in a tracking token: 192 bits, far above the 128 the design asks for.
const TRACKING_TOKEN_BYTES: usize = 24;
const TRACKING_TOKEN_LEN: usize = 32;
const API_TOKEN_PREFIX: &str = "ztk_";

fn random_base64<const N: usize>() -> Result<String, getrandom::Error> {
    let mut bytes = [0u8; N];
    getrandom::fill(&mut bytes)?;
    Ok(URL_SAFE_NO_PAD.encode(bytes))
}

/// The token in a tracking URL: URL-safe base64 of CSPRNG bytes, never sequential.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TrackingToken(String);

impl TrackingToken {
    pub fn generate() -> Result<Self, getrandom::Error> {
        random_base64::<TRACKING_TOKEN_BYTES>().map(Self)
    }

    /// Accepts only the shape `generate` produces, so junk never reaches the database.
    pub fn parse(value: &str) -> Option<Self> {
        let ok = value.len() == TRACKING_TOKEN_LEN
            && value
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        ok.then(|| Self(value.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The first characters only, for log lines.
    pub fn redacted(&self) -> String {
        format!("{}…", &self.0[..6])
    }
}

/// One load of the tracking page. A reload makes a new one, so the old page's late end-session
/// cannot end the session the new page holds.
pub fn new_visit_id() -> Result<String, getrandom::Error> {
    random_base64::<12>()
}

/// The token of an `Authorization` value `Bearer <token>` (the scheme in any case); `None`
/// for any other shape.
pub fn bearer(value: &str) -> Option<&str> {
    let (scheme, token) = value.split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

/// A secret from the configuration (the admin token, the Zoom webhook secret): its `Debug`
/// never shows it, so it stays out of logs and panic messages.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(redacted)")
    }
}

/// A bearer token for the API. Only its SHA-256 is stored.
pub struct ApiToken(String);

impl ApiToken {
    pub fn generate() -> Result<Self, getrandom::Error> {
        random_base64::<32>().map(|s| Self(format!("{API_TOKEN_PREFIX}{s}")))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_string(self) -> String {
        self.0
    }

    /// Hex SHA-256 of a presented token: what the `api_keys` table stores and looks up.
    pub fn hash(token: &str) -> String {
        hex::encode(Sha256::digest(token.as_bytes()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_tracking_tokens_parse_and_differ() {
        let a = TrackingToken::generate().unwrap();
        let b = TrackingToken::generate().unwrap();
        assert_ne!(a, b);
        assert_eq!(TrackingToken::parse(a.as_str()), Some(a));
    }

    #[test]
    fn malformed_tracking_tokens_are_refused() {
        for bad in [
            "",
            "short",
            &"a".repeat(33),
            "abc%27;DROP TABLE x;--aaaaaaaaaa",
        ] {
            assert_eq!(TrackingToken::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn bearer_values_name_their_token() {
        assert_eq!(bearer("Bearer abc"), Some("abc"));
        assert_eq!(bearer("bearer  abc "), Some("abc"));
        for bad in ["", "Bearer", "Bearer ", "Basic abc", "abc"] {
            assert_eq!(bearer(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn api_tokens_hash_stably() {
        let token = ApiToken::generate().unwrap();
        assert!(token.as_str().starts_with(API_TOKEN_PREFIX));
        assert_eq!(ApiToken::hash(token.as_str()).len(), 64);
        assert_eq!(ApiToken::hash("x"), ApiToken::hash("x"));
    }
}
