//! A planned lesson, and how the session measured against it: on time, late, short, a no-show.
//!
//! A link issued with a plan stores the thresholds it is judged by (see [`Thresholds`]), fixed
//! at issue time: a later change of the grace or the share never rewrites past lessons. The
//! state is derived from those and the session's own server times whenever it is read, so it
//! follows every later change (a click, Zoom's join, an end, a correction) by itself.

use chrono::{DateTime, Duration, NaiveDateTime, Utc};
use entity::zoom_link::{self, SessionStatus};

use super::time;

/// The longest lesson a plan may announce.
pub const MAX_PLANNED_MINUTES: i32 = 12 * 60;
/// How far ahead a lesson may be planned, and how long after its start a link may still be
/// issued for it.
pub const PLAN_AHEAD: Duration = Duration::days(366);
pub const PLAN_BEHIND: Duration = Duration::days(1);

/// How a planned lesson went. Precedence: a lesson never opened is `Pending` until the planned
/// end plus the grace, then `NoShow`; a finished lesson below the share is `Short` (whenever it
/// started); else one that started after the grace is `Late`; else `OnTime`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Attendance {
    Pending,
    OnTime,
    Late,
    Short,
    NoShow,
}

impl Attendance {
    pub const ALL: [Attendance; 5] = [
        Self::Pending,
        Self::OnTime,
        Self::Late,
        Self::Short,
        Self::NoShow,
    ];

    /// The name the REST answers and the CSV use.
    pub fn name(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::OnTime => "on_time",
            Self::Late => "late",
            Self::Short => "short",
            Self::NoShow => "no_show",
        }
    }

    /// Whether a link in this state was never opened (so it is no session).
    pub fn unopened(self) -> bool {
        matches!(self, Self::Pending | Self::NoShow)
    }
}

/// The server's rules for judging plans: the grace after the planned start (and after the
/// planned end, for a no-show) and the share of the planned length a lesson must reach.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AttendanceRules {
    pub grace: Duration,
    /// Percent, 1 to 100.
    pub short_below_percent: u8,
}

impl Default for AttendanceRules {
    fn default() -> Self {
        Self {
            grace: Duration::minutes(5),
            short_below_percent: 90,
        }
    }
}

/// A planned lesson, as checked at the edge.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LessonPlan {
    pub start: DateTime<Utc>,
    pub minutes: i32,
}

/// What a link stores of its plan.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Thresholds {
    pub start: NaiveDateTime,
    pub minutes: i32,
    pub late_after: NaiveDateTime,
    pub no_show_after: NaiveDateTime,
    pub short_below_seconds: i64,
}

impl LessonPlan {
    /// Both or neither of `plannedStart` and `plannedMinutes`; a length of 1 minute to 12 hours;
    /// a start from a day ago to a year ahead of `now`.
    pub fn parse(
        start: Option<DateTime<Utc>>,
        minutes: Option<i32>,
        now: DateTime<Utc>,
    ) -> Result<Option<Self>, String> {
        let (start, minutes) = match (start, minutes) {
            (None, None) => return Ok(None),
            (Some(start), Some(minutes)) => (start, minutes),
            _ => {
                return Err(
                    "plannedStart and plannedMinutes go together: give both or neither".into(),
                );
            }
        };
        if !(1..=MAX_PLANNED_MINUTES).contains(&minutes) {
            return Err(format!(
                "plannedMinutes must be between 1 and {MAX_PLANNED_MINUTES}"
            ));
        }
        let start = time::truncate(start);
        if start < now - PLAN_BEHIND || start > now + PLAN_AHEAD {
            return Err("plannedStart must be between a day ago and a year from now".into());
        }
        Ok(Some(Self { start, minutes }))
    }

    pub fn thresholds(self, rules: AttendanceRules) -> Thresholds {
        let length = Duration::minutes(i64::from(self.minutes));
        let seconds = length.num_seconds();
        Thresholds {
            start: time::to_db(self.start),
            minutes: self.minutes,
            late_after: time::to_db(self.start + rules.grace),
            no_show_after: time::to_db(self.start + length + rules.grace),
            // Rounded up: a lesson must reach the whole share.
            short_below_seconds: (seconds * i64::from(rules.short_below_percent) + 99) / 100,
        }
    }
}

/// When the lesson started, for lateness: Zoom's first join where Zoom spoke (it outranks the
/// page), else the first click.
pub fn lesson_start(link: &zoom_link::Model) -> Option<NaiveDateTime> {
    link.zoom_joined_at.or(link.clicked_at)
}

/// The state of `link`'s planned lesson at `now`; `None` without a plan.
pub fn attendance(link: &zoom_link::Model, now: DateTime<Utc>) -> Option<Attendance> {
    // A plan has every threshold (they are stored together).
    link.planned_start?;
    let (late_after, no_show_after, short_below) = (
        link.late_after?,
        link.no_show_after?,
        link.short_below_seconds?,
    );
    let Some(start) = lesson_start(link) else {
        return Some(if time::to_db(now) >= no_show_after {
            Attendance::NoShow
        } else {
            Attendance::Pending
        });
    };
    let finished = matches!(
        link.session_status,
        Some(SessionStatus::Ended | SessionStatus::Timeout)
    );
    let short = finished
        && link
            .session_duration_seconds
            .is_some_and(|seconds| seconds < short_below);
    Some(if short {
        Attendance::Short
    } else if start > late_after {
        Attendance::Late
    } else {
        Attendance::OnTime
    })
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    fn at(minute: i64) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 12, 8, 10, 0, 0).unwrap() + Duration::minutes(minute)
    }

    fn planned(minutes: i32) -> zoom_link::Model {
        let t = LessonPlan {
            start: at(0),
            minutes,
        }
        .thresholds(AttendanceRules::default());
        let mut link = zoom_link::Model::issued(
            entity::LinkId(1),
            "t".into(),
            (entity::TeacherId(1), entity::StudentId(1)),
            "https://zoom.us/j/1".into(),
            time::to_db(at(-60)),
        );
        link.planned_start = Some(t.start);
        link.planned_minutes = Some(t.minutes);
        link.late_after = Some(t.late_after);
        link.no_show_after = Some(t.no_show_after);
        link.short_below_seconds = Some(t.short_below_seconds);
        link
    }

    fn finished(link: &mut zoom_link::Model, from: i64, to: i64) {
        link.clicked_at = Some(time::to_db(at(from)));
        link.session_status = Some(SessionStatus::Ended);
        link.session_ended_at = Some(time::to_db(at(to)));
        link.session_duration_seconds = Some((to - from) * 60);
    }

    #[test]
    fn thresholds_follow_the_rules() {
        let t = LessonPlan {
            start: at(0),
            minutes: 60,
        }
        .thresholds(AttendanceRules::default());
        assert_eq!(t.late_after, time::to_db(at(5)));
        assert_eq!(t.no_show_after, time::to_db(at(65)));
        assert_eq!(t.short_below_seconds, 3240);
        let odd = LessonPlan {
            start: at(0),
            minutes: 1,
        }
        .thresholds(AttendanceRules {
            grace: Duration::zero(),
            short_below_percent: 33,
        });
        assert_eq!(odd.short_below_seconds, 20);
    }

    #[test]
    fn each_state_from_its_timeline() {
        let mut link = planned(60);
        assert_eq!(attendance(&link, at(64)), Some(Attendance::Pending));
        assert_eq!(attendance(&link, at(65)), Some(Attendance::NoShow));
        link.clicked_at = Some(time::to_db(at(5)));
        link.session_status = Some(SessionStatus::Active);
        assert_eq!(attendance(&link, at(65)), Some(Attendance::OnTime));
        link.clicked_at = Some(time::to_db(at(5) + Duration::seconds(1)));
        assert_eq!(attendance(&link, at(65)), Some(Attendance::Late));
        // Zoom's join outranks the click.
        link.clicked_at = Some(time::to_db(at(-2)));
        link.zoom_joined_at = Some(time::to_db(at(7)));
        assert_eq!(attendance(&link, at(65)), Some(Attendance::Late));
        link.zoom_joined_at = None;
        finished(&mut link, 0, 54);
        assert_eq!(attendance(&link, at(90)), Some(Attendance::OnTime));
        finished(&mut link, 0, 53);
        assert_eq!(attendance(&link, at(90)), Some(Attendance::Short));
        // Late and short: short.
        finished(&mut link, 10, 20);
        assert_eq!(attendance(&link, at(90)), Some(Attendance::Short));
        let mut unplanned = planned(60);
        unplanned.planned_start = None;
        assert_eq!(attendance(&unplanned, at(90)), None);
    }

    #[test]
    fn plans_are_checked() {
        let now = at(0);
        assert_eq!(LessonPlan::parse(None, None, now), Ok(None));
        assert!(LessonPlan::parse(Some(now), None, now).is_err());
        assert!(LessonPlan::parse(None, Some(30), now).is_err());
        assert!(LessonPlan::parse(Some(now), Some(0), now).is_err());
        assert!(LessonPlan::parse(Some(now), Some(MAX_PLANNED_MINUTES + 1), now).is_err());
        assert!(LessonPlan::parse(Some(now - Duration::days(2)), Some(30), now).is_err());
        assert!(LessonPlan::parse(Some(now + Duration::days(400)), Some(30), now).is_err());
        let plan = LessonPlan::parse(Some(now + Duration::milliseconds(1500)), Some(45), now);
        assert_eq!(
            plan,
            Ok(Some(LessonPlan {
                start: now + Duration::seconds(1),
                minutes: 45
            }))
        );
    }
}
