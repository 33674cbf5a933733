use sea_orm::entity::prelude::*;

/// A Zoom webhook event already applied: Zoom repeats deliveries, and a repeat changes nothing.
#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "zoom_webhook_events")]
pub struct Model {
    /// SHA-256 (hex) of what identifies the event: its type, meeting, participant and time.
    #[sea_orm(primary_key, auto_increment = false)]
    pub event_key: String,
    pub event: String,
    pub received_at: DateTime,
}

impl ActiveModelBehavior for ActiveModel {}
