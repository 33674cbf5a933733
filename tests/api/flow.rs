//! A link's whole life over real HTTP: issue, track, heartbeat, end; and the timeout.

use chrono::Duration;
use sea_orm::ConnectionTrait;
use serde_json::{Value, json};
use zoomtrack_server::domain::time;
use zoomtrack_tests::{TestApp, TestDb, at, db_test};

db_test!(a_session_is_issued_tracked_and_ended);
async fn a_session_is_issued_tracked_and_ended(db: TestDb) {
    let app = TestApp::spawn(&db, &[]).await;
    let link = app.issue_link().await;
    assert!(link.tracking_url.starts_with(&app.base));
    assert_eq!(link.token.len(), 32);
    assert_eq!(app.link(&link.id).await["status"], "PENDING");

    let page = app.track(&link.token).await;
    assert_eq!(page.status(), 200);
    let headers = page.headers().clone();
    assert!(
        headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    assert!(
        headers["content-security-policy"]
            .to_str()
            .unwrap()
            .contains("default-src 'none'")
    );
    assert_eq!(headers["referrer-policy"], "no-referrer");
    assert_eq!(headers["cache-control"], "no-store");
    let html = page.text().await.unwrap();
    assert!(html.contains("zoommtg://us02web.zoom.us/join?action=join&amp;confno=85012345678"));
    assert!(
        html.contains("sendBeacon"),
        "ends with a beacon on pagehide"
    );
    assert!(!html.contains("beforeunload"), "never ends on beforeunload");
    assert!(!html.contains("src=\"http"), "no third-party resources");

    let started = app.link(&link.id).await;
    assert_eq!(started["status"], "ACTIVE");
    assert_eq!(started["clickedAt"], started["lastActivityAt"]);

    assert_eq!(
        app.heartbeat(&link.token).await,
        (200, json!({ "success": true }))
    );

    // sendBeacon sends text/plain; the client's duration and endTime are ignored.
    let response = app
        .client
        .post(app.url("/api/zoom/end-session"))
        .header("content-type", "text/plain;charset=UTF-8")
        .body(format!(
            r#"{{"token":"{}","duration":999,"endTime":"2001-01-01T00:00:00Z"}}"#,
            link.token
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let ended: Value = response.json().await.unwrap();
    assert_eq!(ended["success"], true);
    assert_eq!(ended["duration"], 0);
    assert_eq!(ended["status"], "ended");
    assert_eq!(ended["endReason"], "tab_closed");

    let recorded = app.link(&link.id).await;
    assert_eq!(recorded["status"], "ENDED");
    assert_eq!(recorded["endReason"], "TAB_CLOSED");
    assert_eq!(recorded["durationMinutes"], 0);
    assert!(at(&recorded["endedAt"]) >= at(&recorded["clickedAt"]));

    // A repeated end returns what was recorded and changes nothing.
    let (status, again) = app.end_session(&link.token).await;
    assert_eq!(status, 200);
    assert_eq!(again["duration"], ended["duration"]);
    assert_eq!(again["endedAt"], ended["endedAt"]);
    assert_eq!(app.link(&link.id).await, recorded);

    let (status, refused) = app.heartbeat(&link.token).await;
    assert_eq!(status, 409);
    assert_eq!(refused["error"]["code"], "SESSION_NOT_ACTIVE");
    assert_eq!(refused["status"], "ended");
    app.stop().await;
}

db_test!(durations_come_from_server_time);
async fn durations_come_from_server_time(db: TestDb) {
    let app = TestApp::spawn(&db, &[]).await;
    let link = app.issue_link().await;
    app.track(&link.token).await;
    // 45 minutes and 10 seconds ago, still within the timeout thanks to a heartbeat now.
    app.backdate(&link.id, 45 * 60 + 10).await;
    assert_eq!(app.heartbeat(&link.token).await.0, 200);
    let (_, ended) = app.end_session(&link.token).await;
    let seconds = ended["durationSeconds"].as_i64().unwrap();
    assert!((45 * 60 + 10..45 * 60 + 70).contains(&seconds), "{seconds}");
    assert_eq!(ended["duration"], (seconds + 30) / 60);
    app.stop().await;
}

db_test!(an_idle_session_times_out_at_its_last_activity);
async fn an_idle_session_times_out_at_its_last_activity(db: TestDb) {
    let app = TestApp::spawn(&db, &[]).await;
    let idle = app.issue_link().await;
    let live = app.issue_link().await;
    app.track(&idle.token).await;
    app.track(&live.token).await;
    // Started 3 h ago; a heartbeat 2.5 h ago was the last sign of life.
    app.backdate(&idle.id, 3 * 3600).await;
    app.db
        .execute_unprepared(&backdate_last_activity(&app, &idle.id, 150 * 60))
        .await
        .unwrap();

    let response = app
        .client
        .post(app.url("/api/admin/auto-timeout"))
        .bearer_auth(zoomtrack_tests::ADMIN_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.json::<Value>().await.unwrap(),
        json!({ "success": true, "ended": 1 })
    );

    let timed_out = app.link(&idle.id).await;
    assert_eq!(timed_out["status"], "TIMEOUT");
    assert_eq!(timed_out["endReason"], "TIMED_OUT");
    assert_eq!(timed_out["endedAt"], timed_out["lastActivityAt"]);
    assert_eq!(timed_out["durationMinutes"], 30);
    assert_eq!(timed_out["durationSeconds"], 30 * 60);
    assert_eq!(app.link(&live.id).await["status"], "ACTIVE");

    // The end signal arriving late returns the timeout that was recorded.
    let (status, late) = app.end_session(&idle.token).await;
    assert_eq!(status, 200);
    assert_eq!(late["status"], "timeout");
    assert_eq!(late["endReason"], "timed_out");
    assert_eq!(late["duration"], 30);

    // GraphQL's runAutoTimeout: nothing left to end.
    let data = app.admin("mutation { runAutoTimeout }", json!({})).await;
    assert_eq!(data["runAutoTimeout"], 0);
    app.stop().await;
}

fn backdate_last_activity(app: &TestApp, id: &str, seconds: i64) -> String {
    let expr = match app.db.get_database_backend() {
        sea_orm::DbBackend::Postgres => {
            format!("clicked_at + INTERVAL '{} seconds'", 3 * 3600 - seconds)
        }
        sea_orm::DbBackend::MySql => format!("clicked_at + INTERVAL {} SECOND", 3 * 3600 - seconds),
        _ => format!("datetime(clicked_at, '+{} seconds')", 3 * 3600 - seconds),
    };
    format!("UPDATE wpos_zoom_links SET last_activity_at = {expr} WHERE id = {id}")
}

db_test!(the_sweep_step_takes_now);
async fn the_sweep_step_takes_now(db: TestDb) {
    let app = TestApp::spawn(&db, &[]).await;
    let link = app.issue_link().await;
    let pending = app.issue_link().await;
    app.track(&link.token).await;
    let now = time::now();
    assert_eq!(app.tracker.sweep(now).await.unwrap(), 0);
    assert_eq!(
        app.tracker
            .sweep(now + Duration::minutes(119))
            .await
            .unwrap(),
        0
    );
    assert_eq!(
        app.tracker
            .sweep(now + Duration::minutes(121))
            .await
            .unwrap(),
        1
    );
    let ended = app.link(&link.id).await;
    assert_eq!(ended["status"], "TIMEOUT");
    assert_eq!(ended["durationSeconds"], 0);
    // A link never clicked is not a session: the sweep leaves it alone.
    assert_eq!(
        app.tracker.sweep(now + Duration::days(30)).await.unwrap(),
        0
    );
    assert_eq!(app.link(&pending.id).await["status"], "PENDING");
    app.stop().await;
}

db_test!(the_background_sweeper_ends_idle_sessions);
async fn the_background_sweeper_ends_idle_sessions(db: TestDb) {
    let app = TestApp::spawn(&db, &["--sweep-interval", "1s"]).await;
    let link = app.issue_link().await;
    app.track(&link.token).await;
    app.backdate(&link.id, 3 * 3600).await;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    while app.link(&link.id).await["status"] != "TIMEOUT" {
        assert!(
            std::time::Instant::now() < deadline,
            "the sweeper never ran"
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    app.stop().await;
}

db_test!(a_never_clicked_link_is_not_a_session);
async fn a_never_clicked_link_is_not_a_session(db: TestDb) {
    let app = TestApp::spawn(&db, &[]).await;
    let link = app.issue_link().await;
    let (status, body) = app.heartbeat(&link.token).await;
    assert_eq!((status, body["status"].as_str()), (409, Some("pending")));
    let (status, body) = app.end_session(&link.token).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (409, Some("SESSION_NOT_ACTIVE"))
    );
    let link = app.link(&link.id).await;
    assert_eq!(link["status"], "PENDING");
    assert_eq!(link["clickedAt"], Value::Null);
    app.stop().await;
}

db_test!(a_second_click_keeps_the_first_visit);
async fn a_second_click_keeps_the_first_visit(db: TestDb) {
    let app = TestApp::spawn(&db, &[]).await;
    let link = app.issue_link().await;
    app.track(&link.token).await;
    app.backdate(&link.id, 600).await;
    let first = app.link(&link.id).await;

    // While active: the same session goes on, its start unchanged.
    assert_eq!(app.track(&link.token).await.status(), 200);
    let resumed = app.link(&link.id).await;
    assert_eq!(resumed["status"], "ACTIVE");
    assert_eq!(resumed["clickedAt"], first["clickedAt"]);
    assert!(at(&resumed["lastActivityAt"]) > at(&first["lastActivityAt"]));

    // Just closed (a reload): the session is picked up again, still from the first click.
    app.end_session(&link.token).await;
    app.track(&link.token).await;
    let reopened = app.link(&link.id).await;
    assert_eq!(reopened["status"], "ACTIVE");
    assert_eq!(reopened["clickedAt"], first["clickedAt"]);
    assert_eq!(reopened["endedAt"], Value::Null);
    assert_eq!(reopened["endReason"], Value::Null);
    let (_, ended) = app.end_session(&link.token).await;
    assert!(ended["durationSeconds"].as_i64().unwrap() >= 600);

    // Long after the end: the click changes nothing; the page still offers the meeting.
    app.backdate(&link.id, 3600).await;
    app.db
        .execute_unprepared(&format!(
            "UPDATE wpos_zoom_links SET session_ended_at = clicked_at WHERE id = {}",
            link.id
        ))
        .await
        .unwrap();
    let before = app.link(&link.id).await;
    let page = app.track(&link.token).await;
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    assert!(html.contains("already been recorded"), "{html}");
    assert!(html.contains("\"tracking\":false"));
    assert_eq!(app.link(&link.id).await, before);
    app.stop().await;
}

db_test!(a_stored_address_that_is_not_zoom_never_becomes_a_link);
async fn a_stored_address_that_is_not_zoom_never_becomes_a_link(db: TestDb) {
    let app = TestApp::spawn(&db, &[]).await;
    let link = app.issue_link().await;
    app.db
        .execute_unprepared(&format!(
            "UPDATE wpos_zoom_links SET zoom_url = 'javascript:alert(1)//zoom.us/j/123' \
             WHERE id = {}",
            link.id
        ))
        .await
        .unwrap();
    let page = app.track(&link.token).await;
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    assert!(!html.contains("javascript:"), "{html}");
    assert!(
        !html.contains("join-browser") && !html.contains("open-app"),
        "{html}"
    );
    assert!(html.contains("not a Zoom meeting"), "{html}");
    // The visit is still tracked: the lesson may go on through a link sent another way.
    assert_eq!(app.link(&link.id).await["status"], "ACTIVE");
    app.stop().await;
}

db_test!(an_end_after_a_long_silence_is_a_timeout);
async fn an_end_after_a_long_silence_is_a_timeout(db: TestDb) {
    let app = TestApp::spawn(&db, &[]).await;
    let link = app.issue_link().await;
    app.track(&link.token).await;
    // The laptop slept for 3 h; its page wakes up and sends its end.
    app.backdate(&link.id, 3 * 3600).await;
    let (status, body) = app.heartbeat(&link.token).await;
    assert_eq!((status, body["status"].as_str()), (409, Some("timeout")));
    let (status, end) = app.end_session(&link.token).await;
    assert_eq!(status, 200);
    assert_eq!(end["status"], "timeout");
    assert_eq!(end["endReason"], "timed_out");
    assert_eq!(end["duration"], 0);
    assert_eq!(app.link(&link.id).await["endReason"], "TIMED_OUT");
    app.stop().await;
}

db_test!(graphql_heartbeat_and_end_follow_the_rest_rules);
async fn graphql_heartbeat_and_end_follow_the_rest_rules(db: TestDb) {
    let app = TestApp::spawn(&db, &[]).await;
    let link = app.issue_link().await;
    let beat = "mutation($t: String!) { heartbeat(token: $t) }";
    let end = "mutation($t: String!) { endSession(token: $t) { status durationMinutes durationSeconds endedAt } }";
    let vars = json!({ "t": link.token });
    let pending = app.graphql_as(None, beat, vars.clone()).await;
    assert_eq!(
        pending["errors"][0]["extensions"]["code"],
        "SESSION_NOT_ACTIVE"
    );
    app.track(&link.token).await;
    assert_eq!(
        app.graphql_as(None, beat, vars.clone()).await["data"]["heartbeat"],
        true
    );
    let first = app.graphql_as(None, end, vars.clone()).await;
    assert_eq!(first["data"]["endSession"]["status"], "ENDED");
    let second = app.graphql_as(None, end, vars.clone()).await;
    assert_eq!(first, second);
    app.stop().await;
}

/// The visit id a tracking page holds, from its embedded configuration.
async fn visit_of(page: reqwest::Response) -> String {
    let html = page.text().await.unwrap();
    let start = html
        .find("\"visit\":\"")
        .expect("a tracked page has a visit")
        + 9;
    html[start..start + html[start..].find('"').unwrap()].to_owned()
}

db_test!(a_reloaded_page_keeps_its_session);
async fn a_reloaded_page_keeps_its_session(db: TestDb) {
    let app = TestApp::spawn(&db, &[]).await;
    let link = app.issue_link().await;
    let first = visit_of(app.track(&link.token).await).await;
    let started = app.link(&link.id).await;

    // The new page loads before the old page's end arrives: that late end changes nothing.
    let second = visit_of(app.track(&link.token).await).await;
    assert_ne!(first, second);
    let end = |visit: String| {
        app.post_json(
            "/api/zoom/end-session",
            json!({ "token": link.token, "visit": visit }),
        )
    };
    let (status, late) = end(first.clone()).await;
    assert_eq!((status, late["superseded"].as_bool()), (200, Some(true)));
    assert_eq!(app.link(&link.id).await["status"], "ACTIVE");

    // The old page's end arrives first: the reload reopens the session from its first click.
    let (_, ended) = end(second).await;
    assert_eq!(ended["status"], "ended");
    let third = visit_of(app.track(&link.token).await).await;
    let reopened = app.link(&link.id).await;
    assert_eq!(reopened["status"], "ACTIVE");
    assert_eq!(reopened["clickedAt"], started["clickedAt"]);

    // An end from the page that holds the session ends it; the spec's end (no visit) always does.
    let (_, ended) = end(third).await;
    assert_eq!(ended["status"], "ended");
    app.track(&link.token).await;
    let (_, ended) = app.end_session(&link.token).await;
    assert_eq!(ended["status"], "ended");
    app.stop().await;
}

db_test!(previews_and_head_requests_start_nothing);
async fn previews_and_head_requests_start_nothing(db: TestDb) {
    let app = TestApp::spawn(&db, &[]).await;
    let link = app.issue_link().await;
    let head = app.client.head(&link.tracking_url).send().await.unwrap();
    assert_eq!(head.status(), 200);
    let preview = app
        .client
        .get(&link.tracking_url)
        .header("user-agent", "TelegramBot (like TwitterBot)")
        .send()
        .await
        .unwrap();
    assert_eq!(preview.status(), 200);
    let html = preview.text().await.unwrap();
    assert!(html.contains("\"tracking\":false"), "{html}");
    assert_eq!(app.link(&link.id).await["status"], "PENDING");
    app.track(&link.token).await;
    assert_eq!(app.link(&link.id).await["status"], "ACTIVE");
    app.stop().await;
}
