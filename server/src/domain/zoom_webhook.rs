//! Zoom's webhook signatures: every request carries `x-zm-signature` =
//! `v0=` + hex HMAC-SHA256(secret, `v0:{x-zm-request-timestamp}:{raw body}`), and the endpoint
//! proves it holds the secret by answering `endpoint.url_validation` with
//! hex HMAC-SHA256(secret, plainToken).

use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// How far a request's timestamp may be from the server's clock: older ones may be replays.
pub const MAX_AGE_SECONDS: i64 = 5 * 60;

fn mac(secret: &str) -> Hmac<Sha256> {
    Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes a key of any length")
}

fn message(timestamp: &str, body: &[u8]) -> Vec<u8> {
    let mut message = format!("v0:{timestamp}:").into_bytes();
    message.extend_from_slice(body);
    message
}

/// The `x-zm-signature` Zoom sends for this timestamp and body.
pub fn signature(secret: &str, timestamp: &str, body: &[u8]) -> String {
    let mut mac = mac(secret);
    mac.update(&message(timestamp, body));
    format!("v0={}", hex::encode(mac.finalize().into_bytes()))
}

/// The `encryptedToken` that answers a URL validation.
pub fn encrypted_token(secret: &str, plain_token: &str) -> String {
    let mut mac = mac(secret);
    mac.update(plain_token.as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

/// Checks a request's signature (in constant time) and the age of its timestamp (seconds since
/// the epoch; milliseconds are accepted too).
pub fn verify(
    secret: &str,
    timestamp: Option<&str>,
    signature: Option<&str>,
    body: &[u8],
    now: DateTime<Utc>,
) -> Result<(), &'static str> {
    let timestamp = timestamp.ok_or("the x-zm-request-timestamp header is missing")?;
    let signature = signature.ok_or("the x-zm-signature header is missing")?;
    let sent: i64 = timestamp
        .trim()
        .parse()
        .map_err(|_| "x-zm-request-timestamp is not a number")?;
    let sent = if sent > 100_000_000_000 {
        sent / 1000
    } else {
        sent
    };
    if now.timestamp().abs_diff(sent) > MAX_AGE_SECONDS.unsigned_abs() {
        return Err("x-zm-request-timestamp is more than 5 minutes from now");
    }
    let digest = signature
        .strip_prefix("v0=")
        .and_then(|hex_digest| hex::decode(hex_digest).ok())
        .ok_or("x-zm-signature is not v0=<hex>")?;
    let mut mac = mac(secret);
    mac.update(&message(timestamp, body));
    mac.verify_slice(&digest)
        .map_err(|_| "x-zm-signature does not match the body")
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "s3cr3t-webhook-token";

    #[test]
    fn a_signed_request_verifies_and_nothing_else_does() {
        let now = Utc::now();
        let ts = now.timestamp().to_string();
        let body = br#"{"event":"meeting.ended"}"#;
        let good = signature(SECRET, &ts, body);
        assert!(good.starts_with("v0=") && good.len() == 3 + 64);
        assert_eq!(verify(SECRET, Some(&ts), Some(&good), body, now), Ok(()));
        let millis = (now.timestamp() * 1000).to_string();
        let good_ms = signature(SECRET, &millis, body);
        assert_eq!(
            verify(SECRET, Some(&millis), Some(&good_ms), body, now),
            Ok(())
        );

        let tampered = br#"{"event":"meeting.ended "}"#;
        assert!(verify(SECRET, Some(&ts), Some(&good), tampered, now).is_err());
        let other = signature("another secret", &ts, body);
        assert!(verify(SECRET, Some(&ts), Some(&other), body, now).is_err());
        assert!(verify(SECRET, None, Some(&good), body, now).is_err());
        assert!(verify(SECRET, Some(&ts), None, body, now).is_err());
        assert!(verify(SECRET, Some(&ts), Some("v0=zz"), body, now).is_err());
        assert!(verify(SECRET, Some(&ts), Some(&good[3..]), body, now).is_err());

        let old = (now.timestamp() - MAX_AGE_SECONDS - 1).to_string();
        let stale = signature(SECRET, &old, body);
        assert!(verify(SECRET, Some(&old), Some(&stale), body, now).is_err());
        let extreme = i64::MIN.to_string();
        let signed = signature(SECRET, &extreme, body);
        assert!(verify(SECRET, Some(&extreme), Some(&signed), body, now).is_err());
    }

    #[test]
    fn signatures_and_tokens_are_hmac_sha256() {
        // Computed independently (Python's hmac module).
        assert_eq!(
            signature("zoom-secret", "1700000000", br#"{"event":"meeting.ended"}"#),
            "v0=4e60fd6b16c22e7d9a6402bdc4445e5cc74b114bd2e0c97816862e36afbbf591"
        );
        // HMAC-SHA256 test vector (RFC 4231, test case 2).
        assert_eq!(
            encrypted_token("Jefe", "what do ya want for nothing?"),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }
}
