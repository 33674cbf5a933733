//! Schema migrations, run by the server at start-up and usable as the SeaORM migration CLI
//! (`cargo run -p migration -- up`, `status`, `down`, `fresh`).

pub use sea_orm_migration::prelude::*;

mod m20261127_000001_create_tables;
mod m20261127_000002_telegram_notifications;
mod m20261128_000003_hot_paths;
mod m20261128_000004_end_reason;
mod m20261128_000005_zoom_webhooks;

pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261127_000001_create_tables::Migration),
            Box::new(m20261127_000002_telegram_notifications::Migration),
            Box::new(m20261128_000003_hot_paths::Migration),
            Box::new(m20261128_000004_end_reason::Migration),
            Box::new(m20261128_000005_zoom_webhooks::Migration),
        ]
    }
}
