use sea_orm::entity::prelude::*;

/// What a leave was.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(16))")]
pub enum LeftBy {
    /// `meeting.participant_left`.
    #[sea_orm(string_value = "left_zoom")]
    LeftZoom,
    /// `meeting.ended` while the student was still in it.
    #[sea_orm(string_value = "meeting_ended")]
    MeetingEnded,
}

/// One join (`joined_at`) or one leave (`left_at`, `left_by`) of a participant matched to a
/// session, from Zoom's webhooks. Deliveries arrive in any order: the times in the meeting are
/// the joins and leaves paired in time order whenever the session is decided.
#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "zoom_participations")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub link_id: crate::LinkId,
    /// Zoom's identity of the participant in this meeting (participant UUID, else user id).
    pub participant_key: String,
    /// The name they joined under: a rejoin under a new identity is recognized by it.
    pub participant_name: String,
    pub joined_at: Option<DateTime>,
    pub left_at: Option<DateTime>,
    pub left_by: Option<LeftBy>,
    #[sea_orm(belongs_to, from = "link_id", to = "id")]
    pub link: BelongsTo<super::zoom_link::Entity>,
}

impl ActiveModelBehavior for ActiveModel {}
