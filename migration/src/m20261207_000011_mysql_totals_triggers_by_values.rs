//! MySQL's totals triggers insert their rows by `VALUES`, not by a `SELECT … FROM DUAL`.
//!
//! The triggers of `m20261203_000009_session_totals_everywhere` appended each change with an
//! `INSERT … SELECT … FROM DUAL WHERE … UNION ALL SELECT …`: MariaDB runs that union through a
//! temporary table, once per changed row, and it was most of what ending a session cost there
//! (an `UPDATE` of 5,000 sessions: about 0.65 s with those triggers, 0.25 s without, 0.4 s with
//! these). The same rows are appended, decided by `IF` in the trigger instead of `WHERE` in the
//! statement. PostgreSQL and SQLite are not touched.
//!
//! Each trigger is replaced in one statement on MariaDB (`CREATE OR REPLACE TRIGGER`), so no
//! write ever goes uncounted; MySQL has no such statement, and there each trigger is dropped and
//! created again, one at a time (a write in between would not be counted: upgrade MySQL with
//! every server stopped, as `docs/deploy.md` says).

use sea_orm_migration::{
    prelude::*,
    sea_orm::{ConnectionTrait, DbBackend, Statement},
};

#[derive(DeriveMigrationName)]
pub struct Migration;

/// The start of every trigger's insert: its rows follow.
const COLUMNS: &str = "INSERT INTO session_total_changes \
     (day, teacher_id, session_status, sessions, duration_seconds) VALUES ";

/// Whether the session as `row` (`OLD` or `NEW`) counts in the totals.
fn counted(row: &str) -> String {
    format!("{row}.session_status IS NOT NULL AND {row}.clicked_at IS NOT NULL")
}

/// The session as `row`, counted with `sign` (`-` for what it leaves, or nothing).
fn values(row: &str, sign: &str) -> String {
    format!(
        "(CAST({row}.clicked_at AS DATE), {row}.teacher_id, {row}.session_status, {sign}1, \
         {sign}COALESCE({row}.session_duration_seconds, 0))"
    )
}

/// Each trigger's name and its `CREATE TRIGGER` statement.
fn up_statements() -> [(&'static str, String); 3] {
    let insert = format!(
        "CREATE TRIGGER session_totals_insert AFTER INSERT ON wpos_zoom_links FOR EACH ROW
         BEGIN
            IF {new} THEN
                {COLUMNS}{came};
            END IF;
         END",
        new = counted("NEW"),
        came = values("NEW", ""),
    );
    let update = format!(
        "CREATE TRIGGER session_totals_update AFTER UPDATE ON wpos_zoom_links FOR EACH ROW
         BEGIN
            IF NOT (OLD.clicked_at <=> NEW.clicked_at AND OLD.teacher_id <=> NEW.teacher_id
                    AND OLD.session_status <=> NEW.session_status
                    AND OLD.session_duration_seconds <=> NEW.session_duration_seconds) THEN
                IF {old} AND {new} THEN
                    {COLUMNS}{gone}, {came};
                ELSEIF {old} THEN
                    {COLUMNS}{gone};
                ELSEIF {new} THEN
                    {COLUMNS}{came};
                END IF;
            END IF;
         END",
        old = counted("OLD"),
        new = counted("NEW"),
        gone = values("OLD", "-"),
        came = values("NEW", ""),
    );
    let delete = format!(
        "CREATE TRIGGER session_totals_delete AFTER DELETE ON wpos_zoom_links FOR EACH ROW
         BEGIN
            IF {old} THEN
                {COLUMNS}{gone};
            END IF;
         END",
        old = counted("OLD"),
        gone = values("OLD", "-"),
    );
    [
        ("session_totals_insert", insert),
        ("session_totals_update", update),
        ("session_totals_delete", delete),
    ]
}

/// The triggers as `m20261203_000009_session_totals_everywhere` made them.
const MYSQL_DOWN: [(&str, &str); 3] = [
    (
        "session_totals_insert",
        "CREATE TRIGGER session_totals_insert AFTER INSERT ON wpos_zoom_links FOR EACH ROW
     INSERT INTO session_total_changes (day, teacher_id, session_status, sessions, duration_seconds)
     SELECT CAST(NEW.clicked_at AS DATE), NEW.teacher_id, NEW.session_status, 1,
            COALESCE(NEW.session_duration_seconds, 0)
     FROM DUAL WHERE NEW.session_status IS NOT NULL AND NEW.clicked_at IS NOT NULL",
    ),
    (
        "session_totals_update",
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
    ),
    (
        "session_totals_delete",
        "CREATE TRIGGER session_totals_delete AFTER DELETE ON wpos_zoom_links FOR EACH ROW
     INSERT INTO session_total_changes (day, teacher_id, session_status, sessions, duration_seconds)
     SELECT CAST(OLD.clicked_at AS DATE), OLD.teacher_id, OLD.session_status, -1,
            -COALESCE(OLD.session_duration_seconds, 0)
     FROM DUAL WHERE OLD.session_status IS NOT NULL AND OLD.clicked_at IS NOT NULL",
    ),
];

/// Replaces each trigger by its `CREATE TRIGGER` statement: in one statement on MariaDB, by a
/// drop and a create on MySQL.
async fn replace(manager: &SchemaManager<'_>, triggers: &[(&str, &str)]) -> Result<(), DbErr> {
    let db = manager.get_connection();
    let version = db
        .query_one_raw(Statement::from_string(DbBackend::MySql, "SELECT VERSION()"))
        .await?
        .map(|row| row.try_get_by_index::<String>(0))
        .transpose()?
        .unwrap_or_default();
    let mariadb = version.contains("MariaDB");
    for &(name, create) in triggers {
        if mariadb {
            let create = create.replacen("CREATE TRIGGER", "CREATE OR REPLACE TRIGGER", 1);
            db.execute_unprepared(&create).await?;
        } else {
            db.execute_unprepared(&format!("DROP TRIGGER IF EXISTS {name}"))
                .await?;
            db.execute_unprepared(create).await?;
        }
    }
    Ok(())
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.get_database_backend() != DbBackend::MySql {
            return Ok(());
        }
        let triggers = up_statements();
        let triggers: Vec<(&str, &str)> = triggers
            .iter()
            .map(|(name, create)| (*name, create.as_str()))
            .collect();
        replace(manager, &triggers).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.get_database_backend() != DbBackend::MySql {
            return Ok(());
        }
        replace(manager, &MYSQL_DOWN).await
    }
}
