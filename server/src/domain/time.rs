//! Server time. Every timestamp is UTC with whole seconds: MySQL's `DATETIME(0)` keeps no more,
//! and the three databases must agree to the second.

use chrono::{DateTime, NaiveDateTime, SubsecRound, Utc};
use chrono_tz::Tz;

/// The current time, truncated to the second.
pub fn now() -> DateTime<Utc> {
    truncate(Utc::now())
}

/// Whole seconds, as every stored time.
pub fn truncate(at: DateTime<Utc>) -> DateTime<Utc> {
    at.trunc_subsecs(0)
}

pub fn to_db(at: DateTime<Utc>) -> NaiveDateTime {
    at.naive_utc()
}

pub fn from_db(at: NaiveDateTime) -> DateTime<Utc> {
    at.and_utc()
}

/// A stored time in the zone `tz` reads days in, as RFC 3339.
pub fn local(at: Option<NaiveDateTime>, tz: Tz) -> Option<String> {
    at.map(|at| from_db(at).with_timezone(&tz).to_rfc3339())
}

/// Minutes as the spec stores them: whole minutes, rounded to the nearest.
pub fn whole_minutes(seconds: i64) -> i32 {
    i32::try_from(minutes(seconds)).unwrap_or(i32::MAX)
}

/// Seconds as whole minutes, rounded to the nearest: every minutes figure the APIs show.
pub fn minutes(seconds: i64) -> i64 {
    (seconds + 30) / 60
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minutes_round_to_nearest() {
        assert_eq!(whole_minutes(0), 0);
        assert_eq!(whole_minutes(29), 0);
        assert_eq!(whole_minutes(30), 1);
        assert_eq!(whole_minutes(89), 1);
        assert_eq!(whole_minutes(90), 2);
        assert_eq!(whole_minutes(45 * 60), 45);
    }
}
