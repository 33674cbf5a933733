//! Zoom webhooks over real HTTP: signed payloads shaped like Zoom's documentation, bad
//! signatures, stale timestamps, repeats and reordering.

use chrono::{DateTime, Duration, Utc};
use sea_orm::{ConnectionTrait, Statement};
use serde_json::{Value, json};
use zoomtrack_server::domain::zoom_webhook::signature;
use zoomtrack_tests::{
    Link, TestApp, TestDb, at, db_test,
    zoom::{HOST, MEETING, SECRET, deliver, deliver_signed, joined, left, participant_event, zulu},
};

async fn app(db: &TestDb) -> TestApp {
    TestApp::spawn(db, &["--zoom-webhook-secret", SECRET]).await
}

const STUDENT: (&str, &str) = ("student-p1", "Bob Student");

async fn clicked(app: &TestApp) -> (Link, DateTime<Utc>) {
    let link = app.issue_link().await;
    app.track(&link.token).await;
    let session = session(app, &link).await;
    (link, at(&session["clickedAt"]))
}

async fn session(app: &TestApp, link: &Link) -> Value {
    let data = app
        .admin(
            "query($id: ID!) { session(id: $id) { status clickedAt endedAt durationSeconds \
             durationMinutes endReason zoomJoinedAt inMeetingSeconds } }",
            json!({ "id": link.id }),
        )
        .await;
    data["session"].clone()
}

async fn count(app: &TestApp, table: &str) -> i64 {
    let row = app
        .db
        .query_one_raw(Statement::from_string(
            app.db.get_database_backend(),
            format!("SELECT COUNT(*) FROM {table}"),
        ))
        .await
        .unwrap()
        .unwrap();
    row.try_get_by_index::<i64>(0).unwrap()
}

db_test!(the_endpoint_proves_it_holds_the_secret);
async fn the_endpoint_proves_it_holds_the_secret(db: TestDb) {
    let app = app(&db).await;
    let challenge = json!({
        "event": "endpoint.url_validation",
        "event_ts": Utc::now().timestamp_millis(),
        "payload": { "plainToken": "qgg8vlvZRS6UYooatFL8Aw" },
    });
    let answer = deliver(&app, &challenge).await;
    assert_eq!(answer["plainToken"], "qgg8vlvZRS6UYooatFL8Aw");
    assert_eq!(
        answer["encryptedToken"],
        zoomtrack_server::domain::zoom_webhook::encrypted_token(SECRET, "qgg8vlvZRS6UYooatFL8Aw")
    );

    // Wrong secret, stale timestamp, no signature: 401, JSON, nothing stored.
    let (status, body) = deliver_signed(&app, &challenge, "not the secret", Duration::zero()).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (401, Some("INVALID_SIGNATURE"))
    );
    let (status, body) = deliver_signed(&app, &challenge, SECRET, Duration::minutes(6)).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (401, Some("INVALID_SIGNATURE"))
    );
    let (status, body) = app.post_json("/api/zoom/webhook", challenge.clone()).await;
    assert_eq!((status, body["success"].as_bool()), (401, Some(false)));
    // Signed, but not JSON: a clear 400.
    let (status, body) =
        deliver_signed(&app, &json!("not an event"), SECRET, Duration::zero()).await;
    assert_eq!(status, 200, "a JSON string is JSON: ignored, {body}");
    let timestamp = Utc::now().timestamp().to_string();
    let response = app
        .client
        .post(app.url("/api/zoom/webhook"))
        .header("x-zm-request-timestamp", &timestamp)
        .header(
            "x-zm-signature",
            signature(SECRET, &timestamp, b"{not json"),
        )
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "BAD_REQUEST");

    // Without a secret the endpoint says it is off.
    app.stop().await;
    let off = TestApp::spawn(&db, &[]).await;
    let (status, body) = deliver_signed(&off, &challenge, SECRET, Duration::zero()).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (404, Some("NOT_CONFIGURED"))
    );
    off.stop().await;
}

db_test!(zoom_join_and_leave_decide_the_length);
async fn zoom_join_and_leave_decide_the_length(db: TestDb) {
    let app = app(&db).await;
    let (link, click) = clicked(&app).await;
    let join = click + Duration::seconds(40);
    // The host's own join is not the student's.
    let host = deliver(&app, &joined((HOST, "Anna Teacher"), click)).await;
    assert_eq!(host["result"], "ignored");
    let answer = deliver(&app, &joined(STUDENT, join)).await;
    assert_eq!(answer["result"], "applied");
    assert_eq!(session(&app, &link).await["status"], "ACTIVE");

    // The student closes the tab but stays in Zoom: Zoom outranks the tab and the timeout.
    let (status, end) = app.end_session(&link.token).await;
    assert_eq!(
        (status, end["inMeeting"].as_bool()),
        (200, Some(true)),
        "{end}"
    );
    app.backdate(&link.id, 3 * 3600).await;
    let swept = app.admin("mutation { runAutoTimeout }", json!({})).await;
    assert_eq!(swept["runAutoTimeout"], 0);
    assert_eq!(session(&app, &link).await["status"], "ACTIVE");

    // A forged leave changes nothing.
    let leave = join + Duration::seconds(1800);
    let (status, _) = deliver_signed(&app, &left(STUDENT, leave), "forged", Duration::zero()).await;
    assert_eq!(status, 401);
    assert_eq!(session(&app, &link).await["status"], "ACTIVE");

    deliver(&app, &left(STUDENT, leave)).await;
    let ended = session(&app, &link).await;
    assert_eq!(ended["status"], "ENDED");
    assert_eq!(ended["endReason"], "LEFT_ZOOM");
    assert_eq!(at(&ended["zoomJoinedAt"]), join);
    assert_eq!(at(&ended["endedAt"]), leave);
    assert_eq!(ended["durationSeconds"], 1800);
    assert_eq!(ended["durationMinutes"], 30);
    assert_eq!(ended["inMeetingSeconds"], 1800);
    // The tab closing afterwards returns what Zoom recorded.
    let (status, end) = app.end_session(&link.token).await;
    assert_eq!(status, 200);
    assert_eq!(
        (end["durationSeconds"].as_i64(), end["endReason"].as_str()),
        (Some(1800), Some("left_zoom"))
    );
    app.stop().await;
}

db_test!(a_reload_never_undoes_zoom_s_end);
async fn a_reload_never_undoes_zoom_s_end(db: TestDb) {
    let app = app(&db).await;
    let (link, click) = clicked(&app).await;
    let join = click + Duration::seconds(5);
    let leave = join + Duration::seconds(20);
    deliver(&app, &joined(STUDENT, join)).await;
    deliver(&app, &left(STUDENT, leave)).await;
    let ended = session(&app, &link).await;
    assert_eq!(
        (ended["status"].as_str(), ended["endReason"].as_str()),
        (Some("ENDED"), Some("LEFT_ZOOM"))
    );
    // The tracking page reloads (and resumes) within the window that picks up a reload after
    // a tab close: Zoom's end stands, and the page's heartbeats are refused.
    let page = app.track(&link.token).await;
    assert_eq!(page.status(), 200);
    let (status, _) = app.heartbeat(&link.token).await;
    assert_eq!(status, 409);
    assert_eq!(session(&app, &link).await, ended, "the end is unchanged");
    // Only Zoom's own rejoin reopens it.
    deliver(&app, &joined(STUDENT, leave + Duration::seconds(10))).await;
    assert_eq!(session(&app, &link).await["status"], "ACTIVE");
    app.stop().await;
}

db_test!(repeats_and_reordering_change_nothing);
async fn repeats_and_reordering_change_nothing(db: TestDb) {
    let app = app(&db).await;
    let (link, click) = clicked(&app).await;
    let j1 = click + Duration::seconds(30);
    let l1 = j1 + Duration::seconds(600);
    let j2 = l1 + Duration::seconds(90);
    let l2 = j2 + Duration::seconds(1200);
    // The connection dropped once; Zoom delivers the events out of order and twice.
    deliver(&app, &joined(STUDENT, j1)).await;
    deliver(&app, &joined(STUDENT, j2)).await;
    let late = deliver(&app, &left(STUDENT, l1)).await;
    assert_eq!(late["result"], "applied");
    let running = session(&app, &link).await;
    assert_eq!(
        running["status"], "ACTIVE",
        "a late leave never ends a session a later join reopened"
    );
    assert_eq!(running["inMeetingSeconds"], 600);
    assert_eq!(
        deliver(&app, &joined(STUDENT, j1)).await["result"],
        "duplicate"
    );
    assert_eq!(
        deliver(&app, &left(STUDENT, l1)).await["result"],
        "duplicate"
    );
    deliver(&app, &left(STUDENT, l2)).await;
    assert_eq!(
        deliver(&app, &left(STUDENT, l2)).await["result"],
        "duplicate"
    );
    let ended = session(&app, &link).await;
    assert_eq!(ended["status"], "ENDED");
    assert_eq!(at(&ended["endedAt"]), l2);
    assert_eq!(ended["durationSeconds"], (l2 - j1).num_seconds());
    assert_eq!(ended["inMeetingSeconds"], 600 + 1200);
    assert_eq!(
        count(&app, "zoom_participations").await,
        4,
        "two joins, two leaves"
    );

    // A leave delivered before its join waits for it.
    let (other, click) = clicked(&app).await;
    let join = click + Duration::seconds(20);
    let leave = join + Duration::seconds(900);
    let who = ("student-p2", "Bob on a phone");
    deliver(&app, &left(who, leave)).await;
    assert_eq!(session(&app, &other).await["status"], "ACTIVE");
    deliver(&app, &joined(who, join)).await;
    let ended = session(&app, &other).await;
    assert_eq!(
        (ended["status"].as_str(), ended["durationSeconds"].as_i64()),
        (Some("ENDED"), Some(900))
    );
    app.stop().await;
}

db_test!(the_meeting_ending_ends_who_was_still_in_it);
async fn the_meeting_ending_ends_who_was_still_in_it(db: TestDb) {
    let app = app(&db).await;
    let (link, click) = clicked(&app).await;
    let join = click + Duration::seconds(10);
    deliver(&app, &joined(STUDENT, join)).await;
    let end = join + Duration::seconds(2700);
    let ended = json!({
        "event": "meeting.ended",
        "event_ts": Utc::now().timestamp_millis(),
        "payload": { "account_id": "AAAAAABBBB", "object": {
            "id": MEETING.to_string(), "uuid": "4444AAAiAAAAAiAiAiiAii==", "host_id": HOST,
            "topic": "Lesson", "type": 2, "start_time": zulu(join), "end_time": zulu(end),
            "timezone": "Europe/Berlin", "duration": 60,
        }},
    });
    assert_eq!(deliver(&app, &ended).await["result"], "applied");
    let session = session(&app, &link).await;
    assert_eq!(session["endReason"], "MEETING_ENDED");
    assert_eq!(session["durationSeconds"], 2700);
    assert_eq!(deliver(&app, &ended).await["result"], "duplicate");
    app.stop().await;
}

db_test!(a_join_finds_its_student_by_time_then_by_name);
async fn a_join_finds_its_student_by_time_then_by_name(db: TestDb) {
    let app = app(&db).await;
    let teacher = app.create_teacher("Anna Teacher").await;
    let mut links = Vec::new();
    for name in ["Carla Diaz", "Dmitri Ivanov"] {
        let student = app.create_student(name).await;
        let link = app
            .issue_link_for(Some(zoomtrack_tests::ADMIN_TOKEN), &teacher, &student)
            .await
            .unwrap();
        app.track(&link.token).await;
        links.push(link);
    }
    let click = at(&session(&app, &links[1]).await["clickedAt"]);
    // Both clicked within seconds of each other: the name decides.
    let answer = deliver(
        &app,
        &joined(("p-dmitri", "dmitri  IVANOV"), click + Duration::seconds(5)),
    )
    .await;
    let dmitri: i64 = links[1].id.parse().unwrap();
    assert_eq!(answer["sessions"], json!([dmitri]));
    // A participant of another meeting matches nothing.
    let elsewhere = participant_event(
        "meeting.participant_joined",
        json!(99_999_999_999u64),
        ("p-x", "Carla Diaz"),
        click,
    );
    assert_eq!(deliver(&app, &elsewhere).await["result"], "unmatched");
    app.stop().await;
}

db_test!(links_issued_before_webhooks_are_found_too);
async fn links_issued_before_webhooks_are_found_too(db: TestDb) {
    // A server without webhooks issued a link and its student clicked it.
    let before = TestApp::spawn(&db, &[]).await;
    let (link, click) = clicked(&before).await;
    before
        .db
        .execute_unprepared("UPDATE wpos_zoom_links SET zoom_meeting_id = NULL")
        .await
        .unwrap();
    before.stop().await;
    // Webhooks are switched on: the server stores older links' meetings in the background.
    let app = app(&db).await;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while count(&app, "wpos_zoom_links WHERE zoom_meeting_id IS NULL").await > 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "meeting ids not stored"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let answer = deliver(&app, &joined(STUDENT, click + Duration::seconds(15))).await;
    assert_eq!(answer["result"], "applied", "{answer}");
    assert_eq!(session(&app, &link).await["status"], "ACTIVE");
    app.stop().await;
}

db_test!(stays_pair_in_time_order_and_follow_the_student_not_the_meeting);
async fn stays_pair_in_time_order_and_follow_the_student_not_the_meeting(db: TestDb) {
    let app = app(&db).await;

    // Joins and leaves paired by time whatever the order: j1, l2, l1, j2.
    let (link, click) = clicked(&app).await;
    let who = ("p-carol", "Carol Three");
    let j1 = click + Duration::seconds(10);
    let l1 = j1 + Duration::seconds(300);
    let j2 = l1 + Duration::seconds(60);
    let l2 = j2 + Duration::seconds(900);
    for event in [
        joined(who, j1),
        left(who, l2),
        left(who, l1),
        joined(who, j2),
    ] {
        deliver(&app, &event).await;
    }
    let ended = session(&app, &link).await;
    assert_eq!(ended["status"], "ENDED");
    assert_eq!(ended["durationSeconds"], (l2 - j1).num_seconds());
    assert_eq!(ended["inMeetingSeconds"], 300 + 900);

    // A reconnect under a new Zoom identity, same name: the same student's session.
    let (link, click) = clicked(&app).await;
    let join = click + Duration::seconds(5);
    deliver(&app, &joined(("p-dana-1", "Dana Four"), join)).await;
    deliver(
        &app,
        &left(("p-dana-1", "Dana Four"), join + Duration::seconds(600)),
    )
    .await;
    let again = join + Duration::seconds(660);
    let answer = deliver(&app, &joined(("p-dana-2", "Dana Four"), again)).await;
    assert_eq!(answer["sessions"], json!([link.id.parse::<i64>().unwrap()]));
    deliver(
        &app,
        &left(("p-dana-2", "Dana Four"), again + Duration::seconds(1200)),
    )
    .await;
    let ended = session(&app, &link).await;
    assert_eq!(ended["inMeetingSeconds"], 600 + 1200);
    assert_eq!(ended["durationSeconds"], 660 + 1200);

    // A recurring meeting keeps its id: this lesson's join is not last lesson's.
    let (earlier, _) = clicked(&app).await;
    app.backdate(&earlier.id, 10 * 3600).await;
    let then = at(&session(&app, &earlier).await["clickedAt"]);
    let eve = ("p-eve", "Eve Five");
    deliver(&app, &joined(eve, then + Duration::seconds(30))).await;
    deliver(&app, &left(eve, then + Duration::seconds(2430))).await;
    let before = session(&app, &earlier).await;
    assert_eq!(before["durationSeconds"], 2400);
    let (today, click) = clicked(&app).await;
    let answer = deliver(&app, &joined(eve, click + Duration::seconds(20))).await;
    assert_eq!(
        answer["sessions"],
        json!([today.id.parse::<i64>().unwrap()])
    );
    assert_eq!(
        session(&app, &earlier).await,
        before,
        "last lesson unchanged"
    );
    assert_eq!(session(&app, &today).await["status"], "ACTIVE");

    // Events far from now are not lessons being tracked.
    let old = deliver(
        &app,
        &joined(("p-old", "Old One"), Utc::now() - Duration::hours(30)),
    )
    .await;
    assert_eq!(old["result"], "out_of_range");
    app.stop().await;
}
