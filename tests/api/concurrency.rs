//! Racing ends and sweeps: each session takes exactly one terminal transition.

use chrono::Duration;
use entity::zoom_link::{self, SessionStatus};
use futures::future::join_all;
use sea_orm::{ConnectionTrait, EntityTrait, TransactionTrait};
use zoomtrack_server::{domain::time, services::tracker::Click};
use zoomtrack_tests::{TestApp, TestDb, db_test, shared_db_test};

const SESSIONS: usize = 12;
const ENDS_PER_SESSION: usize = 3;
const SWEEPS: usize = 4;

db_test!(concurrent_ends_and_sweeps_take_effect_once);
async fn concurrent_ends_and_sweeps_take_effect_once(db: TestDb) {
    let app = TestApp::spawn(&db, &[]).await;
    let mut links = Vec::new();
    for _ in 0..SESSIONS {
        let link = app.issue_link().await;
        app.track(&link.token).await;
        links.push(link);
    }
    // The sweeps run with a clock 3 h ahead: to them every session is idle.
    let later = time::now() + Duration::hours(3);
    let client = &app;
    let ends = join_all(links.iter().flat_map(|link| {
        (0..ENDS_PER_SESSION)
            .map(move |_| async move { (link.id.clone(), client.end_session(&link.token).await) })
    }));
    let sweeps = join_all((0..SWEEPS).map(|_| app.tracker.sweep(later)));
    let (ends, sweeps) = tokio::join!(ends, sweeps);
    let swept: u64 = sweeps.into_iter().map(|r| r.expect("sweep")).sum();

    let rows = zoom_link::Entity::find().all(&app.db).await.unwrap();
    let timed_out = rows
        .iter()
        .filter(|r| r.session_status == Some(SessionStatus::Timeout))
        .count();
    assert_eq!(
        swept as usize, timed_out,
        "each sweep count is a real transition"
    );
    for row in &rows {
        assert!(
            matches!(
                row.session_status,
                Some(SessionStatus::Ended | SessionStatus::Timeout)
            ),
            "{row:?}"
        );
        let seconds = row.session_duration_seconds.expect("a duration");
        assert!(seconds >= 0, "{row:?}");
        assert!(row.session_ended_at.expect("an end") >= row.clicked_at.expect("a start"));
    }
    // Every end-session answer reports the one recorded end of its session.
    for (id, (status, body)) in ends {
        assert_eq!(status, 200, "{body}");
        let row = rows.iter().find(|r| r.id.to_string() == id).unwrap();
        let expected = match row.session_status {
            Some(SessionStatus::Timeout) => "timeout",
            _ => "ended",
        };
        assert_eq!(body["status"], expected);
        assert_eq!(
            body["durationSeconds"],
            row.session_duration_seconds.unwrap()
        );
        assert_eq!(body["duration"], row.session_duration_minutes.unwrap());
    }
    app.stop().await;
}

shared_db_test!(a_sweep_that_loses_a_deadlock_runs_again);
/// A transaction holds the second of two stale sessions while the sweep, which takes them in
/// the order they were stored, holds the first and waits; then it asks for the first. The
/// database ends one side of the circle. PostgreSQL ends the side that waited longest, the
/// sweep: its statement runs again once the transaction is over, and ends both sessions.
async fn a_sweep_that_loses_a_deadlock_runs_again(db: TestDb) {
    let app = TestApp::spawn(&db, &[]).await;
    let (first, second) = (app.issue_link().await, app.issue_link().await);
    app.track(&first.token).await;
    app.track(&second.token).await;
    let lock = |id: &str| format!("SELECT id FROM wpos_zoom_links WHERE id = {id} FOR UPDATE");
    let txn = app.db.begin().await.unwrap();
    txn.execute_unprepared(&lock(&second.id)).await.unwrap();
    let sweep = tokio::spawn({
        let tracker = app.tracker.clone();
        async move { tracker.sweep(time::now() + Duration::hours(3)).await }
    });
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    // MySQL may end this side instead: then its transaction is already rolled back.
    if txn.execute_unprepared(&lock(&first.id)).await.is_ok() {
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        txn.commit().await.unwrap();
    }
    assert_eq!(sweep.await.unwrap().expect("the sweep"), 2);
    for link in [&first, &second] {
        assert_eq!(app.link(&link.id).await["status"], "TIMEOUT");
    }
    app.stop().await;
}

db_test!(heartbeats_racing_a_sweep_never_revive_a_timed_out_session);
async fn heartbeats_racing_a_sweep_never_revive_a_timed_out_session(db: TestDb) {
    let app = TestApp::spawn(&db, &[]).await;
    let link = app.issue_link().await;
    app.track(&link.token).await;
    let later = time::now() + Duration::hours(3);
    let beats = join_all((0..10).map(|_| app.heartbeat(&link.token)));
    let sweep = app.tracker.sweep(later);
    let (beats, swept) = tokio::join!(beats, sweep);
    assert_eq!(swept.unwrap(), 1);
    for (status, body) in beats {
        assert!(
            status == 200 || (status == 409 && body["status"] == "timeout"),
            "{status} {body}"
        );
    }
    let row = app.link(&link.id).await;
    assert_eq!(row["status"], "TIMEOUT");
    assert_eq!(row["endedAt"], row["lastActivityAt"]);
    // After the sweep, beats are refused and the record stays.
    assert_eq!(app.heartbeat(&link.token).await.0, 409);
    assert_eq!(app.link(&link.id).await, row);
    app.stop().await;
}

db_test!(a_click_behind_a_later_heartbeat_resumes);
async fn a_click_behind_a_later_heartbeat_resumes(db: TestDb) {
    let app = TestApp::spawn(&db, &[]).await;
    let link = app.issue_link().await;
    app.track(&link.token).await;
    let token = zoomtrack_server::domain::TrackingToken::parse(&link.token).unwrap();
    // Another replica, its clock 10 s ahead, stamped a heartbeat; this one takes a click.
    let now = time::now();
    app.tracker
        .heartbeat(&token, None, now + Duration::seconds(10))
        .await
        .unwrap();
    let (click, row) = app.tracker.click(&token, now).await.unwrap();
    assert_eq!(click, Click::Resumed);
    assert_eq!(
        row.last_activity_at.map(time::from_db),
        Some(now + Duration::seconds(10)),
        "last activity never moves back"
    );
    app.stop().await;
}

const TOGETHER: usize = 40;

db_test!(clicks_and_ends_arriving_together_are_each_stored_before_they_are_answered);
async fn clicks_and_ends_arriving_together_are_each_stored_before_they_are_answered(db: TestDb) {
    let app = TestApp::spawn(&db, &[]).await;
    let mut links = Vec::new();
    for _ in 0..TOGETHER {
        links.push(app.issue_link().await);
    }
    let stored = |id: String| {
        let db = &app.db;
        async move {
            zoom_link::Entity::find_by_id(id.parse::<entity::LinkId>().expect("an id"))
                .one(db)
                .await
                .expect("a read")
                .expect("the link")
        }
    };
    // Two clicks per link at once (a double click): they share group commits, and every
    // answer finds its change already in the database.
    let clicks = join_all(links.iter().flat_map(|link| {
        (0..2).map(|_| async {
            let response = app.track(&link.token).await;
            assert_eq!(response.status(), 200);
            let row = stored(link.id.clone()).await;
            assert_eq!(row.session_status, Some(SessionStatus::Active), "{row:?}");
            assert!(
                row.clicked_at.is_some() && row.visit_id.is_some(),
                "{row:?}"
            );
        })
    }));
    clicks.await;
    // Two ends per link at once: both answers report the one end stored before them.
    let ends = join_all(links.iter().flat_map(|link| {
        (0..2).map(|_| async {
            let (status, body) = app.end_session(&link.token).await;
            assert_eq!(status, 200, "{body}");
            let row = stored(link.id.clone()).await;
            assert_eq!(row.session_status, Some(SessionStatus::Ended), "{row:?}");
            assert_eq!(
                body["durationSeconds"],
                row.session_duration_seconds.unwrap()
            );
            assert_eq!(
                body["endedAt"].as_str().map(|at| at.to_owned()),
                row.session_ended_at
                    .map(|at| time::from_db(at).to_rfc3339())
            );
        })
    }));
    ends.await;
    app.stop().await;
}
