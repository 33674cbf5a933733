//! Heartbeats are answered from memory and written in batches: nothing the server answered is
//! lost for it. Stored within the flush interval, all stored on a graceful stop (SIGTERM), and
//! a crash (SIGKILL) loses at most the last flush interval of beats, never a click or an end.

use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use entity::zoom_link::{self, SessionStatus};
use futures::future::join_all;
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, PaginatorTrait, QueryFilter,
};
use zoomtrack_server::domain::time;
use zoomtrack_tests::{TestApp, TestDb, db_test, process::ServerProcess};

const SERVER: &str = env!("CARGO_BIN_EXE_zoomtrack-under-test");

/// Waits for the next whole second, so a beat's time differs from anything stored before it
/// (times are stored to the second).
async fn next_second() -> DateTime<Utc> {
    let now = Utc::now();
    let into = now - time::now();
    let wait = chrono::Duration::milliseconds(1050) - into;
    tokio::time::sleep(wait.to_std().unwrap_or_default()).await;
    time::now()
}

async fn row(db: &DatabaseConnection, id: &str) -> zoom_link::Model {
    zoom_link::Entity::find_by_id(id.parse::<entity::LinkId>().expect("an id"))
        .one(db)
        .await
        .expect("a query")
        .expect("the link")
}

/// How many of `ids` have a last activity at `at` or later.
async fn stored_since(db: &DatabaseConnection, ids: &[i64], at: DateTime<Utc>) -> u64 {
    zoom_link::Entity::find()
        .filter(zoom_link::Column::Id.is_in(ids.iter().copied()))
        .filter(zoom_link::Column::LastActivityAt.gte(time::to_db(at)))
        .count(db)
        .await
        .expect("a count")
}

db_test!(an_answered_heartbeat_is_stored_within_one_second);
async fn an_answered_heartbeat_is_stored_within_one_second(db: TestDb) {
    // The default flush interval, 500 ms.
    let app = TestApp::spawn(&db, &[]).await;
    let link = app.issue_link().await;
    app.track(&link.token).await;
    let id = link.id.parse::<i64>().unwrap();
    let mut slowest = Duration::ZERO;
    for _ in 0..4 {
        let sent = next_second().await;
        assert_eq!(app.heartbeat(&link.token).await.0, 200);
        let answered = Instant::now();
        while stored_since(&app.db, &[id], sent).await == 0 {
            assert!(
                answered.elapsed() < Duration::from_secs(1),
                "an answered heartbeat was not stored within 1 s"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        slowest = slowest.max(answered.elapsed());
    }
    eprintln!("slowest heartbeat to reach the database: {slowest:?}");
    app.stop().await;
}

db_test!(every_heartbeat_answered_before_a_sigterm_is_stored);
async fn every_heartbeat_answered_before_a_sigterm_is_stored(db: TestDb) {
    let server = ServerProcess::start(SERVER, &db, &["--heartbeat-flush-interval", "1s"]).await;
    let mut tokens = Vec::new();
    let mut ids = Vec::new();
    for _ in 0..20 {
        let link = server.issue_link().await;
        server.track(&link.token).await;
        ids.push(link.id.parse::<i64>().unwrap());
        tokens.push(link.token);
    }
    let db = server.db.clone();
    for _ in 0..5 {
        let sent = next_second().await;
        let answers = join_all(tokens.iter().map(|token| server.heartbeat(token))).await;
        assert!(answers.iter().all(|(status, _)| *status == 200));
        // Only a signal that finds the beats still in memory shows the stop writing them.
        if stored_since(&db, &ids, sent).await > 0 {
            continue;
        }
        let status = server.terminate();
        assert!(status.success(), "a graceful stop exits cleanly: {status}");
        assert_eq!(
            stored_since(&db, &ids, sent).await,
            ids.len() as u64,
            "every beat answered before SIGTERM is stored"
        );
        return;
    }
    panic!("the beats were written before the signal every time");
}

db_test!(a_crash_loses_at_most_one_flush_interval_and_never_a_click_or_an_end);
async fn a_crash_loses_at_most_one_flush_interval_and_never_a_click_or_an_end(db: TestDb) {
    let flush = Duration::from_millis(200);
    let server = ServerProcess::start(SERVER, &db, &["--heartbeat-flush-interval", "200ms"]).await;
    let (beating, clicked, ended) = (
        server.issue_link().await,
        server.issue_link().await,
        server.issue_link().await,
    );
    server.track(&beating.token).await;
    server.track(&ended.token).await;
    let sent = next_second().await;
    assert_eq!(server.heartbeat(&beating.token).await.0, 200);
    // One flush interval later (and a margin for the write)...
    tokio::time::sleep(flush + Duration::from_millis(300)).await;
    // ...then a click, an end and one more beat, answered just before the crash.
    assert!(server.track(&clicked.token).await.status().is_success());
    let (status, end) = server.end_session(&ended.token).await;
    assert_eq!((status, end["status"].as_str()), (200, Some("ended")));
    assert_eq!(server.heartbeat(&beating.token).await.0, 200);
    let db = server.db.clone();
    server.kill();

    let beating = row(&db, &beating.id).await;
    assert!(
        beating.last_activity_at.map(time::from_db) >= Some(sent),
        "a beat older than the flush interval survives a crash"
    );
    let clicked = row(&db, &clicked.id).await;
    assert_eq!(clicked.session_status, Some(SessionStatus::Active));
    assert!(clicked.clicked_at.is_some());
    let ended = row(&db, &ended.id).await;
    assert_eq!(ended.session_status, Some(SessionStatus::Ended));
    assert_eq!(
        ended.session_duration_seconds,
        end["durationSeconds"].as_i64()
    );
}

db_test!(a_database_failure_is_answered_in_json_and_logged_with_its_request);
async fn a_database_failure_is_answered_in_json_and_logged_with_its_request(db: TestDb) {
    let log = std::env::temp_dir().join(format!(
        "zoomtrack-failure-{}-{:?}.log",
        std::process::id(),
        db.backend
    ));
    let server = ServerProcess::start_logging_to(SERVER, &db, &[], &log).await;
    let link = server.issue_link().await;
    // The sessions' table goes away under the running server: its next lookup fails.
    server
        .db
        .execute_unprepared("ALTER TABLE wpos_zoom_links RENAME TO wpos_zoom_links_gone")
        .await
        .expect("the table renamed");
    let (status, body) = server.heartbeat(&link.token).await;
    assert_eq!(status, 500, "{body}");
    assert_eq!(body["success"], false);
    assert_eq!(body["error"]["code"], "INTERNAL", "{body}");
    let message = body["error"]["message"].as_str().unwrap_or_default();
    assert!(
        !message.contains("wpos_zoom_links"),
        "the client sees no database detail: {message}"
    );
    // A student's browser gets the error page, and the log the same line.
    let page = server.track(&link.token).await;
    assert_eq!(page.status(), 500);
    let html = page.text().await.expect("the error page");
    assert!(html.contains("This lesson link does not work"), "{html}");
    assert!(!html.contains("wpos_zoom_links"), "{html}");
    server.terminate();
    let text = std::fs::read_to_string(&log).expect("the log");
    let _ = std::fs::remove_file(&log);
    let failures: Vec<&str> = text
        .lines()
        .filter(|line| line.contains("request failed"))
        .collect();
    for (method, path) in [("POST", "/api/zoom/heartbeat"), ("GET", "/api/zoom/track")] {
        let line = failures
            .iter()
            .find(|line| line.contains(&format!("path={path}")))
            .unwrap_or_else(|| panic!("no failure of {path} logged:\n{text}"));
        assert!(line.contains("ERROR"), "{line}");
        assert!(
            line.contains(&format!("method={method}")),
            "the failure names its request: {line}"
        );
        assert!(
            line.contains("wpos_zoom_links"),
            "the log holds the cause: {line}"
        );
    }
    assert_eq!(failures.len(), 2, "each failure logged once:\n{text}");
    assert!(
        !text.contains(&link.token),
        "the log holds no tracking token:\n{text}"
    );
}
