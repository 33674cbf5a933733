use sea_orm::entity::prelude::*;

use crate::zoom_link::SessionStatus;

/// PostgreSQL and MySQL: a change of the per-day totals ([`crate::session_total`]) appended by
/// the triggers on `wpos_zoom_links` in the same transaction as the change of the sessions
/// (negative for what a session no longer counts), until the server folds it into the totals.
/// Appending locks no row that another writer needs.
#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "session_total_changes")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub day: Date,
    pub teacher_id: crate::TeacherId,
    pub session_status: SessionStatus,
    pub sessions: i64,
    pub duration_seconds: i64,
}

impl ActiveModelBehavior for ActiveModel {}
