//! Totals over a filter's sessions: overall and per teacher.

use std::collections::HashMap;

use chrono::{DateTime, Datelike, Months, NaiveDate, Utc};

use entity::{session_month_total, session_total, session_total_change, teacher, zoom_link};
use sea_orm::{
    AccessMode, ColumnTrait, ConnectionTrait, DbBackend, EntityTrait, FromQueryResult,
    IsolationLevel, QueryFilter, QuerySelect, Select, TransactionSession, TransactionTrait,
    sea_query::{Expr, SimpleExpr},
};

use super::{
    attendance::{self, AttendanceCounts},
    filter::SessionFilter,
};
use crate::{
    domain::{TeacherId, attendance::Attendance, time},
    services::{Result, view},
};

/// Totals over the sessions a filter selects. Durations count finished sessions only.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct SessionStats {
    pub total: i64,
    pub active: i64,
    pub ended: i64,
    pub timeout: i64,
    pub total_duration_seconds: i64,
    /// Links in the same scope issued but never opened (by issue time in the range).
    pub never_clicked: i64,
}

impl SessionStats {
    pub fn finished(&self) -> i64 {
        self.ended + self.timeout
    }

    pub fn average_duration_seconds(&self) -> Option<f64> {
        (self.finished() > 0).then(|| self.total_duration_seconds as f64 / self.finished() as f64)
    }
}

/// An integer aggregate, cast so each backend decodes it as a 64-bit integer.
pub(super) fn int(db: DbBackend, expr: &str) -> SimpleExpr {
    let ty = match db {
        DbBackend::MySql => "SIGNED",
        DbBackend::Postgres => "BIGINT",
        _ => "INTEGER",
    };
    Expr::cust(format!("CAST(COALESCE({expr}, 0) AS {ty})"))
}

#[derive(Clone, Copy, Default, FromQueryResult)]
struct CountsRow {
    total: i64,
    active: i64,
    ended: i64,
    timeout: i64,
    seconds: i64,
}

impl CountsRow {
    fn add(self, other: Self) -> Self {
        Self {
            total: self.total + other.total,
            active: self.active + other.active,
            ended: self.ended + other.ended,
            timeout: self.timeout + other.timeout,
            seconds: self.seconds + other.seconds,
        }
    }
}

#[derive(FromQueryResult)]
struct TeacherCounts {
    teacher_id: TeacherId,
    #[sea_orm(nested)]
    counts: CountsRow,
}

/// Whole UTC days or months `[from, to)`; `None` for an open end.
type Dates = (Option<NaiveDate>, Option<NaiveDate>);

/// What a filter's counts are made of: whole UTC days from the per-day totals, and the
/// sessions of the partial days at either end of the range. `None` when the totals cannot
/// answer (a student or a name search).
struct Rollup {
    /// Whole days `[from, to)`; `None` for an open end.
    days: Option<Dates>,
    /// Start-time ranges `[from, to)` read from the sessions themselves.
    edges: Vec<(DateTime<Utc>, DateTime<Utc>)>,
}

fn rollup(filter: &SessionFilter) -> Option<Rollup> {
    // The totals know teachers, days and statuses; not students, names or attendance.
    if filter.student_id.is_some() || filter.search.is_some() || !filter.attendance.is_empty() {
        return None;
    }
    let Some(range) = filter.range else {
        return Some(Rollup {
            days: Some((None, None)),
            edges: Vec::new(),
        });
    };
    let (start, end) = range.bounds();
    let midnight = |day: NaiveDate| day.and_time(chrono::NaiveTime::MIN).and_utc();
    let first = if midnight(start.date_naive()) == start {
        start.date_naive()
    } else {
        start.date_naive() + chrono::Days::new(1)
    };
    let last = end.date_naive();
    if first >= last {
        return Some(Rollup {
            days: None,
            edges: vec![(start, end)],
        });
    }
    let edges = [(start, midnight(first)), (midnight(last), end)]
        .into_iter()
        .filter(|(from, to)| from < to)
        .collect();
    Some(Rollup {
        days: Some((Some(first), Some(last))),
        edges,
    })
}

/// The counts' columns, over rows that each stand for `sessions` sessions.
fn counts_sql(
    db: DbBackend,
    status: &str,
    sessions: &str,
    seconds: &str,
) -> [(SimpleExpr, &'static str); 5] {
    let of =
        |value: &str| format!("SUM(CASE WHEN {status} = '{value}' THEN {sessions} ELSE 0 END)");
    [
        (int(db, &format!("SUM({sessions})")), "total"),
        (int(db, &of("active")), "active"),
        (int(db, &of("ended")), "ended"),
        (int(db, &of("timeout")), "timeout"),
        (int(db, &format!("SUM({seconds})")), "seconds"),
    ]
}

/// Adds the counts' columns, and `teacher_id` (grouped by it when `by_teacher`, else 0).
fn with_counts<E: EntityTrait>(
    mut select: Select<E>,
    columns: [(SimpleExpr, &'static str); 5],
    teacher: SimpleExpr,
    by_teacher: bool,
) -> Select<E> {
    select = select.select_only();
    for (expr, alias) in columns {
        select = select.column_as(expr, alias);
    }
    if by_teacher {
        select
            .column_as(teacher.clone(), "teacher_id")
            .group_by(teacher)
    } else {
        select.column_as(Expr::val(0i64), "teacher_id")
    }
}

pub(super) fn session_counts(
    select: Select<zoom_link::Entity>,
    db: DbBackend,
    by_teacher: bool,
) -> Select<zoom_link::Entity> {
    let columns = counts_sql(
        db,
        "wpos_zoom_links.session_status",
        "1",
        "wpos_zoom_links.session_duration_seconds",
    );
    let teacher = Expr::col((zoom_link::Entity, zoom_link::Column::TeacherId));
    with_counts(select, columns, teacher, by_teacher)
}

/// The counts of whole days `[from, to)` from the totals. On SQLite, the per-day totals. On
/// PostgreSQL and MySQL, the whole months inside the range from the per-month totals and the
/// days at either end from the per-day ones, plus the changes not folded yet; all read in one
/// snapshot (a repeatable-read transaction), so a fold between two reads neither loses nor
/// doubles a session.
async fn day_totals<C: ConnectionTrait + TransactionTrait>(
    db: &C,
    filter: &SessionFilter,
    (from, to): Dates,
    by_teacher: bool,
) -> Result<Vec<TeacherCounts>> {
    let backend = db.get_database_backend();
    let counts = TotalsCounts {
        backend,
        filter,
        by_teacher,
    };
    let select = |table: Totals, range| {
        use session_month_total::Column as M;
        use session_total::Column as T;
        use session_total_change::Column as C;
        match table {
            Totals::Days => counts
                .over::<session_total::Entity>(range, [T::Day, T::TeacherId, T::SessionStatus]),
            Totals::Months => counts.over::<session_month_total::Entity>(
                range,
                [M::Month, M::TeacherId, M::SessionStatus],
            ),
            Totals::Changes => counts.over::<session_total_change::Entity>(
                range,
                [C::Day, C::TeacherId, C::SessionStatus],
            ),
        }
    };
    if backend == DbBackend::Sqlite {
        return Ok(select(Totals::Days, (from, to)).all(db).await?);
    }
    let txn = db
        .begin_with_config(
            Some(IsolationLevel::RepeatableRead),
            Some(AccessMode::ReadOnly),
        )
        .await?;
    let mut rows = Vec::new();
    for (table, range) in month_split(from, to) {
        rows.extend(select(table, range).all(&txn).await?);
    }
    rows.extend(select(Totals::Changes, (from, to)).all(&txn).await?);
    txn.commit().await?;
    Ok(rows)
}

/// Where a count's rows come from.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Totals {
    Days,
    Months,
    Changes,
}

/// The folded totals that cover whole days `[from, to)` (`None`: an open end): the whole
/// months inside from the per-month totals, the days before the first and after the last
/// from the per-day ones.
fn month_split(from: Option<NaiveDate>, to: Option<NaiveDate>) -> Vec<(Totals, Dates)> {
    let month_of = |day: NaiveDate| day.with_day(1).unwrap_or(day);
    // The first month that starts on or after `from`, and the month `to` falls in.
    let first = match from {
        Some(day) if day.day() == 1 => Some(day),
        Some(day) => match month_of(day).checked_add_months(Months::new(1)) {
            Some(next) => Some(next),
            None => return vec![(Totals::Days, (from, to))],
        },
        None => None,
    };
    let last = to.map(month_of);
    if let (Some(first), Some(last)) = (first, last)
        && first >= last
    {
        return vec![(Totals::Days, (from, to))];
    }
    let mut parts = vec![(Totals::Months, (first, last))];
    if let (Some(from), Some(first)) = (from, first)
        && from < first
    {
        parts.push((Totals::Days, (Some(from), Some(first))));
    }
    if let (Some(last), Some(to)) = (last, to)
        && last < to
    {
        parts.push((Totals::Days, (Some(last), Some(to))));
    }
    parts
}

/// A filter's counts over the totals tables.
struct TotalsCounts<'a> {
    backend: DbBackend,
    filter: &'a SessionFilter,
    by_teacher: bool,
}

impl TotalsCounts<'_> {
    /// The counts' select over one totals table, whose columns are `[date, teacher_id,
    /// status]`, for the dates `[from, to)` and the filter's teacher and statuses.
    fn over<E: EntityTrait>(
        &self,
        (from, to): Dates,
        [at, teacher_id, status]: [E::Column; 3],
    ) -> sea_orm::Selector<sea_orm::SelectModel<TeacherCounts>> {
        let (backend, filter, by_teacher) = (self.backend, self.filter, self.by_teacher);
        let table = E::default().table_name().to_owned();
        let column = |name: &str| format!("{table}.{name}");
        let columns = counts_sql(
            backend,
            &column("session_status"),
            &column("sessions"),
            &column("duration_seconds"),
        );
        let teacher = Expr::col((E::default(), teacher_id));
        let mut select = with_counts(E::find(), columns, teacher, by_teacher);
        if let Some(from) = from {
            select = select.filter(at.gte(from));
        }
        if let Some(to) = to {
            select = select.filter(at.lt(to));
        }
        if let Some(id) = filter.teacher_id {
            select = select.filter(teacher_id.eq(id));
        }
        if !filter.statuses.is_empty() {
            select = select.filter(status.is_in(filter.statuses.clone()));
        }
        select.into_model()
    }
}

/// The counts of `filter`, per teacher when `by_teacher` (otherwise under teacher 0).
async fn counts<C: ConnectionTrait + TransactionTrait>(
    db: &C,
    filter: &SessionFilter,
    by_teacher: bool,
) -> Result<HashMap<TeacherId, CountsRow>> {
    let backend = db.get_database_backend();
    let mut out: HashMap<TeacherId, CountsRow> = HashMap::new();
    let mut merge = |rows: Vec<TeacherCounts>| {
        for row in rows {
            let slot = out.entry(row.teacher_id).or_default();
            *slot = slot.add(row.counts);
        }
    };
    let Some(plan) = rollup(filter) else {
        let select = session_counts(filter.sessions(), backend, by_teacher);
        merge(select.into_model().all(db).await?);
        return Ok(out);
    };
    if let Some(days) = plan.days {
        merge(day_totals(db, filter, days, by_teacher).await?);
    }
    let whole = SessionFilter {
        range: None,
        ..filter.clone()
    };
    for (from, to) in plan.edges {
        let edge = whole
            .sessions()
            .filter(zoom_link::Column::ClickedAt.gte(time::to_db(from)))
            .filter(zoom_link::Column::ClickedAt.lt(time::to_db(to)));
        merge(
            session_counts(edge, backend, by_teacher)
                .into_model()
                .all(db)
                .await?,
        );
    }
    Ok(out)
}

pub async fn stats<C: ConnectionTrait + TransactionTrait>(
    db: &C,
    filter: &SessionFilter,
) -> Result<SessionStats> {
    let backend = db.get_database_backend();
    let row = counts(db, filter, false)
        .await?
        .into_values()
        .fold(CountsRow::default(), CountsRow::add);
    let never_clicked = zoom_link::Entity::find()
        .filter(zoom_link::Column::SessionStatus.is_null())
        .filter(filter.condition(zoom_link::Column::CreatedAt))
        .select_only()
        .column_as(int(backend, "COUNT(*)"), "total")
        .into_tuple::<i64>()
        // One row: no `LIMIT` (see `services::unique`).
        .all(db)
        .await?
        .first()
        .copied()
        .unwrap_or(0);
    Ok(SessionStats {
        total: row.total,
        active: row.active,
        ended: row.ended,
        timeout: row.timeout,
        total_duration_seconds: row.seconds,
        never_clicked,
    })
}

/// One teacher's sessions in a filter's scope.
#[derive(Clone, Debug, PartialEq)]
pub struct TeacherStats {
    pub teacher: teacher::Model,
    pub stats: SessionStats,
}

impl TeacherStats {
    /// Timed-out sessions among the finished ones.
    pub fn timeout_rate(&self) -> Option<f64> {
        let finished = self.stats.finished();
        (finished > 0).then(|| self.stats.timeout as f64 / finished as f64)
    }
}

/// One row per teacher with sessions in scope, most sessions first.
pub async fn teacher_stats<C: ConnectionTrait + TransactionTrait>(
    db: &C,
    filter: &SessionFilter,
) -> Result<Vec<TeacherStats>> {
    let mut rows = counts(db, filter, true).await?;
    // Totals of a day whose sessions all moved elsewhere stay as zero rows.
    rows.retain(|_, row| row.total > 0);
    let teachers = view::teachers(db, rows.keys().copied()).await?;
    let mut out: Vec<TeacherStats> = rows
        .into_iter()
        .filter_map(|(teacher_id, row)| {
            Some(TeacherStats {
                teacher: teachers.get(&teacher_id)?.clone(),
                stats: SessionStats {
                    total: row.total,
                    active: row.active,
                    ended: row.ended,
                    timeout: row.timeout,
                    total_duration_seconds: row.seconds,
                    never_clicked: 0,
                },
            })
        })
        .collect();
    out.sort_by(|a, b| {
        b.stats
            .total
            .cmp(&a.stats.total)
            .then_with(|| a.teacher.name.cmp(&b.teacher.name))
    });
    Ok(out)
}

#[derive(FromQueryResult)]
struct StateCount {
    teacher_id: TeacherId,
    count: i64,
}

/// The filter's planned lessons by state at `now`, per teacher: lessons whose planned start is
/// in the filter's range (the state's own statuses, not the filter's, decide).
pub async fn attendance_counts(
    db: &impl ConnectionTrait,
    filter: &SessionFilter,
    now: DateTime<Utc>,
) -> Result<Vec<(TeacherId, AttendanceCounts)>> {
    let backend = db.get_database_backend();
    let count = int(backend, "COUNT(*)");
    let mut totals: Vec<(TeacherId, AttendanceCounts)> = Vec::new();
    // One small grouped count per state: each is a plain condition every database plans well.
    for state in Attendance::ALL {
        let rows = zoom_link::Entity::find()
            .select_only()
            .column(zoom_link::Column::TeacherId)
            .column_as(count.clone(), "count")
            .filter(zoom_link::Column::PlannedStart.is_not_null())
            .filter(filter.condition(zoom_link::Column::PlannedStart))
            .filter(attendance::condition(state, now))
            .group_by(zoom_link::Column::TeacherId)
            .into_model::<StateCount>()
            .all(db)
            .await?;
        for row in rows {
            let at = match totals.iter().position(|(id, _)| *id == row.teacher_id) {
                Some(at) => at,
                None => {
                    totals.push((row.teacher_id, AttendanceCounts::default()));
                    totals.len() - 1
                }
            };
            totals[at].1.add(state, row.count);
        }
    }
    Ok(totals)
}

/// The same over every teacher.
pub fn attendance_total(per_teacher: &[(TeacherId, AttendanceCounts)]) -> AttendanceCounts {
    let mut all = AttendanceCounts::default();
    for (_, counts) in per_teacher {
        for state in Attendance::ALL {
            all.add(state, counts.get(state));
        }
    }
    all
}

#[derive(FromQueryResult)]
struct InterruptionCount {
    teacher_id: TeacherId,
    sessions: i64,
    interruptions: i64,
}

/// Per teacher, the filter's sessions and their interruptions added up.
pub async fn interruption_counts(
    db: &impl ConnectionTrait,
    filter: &SessionFilter,
) -> Result<HashMap<TeacherId, (i64, i64)>> {
    let backend = db.get_database_backend();
    let teacher = Expr::col((zoom_link::Entity, zoom_link::Column::TeacherId));
    let rows = filter
        .sessions()
        .select_only()
        .column_as(teacher.clone(), "teacher_id")
        .column_as(int(backend, "COUNT(*)"), "sessions")
        .column_as(
            int(backend, "SUM(wpos_zoom_links.interruptions)"),
            "interruptions",
        )
        .group_by(teacher)
        .into_model::<InterruptionCount>()
        .all(db)
        .await?;
    Ok(rows
        .into_iter()
        .map(|r| (r.teacher_id, (r.sessions, r.interruptions)))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(text: &str) -> Option<NaiveDate> {
        Some(text.parse().unwrap())
    }

    #[test]
    fn whole_months_come_from_the_month_totals_and_the_ends_from_the_days() {
        use Totals::{Days, Months};
        let split = |from: &str, to: &str| month_split(day(from), day(to));
        assert_eq!(
            split("2026-03-04", "2026-03-20"),
            [(Days, (day("2026-03-04"), day("2026-03-20")))]
        );
        assert_eq!(
            split("2026-02-25", "2026-03-20"),
            [(Days, (day("2026-02-25"), day("2026-03-20")))],
            "no whole month inside"
        );
        assert_eq!(
            split("2026-02-25", "2026-05-03"),
            [
                (Months, (day("2026-03-01"), day("2026-05-01"))),
                (Days, (day("2026-02-25"), day("2026-03-01"))),
                (Days, (day("2026-05-01"), day("2026-05-03"))),
            ]
        );
        assert_eq!(
            split("2026-03-01", "2026-04-01"),
            [(Months, (day("2026-03-01"), day("2026-04-01")))],
            "exactly a month"
        );
        assert_eq!(
            split("2025-12-31", "2026-02-01"),
            [
                (Months, (day("2026-01-01"), day("2026-02-01"))),
                (Days, (day("2025-12-31"), day("2026-01-01"))),
            ],
            "across a year"
        );
        assert_eq!(month_split(None, None), [(Months, (None, None))]);
        assert_eq!(
            month_split(None, day("2026-03-10")),
            [
                (Months, (None, day("2026-03-01"))),
                (Days, (day("2026-03-01"), day("2026-03-10"))),
            ]
        );
        assert_eq!(
            month_split(day("2026-03-10"), None),
            [
                (Months, (day("2026-04-01"), None)),
                (Days, (day("2026-03-10"), day("2026-04-01"))),
            ]
        );
        assert_eq!(
            month_split(NaiveDate::MAX.with_day(2), None),
            [(Days, (NaiveDate::MAX.with_day(2), None))],
            "no month after the last one"
        );
    }
}
