use sea_orm::entity::prelude::*;

/// What closed a time in the meeting.
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

/// One time the student was in the Zoom meeting, from Zoom's webhooks. Either end can arrive
/// first: a leave delivered before its join is kept with no join time until the join comes.
#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "zoom_participations")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub link_id: i64,
    /// Zoom's identity of the participant in this meeting (participant UUID, else user id).
    pub participant_key: String,
    pub joined_at: Option<DateTime>,
    pub left_at: Option<DateTime>,
    pub left_by: Option<LeftBy>,
    #[sea_orm(belongs_to, from = "link_id", to = "id")]
    pub link: BelongsTo<super::zoom_link::Entity>,
}

impl ActiveModelBehavior for ActiveModel {}
