//! The Telegram message of each link, delivered in the background and counted per attempt.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum WposZoomLinks {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum TelegramNotifications {
    Table,
    LinkId,
    Status,
    Attempts,
    LastError,
    DueAt,
    SentAt,
    MessageId,
    UpdatedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(TelegramNotifications::Table)
                    .if_not_exists()
                    .col(big_integer(TelegramNotifications::LinkId).primary_key())
                    .col(
                        string_len(TelegramNotifications::Status, 16).check(
                            Expr::col(TelegramNotifications::Status)
                                .is_in(["pending", "sending", "sent", "failed", "disabled"]),
                        ),
                    )
                    .col(integer(TelegramNotifications::Attempts).default(0))
                    .col(string_len_null(TelegramNotifications::LastError, 500))
                    .col(date_time_null(TelegramNotifications::DueAt))
                    .col(date_time_null(TelegramNotifications::SentAt))
                    .col(big_integer_null(TelegramNotifications::MessageId))
                    .col(date_time(TelegramNotifications::UpdatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_telegram_notifications_link")
                            .from(TelegramNotifications::Table, TelegramNotifications::LinkId)
                            .to(WposZoomLinks::Table, WposZoomLinks::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        // The delivery job's queue: what is due next, and attempts whose server went away.
        manager
            .create_index(
                Index::create()
                    .name("idx_telegram_notifications_due")
                    .table(TelegramNotifications::Table)
                    .col(TelegramNotifications::Status)
                    .col(TelegramNotifications::DueAt)
                    .if_not_exists()
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(
                Table::drop()
                    .table(TelegramNotifications::Table)
                    .if_exists()
                    .to_owned(),
            )
            .await
    }
}
