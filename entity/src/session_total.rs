use sea_orm::entity::prelude::*;

use crate::zoom_link::SessionStatus;

/// Sessions and their finished seconds per UTC day of their start, teacher and status.
/// Statistics over whole days read these rows instead of every session. On SQLite, triggers on
/// `wpos_zoom_links` keep them in the same transaction as each change; on PostgreSQL and MySQL
/// the triggers append to [`crate::session_total_change`] and the server folds those in here,
/// so there a day's total is this row plus its changes not folded yet.
#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "session_totals")]
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
