//! The read side: sessions, statistics, and their live versions.

use std::collections::HashMap;

use async_graphql::{
    Context, Enum, ID, InputObject, Object, SimpleObject, Subscription,
    connection::{Connection, Edge},
};
use chrono::{DateTime, NaiveDate, Utc};
use futures::{Stream, StreamExt};

use super::{
    context::{Gql, caller, tracker},
    types::{AttendanceCounts, AttendanceState, SessionStatus, Student, Teacher, ZoomLink},
};
use crate::{
    domain::{Caller, time},
    services::{
        events::{EventKind, SessionEvent as BusEvent},
        parse_id,
        reports::{self, Listing, Sort, SortKey, live},
    },
};

/// Finished sessions whose length is at least `fromMinutes` and below `toMinutes` (open when
/// null).
#[derive(SimpleObject)]
pub struct DurationBucket {
    pub from_minutes: i64,
    pub to_minutes: Option<i64>,
    pub sessions: i64,
}

/// Which sessions: every field narrows; all empty means every session in the caller's scope.
#[derive(InputObject, Default)]
pub struct SessionFilter {
    pub teacher_id: Option<ID>,
    pub student_id: Option<ID>,
    /// One or more of ACTIVE, ENDED, TIMEOUT (and PENDING, for `links`).
    pub status: Option<Vec<SessionStatus>>,
    /// Planned lessons in one of these states now (PENDING and NO_SHOW: `links` only).
    pub attendance: Option<Vec<AttendanceState>>,
    /// First day (inclusive) the session started on, in `timeZone` (for `links`: the day the
    /// link was issued).
    pub from: Option<NaiveDate>,
    /// Last day (inclusive) the session started on (`links`: was issued on), in `timeZone`.
    pub to: Option<NaiveDate>,
    /// IANA time zone the days are read in, e.g. `Europe/Berlin`. Default `UTC`.
    pub time_zone: Option<String>,
    /// Matched inside teacher and student names, ignoring case.
    pub search: Option<String>,
}

impl SessionFilter {
    fn parse(
        filter: Option<&SessionFilter>,
        caller: Caller,
    ) -> async_graphql::Result<reports::SessionFilter> {
        Self::parse_for(filter, caller, Listing::Sessions)
    }

    pub(super) fn parse_for(
        filter: Option<&SessionFilter>,
        caller: Caller,
        listing: Listing,
    ) -> async_graphql::Result<reports::SessionFilter> {
        let empty = SessionFilter::default();
        let f = filter.unwrap_or(&empty);
        reports::parse_filter(
            reports::FilterParts {
                listing,
                attendance: f.attendance.iter().flatten().map(|&s| s.into()).collect(),
                teacher_id: f.teacher_id.as_ref().map(|id| id.as_str()),
                student_id: f.student_id.as_ref().map(|id| id.as_str()),
                statuses: f.status.iter().flatten().map(|s| s.stored()).collect(),
                from: f.from,
                to: f.to,
                time_zone: f.time_zone.as_deref(),
                search: f.search.as_deref(),
            },
            caller,
            time::now(),
        )
        .gql()
    }
}

#[derive(Enum, Clone, Copy, PartialEq, Eq, Default)]
pub enum SessionSortField {
    /// When the session started (its first click).
    #[default]
    StartedAt,
    /// Recorded duration; sessions still running come last when descending.
    Duration,
    /// Teacher name.
    Teacher,
}

#[derive(Enum, Clone, Copy, PartialEq, Eq, Default)]
pub enum SortDirection {
    Asc,
    #[default]
    Desc,
}

#[derive(InputObject, Default)]
pub struct SessionOrder {
    #[graphql(default)]
    pub field: SessionSortField,
    #[graphql(default)]
    pub direction: SortDirection,
}

impl SessionOrder {
    fn sort(&self) -> Sort {
        Sort {
            key: match self.field {
                SessionSortField::StartedAt => SortKey::Start,
                SessionSortField::Duration => SortKey::Duration,
                SessionSortField::Teacher => SortKey::Teacher,
            },
            descending: self.direction == SortDirection::Desc,
        }
    }
}

/// Totals over a filter's sessions. Durations count finished (ended or timed-out) sessions.
#[derive(SimpleObject, Clone, PartialEq)]
pub struct SessionStats {
    pub total_sessions: i64,
    pub active_sessions: i64,
    pub ended_sessions: i64,
    pub timeout_sessions: i64,
    pub total_duration_seconds: i64,
    pub total_duration_minutes: i64,
    pub avg_duration_minutes: Option<f64>,
    /// Links in the same scope issued (in the date range) but never opened.
    pub never_clicked_links: i64,
    /// Planned lessons in the same scope by attendance state: those whose planned start is in
    /// the date range.
    pub attendance: AttendanceCounts,
}

impl From<reports::SessionStats> for SessionStats {
    fn from(s: reports::SessionStats) -> Self {
        Self {
            total_sessions: s.total,
            active_sessions: s.active,
            ended_sessions: s.ended,
            timeout_sessions: s.timeout,
            total_duration_seconds: s.total_duration_seconds,
            total_duration_minutes: time::minutes(s.total_duration_seconds),
            avg_duration_minutes: s.average_duration_seconds().map(|secs| secs / 60.0),
            never_clicked_links: s.never_clicked,
            attendance: AttendanceCounts::default(),
        }
    }
}

#[derive(SimpleObject)]
pub struct TeacherStats {
    pub teacher: Teacher,
    pub sessions: i64,
    pub active_now: i64,
    pub ended_sessions: i64,
    pub timeout_sessions: i64,
    pub total_duration_minutes: i64,
    pub avg_duration_minutes: Option<f64>,
    /// Timed-out sessions among the finished ones, 0 to 1.
    pub timeout_rate: Option<f64>,
    /// The teacher's planned lessons by attendance state (planned start in the date range).
    pub attendance: AttendanceCounts,
    /// Interruptions per session, on average over the teacher's sessions in the filter.
    pub avg_interruptions: Option<f64>,
}

impl From<reports::TeacherStats> for TeacherStats {
    fn from(t: reports::TeacherStats) -> Self {
        Self {
            timeout_rate: t.timeout_rate(),
            sessions: t.stats.total,
            active_now: t.stats.active,
            ended_sessions: t.stats.ended,
            timeout_sessions: t.stats.timeout,
            total_duration_minutes: time::minutes(t.stats.total_duration_seconds),
            avg_duration_minutes: t.stats.average_duration_seconds().map(|s| s / 60.0),
            attendance: AttendanceCounts::default(),
            avg_interruptions: None,
            teacher: t.teacher.into(),
        }
    }
}

#[derive(SimpleObject)]
pub struct DayStats {
    /// A calendar day in the filter's time zone.
    pub day: NaiveDate,
    pub sessions: i64,
    /// Minutes of the finished sessions that started that day.
    pub duration_minutes: i64,
}

#[derive(Enum, Clone, Copy, PartialEq, Eq)]
pub enum SessionEventKind {
    Started,
    Resumed,
    Heartbeat,
    Ended,
    TimedOut,
}

/// Something that happened to a session, with the session as it is now.
#[derive(SimpleObject)]
pub struct SessionEvent {
    pub kind: SessionEventKind,
    pub at: DateTime<Utc>,
    pub session: ZoomLink,
}

impl From<&BusEvent> for SessionEvent {
    fn from(event: &BusEvent) -> Self {
        Self {
            kind: match event.kind {
                EventKind::Started => SessionEventKind::Started,
                EventKind::Resumed => SessionEventKind::Resumed,
                EventKind::Heartbeat => SessionEventKind::Heartbeat,
                EventKind::Ended => SessionEventKind::Ended,
                EventKind::TimedOut => SessionEventKind::TimedOut,
            },
            at: event.at,
            session: event.session.clone().into(),
        }
    }
}

/// A page of links as a Relay connection.
pub(super) fn link_connection(page: reports::Page) -> Connection<String, ZoomLink> {
    let mut connection = Connection::new(page.has_previous, page.has_next);
    connection.edges.extend(
        page.rows
            .into_iter()
            .map(|(cursor, view)| Edge::new(cursor, ZoomLink::from(view))),
    );
    connection
}

/// Whether the selection asks for `attendance`: its counts cost queries of their own.
fn asks_attendance(ctx: &Context<'_>) -> bool {
    ctx.look_ahead().field("attendance").exists()
}

async fn attendance_total(
    db: &sea_orm::DatabaseConnection,
    filter: &reports::SessionFilter,
) -> async_graphql::Result<AttendanceCounts> {
    let counts = reports::attendance_counts(db, filter, filter.now)
        .await
        .gql()?;
    Ok(reports::attendance_total(&counts).into())
}

#[derive(Default)]
pub struct ReportQuery;

#[Object]
impl ReportQuery {
    /// Sessions, newest first by default; cursor-paginated (at most 100 a page). A page costs
    /// its size times its fields against the complexity limit.
    #[graphql(
        complexity = "first.unwrap_or(reports::DEFAULT_PAGE as i64).clamp(1, reports::MAX_PAGE as i64) as usize * child_complexity"
    )]
    async fn sessions(
        &self,
        ctx: &Context<'_>,
        filter: Option<SessionFilter>,
        order_by: Option<SessionOrder>,
        first: Option<i64>,
        after: Option<String>,
    ) -> async_graphql::Result<Connection<String, ZoomLink>> {
        let filter = SessionFilter::parse(filter.as_ref(), caller(ctx)?)?;
        let sort = order_by.map_or(Sort::NEWEST_FIRST, |o| o.sort());
        let first = reports::page_size(first).gql()?;
        let page = reports::list(tracker(ctx)?.read(), &filter, sort, first, after.as_deref())
            .await
            .gql()?;
        Ok(link_connection(page))
    }

    /// One link and its session: admins read any, a teacher only their own.
    async fn session(&self, ctx: &Context<'_>, id: ID) -> async_graphql::Result<ZoomLink> {
        reports::session(
            tracker(ctx)?.read(),
            caller(ctx)?,
            parse_id(&id, "id").gql()?,
        )
        .await
        .gql()
        .map(Into::into)
    }

    /// Costs 100 against the complexity limit: it may add up every session.
    #[graphql(complexity = 100)]
    async fn session_stats(
        &self,
        ctx: &Context<'_>,
        filter: Option<SessionFilter>,
    ) -> async_graphql::Result<SessionStats> {
        let filter = SessionFilter::parse(filter.as_ref(), caller(ctx)?)?;
        let db = tracker(ctx)?.read();
        let mut stats: SessionStats = reports::stats(db, &filter).await.gql()?.into();
        if asks_attendance(ctx) {
            stats.attendance = attendance_total(db, &filter).await?;
        }
        Ok(stats)
    }

    /// One row per teacher with sessions in the filter, most sessions first. Costs 100.
    #[graphql(complexity = 100)]
    async fn teacher_stats(
        &self,
        ctx: &Context<'_>,
        filter: Option<SessionFilter>,
    ) -> async_graphql::Result<Vec<TeacherStats>> {
        let filter = SessionFilter::parse(filter.as_ref(), caller(ctx)?)?;
        let db = tracker(ctx)?.read();
        let stats = reports::teacher_stats(db, &filter).await.gql()?;
        // Counted only when asked for, by teacher id.
        let attendance: HashMap<_, _> = if asks_attendance(ctx) {
            reports::attendance_counts(db, &filter, filter.now)
                .await
                .gql()?
                .into_iter()
                .collect()
        } else {
            HashMap::new()
        };
        let interruptions = if ctx.look_ahead().field("avgInterruptions").exists() {
            reports::interruption_counts(db, &filter).await.gql()?
        } else {
            HashMap::new()
        };
        let rows = stats
            .into_iter()
            .map(|t| {
                let id = t.teacher.id;
                let mut row = TeacherStats::from(t);
                if let Some(counts) = attendance.get(&id) {
                    row.attendance = (*counts).into();
                }
                row.avg_interruptions = interruptions
                    .get(&id)
                    .filter(|(sessions, _)| *sessions > 0)
                    .map(|(sessions, count)| *count as f64 / *sessions as f64);
                row
            })
            .collect();
        Ok(rows)
    }

    /// Finished sessions by length: `[0, 5)`, `[5, 15)`, … `[120, ∞)` minutes, every bucket
    /// listed. Costs 100.
    #[graphql(complexity = 100)]
    async fn duration_distribution(
        &self,
        ctx: &Context<'_>,
        filter: Option<SessionFilter>,
    ) -> async_graphql::Result<Vec<DurationBucket>> {
        let filter = SessionFilter::parse(filter.as_ref(), caller(ctx)?)?;
        Ok(reports::durations(tracker(ctx)?.read(), &filter)
            .await
            .gql()?
            .into_iter()
            .map(|b| DurationBucket {
                from_minutes: b.from_minutes,
                to_minutes: b.to_minutes,
                sessions: b.sessions,
            })
            .collect())
    }

    /// Sessions and minutes per day of the filter's range (default: the last 30 days) in its
    /// time zone; every day is listed. Costs 100.
    #[graphql(complexity = 100)]
    async fn daily_stats(
        &self,
        ctx: &Context<'_>,
        filter: Option<SessionFilter>,
    ) -> async_graphql::Result<Vec<DayStats>> {
        let filter = SessionFilter::parse(filter.as_ref(), caller(ctx)?)?;
        let range = reports::daily_range(&filter, time::now()).gql()?;
        Ok(reports::daily(tracker(ctx)?.read(), &filter, range)
            .await
            .gql()?
            .into_iter()
            .map(|d| DayStats {
                day: d.day,
                sessions: d.sessions,
                duration_minutes: time::minutes(d.duration_seconds),
            })
            .collect())
    }

    /// Teachers by name (a teacher credential: itself).
    async fn teachers(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<Teacher>> {
        Ok(reports::teachers(tracker(ctx)?.read(), caller(ctx)?)
            .await
            .gql()?
            .into_iter()
            .map(Into::into)
            .collect())
    }

    /// Students by name (a teacher credential: those it has issued links for).
    async fn students(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<Student>> {
        Ok(reports::students(tracker(ctx)?.read(), caller(ctx)?)
            .await
            .gql()?
            .into_iter()
            .map(Into::into)
            .collect())
    }
}

#[derive(Default)]
pub struct ReportSubscription;

#[Subscription]
impl ReportSubscription {
    /// Each start, end and timeout as it happens, and heartbeats (at most one per session per
    /// heartbeat interval), for sessions the filter selects.
    async fn session_events(
        &self,
        ctx: &Context<'_>,
        filter: Option<SessionFilter>,
    ) -> async_graphql::Result<impl Stream<Item = SessionEvent> + use<>> {
        let filter = SessionFilter::parse(filter.as_ref(), caller(ctx)?)?;
        Ok(live::events(tracker(ctx)?, filter).map(|event| SessionEvent::from(event.as_ref())))
    }

    /// The statistics of `sessionStats(filter)`: now, then again whenever they change.
    async fn session_stats(
        &self,
        ctx: &Context<'_>,
        filter: Option<SessionFilter>,
    ) -> async_graphql::Result<impl Stream<Item = SessionStats> + use<>> {
        let filter = SessionFilter::parse(filter.as_ref(), caller(ctx)?)?;
        let tracker = tracker(ctx)?.clone();
        let attendance = asks_attendance(ctx).then(|| (tracker.clone(), filter.clone()));
        let updates = live::stats_updates(tracker, filter).await.gql()?;
        Ok(updates.then(move |stats| {
            let attendance = attendance.clone();
            async move {
                let mut stats = SessionStats::from(stats);
                if let Some((tracker, mut filter)) = attendance {
                    filter.now = time::now();
                    // A failed count leaves the counts at zero; the totals still go out.
                    if let Ok(counts) = attendance_total(tracker.read(), &filter).await {
                        stats.attendance = counts;
                    }
                }
                stats
            }
        }))
    }
}
