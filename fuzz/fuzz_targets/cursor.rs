//! `after` cursors of the `sessions` list, in each order the list can be in.
#![no_main]

use libfuzzer_sys::fuzz_target;
use zoomtrack_server::services::reports::{Cursor, Sort, SortKey};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    for key in [SortKey::Start, SortKey::Duration, SortKey::Teacher] {
        for descending in [true, false] {
            let _ = Cursor::decode(text, Sort { key, descending });
        }
    }
});
