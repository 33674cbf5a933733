//! Payroll: per teacher and period, the lessons held and the minutes they are paid for (see
//! `docs/payroll.md` for the rule).
//!
//! A lesson belongs to the period of its planned start when it was planned, else of its first
//! click, read as days in the caller's time zone. Lessons held are finished sessions (ended or
//! timed out); their paid time is their duration, which is the corrected one where an admin
//! corrected it. A session still running is paid once it has finished.

use std::collections::HashMap;

use chrono::{DateTime, NaiveDate, Utc};
use entity::{
    teacher,
    zoom_link::{self, Column},
};
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, EntityTrait, FromQueryResult, QueryFilter, QuerySelect,
};

use super::{
    attendance::AttendanceCounts,
    filter::SessionFilter,
    stats::{attendance_counts, int},
};
use crate::{
    domain::{
        Caller, TeacherId,
        range::{DayRange, parse_time_zone},
        time,
    },
    services::{Result, ServiceError, view},
};

/// One teacher's lessons in a period.
#[derive(Clone, Debug, PartialEq)]
pub struct PayrollRow {
    pub teacher: teacher::Model,
    /// Finished lessons.
    pub lessons: i64,
    /// Their durations added up (corrected where corrected), in seconds.
    pub paid_seconds: i64,
    /// Finished lessons whose end an admin corrected.
    pub corrected: i64,
    /// Lessons still running: paid once they finish.
    pub in_progress: i64,
    /// Lessons planned in the period, and their planned minutes.
    pub planned_lessons: i64,
    pub planned_minutes: i64,
    pub attendance: AttendanceCounts,
}

impl PayrollRow {
    /// Paid time in whole minutes: the seconds added up, then rounded to the nearest minute.
    pub fn paid_minutes(&self) -> i64 {
        time::minutes(self.paid_seconds)
    }
}

/// A payroll's period: days `from` to `to` in a time zone (default UTC).
pub fn period(from: NaiveDate, to: NaiveDate, time_zone: Option<&str>) -> Result<DayRange> {
    let tz =
        parse_time_zone(time_zone.filter(|tz| !tz.is_empty())).map_err(ServiceError::BadInput)?;
    DayRange::new(from, to, tz).map_err(ServiceError::BadInput)
}

/// Links whose lesson falls in `range`: by planned start where planned, else by first click.
fn in_period(range: DayRange) -> Condition {
    let (start, end) = range.bounds();
    let (start, end) = (time::to_db(start), time::to_db(end));
    Condition::any()
        .add(
            Condition::all()
                .add(Column::PlannedStart.gte(start))
                .add(Column::PlannedStart.lt(end)),
        )
        .add(
            Condition::all()
                .add(Column::PlannedStart.is_null())
                .add(Column::ClickedAt.gte(start))
                .add(Column::ClickedAt.lt(end)),
        )
}

#[derive(FromQueryResult)]
struct Held {
    teacher_id: TeacherId,
    lessons: i64,
    seconds: i64,
    corrected: i64,
    running: i64,
}

#[derive(FromQueryResult)]
struct Planned {
    teacher_id: TeacherId,
    lessons: i64,
    minutes: i64,
}

/// The payroll of `range`: one row per teacher with a lesson in it, opened or planned (for a
/// teacher credential, its own row), by teacher name. Attendance is judged at `now`.
pub async fn payroll(
    db: &impl ConnectionTrait,
    caller: Caller,
    range: DayRange,
    now: DateTime<Utc>,
) -> Result<Vec<PayrollRow>> {
    let backend = db.get_database_backend();
    let own = match caller {
        Caller::Admin => None,
        Caller::Teacher(id) => Some(id),
    };
    let scoped = |select: sea_orm::Select<zoom_link::Entity>| match own {
        Some(id) => select.filter(Column::TeacherId.eq(id)),
        None => select,
    };
    let finished = "session_status IN ('ended', 'timeout')";
    let held: Vec<Held> = scoped(zoom_link::Entity::find())
        .select_only()
        .column(Column::TeacherId)
        .column_as(
            int(
                backend,
                &format!("SUM(CASE WHEN {finished} THEN 1 ELSE 0 END)"),
            ),
            "lessons",
        )
        .column_as(
            int(
                backend,
                &format!("SUM(CASE WHEN {finished} THEN session_duration_seconds ELSE 0 END)"),
            ),
            "seconds",
        )
        .column_as(
            int(
                backend,
                &format!(
                    "SUM(CASE WHEN {finished} AND corrected_at IS NOT NULL THEN 1 ELSE 0 END)"
                ),
            ),
            "corrected",
        )
        .column_as(
            int(
                backend,
                "SUM(CASE WHEN session_status = 'active' THEN 1 ELSE 0 END)",
            ),
            "running",
        )
        .filter(in_period(range))
        .filter(Column::SessionStatus.is_not_null())
        .group_by(Column::TeacherId)
        .into_model()
        .all(db)
        .await?;
    let planned: Vec<Planned> = scoped(zoom_link::Entity::find())
        .select_only()
        .column(Column::TeacherId)
        .column_as(int(backend, "COUNT(*)"), "lessons")
        .column_as(int(backend, "SUM(planned_minutes)"), "minutes")
        .filter(in_period(range))
        .filter(Column::PlannedStart.is_not_null())
        .group_by(Column::TeacherId)
        .into_model()
        .all(db)
        .await?;
    let filter = SessionFilter {
        teacher_id: own,
        range: Some(range),
        time_zone: range.tz,
        now,
        ..SessionFilter::default()
    };
    let states: HashMap<TeacherId, AttendanceCounts> = attendance_counts(db, &filter, now)
        .await?
        .into_iter()
        .collect();
    let mut rows: HashMap<TeacherId, (Option<Held>, Option<Planned>)> = HashMap::new();
    for row in held {
        let id = row.teacher_id;
        rows.entry(id).or_default().0 = Some(row);
    }
    for row in planned {
        let id = row.teacher_id;
        rows.entry(id).or_default().1 = Some(row);
    }
    let teachers = view::teachers(db, rows.keys().copied()).await?;
    let mut out: Vec<PayrollRow> = rows
        .into_iter()
        .filter_map(|(id, (held, planned))| {
            Some(PayrollRow {
                teacher: teachers.get(&id)?.clone(),
                lessons: held.as_ref().map_or(0, |h| h.lessons),
                paid_seconds: held.as_ref().map_or(0, |h| h.seconds),
                corrected: held.as_ref().map_or(0, |h| h.corrected),
                in_progress: held.as_ref().map_or(0, |h| h.running),
                planned_lessons: planned.as_ref().map_or(0, |p| p.lessons),
                planned_minutes: planned.as_ref().map_or(0, |p| p.minutes),
                attendance: states.get(&id).copied().unwrap_or_default(),
            })
        })
        .collect();
    out.sort_by(|a, b| {
        a.teacher
            .name
            .cmp(&b.teacher.name)
            .then(a.teacher.id.cmp(&b.teacher.id))
    });
    Ok(out)
}
