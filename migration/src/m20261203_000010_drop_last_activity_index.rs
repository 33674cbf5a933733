//! Drops `idx_last_activity` (the spec's index on `last_activity_at` alone). No query reads it:
//! the sweep finds stale sessions through `idx_session_status (session_status,
//! last_activity_at)`. Every heartbeat the flush writes moved its entry, and on PostgreSQL every
//! session the sweep ends added one more index entry to write.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum WposZoomLinks {
    Table,
    LastActivityAt,
}

const NAME: &str = "idx_last_activity";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_index(
                Index::drop()
                    .name(NAME)
                    .table(WposZoomLinks::Table)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_index(
                Index::create()
                    .name(NAME)
                    .table(WposZoomLinks::Table)
                    .col(WposZoomLinks::LastActivityAt)
                    .to_owned(),
            )
            .await
    }
}
