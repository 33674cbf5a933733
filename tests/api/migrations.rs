//! Databases migrated before two released migrations were edited, or before the first `000003`
//! was replaced, reach the schema a new database gets and keep their rows; on a database that
//! is already current the migrations added for them change nothing.

use chrono::NaiveDateTime;
use migration::{Alias, Index, Migrator, MigratorTrait, SchemaManager};
use sea_orm::{
    ConnectionTrait, Database, DatabaseConnection, DbBackend, QueryResult, Statement, TryGetable,
};
use zoomtrack_tests::{Backend, TestDb, db_test};

/// The migrations added for those databases, which a database made before them has not run.
const ADDED: &str = "'m20261128_000003_sqlite_session_totals', \
    'm20261203_000006_session_totals_handover', 'm20261203_000007_catch_up_edited_migrations'";

/// A teacher, a student and three links: in the meeting, left it, never clicked.
const SEED: [&str; 3] = [
    "INSERT INTO teachers (id, name, telegram_chat_id, created_at)
     VALUES (1, 'Anna Teacher', '100200300400', '2026-11-28 09:00:00')",
    "INSERT INTO students (id, name, telegram_chat_id, created_at)
     VALUES (1, 'Bob Student', '-1001234567890', '2026-11-28 09:00:00')",
    "INSERT INTO wpos_zoom_links (id, tracking_token, teacher_id, student_id, zoom_url, created_at,
        clicked_at, session_ended_at, session_duration_minutes, session_duration_seconds,
        session_status, last_activity_at) VALUES
     (1, 'in-the-meeting', 1, 1, 'https://zoom.us/j/85012345678', '2026-11-28 09:50:00',
        '2026-11-28 10:00:00', NULL, NULL, NULL, 'active', '2026-11-28 10:30:00'),
     (2, 'left-the-meeting', 1, 1, 'https://zoom.us/j/85012345678', '2026-11-28 10:50:00',
        '2026-11-28 11:00:00', '2026-11-28 11:40:00', 40, 2400, 'ended', '2026-11-28 11:40:00'),
     (3, 'never-clicked', 1, 1, 'https://zoom.us/j/85012345678', '2026-11-28 12:00:00',
        NULL, NULL, NULL, NULL, NULL, NULL)",
];

async fn connect(db: &TestDb) -> DatabaseConnection {
    Database::connect(&db.url).await.expect("connects")
}

async fn exec(conn: &DatabaseConnection, sql: &str) {
    if let Err(err) = conn.execute_unprepared(sql).await {
        panic!("{sql}: {err}");
    }
}

fn get<T: TryGetable>(row: &QueryResult, column: usize) -> T {
    row.try_get_by_index(column)
        .unwrap_or_else(|err| panic!("column {column}: {err}"))
}

fn time(value: Option<NaiveDateTime>) -> String {
    value.map_or("-".into(), |t| t.format("%H:%M").to_string())
}

/// The rows of `sql` as `line` writes them, sorted.
async fn rows(
    conn: &DatabaseConnection,
    sql: &str,
    line: impl Fn(&QueryResult) -> String,
) -> Vec<String> {
    let statement = Statement::from_string(conn.get_database_backend(), sql);
    let mut lines: Vec<String> = match conn.query_all_raw(statement).await {
        Ok(rows) => rows.iter().map(line).collect(),
        Err(err) => panic!("{sql}: {err}"),
    };
    lines.sort();
    lines
}

/// Every table's columns (type, nullability) and every index's columns in order.
async fn schema(conn: &DatabaseConnection) -> Vec<String> {
    let queries: &[&str] = match conn.get_database_backend() {
        DbBackend::Sqlite => &[
            "SELECT type || ' ' || name FROM sqlite_master",
            "SELECT m.name || '.' || c.name || ' ' || c.type || ' ' || c.\"notnull\"
             FROM sqlite_master m, pragma_table_info(m.name) c WHERE m.type = 'table'",
            "SELECT m.name || ' ' || i.seqno || ' ' || i.name
             FROM sqlite_master m, pragma_index_info(m.name) i WHERE m.type = 'index'",
        ],
        DbBackend::Postgres => &[
            "SELECT table_name || '.' || column_name || ' ' || data_type || ' '
                || COALESCE(character_maximum_length::text, '') || ' ' || is_nullable
             FROM information_schema.columns WHERE table_schema = current_schema()",
            "SELECT indexdef FROM pg_indexes WHERE schemaname = current_schema()",
        ],
        _ => &[
            "SELECT CONCAT(table_name, '.', column_name, ' ', column_type, ' ', is_nullable)
             FROM information_schema.columns WHERE table_schema = DATABASE()",
            "SELECT CONCAT(table_name, '.', index_name, ' ', seq_in_index, ' ', column_name)
             FROM information_schema.statistics WHERE table_schema = DATABASE()",
        ],
    };
    let mut lines = Vec::new();
    for sql in queries {
        lines.extend(rows(conn, sql, |row| get::<String>(row, 0)).await);
    }
    lines.sort();
    lines
}

/// The schema a new database of `backend` gets.
async fn new_schema(backend: Backend) -> Vec<String> {
    let db = TestDb::create(backend)
        .await
        .expect("a second database")
        .expect("its server is configured");
    let conn = connect(&db).await;
    Migrator::up(&conn, None)
        .await
        .expect("a new database migrates");
    let schema = schema(&conn).await;
    conn.close().await.expect("closes");
    schema
}

/// What the sessions hold apart from the columns the edits added.
async fn links(conn: &DatabaseConnection) -> Vec<String> {
    rows(
        conn,
        "SELECT id, tracking_token, clicked_at, session_ended_at, session_duration_seconds,
            session_status FROM wpos_zoom_links",
        |row| {
            format!(
                "{} {} {} {} {:?} {:?}",
                get::<i64>(row, 0),
                get::<String>(row, 1),
                time(get(row, 2)),
                time(get(row, 3)),
                get::<Option<i64>>(row, 4),
                get::<Option<String>>(row, 5),
            )
        },
    )
    .await
}

/// Whether Zoom has each session's student in the meeting, and its page load.
async fn in_meeting(conn: &DatabaseConnection) -> Vec<String> {
    rows(
        conn,
        "SELECT id, zoom_in_meeting, visit_id FROM wpos_zoom_links",
        |row| {
            format!(
                "{} {} {:?}",
                get::<i64>(row, 0),
                get::<bool>(row, 1),
                get::<Option<String>>(row, 2),
            )
        },
    )
    .await
}

async fn participations(conn: &DatabaseConnection) -> Vec<String> {
    rows(
        conn,
        "SELECT link_id, participant_key, participant_name, joined_at, left_at, left_by
         FROM zoom_participations",
        |row| {
            format!(
                "{} {} {:?} joined {} left {} {}",
                get::<i64>(row, 0),
                get::<String>(row, 1),
                get::<String>(row, 2),
                time(get(row, 3)),
                time(get(row, 4)),
                get::<Option<String>>(row, 5).unwrap_or_default(),
            )
        },
    )
    .await
}

/// A database made before this change has run none of the migrations added with it.
async fn forget_added(conn: &DatabaseConnection) {
    exec(
        conn,
        &format!("DELETE FROM seaql_migrations WHERE version IN ({ADDED})"),
    )
    .await;
}

/// Takes back what the edits added: the schema of a database that ran the first versions and
/// every migration after them.
async fn first_versions(conn: &DatabaseConnection) {
    forget_added(conn).await;
    for (table, column) in [
        ("wpos_zoom_links", "visit_id"),
        ("wpos_zoom_links", "zoom_in_meeting"),
        ("zoom_participations", "participant_name"),
    ] {
        exec(conn, &format!("ALTER TABLE {table} DROP COLUMN {column}")).await;
    }
    let manager = SchemaManager::new(conn);
    let links = || Alias::new("wpos_zoom_links");
    manager
        .drop_index(
            Index::drop()
                .name("idx_zoom_links_clicked")
                .table(links())
                .to_owned(),
        )
        .await
        .expect("drops the covering index");
    manager
        .create_index(
            Index::create()
                .name("idx_zoom_links_clicked")
                .table(links())
                .col(Alias::new("clicked_at"))
                .to_owned(),
        )
        .await
        .expect("makes the first version's index");
}

db_test!(a_database_from_the_first_versions_catches_up);
async fn a_database_from_the_first_versions_catches_up(db: TestDb) {
    let conn = connect(&db).await;
    Migrator::up(&conn, None).await.expect("migrates");
    first_versions(&conn).await;
    let current = new_schema(db.backend).await;
    assert_ne!(
        schema(&conn).await,
        current,
        "the first versions lack what the edits added"
    );
    for sql in SEED {
        exec(&conn, sql).await;
    }
    // The first version kept each time in the meeting as one row, without names.
    exec(
        &conn,
        "INSERT INTO zoom_participations (link_id, participant_key, joined_at, left_at, left_by)
         VALUES (1, 'p1', '2026-11-28 10:01:00', '2026-11-28 10:20:00', 'left_zoom'),
                (1, 'p1', '2026-11-28 10:25:00', NULL, NULL),
                (2, 'p2', '2026-11-28 11:01:00', '2026-11-28 11:40:00', 'meeting_ended'),
                (2, 'p3', NULL, '2026-11-28 11:30:00', 'left_zoom')",
    )
    .await;
    let sessions = links(&conn).await;

    Migrator::up(&conn, None).await.expect("catches up");

    assert_eq!(schema(&conn).await, current, "the schema of a new database");
    assert_eq!(links(&conn).await, sessions, "the sessions are kept");
    let mut split = [
        r#"1 p1 "" joined 10:01 left - "#,
        r#"1 p1 "" joined - left 10:20 left_zoom"#,
        r#"1 p1 "" joined 10:25 left - "#,
        r#"2 p2 "" joined 11:01 left - "#,
        r#"2 p2 "" joined - left 11:40 meeting_ended"#,
        r#"2 p3 "" joined - left 11:30 left_zoom"#,
    ];
    split.sort_unstable();
    assert_eq!(
        participations(&conn).await,
        split,
        "each time in the meeting becomes a join and a leave"
    );
    assert_eq!(
        in_meeting(&conn).await,
        ["1 true None", "2 false None", "3 false None"],
        "the student is in the meeting of link 1 only"
    );
}

db_test!(a_current_database_is_left_as_it_is);
async fn a_current_database_is_left_as_it_is(db: TestDb) {
    let conn = connect(&db).await;
    Migrator::up(&conn, None).await.expect("migrates");
    for sql in SEED {
        exec(&conn, sql).await;
    }
    exec(
        &conn,
        "UPDATE wpos_zoom_links SET visit_id = 'visit-1' WHERE id = 1",
    )
    .await;
    // Rows the first versions' repairs would change: an open join whose session is not marked
    // in the meeting, and one row holding both a join and a leave.
    exec(
        &conn,
        "INSERT INTO zoom_participations
            (link_id, participant_key, participant_name, joined_at, left_at, left_by)
         VALUES (1, 'p1', 'Bob Student', '2026-11-28 10:01:00', NULL, NULL),
                (2, 'p2', 'Bob Student', '2026-11-28 11:01:00', '2026-11-28 11:40:00',
                 'meeting_ended')",
    )
    .await;
    forget_added(&conn).await;
    let before = (
        schema(&conn).await,
        links(&conn).await,
        in_meeting(&conn).await,
        participations(&conn).await,
    );

    Migrator::up(&conn, None)
        .await
        .expect("runs the added migrations");

    let after = (
        schema(&conn).await,
        links(&conn).await,
        in_meeting(&conn).await,
        participations(&conn).await,
    );
    assert_eq!(after, before, "nothing changed");
    assert!(
        Migrator::get_pending_migrations(&conn)
            .await
            .expect("reads the recorded migrations")
            .is_empty(),
        "the added migrations are recorded"
    );
}

db_test!(a_database_that_ran_the_replaced_totals_migration_upgrades);
async fn a_database_that_ran_the_replaced_totals_migration_upgrades(db: TestDb) {
    let conn = connect(&db).await;
    // Up to `hot_paths`, which the database has not run yet; its first `000003` was the
    // replaced one, under the name the file answering to it now runs as.
    Migrator::up(&conn, Some(5)).await.expect("migrates");
    exec(
        &conn,
        "DELETE FROM seaql_migrations WHERE version IN
            ('m20261203_000006_session_totals_handover', 'm20261128_000003_hot_paths')",
    )
    .await;
    // What `hot_paths` finds there (it rebuilds the other indexes it changes, whatever their
    // columns): the index it drops, and on SQLite the replaced migration's totals.
    exec(
        &conn,
        "CREATE INDEX idx_status_last_activity ON wpos_zoom_links (session_status, last_activity_at)",
    )
    .await;
    let sqlite = db.backend == Backend::Sqlite;
    if sqlite {
        exec(&conn, "DROP INDEX idx_session_totals_teacher").await;
        exec(
            &conn,
            "CREATE INDEX idx_session_totals_teacher ON session_totals (teacher_id, day)",
        )
        .await;
    }
    for sql in SEED {
        exec(&conn, sql).await;
    }
    let sessions = links(&conn).await;

    Migrator::up(&conn, None).await.expect("upgrades");

    assert_eq!(
        schema(&conn).await,
        new_schema(db.backend).await,
        "the schema of a new database"
    );
    assert_eq!(links(&conn).await, sessions, "the sessions are kept");
    if sqlite {
        let totals = rows(
            &conn,
            "SELECT SUM(sessions), SUM(duration_seconds) FROM session_totals",
            |row| format!("{} {}", get::<i64>(row, 0), get::<i64>(row, 1)),
        )
        .await;
        assert_eq!(totals, ["2 2400"], "each started session counted once");
    }
}

/// Changes of every kind the totals' triggers count: a session ends, a link is opened, a beat
/// moves nothing counted, a session stops counting, sessions are deleted.
const CHANGES: [&str; 5] = [
    "UPDATE wpos_zoom_links SET session_status = 'timeout', session_duration_seconds = 1800,
        session_ended_at = last_activity_at WHERE id = 1",
    "UPDATE wpos_zoom_links SET clicked_at = '2026-11-29 12:05:00', session_status = 'active',
        last_activity_at = '2026-11-29 12:05:00' WHERE id = 3",
    "UPDATE wpos_zoom_links SET last_activity_at = '2026-11-29 12:06:00' WHERE id = 3",
    "UPDATE wpos_zoom_links SET clicked_at = NULL, session_status = NULL WHERE id = 2",
    "DELETE FROM wpos_zoom_links WHERE id IN (1, 3)",
];

/// The seed and [`CHANGES`] on an empty database; returns the changes the triggers appended.
async fn appended(conn: &DatabaseConnection) -> Vec<String> {
    for sql in [
        "DELETE FROM wpos_zoom_links",
        "DELETE FROM session_total_changes",
    ] {
        exec(conn, sql).await;
    }
    for sql in SEED.iter().skip(2).chain(&CHANGES) {
        exec(conn, sql).await;
    }
    rows(
        conn,
        "SELECT id, day, teacher_id, session_status, sessions, duration_seconds
         FROM session_total_changes",
        |row| {
            format!(
                "{:06} {} {} {} {} {}",
                get::<i64>(row, 0),
                get::<chrono::NaiveDate>(row, 1),
                get::<i64>(row, 2),
                get::<String>(row, 3),
                get::<i64>(row, 4),
                get::<i64>(row, 5),
            )
        },
    )
    .await
    .into_iter()
    .map(|line| line[7..].to_owned())
    .collect()
}

db_test!(mysql_triggers_by_values_go_down_and_up_and_count_as_before);
async fn mysql_triggers_by_values_go_down_and_up_and_count_as_before(db: TestDb) {
    let conn = connect(&db).await;
    Migrator::up(&conn, None).await.expect("migrates");
    for sql in &SEED[..2] {
        exec(&conn, sql).await;
    }
    let counted = conn.get_database_backend() != DbBackend::Sqlite;
    let now = if counted {
        appended(&conn).await
    } else {
        Vec::new()
    };

    // Down to just before the migration that replaced MySQL's triggers, wherever it stands.
    let steps = Migrator::migrations()
        .iter()
        .rev()
        .position(|m| m.name() == "m20261207_000011_mysql_totals_triggers_by_values")
        .expect("the migration is listed")
        + 1;
    Migrator::down(&conn, Some(steps as u32))
        .await
        .expect("goes down");
    if counted {
        let before = appended(&conn).await;
        assert_eq!(now, before, "the triggers append what they appended before");
        assert_eq!(
            now.len(),
            8,
            "two sessions seeded, an end (what it leaves and what it reaches), an opening, a \
             session no longer counted, two deleted: {now:?}"
        );
    }

    Migrator::up(&conn, None).await.expect("comes up again");
    if counted {
        assert_eq!(
            appended(&conn).await,
            now,
            "the triggers made again count the same"
        );
    }
    assert_eq!(
        schema(&conn).await,
        new_schema(db.backend).await,
        "the schema of a new database"
    );
}
