//! Cheaper writes on the hot paths, and on SQLite per-day totals for the statistics.
//!
//! Every session that ends rewrites each index holding its status. The sweep ends tens of
//! thousands at once, spread over every teacher and student, so:
//! - the teacher and student indexes keep only what finds and orders a person's sessions
//!   (a person has few enough sessions to read their rows);
//! - `idx_session_status` becomes (status, last activity): the sweep's index, under the spec's
//!   name, replacing the separate `idx_status_last_activity`.
//!
//! On SQLite, `session_totals` holds sessions and finished seconds per UTC day of their start,
//! teacher and status, kept by triggers, so statistics over a long history read a few rows per
//! day. SQLite has one writer at a time, so the triggers add microseconds to each change and
//! never wait. PostgreSQL and MySQL keep reading their covering index: there, the triggers' row
//! locks on shared total rows would serialize concurrent ends of different sessions.

use sea_orm_migration::{prelude::*, sea_orm::DbBackend};

#[derive(DeriveIden, Clone)]
enum WposZoomLinks {
    Table,
    TeacherId,
    StudentId,
    ClickedAt,
    Id,
    SessionStatus,
    SessionDurationSeconds,
    LastActivityAt,
}

fn index(name: &str, cols: &[WposZoomLinks]) -> IndexCreateStatement {
    let mut stmt = Index::create();
    stmt.name(name).table(WposZoomLinks::Table);
    for col in cols {
        stmt.col(col.clone());
    }
    stmt.to_owned()
}

/// Rebuilds index `name` on `cols`. MySQL refuses to drop an index a foreign key uses, even
/// for a moment, so there it is one `ALTER TABLE`.
async fn rebuild(
    manager: &SchemaManager<'_>,
    name: &str,
    cols: &[WposZoomLinks],
) -> Result<(), DbErr> {
    if manager.get_database_backend() == DbBackend::MySql {
        let cols: Vec<String> = cols.iter().map(|col| col.to_string()).collect();
        let sql = format!(
            "ALTER TABLE wpos_zoom_links DROP INDEX {name}, ADD INDEX {name} ({})",
            cols.join(", ")
        );
        return manager
            .get_connection()
            .execute_unprepared(&sql)
            .await
            .map(|_| ());
    }
    manager.drop_index(drop(name)).await?;
    manager.create_index(index(name, cols)).await
}

fn drop(name: &str) -> IndexDropStatement {
    Index::drop()
        .name(name)
        .table(WposZoomLinks::Table)
        .to_owned()
}

/// (name, columns before, columns after)
fn indexes() -> [(&'static str, Vec<WposZoomLinks>, Vec<WposZoomLinks>); 3] {
    use WposZoomLinks::*;
    [
        (
            "idx_zoom_links_teacher_clicked",
            vec![
                TeacherId,
                ClickedAt,
                Id,
                SessionStatus,
                SessionDurationSeconds,
            ],
            vec![TeacherId, ClickedAt, Id],
        ),
        (
            "idx_zoom_links_student_clicked",
            vec![
                StudentId,
                ClickedAt,
                Id,
                SessionStatus,
                SessionDurationSeconds,
            ],
            vec![StudentId, ClickedAt, Id],
        ),
        (
            "idx_session_status",
            vec![SessionStatus],
            vec![SessionStatus, LastActivityAt],
        ),
    ]
}

#[derive(DeriveMigrationName)]
pub struct Migration;

/// SQLite. A session counts once it has a status and a start: under its UTC day (the date part of
/// the stored `YYYY-MM-DD HH:MM:SS`), teacher and status.
const TOTALS_UP: [&str; 6] = [
    "CREATE TABLE session_totals (
        day TEXT NOT NULL,
        teacher_id INTEGER NOT NULL,
        session_status TEXT NOT NULL,
        sessions INTEGER NOT NULL,
        duration_seconds INTEGER NOT NULL,
        PRIMARY KEY (day, teacher_id, session_status)
    ) WITHOUT ROWID",
    // Per-teacher statistics walk this in teacher order, reading no table rows.
    "CREATE INDEX idx_session_totals_teacher
     ON session_totals (teacher_id, day, session_status, sessions, duration_seconds)",
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

const TOTALS_DOWN: [&str; 4] = [
    "DROP TRIGGER IF EXISTS session_totals_delete",
    "DROP TRIGGER IF EXISTS session_totals_update",
    "DROP TRIGGER IF EXISTS session_totals_insert",
    "DROP TABLE IF EXISTS session_totals",
];

async fn sqlite(manager: &SchemaManager<'_>, statements: &[&str]) -> Result<(), DbErr> {
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
        for (name, _, after) in indexes() {
            rebuild(manager, name, &after).await?;
        }
        manager.drop_index(drop("idx_status_last_activity")).await?;
        sqlite(manager, &TOTALS_UP).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        sqlite(manager, &TOTALS_DOWN).await?;
        manager
            .create_index(index(
                "idx_status_last_activity",
                &[WposZoomLinks::SessionStatus, WposZoomLinks::LastActivityAt],
            ))
            .await?;
        for (name, before, _) in indexes() {
            rebuild(manager, name, &before).await?;
        }
        Ok(())
    }
}
