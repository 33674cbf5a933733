//! The query string of the CSV export and the admin REST list
//! (`/api/admin/sessions.csv?teacherId=&status=&from=&to=&timeZone=&search=`).
#![no_main]

use libfuzzer_sys::fuzz_target;
use zoomtrack_server::http::admin::rest_filter;

fuzz_target!(|data: &[u8]| {
    if let Ok(query) = std::str::from_utf8(data) {
        let _ = rest_filter(Some(query), chrono::Utc::now());
    }
});
