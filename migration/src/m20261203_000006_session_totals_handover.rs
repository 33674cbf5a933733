//! On a SQLite database that ran the replaced `m20261128_000003_sqlite_session_totals`, drops
//! its per-day totals so that `m20261128_000003_hot_paths`, listed next, can make them again:
//! they are counted from the sessions, so nothing is lost. Elsewhere it changes nothing.

use sea_orm_migration::{prelude::*, sea_orm::DbBackend};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // `hot_paths` drops `idx_status_last_activity`: while it is there `hot_paths` has not
        // run, and totals can only be the replaced migration's.
        if manager.get_database_backend() != DbBackend::Sqlite
            || !manager.has_table("session_totals").await?
            || !manager
                .has_index("wpos_zoom_links", "idx_status_last_activity")
                .await?
        {
            return Ok(());
        }
        for change in ["insert", "update", "delete"] {
            manager
                .get_connection()
                .execute_unprepared(&format!("DROP TRIGGER session_totals_{change}"))
                .await?;
        }
        manager
            .drop_table(Table::drop().table("session_totals").to_owned())
            .await
    }

    async fn down(&self, _manager: &SchemaManager) -> Result<(), DbErr> {
        Ok(())
    }
}
