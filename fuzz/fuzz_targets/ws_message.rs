//! Messages a client sends on the subscription WebSocket (graphql-transport-ws).
#![no_main]

use libfuzzer_sys::fuzz_target;
use zoomtrack_server::http::subscriptions::ClientMessage;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = ClientMessage::parse(text);
    }
});
