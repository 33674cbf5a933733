//! GraphQL output types, mapped from the entities (the API and the tables change for
//! different reasons).

use async_graphql::{ComplexObject, Context, Enum, ID, SimpleObject};
use chrono::{DateTime, Utc};
use entity::{
    session_correction, student, teacher,
    telegram_notification::{self, NotificationStatus as DbNotificationStatus},
    zoom_link::{EndReason as DbEndReason, SessionStatus as DbStatus},
};
use tokio::sync::OnceCell;

use super::context::{Gql, caller, settings, tracker};
use crate::{
    domain::{
        Caller, LinkId,
        attendance::{Attendance, attendance},
        time,
    },
    services::{
        corrections, links, notifications, reports, timeline, tracker::SessionEnd,
        view::SessionView,
    },
};

/// Where a link's session stands. `PENDING`: issued, never opened.
#[derive(Enum, Clone, Copy, PartialEq, Eq, Debug)]
pub enum SessionStatus {
    Pending,
    Active,
    Ended,
    Timeout,
}

impl SessionStatus {
    /// The stored status a filter on this one selects; `PENDING` is not a session.
    pub fn stored(self) -> Option<DbStatus> {
        match self {
            Self::Pending => None,
            Self::Active => Some(DbStatus::Active),
            Self::Ended => Some(DbStatus::Ended),
            Self::Timeout => Some(DbStatus::Timeout),
        }
    }
}

impl From<Option<DbStatus>> for SessionStatus {
    fn from(status: Option<DbStatus>) -> Self {
        match status {
            None => Self::Pending,
            Some(DbStatus::Active) => Self::Active,
            Some(DbStatus::Ended) => Self::Ended,
            Some(DbStatus::Timeout) => Self::Timeout,
        }
    }
}

/// How a session's end was determined. Zoom's own signals (when its webhooks are configured)
/// outrank the tracking page's, which outrank the timeout.
#[derive(Enum, Clone, Copy, PartialEq, Eq, Debug)]
pub enum EndReason {
    /// The tracking page was closed (end-session).
    TabClosed,
    /// Zoom reported that the student left the meeting.
    LeftZoom,
    /// Zoom reported that the meeting ended.
    MeetingEnded,
    /// No activity for the session timeout: ended at its last activity.
    TimedOut,
}

impl From<DbEndReason> for EndReason {
    fn from(reason: DbEndReason) -> Self {
        match reason {
            DbEndReason::TabClosed => Self::TabClosed,
            DbEndReason::LeftZoom => Self::LeftZoom,
            DbEndReason::MeetingEnded => Self::MeetingEnded,
            DbEndReason::TimedOut => Self::TimedOut,
        }
    }
}

#[derive(SimpleObject)]
pub struct Teacher {
    pub id: ID,
    pub name: String,
    pub telegram_chat_id: String,
    pub created_at: DateTime<Utc>,
}

impl From<teacher::Model> for Teacher {
    fn from(m: teacher::Model) -> Self {
        Self {
            id: m.id.into(),
            name: m.name,
            telegram_chat_id: m.telegram_chat_id,
            created_at: time::from_db(m.created_at),
        }
    }
}

#[derive(SimpleObject)]
#[graphql(complex)]
pub struct Student {
    pub id: ID,
    pub name: String,
    pub created_at: DateTime<Utc>,
    #[graphql(skip)]
    chat_id: String,
}

#[ComplexObject]
impl Student {
    /// Admin only (null for a teacher credential): where the bot writes to the student.
    async fn telegram_chat_id(&self, ctx: &Context<'_>) -> Option<String> {
        is_admin(ctx).then(|| self.chat_id.clone())
    }
}

impl From<student::Model> for Student {
    fn from(m: student::Model) -> Self {
        Self {
            id: m.id.into(),
            name: m.name,
            created_at: time::from_db(m.created_at),
            chat_id: m.telegram_chat_id,
        }
    }
}

/// Whether the request's credential is an admin's.
fn is_admin(ctx: &Context<'_>) -> bool {
    ctx.data_opt::<Caller>()
        .is_some_and(|caller| caller.is_admin())
}

/// Where a link's Telegram message stands.
#[derive(Enum, Clone, Copy, PartialEq, Eq, Debug)]
pub enum NotificationStatus {
    /// Waiting for its next attempt (see `notificationNextAttemptAt`).
    Pending,
    /// An attempt is in flight.
    Sending,
    Sent,
    /// Not delivered; `notificationLastError` says why. `resendNotification` tries again.
    Failed,
    /// Issued while the server had no Telegram bot token.
    Disabled,
}

impl From<DbNotificationStatus> for NotificationStatus {
    fn from(status: DbNotificationStatus) -> Self {
        match status {
            DbNotificationStatus::Pending => Self::Pending,
            DbNotificationStatus::Sending => Self::Sending,
            DbNotificationStatus::Sent => Self::Sent,
            DbNotificationStatus::Failed => Self::Failed,
            DbNotificationStatus::Disabled => Self::Disabled,
        }
    }
}

/// How a planned lesson went (see `docs/payroll.md`): `PENDING` until the planned end plus the
/// grace while never opened, then `NO_SHOW`; a finished lesson below its share of the planned
/// length is `SHORT`; else one that started more than the grace after the planned start (Zoom's
/// join where Zoom spoke, else the first click) is `LATE`; else `ON_TIME`.
#[derive(Enum, Clone, Copy, PartialEq, Eq, Debug)]
pub enum AttendanceState {
    Pending,
    OnTime,
    Late,
    Short,
    NoShow,
}

impl From<Attendance> for AttendanceState {
    fn from(state: Attendance) -> Self {
        match state {
            Attendance::Pending => Self::Pending,
            Attendance::OnTime => Self::OnTime,
            Attendance::Late => Self::Late,
            Attendance::Short => Self::Short,
            Attendance::NoShow => Self::NoShow,
        }
    }
}

impl From<AttendanceState> for Attendance {
    fn from(state: AttendanceState) -> Self {
        match state {
            AttendanceState::Pending => Self::Pending,
            AttendanceState::OnTime => Self::OnTime,
            AttendanceState::Late => Self::Late,
            AttendanceState::Short => Self::Short,
            AttendanceState::NoShow => Self::NoShow,
        }
    }
}

/// Planned lessons by attendance state.
#[derive(SimpleObject, Clone, Copy, PartialEq, Eq, Default)]
pub struct AttendanceCounts {
    pub planned: i64,
    pub pending: i64,
    pub on_time: i64,
    pub late: i64,
    pub short: i64,
    pub no_show: i64,
}

impl From<reports::attendance::AttendanceCounts> for AttendanceCounts {
    fn from(c: reports::attendance::AttendanceCounts) -> Self {
        Self {
            planned: c.planned(),
            pending: c.pending,
            on_time: c.on_time,
            late: c.late,
            short: c.short,
            no_show: c.no_show,
        }
    }
}

/// An admin's correction of a session's end. The session's `endedAt` and durations show the
/// corrected values; `measured*` are what the tracking recorded before its first correction.
#[derive(SimpleObject)]
#[graphql(complex)]
pub struct Correction {
    pub id: ID,
    pub ended_at: DateTime<Utc>,
    pub duration_seconds: i64,
    pub duration_minutes: i64,
    pub reason: String,
    /// Who corrected it: `admin token`, or `admin key <id>`.
    pub by: String,
    pub at: DateTime<Utc>,
    pub measured_status: Option<SessionStatus>,
    pub measured_ended_at: Option<DateTime<Utc>>,
    pub measured_duration_seconds: Option<i64>,
    pub measured_end_reason: Option<EndReason>,
    #[graphql(skip)]
    link_id: LinkId,
}

#[ComplexObject]
impl Correction {
    /// The corrected session.
    async fn session(&self, ctx: &Context<'_>) -> async_graphql::Result<ZoomLink> {
        reports::session(tracker(ctx)?.read(), caller(ctx)?, self.link_id)
            .await
            .gql()
            .map(Into::into)
    }
}

impl From<session_correction::Model> for Correction {
    fn from(c: session_correction::Model) -> Self {
        Self {
            id: c.id.to_string().into(),
            ended_at: time::from_db(c.ended_at),
            duration_seconds: c.duration_seconds,
            duration_minutes: time::minutes(c.duration_seconds),
            reason: c.reason,
            by: c.corrected_by,
            at: time::from_db(c.corrected_at),
            measured_status: c.measured_status.map(|s| Some(s).into()),
            measured_ended_at: c.measured_ended_at.map(time::from_db),
            measured_duration_seconds: c.measured_duration_seconds,
            measured_end_reason: c.measured_end_reason.map(Into::into),
            link_id: c.link_id,
        }
    }
}

/// What happened to a session.
#[derive(Enum, Clone, Copy, PartialEq, Eq, Debug)]
pub enum TimelineMark {
    Issued,
    /// The Telegram message reached the student.
    MessageSent,
    /// The first click on the tracking link: the session starts.
    Opened,
    JoinedZoom,
    LeftZoom,
    MeetingEnded,
    /// The last sign of the student while the session runs.
    LastActivity,
    /// The tracking page went into the background (the student is in Zoom or another tab).
    PageHidden,
    /// The tracking page came back to the front.
    PageVisible,
    /// The visible tracking page fell silent: the student was away until the time in `detail`.
    Away,
    /// The measured end (the tracking page closed, or Zoom said so).
    Ended,
    /// The measured end of a session that went silent.
    TimedOut,
    Corrected,
}

/// One moment of a session's timeline.
#[derive(SimpleObject)]
pub struct TimelineEntry {
    pub at: DateTime<Utc>,
    pub mark: TimelineMark,
    /// Who or how: the participant's Zoom name, how the end was decided, a correction's end,
    /// author and reason.
    pub detail: Option<String>,
}

impl From<timeline::Entry> for TimelineEntry {
    fn from(e: timeline::Entry) -> Self {
        use timeline::Mark;
        Self {
            at: e.at,
            mark: match e.mark {
                Mark::Issued => TimelineMark::Issued,
                Mark::MessageSent => TimelineMark::MessageSent,
                Mark::Opened => TimelineMark::Opened,
                Mark::JoinedZoom => TimelineMark::JoinedZoom,
                Mark::LeftZoom => TimelineMark::LeftZoom,
                Mark::MeetingEnded => TimelineMark::MeetingEnded,
                Mark::LastActivity => TimelineMark::LastActivity,
                Mark::PageHidden => TimelineMark::PageHidden,
                Mark::PageVisible => TimelineMark::PageVisible,
                Mark::Away => TimelineMark::Away,
                Mark::Ended => TimelineMark::Ended,
                Mark::TimedOut => TimelineMark::TimedOut,
                Mark::Corrected => TimelineMark::Corrected,
            },
            detail: e.detail,
        }
    }
}

/// One teacher's lessons in a payroll period.
#[derive(SimpleObject)]
pub struct PayrollRow {
    pub teacher: Teacher,
    /// Finished lessons (ended or timed out).
    pub lessons: i64,
    /// Their durations added up, corrected where an admin corrected them, rounded to the
    /// nearest minute.
    pub paid_minutes: i64,
    pub paid_seconds: i64,
    /// Finished lessons whose end an admin corrected.
    pub corrected_lessons: i64,
    /// Lessons still running: paid once they finish.
    pub in_progress: i64,
    pub planned_lessons: i64,
    pub planned_minutes: i64,
    pub attendance: AttendanceCounts,
}

impl From<reports::PayrollRow> for PayrollRow {
    fn from(row: reports::PayrollRow) -> Self {
        Self {
            lessons: row.lessons,
            paid_minutes: row.paid_minutes(),
            paid_seconds: row.paid_seconds,
            corrected_lessons: row.corrected,
            in_progress: row.in_progress,
            planned_lessons: row.planned_lessons,
            planned_minutes: row.planned_minutes,
            attendance: row.attendance.into(),
            teacher: row.teacher.into(),
        }
    }
}

/// An issued Zoom link and the session it tracks.
#[derive(SimpleObject)]
#[graphql(complex)]
pub struct ZoomLink {
    pub id: ID,
    pub teacher: Teacher,
    pub student: Student,
    pub zoom_url: String,
    pub issued_at: DateTime<Utc>,
    pub status: SessionStatus,
    /// The first click: when the session started.
    pub clicked_at: Option<DateTime<Utc>>,
    pub ended_at: Option<DateTime<Utc>>,
    pub last_activity_at: Option<DateTime<Utc>>,
    pub duration_minutes: Option<i32>,
    pub duration_seconds: Option<i64>,
    /// How the session ended; none while it runs.
    pub end_reason: Option<EndReason>,
    /// Zoom webhooks: when the student first joined the meeting.
    pub zoom_joined_at: Option<DateTime<Utc>>,
    /// Zoom webhooks: the time actually in the meeting, over every join and leave; the
    /// duration is the wall length from the first join to the last leave.
    pub in_meeting_seconds: Option<i64>,
    /// The planned lesson, when the link was issued with one.
    pub planned_start: Option<DateTime<Utc>>,
    pub planned_minutes: Option<i32>,
    /// How the planned lesson went, now; null without a plan.
    pub attendance: Option<AttendanceState>,
    /// When an admin last corrected the session's end; null when never (see `correction`).
    pub corrected_at: Option<DateTime<Utc>>,
    /// How often the student was away during the lesson: Zoom's leave and rejoin where Zoom's
    /// webhooks spoke, else the tracking page's silences of more than two heartbeat intervals
    /// while it was visible (a hidden page is in the background while the student is in Zoom).
    pub interruptions: i32,
    /// How long those interruptions lasted in all.
    pub interrupted_seconds: i64,
    #[graphql(skip)]
    token: String,
    /// The issuing mutation's own answer: its caller gets the tracking URL this once.
    #[graphql(skip)]
    reveal: bool,
    #[graphql(skip)]
    link_id: LinkId,
    /// The Telegram message's record, read once for all `notification*` fields.
    #[graphql(skip)]
    notification: OnceCell<Option<telegram_notification::Model>>,
}

#[ComplexObject]
impl ZoomLink {
    /// The URL the student opens; it starts the session and is the student's credential.
    /// Given to whoever issues the link, in `issueZoomLink`'s answer; later reads show it to
    /// admins only (null for a teacher credential).
    async fn tracking_url(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<String>> {
        if !(self.reveal || is_admin(ctx)) {
            return Ok(None);
        }
        Ok(Some(settings(ctx)?.tracking_url(&self.token)))
    }

    /// The latest correction of the session's end, with its reason and the measured values;
    /// null when never corrected.
    async fn correction(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<Correction>> {
        if self.corrected_at.is_none() {
            return Ok(None);
        }
        let db = tracker(ctx)?.read();
        Ok(corrections::latest_of(db, self.link_id)
            .await
            .gql()?
            .map(Into::into))
    }

    /// What happened, oldest first: issued, the message sent, opened, the tracking page's
    /// visibility changes and silences, Zoom's joins and leaves, the measured end and how it was
    /// decided, each correction. Costs 10.
    #[graphql(complexity = 10)]
    async fn timeline(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<TimelineEntry>> {
        let db = tracker(ctx)?.read();
        let link = links::by_id(db, self.link_id).await.gql()?;
        Ok(timeline::timeline(db, &link)
            .await
            .gql()?
            .into_iter()
            .map(Into::into)
            .collect())
    }

    /// The Telegram message to the student. Links issued before notifications were recorded
    /// show `DISABLED`.
    async fn notification_status(
        &self,
        ctx: &Context<'_>,
    ) -> async_graphql::Result<NotificationStatus> {
        Ok(self
            .notification(ctx)
            .await?
            .map_or(NotificationStatus::Disabled, |n| n.status.into()))
    }

    /// Attempts made to deliver the message (each counted before it is made).
    async fn notification_attempts(&self, ctx: &Context<'_>) -> async_graphql::Result<i32> {
        Ok(self.notification(ctx).await?.map_or(0, |n| n.attempts))
    }

    /// Why the last attempt did not deliver, while not sent.
    async fn notification_last_error(
        &self,
        ctx: &Context<'_>,
    ) -> async_graphql::Result<Option<String>> {
        Ok(self
            .notification(ctx)
            .await?
            .and_then(|n| n.last_error.clone()))
    }

    async fn notification_sent_at(
        &self,
        ctx: &Context<'_>,
    ) -> async_graphql::Result<Option<DateTime<Utc>>> {
        Ok(self
            .notification(ctx)
            .await?
            .and_then(|n| n.sent_at.map(time::from_db)))
    }

    /// When a `PENDING` message is next attempted.
    async fn notification_next_attempt_at(
        &self,
        ctx: &Context<'_>,
    ) -> async_graphql::Result<Option<DateTime<Utc>>> {
        Ok(self
            .notification(ctx)
            .await?
            .filter(|n| n.status == DbNotificationStatus::Pending)
            .and_then(|n| n.due_at.map(time::from_db)))
    }
}

impl ZoomLink {
    /// The answer to the mutation that issued the link: it carries the tracking URL.
    pub fn issued(self) -> Self {
        Self {
            reveal: true,
            ..self
        }
    }

    async fn notification(
        &self,
        ctx: &Context<'_>,
    ) -> async_graphql::Result<Option<&telegram_notification::Model>> {
        let db = tracker(ctx)?.db();
        self.notification
            .get_or_try_init(|| notifications::get(db, self.link_id))
            .await
            .gql()
            .map(Option::as_ref)
    }
}

impl From<SessionView> for ZoomLink {
    fn from(view: SessionView) -> Self {
        let m = view.link;
        let attendance = attendance(&m, time::now()).map(Into::into);
        Self {
            id: m.id.into(),
            teacher: view.teacher.into(),
            student: view.student.into(),
            zoom_url: m.zoom_url,
            issued_at: time::from_db(m.created_at),
            status: m.session_status.into(),
            clicked_at: m.clicked_at.map(time::from_db),
            ended_at: m.session_ended_at.map(time::from_db),
            last_activity_at: m.last_activity_at.map(time::from_db),
            duration_minutes: m.session_duration_minutes,
            duration_seconds: m.session_duration_seconds,
            end_reason: m.session_end_reason.map(Into::into),
            zoom_joined_at: m.zoom_joined_at.map(time::from_db),
            in_meeting_seconds: m.in_meeting_seconds,
            planned_start: m.planned_start.map(time::from_db),
            planned_minutes: m.planned_minutes,
            attendance,
            corrected_at: m.corrected_at.map(time::from_db),
            interruptions: m.interruptions,
            interrupted_seconds: m.interrupted_seconds,
            token: m.tracking_token,
            reveal: false,
            link_id: m.id,
            notification: OnceCell::new(),
        }
    }
}

/// How a session ended.
#[derive(SimpleObject)]
pub struct SessionEndResult {
    pub status: SessionStatus,
    pub ended_at: DateTime<Utc>,
    pub duration_minutes: i32,
    pub duration_seconds: i64,
    pub end_reason: EndReason,
}

impl From<SessionEnd> for SessionEndResult {
    fn from(end: SessionEnd) -> Self {
        Self {
            status: Some(end.status).into(),
            ended_at: end.ended_at,
            duration_minutes: end.duration_minutes,
            duration_seconds: end.duration_seconds,
            end_reason: end.reason.into(),
        }
    }
}
