//! On SQLite, per-day totals of sessions kept by triggers, so statistics over a long history
//! read a few rows per day instead of every session.
//!
//! SQLite has one writer at a time, so the triggers add a few microseconds to each change and
//! never wait. PostgreSQL and MySQL keep reading their covering indexes: there, the triggers'
//! row locks on shared total rows would serialize concurrent ends of different sessions.

use sea_orm_migration::{prelude::*, sea_orm::DbBackend};

#[derive(DeriveMigrationName)]
pub struct Migration;

/// A session counts once it has a status and a start: under its UTC day (the date part of
/// the stored `YYYY-MM-DD HH:MM:SS`), teacher and status.
const UP: [&str; 6] = [
    "CREATE TABLE session_totals (
        day TEXT NOT NULL,
        teacher_id INTEGER NOT NULL,
        session_status TEXT NOT NULL,
        sessions INTEGER NOT NULL,
        duration_seconds INTEGER NOT NULL,
        PRIMARY KEY (day, teacher_id, session_status)
    ) WITHOUT ROWID",
    "CREATE INDEX idx_session_totals_teacher ON session_totals (teacher_id, day)",
    "INSERT INTO session_totals (day, teacher_id, session_status, sessions, duration_seconds)
     SELECT substr(clicked_at, 1, 10), teacher_id, session_status, COUNT(*),
            COALESCE(SUM(session_duration_seconds), 0)
     FROM wpos_zoom_links
     WHERE session_status IS NOT NULL AND clicked_at IS NOT NULL
     GROUP BY 1, 2, 3",
    "CREATE TRIGGER session_totals_insert AFTER INSERT ON wpos_zoom_links
     WHEN NEW.session_status IS NOT NULL AND NEW.clicked_at IS NOT NULL
     BEGIN
        INSERT INTO session_totals (day, teacher_id, session_status, sessions, duration_seconds)
        VALUES (substr(NEW.clicked_at, 1, 10), NEW.teacher_id, NEW.session_status, 1,
                COALESCE(NEW.session_duration_seconds, 0))
        ON CONFLICT (day, teacher_id, session_status) DO UPDATE SET
            sessions = sessions + 1,
            duration_seconds = duration_seconds + excluded.duration_seconds;
     END",
    "CREATE TRIGGER session_totals_update
     AFTER UPDATE OF clicked_at, teacher_id, session_status, session_duration_seconds
     ON wpos_zoom_links
     BEGIN
        UPDATE session_totals SET
            sessions = sessions - 1,
            duration_seconds = duration_seconds - COALESCE(OLD.session_duration_seconds, 0)
        WHERE OLD.session_status IS NOT NULL AND OLD.clicked_at IS NOT NULL
          AND day = substr(OLD.clicked_at, 1, 10) AND teacher_id = OLD.teacher_id
          AND session_status = OLD.session_status;
        INSERT INTO session_totals (day, teacher_id, session_status, sessions, duration_seconds)
        SELECT substr(NEW.clicked_at, 1, 10), NEW.teacher_id, NEW.session_status, 1,
               COALESCE(NEW.session_duration_seconds, 0)
        WHERE NEW.session_status IS NOT NULL AND NEW.clicked_at IS NOT NULL
        ON CONFLICT (day, teacher_id, session_status) DO UPDATE SET
            sessions = sessions + 1,
            duration_seconds = duration_seconds + excluded.duration_seconds;
     END",
    "CREATE TRIGGER session_totals_delete AFTER DELETE ON wpos_zoom_links
     WHEN OLD.session_status IS NOT NULL AND OLD.clicked_at IS NOT NULL
     BEGIN
        UPDATE session_totals SET
            sessions = sessions - 1,
            duration_seconds = duration_seconds - COALESCE(OLD.session_duration_seconds, 0)
        WHERE day = substr(OLD.clicked_at, 1, 10) AND teacher_id = OLD.teacher_id
          AND session_status = OLD.session_status;
     END",
];

const DOWN: [&str; 4] = [
    "DROP TRIGGER IF EXISTS session_totals_delete",
    "DROP TRIGGER IF EXISTS session_totals_update",
    "DROP TRIGGER IF EXISTS session_totals_insert",
    "DROP TABLE IF EXISTS session_totals",
];

async fn run(manager: &SchemaManager<'_>, statements: &[&str]) -> Result<(), DbErr> {
    if manager.get_database_backend() != DbBackend::Sqlite {
        return Ok(());
    }
    for sql in statements {
        manager.get_connection().execute_unprepared(sql).await?;
    }
    Ok(())
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        run(manager, &UP).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        run(manager, &DOWN).await
    }
}
