//! Released to keep per-day session totals on SQLite, then replaced the same day by
//! `m20261128_000003_hot_paths`, which makes them with a wider index. A database that ran it
//! records its name, and SeaORM migrates no database that records a migration it has no file
//! for: this file answers to the name and does nothing. On such a database
//! `m20261203_000006_session_totals_handover` then makes way for `hot_paths`.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, _manager: &SchemaManager) -> Result<(), DbErr> {
        Ok(())
    }

    async fn down(&self, _manager: &SchemaManager) -> Result<(), DbErr> {
        Ok(())
    }
}
