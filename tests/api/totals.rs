//! Statistics over whole days read per-day totals kept by triggers (on PostgreSQL and MySQL,
//! folded from appended changes, and per-month totals beside them). They must equal a count of
//! the sessions themselves after every kind of change, before and after a fold, and after the
//! migrations that create them on a database that already holds sessions.

use chrono::{Duration, Utc};
use entity::zoom_link::{self, SessionStatus};
use migration::{Migrator, MigratorTrait};
use sea_orm::{
    ActiveValue::NotSet, ConnectionTrait, Database, DatabaseConnection, DbBackend, EntityTrait,
    Statement,
};
use zoomtrack_server::{domain::time, services::totals};
use zoomtrack_tests::{Backend, Seed, TestApp, TestDb, db_test, insert_seeds, shared_db_test};

/// Rows of (date, teacher, status, sessions, seconds) as text.
async fn totals_rows(db: &DatabaseConnection, sql: String) -> Vec<String> {
    db.query_all_raw(Statement::from_string(db.get_database_backend(), sql))
        .await
        .expect("a query")
        .iter()
        .map(|row| {
            let text = |i: usize| row.try_get_by_index::<String>(i).unwrap_or_default();
            let int = |i: usize| row.try_get_by_index::<i64>(i).unwrap_or_default();
            format!("{} {} {} {} {}", text(0), int(1), text(2), int(3), int(4))
        })
        .collect()
}

/// (day, teacher, status, sessions, seconds) rows, from the totals (as statistics read them:
/// on PostgreSQL and MySQL, folded totals and changes not folded yet, summed) and from the
/// sessions.
pub(crate) async fn both(db: &DatabaseConnection) -> (Vec<String>, Vec<String>) {
    let rows = |sql: String| totals_rows(db, sql);
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

/// PostgreSQL and MySQL: (month, teacher, status, sessions, seconds) rows from the per-month
/// totals plus the changes not folded yet, and from the sessions.
async fn months(db: &DatabaseConnection) -> (Vec<String>, Vec<String>) {
    let (text, int, month_of_day, month_of_click) = match db.get_database_backend() {
        DbBackend::Postgres => (
            "TEXT",
            "BIGINT",
            "CAST(date_trunc('month', CAST(day AS TIMESTAMP)) AS DATE)",
            "CAST(date_trunc('month', clicked_at) AS DATE)",
        ),
        _ => (
            "CHAR",
            "SIGNED",
            "day - INTERVAL (DAYOFMONTH(day) - 1) DAY",
            "CAST(clicked_at AS DATE) - INTERVAL (DAYOFMONTH(clicked_at) - 1) DAY",
        ),
    };
    let rows = |sql: String| totals_rows(db, sql);
    let totals = rows(format!(
        "SELECT CAST(month AS {text}), teacher_id, session_status, CAST(SUM(sessions) AS {int}), \
         CAST(SUM(duration_seconds) AS {int}) FROM ( \
            SELECT month, teacher_id, session_status, sessions, duration_seconds \
            FROM session_month_totals \
            UNION ALL SELECT {month_of_day}, teacher_id, session_status, sessions, \
            duration_seconds FROM session_total_changes) current \
         GROUP BY month, teacher_id, session_status HAVING SUM(sessions) <> 0 ORDER BY 1, 2, 3"
    ))
    .await;
    let counted = rows(format!(
        "SELECT CAST({month_of_click} AS {text}), teacher_id, session_status, COUNT(*), \
         CAST(COALESCE(SUM(session_duration_seconds), 0) AS {int}) FROM wpos_zoom_links \
         WHERE session_status IS NOT NULL AND clicked_at IS NOT NULL GROUP BY 1, 2, 3 \
         ORDER BY 1, 2, 3"
    ))
    .await;
    (totals, counted)
}

/// How many months rows from [`months`] cover.
fn distinct_months(rows: &[String]) -> usize {
    let months: std::collections::BTreeSet<&str> = rows
        .iter()
        .filter_map(|row| row.split(' ').next())
        .collect();
    months.len()
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
    old.execute_unprepared(SEED_PEOPLE).await.unwrap();
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
    // And a month earlier: the month totals hold more than one month.
    insert_seeds(&app.db, &seeds(10, 40), 200).await;
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
    if app.db.get_database_backend() != DbBackend::Sqlite {
        let (totals, counted) = months(&app.db).await;
        assert!(
            distinct_months(&counted) > 1,
            "sessions of more than one month: {counted:?}"
        );
        assert_eq!(totals, counted, "the month totals follow every change");
    }
}

/// The seeds' teachers (ids 1 and 2) and student (id 1), in SQL for a database of an older
/// schema.
const SEED_PEOPLE: &str = "INSERT INTO teachers (name, telegram_chat_id, created_at) VALUES \
     ('T1', '1', '2026-01-01 00:00:00'), ('T2', '2', '2026-01-01 00:00:00'); \
     INSERT INTO students (name, telegram_chat_id, created_at) VALUES \
     ('S1', '3', '2026-01-01 00:00:00')";

/// A server with the seeds' teachers (ids 1 and 2) and student (id 1).
async fn with_seed_people(db: &TestDb) -> TestApp {
    let app = TestApp::spawn(db, &[]).await;
    app.create_teacher("T1").await;
    app.create_teacher("T2").await;
    app.create_student("S1").await;
    app
}

db_test!(totals_follow_every_change_and_every_fold);
async fn totals_follow_every_change_and_every_fold(db: TestDb) {
    let app = with_seed_people(&db).await;
    every_change(&app).await;
    totals::fold(&app.db).await.unwrap();
    let (totals, counted) = both(&app.db).await;
    assert_eq!(totals, counted, "a fold changes no total");
    if app.db.get_database_backend() != DbBackend::Sqlite {
        let (totals, counted) = months(&app.db).await;
        assert_eq!(totals, counted, "a fold changes no month total");
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

shared_db_test!(month_totals_start_from_the_day_totals);
/// PostgreSQL and MySQL: the migration that adds the month totals starts them from the day
/// totals already folded, and the server's folds keep both.
async fn month_totals_start_from_the_day_totals(db: TestDb) {
    let conn = Database::connect(&db.url).await.unwrap();
    let before = Migrator::migrations()
        .iter()
        .position(|m| m.name() == "m20261207_000012_session_month_totals")
        .expect("the migration is listed");
    Migrator::up(&conn, Some(before as u32)).await.unwrap();
    conn.execute_unprepared(SEED_PEOPLE).await.unwrap();
    insert_seeds(&conn, &seeds(40, 3), 0).await;
    insert_seeds(&conn, &seeds(20, 45), 100).await;
    // Folded as the servers before the migration folded: into the day totals alone. Some
    // changes stay unfolded.
    conn.execute_unprepared(
        "INSERT INTO session_totals (day, teacher_id, session_status, sessions, duration_seconds) \
         SELECT day, teacher_id, session_status, SUM(sessions), SUM(duration_seconds) \
         FROM session_total_changes GROUP BY day, teacher_id, session_status; \
         DELETE FROM session_total_changes",
    )
    .await
    .unwrap();
    insert_seeds(&conn, &seeds(5, 90), 200).await;
    conn.close().await.unwrap();

    // The server sweeps at start, while the test reads: this sweep returns once every stale
    // session has timed out, by either.
    let app = TestApp::spawn(&db, &[]).await;
    app.tracker.sweep(time::now()).await.unwrap();
    let (totals, counted) = months(&app.db).await;
    assert!(
        distinct_months(&counted) >= 3,
        "sessions of three months: {counted:?}"
    );
    assert_eq!(
        totals, counted,
        "the migration sums the day totals per month"
    );
    totals::fold(&app.db).await.unwrap();
    let (totals, counted) = months(&app.db).await;
    assert_eq!(totals, counted, "and a fold keeps them");
    app.stop().await;
}

db_test!(statistics_over_ranges_across_months_count_each_session_once);
/// Ranges that start and end on either side of months' first days: whole months come from the
/// month totals on PostgreSQL and MySQL, the days at either end from the day totals, some
/// changes folded and some not.
async fn statistics_over_ranges_across_months_count_each_session_once(db: TestDb) {
    let app = with_seed_people(&db).await;
    let days = [
        "2026-02-27",
        "2026-02-28",
        "2026-03-01",
        "2026-03-02",
        "2026-03-31",
        "2026-04-01",
        "2026-04-30",
        "2026-05-01",
        "2026-05-02",
    ];
    let date = |text: &str| text.parse::<chrono::NaiveDate>().unwrap();
    let mut seeds = Vec::new();
    for (d, day) in days.iter().enumerate() {
        for (t, time) in ["00:00:00", "12:00:00", "23:59:59"].iter().enumerate() {
            let i = (d * 3 + t) as i64;
            seeds.push(Seed {
                teacher_id: 1 + i % 2,
                student_id: 1,
                at: date(day).and_time(time.parse().unwrap()).and_utc(),
                status: Some(match i % 3 {
                    0 => SessionStatus::Ended,
                    1 => SessionStatus::Timeout,
                    _ => SessionStatus::Ended,
                }),
                duration_seconds: Some(60 + i * 7),
            });
        }
    }
    // Half folded, half still changes (the flush folds every round: some may be folded by
    // then, which is as good); then all folded.
    let (folded, unfolded) = seeds.split_at(seeds.len() / 2);
    insert_seeds(&app.db, folded, 0).await;
    totals::fold(&app.db).await.unwrap();
    insert_seeds(&app.db, unfolded, folded.len()).await;
    every_range(&app, &days, &seeds).await;
    totals::fold(&app.db).await.unwrap();
    every_range(&app, &days, &seeds).await;
    app.stop().await;
}

/// `sessionStats` and `teacherStats` from each of `days` to each later one equal a count of
/// `seeds`.
async fn every_range(app: &TestApp, days: &[&str], seeds: &[Seed]) {
    let date = |text: &str| text.parse::<chrono::NaiveDate>().unwrap();
    let query = "query($f: SessionFilter) { sessionStats(filter: $f) { totalSessions \
                 totalDurationSeconds } teacherStats(filter: $f) { sessions } }";
    for (i, from) in days.iter().enumerate() {
        for to in &days[i..] {
            let (start, end) = (date(from), date(to) + chrono::Days::new(1));
            let inside: Vec<&Seed> = seeds
                .iter()
                .filter(|s| (start..end).contains(&s.at.date_naive()))
                .collect();
            let seconds: i64 = inside.iter().filter_map(|s| s.duration_seconds).sum();
            let got = app
                .admin(
                    query,
                    serde_json::json!({ "f": { "from": from, "to": to } }),
                )
                .await;
            assert_eq!(
                (
                    got["sessionStats"]["totalSessions"].as_i64(),
                    got["sessionStats"]["totalDurationSeconds"].as_i64(),
                ),
                (Some(inside.len() as i64), Some(seconds)),
                "{from} to {to}"
            );
            let per_teacher: i64 = got["teacherStats"]
                .as_array()
                .unwrap()
                .iter()
                .map(|row| row["sessions"].as_i64().unwrap())
                .sum();
            assert_eq!(per_teacher, inside.len() as i64, "teachers, {from} to {to}");
        }
    }
}
