use sea_orm::entity::prelude::*;

use crate::zoom_link::SessionStatus;

/// Sessions and their finished seconds per UTC day of their start, teacher and status, kept by
/// triggers on `wpos_zoom_links` in the same transaction as each change. Read through the view
/// `session_totals_current`: on PostgreSQL and MySQL a key has several rows (the folded
/// `session_totals` and the changes not folded yet), so it is only ever summed. Statistics
/// over whole days read these rows instead of every session.
#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "session_totals_current")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub day: Date,
    #[sea_orm(primary_key, auto_increment = false)]
    pub teacher_id: crate::TeacherId,
    #[sea_orm(primary_key, auto_increment = false)]
    pub session_status: SessionStatus,
    pub sessions: i64,
    pub duration_seconds: i64,
}

impl ActiveModelBehavior for ActiveModel {}
