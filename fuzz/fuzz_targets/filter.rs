//! Session filters as the GraphQL and REST edges build them: ids, dates, a time zone, a search
//! text and attendance states from outside, for an admin and for a teacher, for sessions and
//! for links.
#![no_main]

use libfuzzer_sys::fuzz_target;
use zoomtrack_server::{
    domain::{Caller, TeacherId, attendance::Attendance},
    services::reports::{FilterParts, Listing, parse_filter},
};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    // Fields separated by `|`: teacher, student, from, to, time zone, search, attendance (each
    // byte one of the states).
    let mut fields = text.split('|');
    let mut next = || fields.next().filter(|f| !f.is_empty());
    let (teacher_id, student_id) = (next(), next());
    let from = next().and_then(|d| d.parse().ok());
    let to = next().and_then(|d| d.parse().ok());
    let (time_zone, search) = (next(), next());
    let attendance: Vec<Attendance> = next()
        .unwrap_or_default()
        .bytes()
        .map(|b| Attendance::ALL[usize::from(b) % Attendance::ALL.len()])
        .collect();
    let callers = [Caller::Admin, Caller::Teacher(TeacherId(7))];
    for (caller, listing) in callers
        .into_iter()
        .flat_map(|c| [(c, Listing::Sessions), (c, Listing::Links)])
    {
        let parts = FilterParts {
            listing,
            attendance: attendance.clone(),
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
