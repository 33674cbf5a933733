use sea_orm::entity::prelude::*;

use crate::zoom_link::{EndReason, SessionStatus};

/// An admin's correction of a session's end, with its mandatory reason. Every correction is
/// kept; the session shows the latest. `measured_*` are the values the tracking recorded before
/// the session's first correction.
#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "session_corrections")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub link_id: crate::LinkId,
    pub ended_at: DateTime,
    pub duration_seconds: i64,
    pub reason: String,
    /// Who corrected it: `admin token` (the server's `ADMIN_TOKEN`) or `admin key <id>`.
    pub corrected_by: String,
    pub corrected_at: DateTime,
    pub measured_status: Option<SessionStatus>,
    pub measured_ended_at: Option<DateTime>,
    pub measured_duration_seconds: Option<i64>,
    pub measured_end_reason: Option<EndReason>,
    #[sea_orm(belongs_to, from = "link_id", to = "id")]
    pub link: BelongsTo<super::zoom_link::Entity>,
}

impl ActiveModelBehavior for ActiveModel {}
