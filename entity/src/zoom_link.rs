use sea_orm::entity::prelude::*;

/// `session_status` of the spec. `NULL` in the table means the link was issued but never clicked.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(16))")]
pub enum SessionStatus {
    #[sea_orm(string_value = "active")]
    Active,
    #[sea_orm(string_value = "ended")]
    Ended,
    #[sea_orm(string_value = "timeout")]
    Timeout,
}

/// How a session's end was determined, from the most authoritative source: Zoom (the student
/// left, the meeting ended), the tracking page (closed), or the timeout.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(16))")]
pub enum EndReason {
    #[sea_orm(string_value = "tab_closed")]
    TabClosed,
    #[sea_orm(string_value = "left_zoom")]
    LeftZoom,
    #[sea_orm(string_value = "meeting_ended")]
    MeetingEnded,
    #[sea_orm(string_value = "timed_out")]
    TimedOut,
}

#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "wpos_zoom_links")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: crate::LinkId,
    #[sea_orm(unique)]
    pub tracking_token: String,
    pub teacher_id: crate::TeacherId,
    pub student_id: crate::StudentId,
    pub zoom_url: String,
    pub created_at: DateTime,
    pub clicked_at: Option<DateTime>,
    pub session_ended_at: Option<DateTime>,
    pub session_duration_minutes: Option<i32>,
    pub session_duration_seconds: Option<i64>,
    pub session_status: Option<SessionStatus>,
    pub last_activity_at: Option<DateTime>,
    /// The tracking page load that holds the session: an end from an older load is ignored.
    pub visit_id: Option<String>,
    /// Set with every end, cleared when a session is reopened.
    pub session_end_reason: Option<EndReason>,
    /// The meeting the link opens, to match Zoom's webhooks; empty when the URL names none.
    pub zoom_meeting_id: Option<String>,
    /// Zoom webhooks: when the student first joined the meeting.
    pub zoom_joined_at: Option<DateTime>,
    /// Zoom webhooks: the time actually spent in the meeting, over every join and leave.
    pub in_meeting_seconds: Option<i64>,
    /// Zoom webhooks: the student is in the meeting now. The tab's end and the timeout wait
    /// for Zoom's leave (the timeout only after a day without any sign).
    pub zoom_in_meeting: bool,
    /// The planned lesson: its start and length, when the link was issued with one.
    pub planned_start: Option<DateTime>,
    pub planned_minutes: Option<i32>,
    /// A lesson that starts after this is late (the planned start plus the grace in force when
    /// the link was issued).
    pub late_after: Option<DateTime>,
    /// A link never opened by this time is a no-show (the planned end plus the grace).
    pub no_show_after: Option<DateTime>,
    /// A finished lesson shorter than this is short (the share of the planned length).
    pub short_below_seconds: Option<i64>,
    /// An admin corrected the session's end: automatic signals no longer change it.
    pub corrected_at: Option<DateTime>,
    /// How often and for how long in all the student was away during the lesson: Zoom's leave
    /// and rejoin where Zoom spoke, else the tracking page's silences while it was visible.
    pub interruptions: i32,
    pub interrupted_seconds: i64,
    #[sea_orm(belongs_to, from = "teacher_id", to = "id")]
    pub teacher: BelongsTo<super::teacher::Entity>,
    #[sea_orm(belongs_to, from = "student_id", to = "id")]
    pub student: BelongsTo<super::student::Entity>,
}

impl ActiveModelBehavior for ActiveModel {}

impl Model {
    /// Reads a row of every column in declaration order (what `Entity::find()` selects) by
    /// position. SeaORM's derived reader formats each column's name and looks it up; read this
    /// way, a session costs about 13,000 instructions less, and the hot paths read it so.
    pub fn from_row(row: &QueryResult) -> Result<Self, DbErr> {
        Ok(Self {
            id: row.try_get_by_index(0)?,
            tracking_token: row.try_get_by_index(1)?,
            teacher_id: row.try_get_by_index(2)?,
            student_id: row.try_get_by_index(3)?,
            zoom_url: row.try_get_by_index(4)?,
            created_at: row.try_get_by_index(5)?,
            clicked_at: row.try_get_by_index(6)?,
            session_ended_at: row.try_get_by_index(7)?,
            session_duration_minutes: row.try_get_by_index(8)?,
            session_duration_seconds: row.try_get_by_index(9)?,
            session_status: row.try_get_by_index(10)?,
            last_activity_at: row.try_get_by_index(11)?,
            visit_id: row.try_get_by_index(12)?,
            session_end_reason: row.try_get_by_index(13)?,
            zoom_meeting_id: row.try_get_by_index(14)?,
            zoom_joined_at: row.try_get_by_index(15)?,
            in_meeting_seconds: row.try_get_by_index(16)?,
            zoom_in_meeting: row.try_get_by_index(17)?,
            planned_start: row.try_get_by_index(18)?,
            planned_minutes: row.try_get_by_index(19)?,
            late_after: row.try_get_by_index(20)?,
            no_show_after: row.try_get_by_index(21)?,
            short_below_seconds: row.try_get_by_index(22)?,
            corrected_at: row.try_get_by_index(23)?,
            interruptions: row.try_get_by_index(24)?,
            interrupted_seconds: row.try_get_by_index(25)?,
        })
    }

    /// A link as issued: never opened, no session and nothing from Zoom yet.
    pub fn issued(
        id: crate::LinkId,
        tracking_token: String,
        (teacher_id, student_id): (crate::TeacherId, crate::StudentId),
        zoom_url: String,
        created_at: DateTime,
    ) -> Self {
        Self {
            id,
            tracking_token,
            teacher_id,
            student_id,
            zoom_url,
            created_at,
            clicked_at: None,
            session_ended_at: None,
            session_duration_minutes: None,
            session_duration_seconds: None,
            session_status: None,
            last_activity_at: None,
            visit_id: None,
            session_end_reason: None,
            zoom_meeting_id: None,
            zoom_joined_at: None,
            in_meeting_seconds: None,
            zoom_in_meeting: false,
            planned_start: None,
            planned_minutes: None,
            late_after: None,
            no_show_after: None,
            short_below_seconds: None,
            corrected_at: None,
            interruptions: 0,
            interrupted_seconds: 0,
        }
    }
}
