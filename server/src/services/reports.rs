//! The read side: filtered, paginated sessions and the statistics over them.
//!
//! A session is a link that was clicked (`session_status IS NOT NULL`). Every query applies one
//! [`SessionFilter`], so the list, the statistics, the CSV and the live events agree.

use std::collections::{BTreeMap, HashMap};

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use entity::{
    session_total, student, teacher,
    zoom_link::{self, SessionStatus},
};
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, DbBackend, EntityTrait, FromQueryResult, JoinType,
    Order, QueryFilter, QueryOrder, QuerySelect, QueryTrait, RelationTrait, Select, Statement,
    sea_query::{Expr, ExprTrait, Func, LikeExpr, SimpleExpr},
};
use serde::{Deserialize, Serialize};

use super::{Result, ServiceError};
use chrono_tz::Tz;

use crate::domain::{
    Caller,
    range::{DayRange, MAX_DAYS, parse_time_zone},
    time,
};

/// The most rows one page returns.
pub const MAX_PAGE: u64 = 100;
pub const DEFAULT_PAGE: u64 = 20;
const MAX_SEARCH: usize = 100;

/// Which sessions a query covers.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SessionFilter {
    pub teacher_id: Option<i64>,
    pub student_id: Option<i64>,
    /// Empty: every status.
    pub statuses: Vec<SessionStatus>,
    /// Sessions that started on these local days.
    pub range: Option<DayRange>,
    /// Lower-cased; matched inside teacher and student names.
    pub search: Option<String>,
    /// The zone the caller reads days and times in.
    pub time_zone: Tz,
}

impl SessionFilter {
    pub fn set_search(&mut self, search: Option<&str>) -> Result<()> {
        let search = search.map(str::trim).filter(|s| !s.is_empty());
        if search.is_some_and(|s| s.chars().count() > MAX_SEARCH) {
            return Err(ServiceError::BadInput(format!(
                "search is at most {MAX_SEARCH} characters"
            )));
        }
        self.search = search.map(str::to_lowercase);
        Ok(())
    }

    /// A teacher credential sees only its own sessions; asking for another teacher's is refused.
    pub fn scoped(mut self, caller: Caller) -> Result<Self> {
        if let Caller::Teacher(own) = caller {
            if self.teacher_id.is_some_and(|id| id != own) {
                return Err(ServiceError::Forbidden(
                    "a teacher credential reads only its own sessions",
                ));
            }
            self.teacher_id = Some(own);
        }
        Ok(self)
    }

    /// Whether a session (as it is now) is one this filter selects: for live events.
    pub fn matches(&self, view: &SessionView) -> bool {
        view.link
            .session_status
            .is_some_and(|status| self.statuses.is_empty() || self.statuses.contains(&status))
            && self.matches_any_status(view)
    }

    /// The same, whatever the status: a change of status can move a session into or out of
    /// the filter, and statistics must be recounted either way.
    pub fn matches_any_status(&self, view: &SessionView) -> bool {
        let link = &view.link;
        if link.session_status.is_none() {
            return false;
        }
        let in_range = self.range.is_none_or(|range| {
            let (start, end) = range.bounds();
            link.clicked_at
                .map(time::from_db)
                .is_some_and(|at| at >= start && at < end)
        });
        self.teacher_id.is_none_or(|id| id == link.teacher_id)
            && self.student_id.is_none_or(|id| id == link.student_id)
            && in_range
            && self.search.as_deref().is_none_or(|q| {
                view.teacher.name.to_lowercase().contains(q)
                    || view.student.name.to_lowercase().contains(q)
            })
    }

    /// The filter's conditions, except the status: on links whose time is `time_column`.
    fn condition(&self, time_column: zoom_link::Column) -> Condition {
        let mut cond = Condition::all();
        if let Some(id) = self.teacher_id {
            cond = cond.add(zoom_link::Column::TeacherId.eq(id));
        }
        if let Some(id) = self.student_id {
            cond = cond.add(zoom_link::Column::StudentId.eq(id));
        }
        if let Some(range) = self.range {
            let (start, end) = range.bounds();
            cond = cond
                .add(time_column.gte(time::to_db(start)))
                .add(time_column.lt(time::to_db(end)));
        }
        if let Some(q) = &self.search {
            // The few people whose names match, as id sets: no join, and each database plans
            // them as a small semi-join instead of multiplying teachers by students.
            let pattern = LikeExpr::new(format!("%{}%", escape_like(q))).escape('\\');
            let teachers = teacher::Entity::find()
                .select_only()
                .column(teacher::Column::Id)
                .filter(
                    Expr::expr(Func::lower(Expr::col(teacher::Column::Name))).like(pattern.clone()),
                )
                .into_query();
            let students = student::Entity::find()
                .select_only()
                .column(student::Column::Id)
                .filter(Expr::expr(Func::lower(Expr::col(student::Column::Name))).like(pattern))
                .into_query();
            cond = cond.add(
                Condition::any()
                    .add(zoom_link::Column::TeacherId.in_subquery(teachers))
                    .add(zoom_link::Column::StudentId.in_subquery(students)),
            );
        }
        cond
    }

    /// Sessions (clicked links) this filter selects.
    fn sessions(&self) -> Select<zoom_link::Entity> {
        self.sessions_joined(false)
    }

    /// The same, joined to the teacher when the order is by teacher name.
    fn sessions_joined(&self, teacher_name: bool) -> Select<zoom_link::Entity> {
        let mut select = zoom_link::Entity::find();
        if teacher_name {
            select = select.join(JoinType::InnerJoin, zoom_link::Relation::Teacher.def());
        }
        let mut select = select
            .filter(zoom_link::Column::SessionStatus.is_not_null())
            .filter(self.condition(zoom_link::Column::ClickedAt));
        if !self.statuses.is_empty() {
            select = select.filter(zoom_link::Column::SessionStatus.is_in(self.statuses.clone()));
        }
        select
    }
}

/// The parts of a filter every edge shares, parsed once.
pub struct FilterParts<'a> {
    pub teacher_id: Option<&'a str>,
    pub student_id: Option<&'a str>,
    pub statuses: Vec<Option<entity::zoom_link::SessionStatus>>,
    pub from: Option<NaiveDate>,
    pub to: Option<NaiveDate>,
    pub time_zone: Option<&'a str>,
    pub search: Option<&'a str>,
}

fn id(value: Option<&str>, what: &str) -> Result<Option<i64>> {
    value
        .map(|v| {
            v.parse::<i64>()
                .ok()
                .filter(|id| *id > 0)
                .ok_or_else(|| ServiceError::BadInput(format!("{what} is not a valid id")))
        })
        .transpose()
}

/// Builds the service filter, scoped to what `caller` may read.
pub fn parse_filter(parts: FilterParts<'_>, caller: Caller) -> Result<SessionFilter> {
    let tz = parse_time_zone(parts.time_zone).map_err(ServiceError::BadInput)?;
    // One open end of a range reaches to today, or a year back.
    let today = time::now().with_timezone(&tz).date_naive();
    let year = chrono::Days::new(MAX_DAYS - 1);
    let range = match (parts.from, parts.to) {
        (None, None) => None,
        (Some(from), None) => Some(DayRange::new(from, Ord::max(today, from), tz)),
        (None, Some(to)) => Some(DayRange::new(
            to.checked_sub_days(year).unwrap_or(to),
            to,
            tz,
        )),
        (Some(from), Some(to)) => Some(DayRange::new(from, to, tz)),
    }
    .transpose()
    .map_err(ServiceError::BadInput)?;
    let statuses = parts
        .statuses
        .iter()
        .map(|status| {
            status.ok_or_else(|| {
                ServiceError::BadInput(
                    "PENDING is not a session status: a link never opened is not a session \
                     (sessionStats.neverClickedLinks counts them)"
                        .into(),
                )
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let mut filter = SessionFilter {
        teacher_id: id(parts.teacher_id, "teacherId")?,
        student_id: id(parts.student_id, "studentId")?,
        statuses,
        range,
        search: None,
        time_zone: tz,
    };
    filter.set_search(parts.search)?;
    filter.scoped(caller)
}

fn escape_like(text: &str) -> String {
    text.replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_")
}

/// A session with its teacher and student.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionView {
    pub link: zoom_link::Model,
    pub teacher: teacher::Model,
    pub student: student::Model,
}

/// Attaches teachers and students to links: two queries, whatever the number of links.
pub async fn attach(
    db: &impl ConnectionTrait,
    links: Vec<zoom_link::Model>,
) -> Result<Vec<SessionView>> {
    let teacher_ids: Vec<i64> = links.iter().map(|l| l.teacher_id).collect();
    let student_ids: Vec<i64> = links.iter().map(|l| l.student_id).collect();
    let teachers: HashMap<i64, teacher::Model> = teacher::Entity::find()
        .filter(teacher::Column::Id.is_in(teacher_ids))
        .all(db)
        .await?
        .into_iter()
        .map(|t| (t.id, t))
        .collect();
    let students: HashMap<i64, student::Model> = student::Entity::find()
        .filter(student::Column::Id.is_in(student_ids))
        .all(db)
        .await?
        .into_iter()
        .map(|s| (s.id, s))
        .collect();
    links
        .into_iter()
        .map(|link| {
            let teacher = teachers.get(&link.teacher_id).cloned();
            let student = students.get(&link.student_id).cloned();
            match (teacher, student) {
                (Some(teacher), Some(student)) => Ok(SessionView {
                    link,
                    teacher,
                    student,
                }),
                _ => Err(ServiceError::Internal(format!(
                    "link {} lost its teacher or student",
                    link.id
                ))),
            }
        })
        .collect()
}

pub async fn view(db: &impl ConnectionTrait, link: zoom_link::Model) -> Result<SessionView> {
    attach(db, vec![link])
        .await?
        .pop()
        .ok_or(ServiceError::NotFound("session"))
}

/// One session: admins read any, a teacher only their own (others are "not found").
pub async fn session(db: &impl ConnectionTrait, caller: Caller, id: i64) -> Result<SessionView> {
    let link = zoom_link::Entity::find_by_id(id)
        .one(db)
        .await?
        .filter(|link| match caller {
            Caller::Admin => true,
            Caller::Teacher(own) => link.teacher_id == own,
        })
        .ok_or(ServiceError::NotFound("session"))?;
    view(db, link).await
}

/// What a list is ordered by; ties are broken by id, in the same direction.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum SortKey {
    #[default]
    Start,
    Duration,
    Teacher,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Sort {
    pub key: SortKey,
    pub descending: bool,
}

impl Sort {
    pub const NEWEST_FIRST: Sort = Sort {
        key: SortKey::Start,
        descending: true,
    };

    fn expr(self) -> SimpleExpr {
        match self.key {
            SortKey::Start => Expr::col((zoom_link::Entity, zoom_link::Column::ClickedAt)),
            // Sessions still running have no duration yet: they sort as -1.
            SortKey::Duration => Func::coalesce([
                SimpleExpr::from(Expr::col((
                    zoom_link::Entity,
                    zoom_link::Column::SessionDurationSeconds,
                ))),
                Expr::val(-1i64),
            ])
            .into(),
            SortKey::Teacher => Expr::col((teacher::Entity, teacher::Column::Name)),
        }
    }

    fn key_of(self, view: &SessionView) -> CursorKey {
        match self.key {
            SortKey::Start => CursorKey::Time(view.link.clicked_at.unwrap_or_default()),
            SortKey::Duration => CursorKey::Int(view.link.session_duration_seconds.unwrap_or(-1)),
            SortKey::Teacher => CursorKey::Text(view.teacher.name.clone()),
        }
    }
}

/// Where a page ends: the sort value and id of its last row, opaque to clients.
#[derive(Serialize, Deserialize, Debug, PartialEq)]
struct Cursor {
    sort: SortKey,
    desc: bool,
    key: CursorKey,
    id: i64,
}

#[derive(Serialize, Deserialize, Debug, PartialEq, Clone)]
enum CursorKey {
    Int(i64),
    Time(NaiveDateTime),
    Text(String),
}

impl CursorKey {
    fn value(&self) -> sea_orm::Value {
        match self {
            CursorKey::Int(v) => (*v).into(),
            CursorKey::Time(v) => (*v).into(),
            CursorKey::Text(v) => v.clone().into(),
        }
    }
}

impl Cursor {
    fn encode(&self) -> String {
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(self).unwrap_or_default())
    }

    fn decode(text: &str, sort: Sort) -> Result<Self> {
        let bad = || ServiceError::BadInput("`after` is not a cursor from this list".into());
        let bytes = URL_SAFE_NO_PAD.decode(text).map_err(|_| bad())?;
        let cursor: Cursor = serde_json::from_slice(&bytes).map_err(|_| bad())?;
        let kind_ok = matches!(
            (cursor.sort, &cursor.key),
            (SortKey::Start, CursorKey::Time(_))
                | (SortKey::Duration, CursorKey::Int(_))
                | (SortKey::Teacher, CursorKey::Text(_))
        );
        if cursor.sort != sort.key || cursor.desc != sort.descending || !kind_ok {
            return Err(ServiceError::BadInput(
                "`after` belongs to a list in another order".into(),
            ));
        }
        Ok(cursor)
    }
}

pub struct Page {
    pub rows: Vec<(String, SessionView)>,
    pub has_next: bool,
    pub has_previous: bool,
}

pub fn page_size(first: Option<i64>) -> Result<u64> {
    match first {
        None => Ok(DEFAULT_PAGE),
        Some(n) if (1..=MAX_PAGE as i64).contains(&n) => Ok(n as u64),
        Some(_) => Err(ServiceError::BadInput(format!(
            "first must be between 1 and {MAX_PAGE}"
        ))),
    }
}

fn list_select(
    filter: &SessionFilter,
    sort: Sort,
    after: Option<&Cursor>,
    limit: u64,
) -> Select<zoom_link::Entity> {
    let order = if sort.descending {
        Order::Desc
    } else {
        Order::Asc
    };
    let mut select = filter.sessions_joined(sort.key == SortKey::Teacher);
    if let Some(cursor) = after {
        let id = Expr::col((zoom_link::Entity, zoom_link::Column::Id));
        let key = cursor.key.value();
        let past = |expr: SimpleExpr, value: sea_orm::Value| {
            if sort.descending {
                expr.lt(value)
            } else {
                expr.gt(value)
            }
        };
        let reached = if sort.descending {
            sort.expr().lte(key.clone())
        } else {
            sort.expr().gte(key.clone())
        };
        // `(key, id)` past the cursor. The plain bound on `key` comes first so that every
        // database turns it into an index range: the next page starts where the last ended.
        select = select.filter(
            Condition::all().add(reached).add(
                Condition::any().add(past(sort.expr(), key.clone())).add(
                    Condition::all()
                        .add(sort.expr().eq(key))
                        .add(past(id, cursor.id.into())),
                ),
            ),
        );
    }
    select
        .order_by(sort.expr(), order.clone())
        .order_by(zoom_link::Column::Id, order)
        .limit(limit)
}

/// The statements behind a filter's first page and its statistics, for query-plan checks.
pub fn statements(filter: &SessionFilter, backend: DbBackend) -> Vec<(&'static str, Statement)> {
    vec![
        (
            "sessions",
            list_select(filter, Sort::NEWEST_FIRST, None, DEFAULT_PAGE + 1).build(backend),
        ),
        (
            "sessionStats",
            session_counts(filter.sessions(), backend, false).build(backend),
        ),
        (
            "teacherStats",
            session_counts(filter.sessions(), backend, true).build(backend),
        ),
    ]
}

/// One page of sessions in `sort` order, after `after`. Keyset pagination: sessions that start
/// meanwhile never shift later pages, so nothing repeats and nothing is skipped.
pub async fn list(
    db: &impl ConnectionTrait,
    filter: &SessionFilter,
    sort: Sort,
    first: u64,
    after: Option<&str>,
) -> Result<Page> {
    let after = after.map(|text| Cursor::decode(text, sort)).transpose()?;
    let links = list_select(filter, sort, after.as_ref(), first + 1)
        .all(db)
        .await?;
    let has_next = links.len() as u64 > first;
    let views = attach(db, links.into_iter().take(first as usize).collect()).await?;
    let rows = views
        .into_iter()
        .map(|view| {
            let cursor = Cursor {
                sort: sort.key,
                desc: sort.descending,
                key: sort.key_of(&view),
                id: view.link.id,
            };
            (cursor.encode(), view)
        })
        .collect();
    Ok(Page {
        rows,
        has_next,
        has_previous: after.is_some(),
    })
}

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
fn int(db: DbBackend, expr: &str) -> SimpleExpr {
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
    teacher_id: i64,
    #[sea_orm(nested)]
    counts: CountsRow,
}

/// What a filter's counts are made of on SQLite: whole UTC days from `session_totals`, and
/// the sessions of the partial days at either end of the range. `None` when the totals
/// cannot answer (another backend, a student or a name search).
struct Rollup {
    /// Whole days `[from, to)`; `None` for an open end.
    days: Option<(Option<NaiveDate>, Option<NaiveDate>)>,
    /// Start-time ranges `[from, to)` read from the sessions themselves.
    edges: Vec<(DateTime<Utc>, DateTime<Utc>)>,
}

fn rollup(filter: &SessionFilter, backend: DbBackend) -> Option<Rollup> {
    if backend != DbBackend::Sqlite || filter.student_id.is_some() || filter.search.is_some() {
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

fn session_counts(
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

/// The counts of `filter`, per teacher when `by_teacher` (otherwise under teacher 0).
async fn counts(
    db: &impl ConnectionTrait,
    filter: &SessionFilter,
    by_teacher: bool,
) -> Result<HashMap<i64, CountsRow>> {
    let backend = db.get_database_backend();
    let mut out: HashMap<i64, CountsRow> = HashMap::new();
    let mut merge = |rows: Vec<TeacherCounts>| {
        for row in rows {
            let slot = out.entry(row.teacher_id).or_default();
            *slot = slot.add(row.counts);
        }
    };
    let Some(plan) = rollup(filter, backend) else {
        let select = session_counts(filter.sessions(), backend, by_teacher);
        merge(select.into_model().all(db).await?);
        return Ok(out);
    };
    if let Some((from, to)) = plan.days {
        let columns = counts_sql(
            backend,
            "session_totals.session_status",
            "session_totals.sessions",
            "session_totals.duration_seconds",
        );
        let teacher = Expr::col((session_total::Entity, session_total::Column::TeacherId));
        let mut select = with_counts(session_total::Entity::find(), columns, teacher, by_teacher);
        if let Some(from) = from {
            select = select.filter(session_total::Column::Day.gte(from));
        }
        if let Some(to) = to {
            select = select.filter(session_total::Column::Day.lt(to));
        }
        if let Some(id) = filter.teacher_id {
            select = select.filter(session_total::Column::TeacherId.eq(id));
        }
        if !filter.statuses.is_empty() {
            select =
                select.filter(session_total::Column::SessionStatus.is_in(filter.statuses.clone()));
        }
        merge(select.into_model().all(db).await?);
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

pub async fn stats(db: &impl ConnectionTrait, filter: &SessionFilter) -> Result<SessionStats> {
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
        .one(db)
        .await?
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
pub async fn teacher_stats(
    db: &impl ConnectionTrait,
    filter: &SessionFilter,
) -> Result<Vec<TeacherStats>> {
    let mut rows = counts(db, filter, true).await?;
    // Totals of a day whose sessions all moved elsewhere stay as zero rows.
    rows.retain(|_, row| row.total > 0);
    let teachers: HashMap<i64, teacher::Model> = teacher::Entity::find()
        .filter(teacher::Column::Id.is_in(rows.keys().copied()))
        .all(db)
        .await?
        .into_iter()
        .map(|t| (t.id, t))
        .collect();
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

/// Sessions started, and their finished minutes, on one local day.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DayStats {
    pub day: NaiveDate,
    pub sessions: i64,
    pub duration_seconds: i64,
}

/// Upper bounds in minutes of the duration distribution's buckets; one more bucket is open.
pub const DURATION_BOUNDS: [i64; 7] = [5, 15, 30, 45, 60, 90, 120];

/// Finished sessions whose length is in `[from_minutes, to_minutes)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DurationBucket {
    pub from_minutes: i64,
    pub to_minutes: Option<i64>,
    pub sessions: i64,
}

#[derive(FromQueryResult)]
struct DurationRow {
    bucket: i64,
    sessions: i64,
}

/// The finished sessions of `filter` by length, every bucket listed.
pub async fn durations(
    db: &impl ConnectionTrait,
    filter: &SessionFilter,
) -> Result<Vec<DurationBucket>> {
    let backend = db.get_database_backend();
    let seconds = "wpos_zoom_links.session_duration_seconds";
    let cases: String = DURATION_BOUNDS
        .iter()
        .enumerate()
        .map(|(i, minutes)| format!(" WHEN {seconds} < {} THEN {i}", minutes * 60))
        .collect();
    let bucket = format!("CASE{cases} ELSE {} END", DURATION_BOUNDS.len());
    let rows = filter
        .sessions()
        .filter(zoom_link::Column::SessionDurationSeconds.is_not_null())
        .select_only()
        .column_as(int(backend, &bucket), "bucket")
        .column_as(int(backend, "COUNT(*)"), "sessions")
        .group_by(Expr::cust("bucket"))
        .into_model::<DurationRow>()
        .all(db)
        .await?;
    let mut from = 0;
    let mut buckets: Vec<DurationBucket> = DURATION_BOUNDS
        .iter()
        .map(Some)
        .chain([None])
        .map(|to| {
            let bucket = DurationBucket {
                from_minutes: from,
                to_minutes: to.copied(),
                sessions: 0,
            };
            from = to.copied().unwrap_or(from);
            bucket
        })
        .collect();
    for row in rows {
        if let Some(bucket) = usize::try_from(row.bucket)
            .ok()
            .and_then(|i| buckets.get_mut(i))
        {
            bucket.sessions = row.sessions;
        }
    }
    Ok(buckets)
}

/// Every time zone's offset is a multiple of 15 minutes: buckets that size fold into local days.
const BUCKET_SECONDS: i64 = 900;

#[derive(FromQueryResult)]
struct BucketRow {
    bucket: i64,
    sessions: i64,
    seconds: i64,
}

/// Per local day of `range` (every day listed, empty ones too).
pub async fn daily(
    db: &impl ConnectionTrait,
    filter: &SessionFilter,
    range: DayRange,
) -> Result<Vec<DayStats>> {
    let backend = db.get_database_backend();
    let mut filter = filter.clone();
    filter.range = Some(range);
    let epoch = match backend {
        DbBackend::Postgres => "EXTRACT(EPOCH FROM wpos_zoom_links.clicked_at)",
        DbBackend::MySql => {
            "TIMESTAMPDIFF(SECOND, '1970-01-01 00:00:00', wpos_zoom_links.clicked_at)"
        }
        _ => "strftime('%s', wpos_zoom_links.clicked_at)",
    };
    let bucket = match backend {
        DbBackend::MySql => format!("{epoch} DIV {BUCKET_SECONDS}"),
        _ => format!("CAST({epoch} AS BIGINT) / {BUCKET_SECONDS}"),
    };
    let rows = filter
        .sessions()
        .select_only()
        .column_as(int(backend, &bucket), "bucket")
        .column_as(int(backend, "COUNT(*)"), "sessions")
        .column_as(
            int(backend, "SUM(wpos_zoom_links.session_duration_seconds)"),
            "seconds",
        )
        .group_by(Expr::cust("bucket"))
        .into_model::<BucketRow>()
        .all(db)
        .await?;
    let mut days: BTreeMap<NaiveDate, DayStats> = range
        .days()
        .map(|day| {
            (
                day,
                DayStats {
                    day,
                    sessions: 0,
                    duration_seconds: 0,
                },
            )
        })
        .collect();
    for row in rows {
        let Some(at) = DateTime::<Utc>::from_timestamp(row.bucket * BUCKET_SECONDS, 0) else {
            continue;
        };
        if let Some(day) = days.get_mut(&range.day_of(at)) {
            day.sessions += row.sessions;
            day.duration_seconds += row.seconds;
        }
    }
    Ok(days.into_values().collect())
}

/// Everyone, by name: for filters and forms.
pub async fn teachers(db: &impl ConnectionTrait, caller: Caller) -> Result<Vec<teacher::Model>> {
    let mut select = teacher::Entity::find().order_by_asc(teacher::Column::Name);
    if let Caller::Teacher(own) = caller {
        select = select.filter(teacher::Column::Id.eq(own));
    }
    Ok(select.all(db).await?)
}

/// Students by name; a teacher sees the students they have issued links for.
pub async fn students(db: &impl ConnectionTrait, caller: Caller) -> Result<Vec<student::Model>> {
    let mut select = student::Entity::find().order_by_asc(student::Column::Name);
    if let Caller::Teacher(own) = caller {
        let theirs = zoom_link::Entity::find()
            .select_only()
            .column(zoom_link::Column::StudentId)
            .filter(zoom_link::Column::TeacherId.eq(own))
            .into_query();
        select = select.filter(student::Column::Id.in_subquery(theirs));
    }
    Ok(select.all(db).await?)
}
