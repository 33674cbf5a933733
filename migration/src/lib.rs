//! Schema migrations, run by the server at start-up and usable as the SeaORM migration CLI
//! (`cargo run -p migration -- up`, `status`, `down`, `fresh`).
//!
//! A released migration is never edited or removed: databases that ran it would never see the
//! change. `checksums.txt` holds every migration file as released (see `README.md`).

pub use sea_orm_migration::prelude::*;

mod m20261127_000001_create_tables;
mod m20261127_000002_telegram_notifications;
mod m20261128_000003_hot_paths;
mod m20261128_000003_sqlite_session_totals;
mod m20261128_000004_end_reason;
mod m20261128_000005_zoom_webhooks;
mod m20261203_000006_session_totals_handover;
mod m20261203_000007_catch_up_edited_migrations;
mod m20261203_000008_credential_use_and_delivery_claims;
mod m20261203_000009_session_totals_everywhere;
mod m20261203_000010_drop_last_activity_index;
mod m20261207_000011_mysql_totals_triggers_by_values;
mod m20261207_000012_session_month_totals;
mod m20261208_000013_session_events;
mod m20261208_000014_lesson_plans_and_corrections;

pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261127_000001_create_tables::Migration),
            Box::new(m20261127_000002_telegram_notifications::Migration),
            // The replaced first `000003`, where databases ran it, then its handover, which
            // must come before `hot_paths`.
            Box::new(m20261128_000003_sqlite_session_totals::Migration),
            Box::new(m20261203_000006_session_totals_handover::Migration),
            Box::new(m20261128_000003_hot_paths::Migration),
            Box::new(m20261128_000004_end_reason::Migration),
            Box::new(m20261128_000005_zoom_webhooks::Migration),
            Box::new(m20261203_000007_catch_up_edited_migrations::Migration),
            Box::new(m20261203_000008_credential_use_and_delivery_claims::Migration),
            Box::new(m20261203_000009_session_totals_everywhere::Migration),
            Box::new(m20261203_000010_drop_last_activity_index::Migration),
            Box::new(m20261207_000011_mysql_totals_triggers_by_values::Migration),
            Box::new(m20261207_000012_session_month_totals::Migration),
            Box::new(m20261208_000013_session_events::Migration),
            Box::new(m20261208_000014_lesson_plans_and_corrections::Migration),
        ]
    }
}
