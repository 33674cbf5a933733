use sea_orm::entity::prelude::*;

/// Where a link's Telegram message stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(16))")]
pub enum NotificationStatus {
    /// Waiting for its next attempt at `due_at`.
    #[sea_orm(string_value = "pending")]
    Pending,
    /// An attempt is in flight; `due_at` is when it is given up as lost.
    #[sea_orm(string_value = "sending")]
    Sending,
    #[sea_orm(string_value = "sent")]
    Sent,
    #[sea_orm(string_value = "failed")]
    Failed,
    /// Issued while notifications were off (no bot token).
    #[sea_orm(string_value = "disabled")]
    Disabled,
}

/// The Telegram message that tells a student about their link: one row per link, made in the
/// same transaction as the link. Each attempt is counted before it is made.
#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "telegram_notifications")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub link_id: crate::LinkId,
    pub status: NotificationStatus,
    pub attempts: i32,
    pub last_error: Option<String>,
    pub due_at: Option<DateTime>,
    pub sent_at: Option<DateTime>,
    pub message_id: Option<i64>,
    pub updated_at: DateTime,
    /// The attempt in flight: only its own answer is recorded.
    pub claim_id: Option<String>,
    #[sea_orm(belongs_to, from = "link_id", to = "id")]
    pub link: BelongsTo<super::zoom_link::Entity>,
}

impl ActiveModelBehavior for ActiveModel {}
