//! When each credential was last used (shown to admins beside revocation), and for each
//! Telegram message the claim of the attempt in flight: a late answer to an older attempt is
//! never taken for the current one.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum ApiKeys {
    Table,
    LastUsedAt,
}

#[derive(DeriveIden)]
enum TelegramNotifications {
    Table,
    ClaimId,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(ApiKeys::Table)
                    .add_column(date_time_null(ApiKeys::LastUsedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(TelegramNotifications::Table)
                    .add_column(string_len_null(TelegramNotifications::ClaimId, 32))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(ApiKeys::Table)
                    .drop_column(ApiKeys::LastUsedAt)
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(TelegramNotifications::Table)
                    .drop_column(TelegramNotifications::ClaimId)
                    .to_owned(),
            )
            .await
    }
}
