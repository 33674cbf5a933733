//! Server time. Every timestamp is UTC with whole seconds: MySQL's `DATETIME(0)` keeps no more,
//! and the three databases must agree to the second.

use chrono::{DateTime, NaiveDateTime, SubsecRound, Utc};

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

/// Minutes as the spec stores them: whole minutes, rounded to the nearest.
pub fn whole_minutes(seconds: i64) -> i32 {
    i32::try_from((seconds + 30) / 60).unwrap_or(i32::MAX)
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
