//! Which sessions a query covers: one filter for lists, statistics, exports and live events.

use chrono::{DateTime, NaiveDate, Utc};
use chrono_tz::Tz;
use entity::{
    student, teacher,
    zoom_link::{self, SessionStatus},
};
use sea_orm::{
    ColumnTrait, Condition, EntityTrait, JoinType, QueryFilter, QuerySelect, QueryTrait,
    RelationTrait, Select,
    sea_query::{Expr, ExprTrait, Func, LikeExpr},
};

use crate::{
    domain::{
        Caller, StudentId, TeacherId,
        attendance::{self, Attendance},
        range::{DayRange, MAX_DAYS, parse_time_zone},
        time,
    },
    services::{Result, ServiceError, parse_id, view::SessionView},
};

const MAX_SEARCH: usize = 100;

/// Which sessions a query covers.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SessionFilter {
    pub teacher_id: Option<TeacherId>,
    pub student_id: Option<StudentId>,
    /// Empty: every status.
    pub statuses: Vec<SessionStatus>,
    /// Links only: links never opened are selected too (the status `PENDING`).
    pub pending: bool,
    /// Planned lessons in any of these states at `now`; empty: any link, planned or not.
    pub attendance: Vec<Attendance>,
    /// The time attendance states are judged at.
    pub now: DateTime<Utc>,
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
        let attending = self.attendance.is_empty()
            || attendance::attendance(&view.link, self.now)
                .is_some_and(|state| self.attendance.contains(&state));
        view.link
            .session_status
            .is_some_and(|status| self.statuses.is_empty() || self.statuses.contains(&status))
            && attending
            && self.matches_any_status(view)
    }

    /// The same, whatever the status and the attendance: a change of either can move a session
    /// into or out of the filter, and statistics must be recounted either way.
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
    pub(super) fn condition(&self, time_column: zoom_link::Column) -> Condition {
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
        if !self.attendance.is_empty() {
            cond = cond.add(super::attendance::any_of(&self.attendance, self.now));
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
    pub(super) fn sessions(&self) -> Select<zoom_link::Entity> {
        self.sessions_joined(false)
    }

    /// The same, joined to the teacher when the order is by teacher name.
    pub(super) fn sessions_joined(&self, teacher_name: bool) -> Select<zoom_link::Entity> {
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

    /// Links (opened or not) this filter selects; its range is read on the issue time.
    pub(super) fn links(&self) -> Select<zoom_link::Entity> {
        let mut select =
            zoom_link::Entity::find().filter(self.condition(zoom_link::Column::CreatedAt));
        if !self.statuses.is_empty() || self.pending {
            let mut any = Condition::any();
            if !self.statuses.is_empty() {
                any = any.add(zoom_link::Column::SessionStatus.is_in(self.statuses.clone()));
            }
            if self.pending {
                any = any.add(zoom_link::Column::SessionStatus.is_null());
            }
            select = select.filter(any);
        }
        select
    }
}

/// What a filter lists: sessions (opened links), or every link.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Listing {
    Sessions,
    Links,
}

/// The parts of a filter every edge shares, parsed once.
pub struct FilterParts<'a> {
    pub listing: Listing,
    pub teacher_id: Option<&'a str>,
    pub student_id: Option<&'a str>,
    /// `None`: `PENDING`, a link never opened.
    pub statuses: Vec<Option<entity::zoom_link::SessionStatus>>,
    pub attendance: Vec<Attendance>,
    pub from: Option<NaiveDate>,
    pub to: Option<NaiveDate>,
    pub time_zone: Option<&'a str>,
    pub search: Option<&'a str>,
}

/// Builds the service filter, scoped to what `caller` may read; an open end of a range is
/// read against `now`.
pub fn parse_filter(
    parts: FilterParts<'_>,
    caller: Caller,
    now: DateTime<Utc>,
) -> Result<SessionFilter> {
    let tz = parse_time_zone(parts.time_zone).map_err(ServiceError::BadInput)?;
    // One open end of a range reaches to today, or a year back.
    let today = now.with_timezone(&tz).date_naive();
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
    let sessions = parts.listing == Listing::Sessions;
    if sessions && parts.statuses.contains(&None) {
        return Err(ServiceError::BadInput(
            "PENDING is not a session status: a link never opened is not a session (`links` \
             lists them; sessionStats.neverClickedLinks counts them)"
                .into(),
        ));
    }
    if sessions && parts.attendance.iter().any(|state| state.unopened()) {
        return Err(ServiceError::BadInput(
            "PENDING and NO_SHOW lessons were never opened, so they are no sessions: `links` \
             lists them"
                .into(),
        ));
    }
    let statuses = parts.statuses.iter().flatten().copied().collect();
    let mut filter = SessionFilter {
        teacher_id: parts
            .teacher_id
            .map(|id| parse_id(id, "teacherId"))
            .transpose()?,
        student_id: parts
            .student_id
            .map(|id| parse_id(id, "studentId"))
            .transpose()?,
        statuses,
        pending: parts.statuses.contains(&None),
        attendance: parts.attendance,
        now,
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
