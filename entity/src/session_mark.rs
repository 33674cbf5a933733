use sea_orm::entity::prelude::*;

/// What the tracking page showed of the student.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(16))")]
pub enum MarkKind {
    /// The page went into the background (the student is in the Zoom app, or another tab).
    #[sea_orm(string_value = "hidden")]
    Hidden,
    /// The page came back to the front.
    #[sea_orm(string_value = "visible")]
    Visible,
    /// The visible page fell silent from `at` to `until`: an interruption.
    #[sea_orm(string_value = "away")]
    Away,
}

/// A moment of a session's timeline that only the tracking page knows, written with the
/// heartbeats that reported it.
#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "session_marks")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub link_id: crate::LinkId,
    pub at: DateTime,
    pub kind: MarkKind,
    pub until: Option<DateTime>,
    #[sea_orm(belongs_to, from = "link_id", to = "id")]
    pub link: BelongsTo<super::zoom_link::Entity>,
}

impl ActiveModelBehavior for ActiveModel {}
