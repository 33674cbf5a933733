//! Calendar days in an admin's time zone, turned into UTC instants the database can compare.

use chrono::{DateTime, Datelike, Days, NaiveDate, NaiveTime, TimeZone, Utc};
use chrono_tz::Tz;

/// The longest range a report covers, in days.
pub const MAX_DAYS: u64 = 366;

/// An IANA time zone name such as `Europe/Berlin`; `UTC` by default.
pub fn parse_time_zone(name: Option<&str>) -> Result<Tz, String> {
    match name {
        None => Ok(Tz::UTC),
        Some(name) => name.parse::<Tz>().map_err(|_| {
            format!("timeZone {name:?} is not an IANA time zone name (e.g. Europe/Berlin)")
        }),
    }
}

/// The first instant of `day` in `tz`. A day that starts inside a DST gap starts when the gap ends.
pub fn start_of_day(day: NaiveDate, tz: Tz) -> DateTime<Utc> {
    let midnight = day.and_time(NaiveTime::MIN);
    (0..=180)
        .find_map(|minutes| {
            tz.from_local_datetime(&(midnight + chrono::Duration::minutes(minutes)))
                .earliest()
        })
        .map_or_else(|| midnight.and_utc(), |local| local.with_timezone(&Utc))
}

/// Days `from` to `to`, both included, in a time zone.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DayRange {
    pub from: NaiveDate,
    pub to: NaiveDate,
    pub tz: Tz,
}

impl DayRange {
    pub fn new(from: NaiveDate, to: NaiveDate, tz: Tz) -> Result<Self, String> {
        if [from, to]
            .iter()
            .any(|day| !(1900..=9999).contains(&day.year()))
        {
            return Err("dates must be within the years 1900 to 9999".into());
        }
        if to < from {
            return Err("`to` is before `from`".into());
        }
        let days = (to - from).num_days() as u64 + 1;
        if days > MAX_DAYS {
            return Err(format!("a date range covers at most {MAX_DAYS} days"));
        }
        Ok(Self { from, to, tz })
    }

    /// `[start, end)` in UTC.
    pub fn bounds(&self) -> (DateTime<Utc>, DateTime<Utc>) {
        let after = self.to.checked_add_days(Days::new(1)).unwrap_or(self.to);
        (
            start_of_day(self.from, self.tz),
            start_of_day(after, self.tz),
        )
    }

    pub fn days(&self) -> impl Iterator<Item = NaiveDate> + use<> {
        let to = self.to;
        self.from.iter_days().take_while(move |day| *day <= to)
    }

    /// The local calendar day an instant falls on.
    pub fn day_of(&self, at: DateTime<Utc>) -> NaiveDate {
        at.with_timezone(&self.tz).date_naive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    #[test]
    fn a_local_day_is_its_own_utc_window() {
        let tz = parse_time_zone(Some("Asia/Kolkata")).unwrap();
        let range = DayRange::new(day("2026-03-01"), day("2026-03-01"), tz).unwrap();
        let (start, end) = range.bounds();
        assert_eq!(start.to_rfc3339(), "2026-02-28T18:30:00+00:00");
        assert_eq!(end.to_rfc3339(), "2026-03-01T18:30:00+00:00");
    }

    #[test]
    fn dst_days_are_23_or_25_hours() {
        let tz = parse_time_zone(Some("Europe/Berlin")).unwrap();
        let spring = DayRange::new(day("2026-03-29"), day("2026-03-29"), tz)
            .unwrap()
            .bounds();
        assert_eq!((spring.1 - spring.0).num_hours(), 23);
        let autumn = DayRange::new(day("2026-10-25"), day("2026-10-25"), tz)
            .unwrap()
            .bounds();
        assert_eq!((autumn.1 - autumn.0).num_hours(), 25);
    }

    #[test]
    fn a_day_starting_in_a_dst_gap_starts_after_it() {
        // Santiago skips from 00:00 to 01:00 on its spring-forward day.
        let tz = parse_time_zone(Some("America/Santiago")).unwrap();
        let start = start_of_day(day("2026-09-06"), tz);
        assert_eq!(
            start.with_timezone(&tz).time(),
            NaiveTime::from_hms_opt(1, 0, 0).unwrap()
        );
    }

    #[test]
    fn bad_input_is_refused() {
        assert!(parse_time_zone(Some("Mars/Olympus")).is_err());
        assert!(DayRange::new(day("2026-01-02"), day("2026-01-01"), Tz::UTC).is_err());
        assert!(DayRange::new(day("2025-01-01"), day("2026-06-01"), Tz::UTC).is_err());
        assert!(DayRange::new(day("1066-10-14"), day("1066-10-14"), Tz::UTC).is_err());
    }
}
