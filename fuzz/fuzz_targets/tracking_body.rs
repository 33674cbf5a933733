//! The tracking page's bodies (`/api/zoom/heartbeat`, `/api/zoom/end-session`): a content type
//! chosen by the first byte, then the body, as JSON or as `text/plain` holding JSON.
#![no_main]

use libfuzzer_sys::fuzz_target;
use zoomtrack_server::{
    http::{
        body::decode,
        tracking::{EndSessionBody, HeartbeatBody},
    },
    services::parse_token,
};

const MEDIA: [Option<&str>; 4] = [
    None,
    Some("application/json"),
    Some("text/plain;charset=UTF-8"),
    Some("application/x-www-form-urlencoded"),
];

fuzz_target!(|data: &[u8]| {
    let Some((&kind, body)) = data.split_first() else {
        return;
    };
    let media = MEDIA[usize::from(kind) % MEDIA.len()];
    if let Ok(beat) = decode::<HeartbeatBody>(media, body) {
        let _ = parse_token(&beat.token);
    }
    if let Ok(end) = decode::<EndSessionBody>(media, body) {
        let _ = parse_token(&end.token);
    }
});
