//! The events table on PostgreSQL and MySQL: the live events of servers sharing a database.
//!
//! Each change that owes subscribers an event (a click, an end, a timeout, Zoom's decision, a
//! heartbeat) appends a row in the transaction that makes the change: the session, what happened
//! (`kind`) and when (`at`, whole seconds as every stored time), the server that wrote it
//! (`origin`) and when to the microsecond (`written_at`, for the lag across servers). Every server
//! tails the table and passes the other servers' events to its own subscribers. On PostgreSQL, a
//! statement's rows notify the channel `session_events` with their last id when they commit, so
//! servers need not poll; on MySQL they poll. Rows are kept for a few minutes. SQLite has one
//! server per file and no table.

use sea_orm_migration::{prelude::*, sea_orm::DbBackend};

#[derive(DeriveMigrationName)]
pub struct Migration;

const POSTGRES: [&str; 4] = [
    "CREATE TABLE IF NOT EXISTS session_events (
        id BIGSERIAL PRIMARY KEY,
        link_id BIGINT NOT NULL,
        kind VARCHAR(16) NOT NULL,
        at TIMESTAMP(0) NOT NULL,
        written_at TIMESTAMP(6) NOT NULL,
        origin BIGINT NOT NULL
    )",
    "CREATE OR REPLACE FUNCTION session_events_notify() RETURNS trigger AS $$
     BEGIN
         IF EXISTS (SELECT 1 FROM added) THEN
             PERFORM pg_notify('session_events', (SELECT MAX(id) FROM added)::text);
         END IF;
         RETURN NULL;
     END
     $$ LANGUAGE plpgsql",
    "DROP TRIGGER IF EXISTS session_events_notify ON session_events",
    "CREATE TRIGGER session_events_notify AFTER INSERT ON session_events
     REFERENCING NEW TABLE AS added FOR EACH STATEMENT
     EXECUTE FUNCTION session_events_notify()",
];

/// `IF NOT EXISTS`: on MySQL, where a schema change is not transactional, a start that failed
/// after the table was made runs this again.
const MYSQL: [&str; 1] = ["CREATE TABLE IF NOT EXISTS session_events (
        id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
        link_id BIGINT NOT NULL,
        kind VARCHAR(16) NOT NULL,
        at DATETIME NOT NULL,
        written_at DATETIME(6) NOT NULL,
        origin BIGINT NOT NULL
    )"];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let statements: &[&str] = match manager.get_database_backend() {
            DbBackend::Postgres => &POSTGRES,
            DbBackend::MySql => &MYSQL,
            _ => return Ok(()),
        };
        for statement in statements {
            manager
                .get_connection()
                .execute_unprepared(statement)
                .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        match manager.get_database_backend() {
            DbBackend::Postgres => {
                db.execute_unprepared("DROP TABLE IF EXISTS session_events")
                    .await?;
                db.execute_unprepared("DROP FUNCTION IF EXISTS session_events_notify()")
                    .await?;
            }
            DbBackend::MySql => {
                db.execute_unprepared("DROP TABLE IF EXISTS session_events")
                    .await?;
            }
            _ => {}
        }
        Ok(())
    }
}
