//! Per-day totals on PostgreSQL and MySQL too, without a lock that writers share.
//!
//! SQLite keeps `session_totals` up to date by triggers (`m20261128_000003_hot_paths`): it
//! has one writer at a time, so nothing waits. On PostgreSQL and MySQL, concurrent writers
//! (clicks, ends, the sweep, Zoom's webhooks) would queue, and could deadlock, on the total
//! rows they share. There the triggers only append to `session_total_changes` (one row per
//! change of a day, teacher and status, a negative one for what a session leaves), which
//! locks nothing another writer needs; the server folds those rows into `session_totals` every
//! flush. Readers add both, read in one snapshot, so a fold between two reads can neither lose
//! nor double a session.
//!
//! On PostgreSQL the triggers run once per statement over its transition tables, so the
//! sweep's statement of thousands of sessions appends a few rows per day and teacher; a
//! statement that changes none of the counted columns (the heartbeats' flush) appends none.

use sea_orm_migration::{prelude::*, sea_orm::DbBackend};

#[derive(DeriveMigrationName)]
pub struct Migration;

const POSTGRES_UP: [&str; 9] = [
    "CREATE TABLE session_totals (
        day DATE NOT NULL,
        teacher_id BIGINT NOT NULL,
        session_status VARCHAR(16) NOT NULL,
        sessions BIGINT NOT NULL,
        duration_seconds BIGINT NOT NULL,
        PRIMARY KEY (day, teacher_id, session_status)
    )",
    "CREATE INDEX idx_session_totals_teacher
     ON session_totals (teacher_id, day, session_status, sessions, duration_seconds)",
    "CREATE TABLE session_total_changes (
        id BIGSERIAL PRIMARY KEY,
        day DATE NOT NULL,
        teacher_id BIGINT NOT NULL,
        session_status VARCHAR(16) NOT NULL,
        sessions BIGINT NOT NULL,
        duration_seconds BIGINT NOT NULL
    )",
    TOTALS_FROM_SESSIONS,
    // What the rows in `gone` no longer count and what the rows in `came` now count, summed
    // per day, teacher and status. On an update, a session whose counted columns did not change
    // adds -1 and +1 to the same key, so a statement that changes none of them (the heartbeats'
    // flush) appends nothing. No join: transition tables have no index.
    "CREATE FUNCTION session_totals_change() RETURNS trigger LANGUAGE plpgsql AS $$
     BEGIN
        IF TG_OP = 'UPDATE' THEN
            INSERT INTO session_total_changes (day, teacher_id, session_status, sessions, duration_seconds)
            SELECT day, teacher_id, session_status, SUM(sessions), SUM(seconds)
            FROM (
                SELECT CAST(clicked_at AS DATE) AS day, teacher_id, session_status,
                       -1 AS sessions, -COALESCE(session_duration_seconds, 0) AS seconds
                FROM gone WHERE session_status IS NOT NULL AND clicked_at IS NOT NULL
                UNION ALL
                SELECT CAST(clicked_at AS DATE), teacher_id, session_status,
                       1, COALESCE(session_duration_seconds, 0)
                FROM came WHERE session_status IS NOT NULL AND clicked_at IS NOT NULL
            ) moved
            GROUP BY 1, 2, 3
            HAVING SUM(sessions) <> 0 OR SUM(seconds) <> 0;
        ELSIF TG_OP = 'INSERT' THEN
            INSERT INTO session_total_changes (day, teacher_id, session_status, sessions, duration_seconds)
            SELECT CAST(clicked_at AS DATE), teacher_id, session_status, COUNT(*),
                   COALESCE(SUM(session_duration_seconds), 0)
            FROM came WHERE session_status IS NOT NULL AND clicked_at IS NOT NULL
            GROUP BY 1, 2, 3;
        ELSE
            INSERT INTO session_total_changes (day, teacher_id, session_status, sessions, duration_seconds)
            SELECT CAST(clicked_at AS DATE), teacher_id, session_status, -COUNT(*),
                   -COALESCE(SUM(session_duration_seconds), 0)
            FROM gone WHERE session_status IS NOT NULL AND clicked_at IS NOT NULL
            GROUP BY 1, 2, 3;
        END IF;
        RETURN NULL;
     END $$",
    "CREATE TRIGGER session_totals_insert AFTER INSERT ON wpos_zoom_links
     REFERENCING NEW TABLE AS came
     FOR EACH STATEMENT EXECUTE FUNCTION session_totals_change()",
    "CREATE TRIGGER session_totals_update AFTER UPDATE ON wpos_zoom_links
     REFERENCING OLD TABLE AS gone NEW TABLE AS came
     FOR EACH STATEMENT EXECUTE FUNCTION session_totals_change()",
    "CREATE TRIGGER session_totals_delete AFTER DELETE ON wpos_zoom_links
     REFERENCING OLD TABLE AS gone
     FOR EACH STATEMENT EXECUTE FUNCTION session_totals_change()",
    "ANALYZE session_totals",
];

/// MySQL has no statement triggers: a row trigger appends a session's change.
const MYSQL_UP: [&str; 7] = [
    "CREATE TABLE session_totals (
        day DATE NOT NULL,
        teacher_id BIGINT NOT NULL,
        session_status VARCHAR(16) NOT NULL,
        sessions BIGINT NOT NULL,
        duration_seconds BIGINT NOT NULL,
        PRIMARY KEY (day, teacher_id, session_status),
        INDEX idx_session_totals_teacher (teacher_id, day, session_status, sessions, duration_seconds)
    )",
    "CREATE TABLE session_total_changes (
        id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
        day DATE NOT NULL,
        teacher_id BIGINT NOT NULL,
        session_status VARCHAR(16) NOT NULL,
        sessions BIGINT NOT NULL,
        duration_seconds BIGINT NOT NULL
    )",
    TOTALS_FROM_SESSIONS,
    "CREATE TRIGGER session_totals_insert AFTER INSERT ON wpos_zoom_links FOR EACH ROW
     INSERT INTO session_total_changes (day, teacher_id, session_status, sessions, duration_seconds)
     SELECT CAST(NEW.clicked_at AS DATE), NEW.teacher_id, NEW.session_status, 1,
            COALESCE(NEW.session_duration_seconds, 0)
     FROM DUAL WHERE NEW.session_status IS NOT NULL AND NEW.clicked_at IS NOT NULL",
    "CREATE TRIGGER session_totals_update AFTER UPDATE ON wpos_zoom_links FOR EACH ROW
     BEGIN
        IF NOT (OLD.clicked_at <=> NEW.clicked_at AND OLD.teacher_id <=> NEW.teacher_id
                AND OLD.session_status <=> NEW.session_status
                AND OLD.session_duration_seconds <=> NEW.session_duration_seconds) THEN
            INSERT INTO session_total_changes
                (day, teacher_id, session_status, sessions, duration_seconds)
            SELECT CAST(OLD.clicked_at AS DATE), OLD.teacher_id, OLD.session_status, -1,
                   -COALESCE(OLD.session_duration_seconds, 0)
            FROM DUAL WHERE OLD.session_status IS NOT NULL AND OLD.clicked_at IS NOT NULL
            UNION ALL
            SELECT CAST(NEW.clicked_at AS DATE), NEW.teacher_id, NEW.session_status, 1,
                   COALESCE(NEW.session_duration_seconds, 0)
            FROM DUAL WHERE NEW.session_status IS NOT NULL AND NEW.clicked_at IS NOT NULL;
        END IF;
     END",
    "CREATE TRIGGER session_totals_delete AFTER DELETE ON wpos_zoom_links FOR EACH ROW
     INSERT INTO session_total_changes (day, teacher_id, session_status, sessions, duration_seconds)
     SELECT CAST(OLD.clicked_at AS DATE), OLD.teacher_id, OLD.session_status, -1,
            -COALESCE(OLD.session_duration_seconds, 0)
     FROM DUAL WHERE OLD.session_status IS NOT NULL AND OLD.clicked_at IS NOT NULL",
    "ANALYZE TABLE session_totals",
];

/// The totals of the sessions already there.
const TOTALS_FROM_SESSIONS: &str =
    "INSERT INTO session_totals (day, teacher_id, session_status, sessions, duration_seconds)
     SELECT CAST(clicked_at AS DATE), teacher_id, session_status, COUNT(*),
            COALESCE(SUM(session_duration_seconds), 0)
     FROM wpos_zoom_links
     WHERE session_status IS NOT NULL AND clicked_at IS NOT NULL
     GROUP BY 1, 2, 3";

const POSTGRES_DOWN: [&str; 6] = [
    "DROP TRIGGER IF EXISTS session_totals_delete ON wpos_zoom_links",
    "DROP TRIGGER IF EXISTS session_totals_update ON wpos_zoom_links",
    "DROP TRIGGER IF EXISTS session_totals_insert ON wpos_zoom_links",
    "DROP FUNCTION IF EXISTS session_totals_change()",
    "DROP TABLE IF EXISTS session_total_changes",
    "DROP TABLE IF EXISTS session_totals",
];

const MYSQL_DOWN: [&str; 5] = [
    "DROP TRIGGER IF EXISTS session_totals_delete",
    "DROP TRIGGER IF EXISTS session_totals_update",
    "DROP TRIGGER IF EXISTS session_totals_insert",
    "DROP TABLE IF EXISTS session_total_changes",
    "DROP TABLE IF EXISTS session_totals",
];

async fn run(manager: &SchemaManager<'_>, statements: &[&str]) -> Result<(), DbErr> {
    for sql in statements {
        manager.get_connection().execute_unprepared(sql).await?;
    }
    Ok(())
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        match manager.get_database_backend() {
            DbBackend::Postgres => run(manager, &POSTGRES_UP).await,
            DbBackend::MySql => run(manager, &MYSQL_UP).await,
            _ => Ok(()),
        }
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        match manager.get_database_backend() {
            DbBackend::Postgres => run(manager, &POSTGRES_DOWN).await,
            DbBackend::MySql => run(manager, &MYSQL_DOWN).await,
            _ => Ok(()),
        }
    }
}
