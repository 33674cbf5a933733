//! The names the REST answers and the CSV give session states and end reasons.

use entity::zoom_link::{EndReason, SessionStatus};

/// How a session ended.
pub fn end_reason_name(reason: EndReason) -> &'static str {
    match reason {
        EndReason::TabClosed => "tab_closed",
        EndReason::LeftZoom => "left_zoom",
        EndReason::MeetingEnded => "meeting_ended",
        EndReason::TimedOut => "timed_out",
    }
}

/// The spec's name for a session state; `pending` for a link never clicked.
pub fn status_name(status: Option<SessionStatus>) -> &'static str {
    match status {
        None => "pending",
        Some(SessionStatus::Active) => "active",
        Some(SessionStatus::Ended) => "ended",
        Some(SessionStatus::Timeout) => "timeout",
    }
}
