//! The timing rules a session is judged by.

use chrono::{DateTime, Duration, Utc};

/// A meeting's end closes the joins of at most this long before it; a session Zoom reports in
/// the meeting times out only after this much more silence (Zoom's leave was lost).
pub const LONGEST_MEETING: Duration = Duration::hours(24);

#[derive(Clone, Copy, Debug)]
pub struct SessionRules {
    /// No activity for this long ends a session at its last activity.
    pub timeout: Duration,
    /// A session closed this recently is picked up again by a new click (a reload, a tab
    /// reopened) instead of staying ended.
    pub resume_window: Duration,
    /// How often the tracking page beats.
    pub heartbeat: Duration,
}

impl SessionRules {
    /// Rules for a heartbeat interval: a reload is resumed within two missed beats.
    pub fn new(timeout: Duration, heartbeat: Duration) -> Self {
        Self {
            timeout,
            resume_window: heartbeat * 2,
            heartbeat,
        }
    }

    /// Activity before this means silent for longer than the timeout. A session Zoom reports
    /// in the meeting is given [`LONGEST_MEETING`] more.
    pub fn stale_before(&self, now: DateTime<Utc>, in_meeting: bool) -> DateTime<Utc> {
        if in_meeting {
            now - self.timeout - LONGEST_MEETING
        } else {
            now - self.timeout
        }
    }
}
