//! Session filters as the GraphQL and REST edges build them: ids, dates, a time zone and a
//! search text from outside, for an admin and for a teacher.
#![no_main]

use libfuzzer_sys::fuzz_target;
use zoomtrack_server::{
    domain::{Caller, TeacherId},
    services::reports::{FilterParts, parse_filter},
};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    // Fields separated by `|`: teacher, student, from, to, time zone, search.
    let mut fields = text.split('|');
    let mut next = || fields.next().filter(|f| !f.is_empty());
    let (teacher_id, student_id) = (next(), next());
    let from = next().and_then(|d| d.parse().ok());
    let to = next().and_then(|d| d.parse().ok());
    let (time_zone, search) = (next(), next());
    for caller in [Caller::Admin, Caller::Teacher(TeacherId(7))] {
        let parts = FilterParts {
            teacher_id,
            student_id,
            statuses: Vec::new(),
            from,
            to,
            time_zone,
            search,
        };
        let _ = parse_filter(parts, caller, chrono::Utc::now());
    }
});
