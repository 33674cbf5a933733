//! Statistics over whole days read per-day totals kept by triggers (on PostgreSQL and MySQL,
//! folded from appended changes). They must equal a count of the sessions themselves after
//! every kind of change, before and after a fold, and after the migration that creates them on
//! a database that already holds sessions.

use chrono::{Duration, Utc};
use entity::zoom_link::{self, SessionStatus};
use migration::{Migrator, MigratorTrait};
use sea_orm::{
    ActiveValue::NotSet, ConnectionTrait, Database, DatabaseConnection, DbBackend, EntityTrait,
    Statement,
};
use zoomtrack_server::{domain::time, services::totals};
use zoomtrack_tests::{Backend, Seed, TestApp, TestDb, db_test, insert_seeds};

/// (day, teacher, status, sessions, seconds) rows, from the totals (as statistics read them:
/// on PostgreSQL and MySQL, folded totals and changes not folded yet, summed) and from the
/// sessions.
async fn both(db: &DatabaseConnection) -> (Vec<String>, Vec<String>) {
    let rows = |sql: String| async move {
        db.query_all_raw(Statement::from_string(db.get_database_backend(), sql))
            .await
            .expect("a query")
            .iter()
            .map(|row| {
                let text = |i: usize| row.try_get_by_index::<String>(i).unwrap_or_default();
                let int = |i: usize| row.try_get_by_index::<i64>(i).unwrap_or_default();
                format!("{} {} {} {} {}", text(0), int(1), text(2), int(3), int(4))
            })
            .collect::<Vec<_>>()
    };
    let (text, int, day) = match db.get_database_backend() {
        DbBackend::Postgres => ("TEXT", "BIGINT", "CAST(CAST(clicked_at AS DATE) AS TEXT)"),
        DbBackend::MySql => ("CHAR", "SIGNED", "CAST(CAST(clicked_at AS DATE) AS CHAR)"),
        _ => ("TEXT", "INTEGER", "substr(clicked_at, 1, 10)"),
    };
    let current = match db.get_database_backend() {
        DbBackend::Sqlite => "session_totals",
        _ => {
            "(SELECT day, teacher_id, session_status, sessions, duration_seconds FROM session_totals \
             UNION ALL SELECT day, teacher_id, session_status, sessions, duration_seconds \
             FROM session_total_changes) current"
        }
    };
    let totals = rows(format!(
        "SELECT CAST(day AS {text}), teacher_id, session_status, CAST(SUM(sessions) AS {int}), \
         CAST(SUM(duration_seconds) AS {int}) FROM {current} \
         GROUP BY day, teacher_id, session_status HAVING SUM(sessions) <> 0 ORDER BY 1, 2, 3"
    ))
    .await;
    let counted = rows(format!(
        "SELECT {day}, teacher_id, session_status, COUNT(*), \
         CAST(COALESCE(SUM(session_duration_seconds), 0) AS {int}) FROM wpos_zoom_links \
         WHERE session_status IS NOT NULL AND clicked_at IS NOT NULL GROUP BY 1, 2, 3 ORDER BY 1, 2, 3"
    ))
    .await;
    (totals, counted)
}

fn seeds(count: usize, days_ago: i64) -> Vec<Seed> {
    (0..count)
        .map(|i| Seed {
            teacher_id: 1 + (i % 2) as i64,
            student_id: 1,
            at: Utc::now() - Duration::days(days_ago) - Duration::minutes(i as i64 * 97),
            status: Some(match i % 3 {
                0 => SessionStatus::Active,
                1 => SessionStatus::Ended,
                _ => SessionStatus::Timeout,
            }),
            duration_seconds: Some(i as i64 * 61),
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn daily_totals_follow_every_change_and_the_migration() {
    let db = TestDb::create(Backend::Sqlite).await.unwrap().unwrap();
    // A database from before the totals, already holding sessions.
    let old = Database::connect(&db.url).await.unwrap();
    Migrator::up(&old, Some(2)).await.unwrap();
    old.execute_unprepared(
        "INSERT INTO teachers (name, telegram_chat_id, created_at) VALUES \
         ('T1', '1', '2026-01-01 00:00:00'), ('T2', '2', '2026-01-01 00:00:00'); \
         INSERT INTO students (name, telegram_chat_id, created_at) VALUES \
         ('S1', '3', '2026-01-01 00:00:00')",
    )
    .await
    .unwrap();
    // Rows as that schema holds them: no end reason yet.
    zoom_link::Entity::insert_many(seeds(40, 3).iter().enumerate().map(|(n, seed)| {
        let mut row = seed.model(n);
        row.session_end_reason = NotSet;
        row
    }))
    .exec_without_returning(&old)
    .await
    .unwrap();
    old.close().await.unwrap();

    // The server sweeps once at start: a timeout longer than the seeds' age keeps their active
    // sessions active, so what the migration did is what is checked (the test sweeps below).
    let app = TestApp::spawn(&db, &["--session-timeout", "7d"]).await;
    let (totals, counted) = both(&app.db).await;
    assert!(!counted.is_empty());
    assert_eq!(
        totals, counted,
        "the migration counts the sessions it finds"
    );
    let reasons = app
        .db
        .query_all_raw(Statement::from_string(
            app.db.get_database_backend(),
            "SELECT session_status, session_end_reason, COUNT(*) FROM wpos_zoom_links \
             GROUP BY 1, 2 ORDER BY 1",
        ))
        .await
        .unwrap()
        .iter()
        .map(|row| {
            let text = |i: usize| row.try_get_by_index::<Option<String>>(i).unwrap();
            (text(0), text(1))
        })
        .collect::<Vec<_>>();
    let pair =
        |status: &str, reason: Option<&str>| (Some(status.to_owned()), reason.map(str::to_owned));
    assert_eq!(
        reasons,
        [
            pair("active", None),
            pair("ended", Some("tab_closed")),
            pair("timeout", Some("timed_out")),
        ],
        "the migration names how the sessions before it ended"
    );

    every_change(&app).await;
    app.stop().await;
}

/// Inserts, clicks, heartbeats, ends, a reopen, a sweep and a delete; then the totals equal
/// the sessions' own count.
async fn every_change(app: &TestApp) {
    insert_seeds(&app.db, &seeds(30, 1), 100).await;
    let links = [
        app.issue_link().await,
        app.issue_link().await,
        app.issue_link().await,
    ];
    for link in &links {
        app.track(&link.token).await;
        app.heartbeat(&link.token).await;
    }
    app.end_session(&links[0].token).await;
    app.track(&links[0].token).await;
    app.end_session(&links[1].token).await;
    let later = time::now() + Duration::hours(3);
    app.tracker.sweep(later).await.unwrap();
    app.db
        .execute_unprepared(
            "DELETE FROM telegram_notifications; DELETE FROM wpos_zoom_links WHERE id % 7 = 0",
        )
        .await
        .unwrap();
    let (totals, counted) = both(&app.db).await;
    assert!(!counted.is_empty());
    assert_eq!(totals, counted, "the totals follow every change");
}

db_test!(totals_follow_every_change_and_every_fold);
async fn totals_follow_every_change_and_every_fold(db: TestDb) {
    let app = TestApp::spawn(&db, &[]).await;
    // The seeds' teachers (ids 1 and 2) and student (id 1).
    app.create_teacher("T1").await;
    app.create_teacher("T2").await;
    app.create_student("S1").await;
    every_change(&app).await;
    totals::fold(&app.db).await.unwrap();
    let (totals, counted) = both(&app.db).await;
    assert_eq!(totals, counted, "a fold changes no total");
    if app.db.get_database_backend() != DbBackend::Sqlite {
        let left = app
            .db
            .query_one_raw(Statement::from_string(
                app.db.get_database_backend(),
                "SELECT COUNT(*) FROM session_total_changes",
            ))
            .await
            .unwrap()
            .unwrap()
            .try_get_by_index::<i64>(0)
            .unwrap();
        assert_eq!(left, 0, "a fold moves every committed change");
    }
    app.stop().await;
}
