//! Zoom's webhook: the signature and timestamp headers and the raw body, checked as the
//! endpoint checks them, then the event read from a body (signed or not, so that the event
//! parser sees every shape).
#![no_main]

use libfuzzer_sys::fuzz_target;
use zoomtrack_server::{domain::zoom_webhook, http::zoom::parse_event};

fuzz_target!(|data: &[u8]| {
    // `timestamp \n signature \n body`: the headers are whatever came before the newlines.
    let mut parts = data.splitn(3, |b| *b == b'\n');
    let timestamp = parts.next().and_then(|t| std::str::from_utf8(t).ok());
    let signature = parts.next().and_then(|s| std::str::from_utf8(s).ok());
    let body = parts.next().unwrap_or_default();
    let _ = zoom_webhook::verify("secret", timestamp, signature, body, chrono::Utc::now());
    let _ = parse_event(body);
    let _ = parse_event(data);
});
