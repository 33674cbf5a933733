use sea_orm::entity::prelude::*;

use crate::zoom_link::SessionStatus;

/// PostgreSQL and MySQL: the per-day totals ([`crate::session_total`]) summed per UTC month of
/// the sessions' start (`month` is its first day), so statistics over months read one row per
/// month, teacher and status. The server's fold moves each change into both tables in one
/// transaction; a month's total is this row plus the changes of its days not folded yet.
#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "session_month_totals")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub month: Date,
    #[sea_orm(primary_key, auto_increment = false)]
    pub teacher_id: crate::TeacherId,
    #[sea_orm(primary_key, auto_increment = false)]
    pub session_status: SessionStatus,
    pub sessions: i64,
    pub duration_seconds: i64,
}

impl ActiveModelBehavior for ActiveModel {}
