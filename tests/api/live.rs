//! Live updates over a real WebSocket, spoken to with a graphql-transport-ws client library.

use std::time::Duration;

use chrono::Utc;
use futures::{Stream, StreamExt};
use graphql_ws_client::Client;
use sea_orm::{ConnectionTrait, Statement, TransactionTrait};
use serde_json::{Value, json};
use zoomtrack_server::{
    domain::LinkId,
    services::events::{
        EventKind,
        table::{self, Tail},
    },
};
use zoomtrack_tests::{
    ADMIN_TOKEN, Api, Link, TestApp, TestDb, db_test,
    live::{connect, subscribe},
    process::ServerProcess,
    shared_db_test, tests_on,
};

const SERVER: &str = env!("CARGO_BIN_EXE_zoomtrack-under-test");

const EVENTS: &str = "subscription($f: SessionFilter) { sessionEvents(filter: $f) { kind at session { id status teacher { name } durationSeconds } } }";
const STATS: &str =
    "subscription { sessionStats { totalSessions activeSessions endedSessions timeoutSessions } }";

async fn next(
    stream: &mut (impl Stream<Item = Result<Value, graphql_ws_client::Error>> + Unpin),
) -> Value {
    let item = tokio::time::timeout(Duration::from_secs(5), stream.next())
        .await
        .expect("an update within 5 s")
        .expect("the stream is open")
        .expect("a well-formed update");
    assert!(item.get("errors").is_none(), "{item}");
    item["data"].clone()
}

/// Waits until `stream` delivers events: starts sessions of `teacher` until one is seen.
async fn synced(
    app: &Api,
    stream: &mut (impl Stream<Item = Result<Value, graphql_ws_client::Error>> + Unpin),
    teacher: &str,
    student: &str,
) {
    for _ in 0..20 {
        let probe = app
            .issue_link_for(Some(ADMIN_TOKEN), teacher, student)
            .await
            .expect("a probe link");
        app.track(&probe.token).await;
        if let Ok(Some(Ok(_))) =
            tokio::time::timeout(Duration::from_millis(500), stream.next()).await
        {
            // Drain what the probes started, so the test sees only its own events.
            while let Ok(Some(_)) =
                tokio::time::timeout(Duration::from_millis(200), stream.next()).await
            {}
            return;
        }
    }
    panic!("the subscription never delivered");
}

/// An admin's `sessionEvents` subscription on `server`, delivering (`synced`); the client
/// keeps it open.
async fn events_on(
    server: &Api,
) -> (
    Client,
    impl Stream<Item = Result<Value, graphql_ws_client::Error>> + Unpin + use<>,
) {
    let client = connect(server, Some(ADMIN_TOKEN))
        .await
        .expect("admin connects");
    let mut events = subscribe(&client, EVENTS, json!({})).await;
    let teacher = server.create_teacher("Probe").await;
    let student = server.create_student("Probe").await;
    synced(server, &mut events, &teacher, &student).await;
    (client, events)
}

fn event(data: &Value) -> (&str, &str, &str) {
    let e = &data["sessionEvents"];
    (
        e["kind"].as_str().unwrap(),
        e["session"]["id"].as_str().unwrap(),
        e["session"]["status"].as_str().unwrap(),
    )
}

db_test!(sessions_start_and_end_live);
async fn sessions_start_and_end_live(db: TestDb) {
    let app = TestApp::spawn(&db, &[]).await;
    let client = connect(&app, Some(ADMIN_TOKEN))
        .await
        .expect("admin connects");
    let mut events = subscribe(&client, EVENTS, json!({})).await;
    let probe_teacher = app.create_teacher("Probe").await;
    let probe_student = app.create_student("Probe").await;
    synced(&app, &mut events, &probe_teacher, &probe_student).await;
    let mut stats = subscribe(&client, STATS, json!({})).await;
    let initial = next(&mut stats).await["sessionStats"].clone();
    let active = initial["activeSessions"].as_i64().unwrap();
    // Filtered by status: a session leaving the filter must be counted out too.
    let mut only_active = subscribe(
        &client,
        "subscription { sessionStats(filter: {status: [ACTIVE]}) { totalSessions } }",
        json!({}),
    )
    .await;
    assert_eq!(
        next(&mut only_active).await["sessionStats"]["totalSessions"],
        active
    );

    let Link { id, token, .. } = app.issue_link().await;
    app.track(&token).await;
    assert_eq!(
        event(&next(&mut events).await),
        ("STARTED", id.as_str(), "ACTIVE")
    );
    assert_eq!(
        next(&mut stats).await["sessionStats"]["activeSessions"],
        active + 1
    );
    assert_eq!(
        next(&mut only_active).await["sessionStats"]["totalSessions"],
        active + 1
    );

    // Two heartbeats inside one heartbeat interval: one event.
    app.heartbeat(&token).await;
    app.heartbeat(&token).await;
    assert_eq!(
        event(&next(&mut events).await),
        ("HEARTBEAT", id.as_str(), "ACTIVE")
    );

    app.end_session(&token).await;
    assert_eq!(
        event(&next(&mut events).await),
        ("ENDED", id.as_str(), "ENDED")
    );
    let after_end = next(&mut stats).await["sessionStats"].clone();
    assert_eq!(after_end["activeSessions"], active);
    assert_eq!(
        after_end["endedSessions"],
        initial["endedSessions"].as_i64().unwrap() + 1
    );
    assert_eq!(
        next(&mut only_active).await["sessionStats"]["totalSessions"],
        active,
        "the ended session left the ACTIVE filter"
    );

    // A sweep's timeouts go out too.
    let idle = app.issue_link().await;
    app.track(&idle.token).await;
    assert_eq!(event(&next(&mut events).await).0, "STARTED");
    app.backdate(&idle.id, 3 * 3600).await;
    app.admin("mutation { runAutoTimeout }", json!({})).await;
    assert_eq!(
        event(&next(&mut events).await),
        ("TIMED_OUT", idle.id.as_str(), "TIMEOUT")
    );
    app.stop().await;
}

db_test!(subscriptions_need_a_credential_and_respect_its_scope);
async fn subscriptions_need_a_credential_and_respect_its_scope(db: TestDb) {
    let app = TestApp::spawn(&db, &[]).await;
    assert!(
        connect(&app, None).await.is_err(),
        "no credential: refused at connection_init"
    );
    assert!(
        connect(&app, Some("ztk_wrong")).await.is_err(),
        "a wrong credential: refused"
    );

    let anna = app.create_teacher("Anna").await;
    let boris = app.create_teacher("Boris").await;
    let student = app.create_student("Carl").await;
    let key = app.teacher_key(&anna).await;
    let client = connect(&app, Some(&key)).await.expect("a teacher connects");
    let forbidden = subscribe(&client, EVENTS, json!({ "f": { "teacherId": boris } }))
        .await
        .next()
        .await
        .expect("an answer")
        .expect("decoded");
    assert_eq!(forbidden["errors"][0]["extensions"]["code"], "FORBIDDEN");

    let mut events = subscribe(&client, EVENTS, json!({})).await;
    // Sync on the teacher's own sessions, then start one of each teacher's.
    synced(&app, &mut events, &anna, &student).await;
    let theirs = app
        .issue_link_for(Some(ADMIN_TOKEN), &boris, &student)
        .await
        .unwrap();
    let own = app
        .issue_link_for(Some(ADMIN_TOKEN), &anna, &student)
        .await
        .unwrap();
    app.track(&theirs.token).await;
    app.track(&own.token).await;
    let data = next(&mut events).await;
    assert_eq!(
        event(&data).1,
        own.id,
        "Boris's session is not shown to Anna"
    );
    assert_eq!(data["sessionEvents"]["session"]["teacher"]["name"], "Anna");
    app.stop().await;
}

db_test!(a_subscriber_that_falls_behind_has_its_stream_completed);
async fn a_subscriber_that_falls_behind_has_its_stream_completed(db: TestDb) {
    use sea_orm::EntityTrait;
    let app = TestApp::spawn(&db, &[]).await;
    let client = connect(&app, Some(ADMIN_TOKEN)).await.expect("connects");
    let mut events = subscribe(&client, EVENTS, json!({})).await;
    let link = app.issue_link().await;
    app.track(&link.token).await;
    assert_eq!(event(&next(&mut events).await).0, "STARTED");
    let model =
        entity::zoom_link::Entity::find_by_id(link.id.parse::<entity::LinkId>().expect("an id"))
            .one(&app.db)
            .await
            .expect("read")
            .expect("the link");
    // Far more events at once than the bus keeps for one subscriber.
    let session = zoomtrack_server::services::view::view(&app.db, model)
        .await
        .expect("the session with its people");
    app.tracker.events().publish(
        zoomtrack_server::services::events::EventKind::Heartbeat,
        vec![session; 20_000],
        chrono::Utc::now(),
    );
    // What was kept arrives, then the stream ends instead of going on with a gap.
    let drained = tokio::time::timeout(Duration::from_secs(60), async {
        let mut delivered = 0;
        while let Some(item) = events.next().await {
            item.expect("a well-formed update");
            delivered += 1;
        }
        delivered
    })
    .await
    .expect("the stream of a subscriber that fell behind ends");
    assert!(drained < 20_000, "{drained} events delivered");
    app.stop().await;
}

/// The next event of `stream` (within 5 s), and how long it took.
async fn timed_next(
    stream: &mut (impl Stream<Item = Result<Value, graphql_ws_client::Error>> + Unpin),
) -> (Value, Duration) {
    let started = std::time::Instant::now();
    let data = next(stream).await;
    (data, started.elapsed())
}

shared_db_test!(other_servers_changes_reach_a_subscriber);
/// Three server processes on one database and a subscriber on the first: a click on the
/// second and an end on the third reach it, in order, with the session as stored, and its
/// statistics follow; so do a beat on the second (with its flush) and a timeout the third's
/// sweep decided. (How long they take is measured by the benchmark: `docs/benchmarks.md`.)
async fn other_servers_changes_reach_a_subscriber(db: TestDb) {
    let one = ServerProcess::start(SERVER, &db, &[]).await;
    let two = ServerProcess::start(SERVER, &db, &[]).await;
    let three = ServerProcess::start(SERVER, &db, &[]).await;
    let (client, mut events) = events_on(&one).await;
    let mut stats = subscribe(&client, STATS, json!({})).await;
    let initial = next(&mut stats).await["sessionStats"].clone();
    let active = initial["activeSessions"].as_i64().unwrap();

    let Link { id, token, .. } = two.issue_link().await;
    two.track(&token).await;
    let (started, click_lag) = timed_next(&mut events).await;
    assert_eq!(event(&started), ("STARTED", id.as_str(), "ACTIVE"));
    assert_eq!(
        next(&mut stats).await["sessionStats"]["activeSessions"],
        active + 1
    );
    // A beat answered from the second's memory goes out with its next flush.
    assert_eq!(two.heartbeat(&token).await.0, 200);
    assert_eq!(
        event(&next(&mut events).await),
        ("HEARTBEAT", id.as_str(), "ACTIVE")
    );
    assert_eq!(three.end_session(&token).await.0, 200);
    let (ended, end_lag) = timed_next(&mut events).await;
    assert_eq!(event(&ended), ("ENDED", id.as_str(), "ENDED"));
    assert_eq!(
        ended["sessionEvents"]["session"]["durationSeconds"],
        one.link(&id).await["durationSeconds"]
    );
    let after_end = next(&mut stats).await["sessionStats"].clone();
    assert_eq!(after_end["activeSessions"], active);
    assert_eq!(
        after_end["endedSessions"],
        initial["endedSessions"].as_i64().unwrap() + 1
    );
    eprintln!("click seen after {click_lag:?}, end after {end_lag:?}");

    let idle = two.issue_link().await;
    two.track(&idle.token).await;
    assert_eq!(event(&timed_next(&mut events).await.0).0, "STARTED");
    three.backdate(&idle.id, 3 * 3600).await;
    three.admin("mutation { runAutoTimeout }", json!({})).await;
    assert_eq!(
        event(&timed_next(&mut events).await.0),
        ("TIMED_OUT", idle.id.as_str(), "TIMEOUT")
    );
    // Nothing twice: the subscriber's server relays each of the others' events once.
    assert!(
        tokio::time::timeout(Duration::from_millis(700), events.next())
            .await
            .is_err(),
        "no more events"
    );
}

/// The events listeners connected to `api`'s database; with `kill`, their connections are
/// ended (`pg_terminate_backend`).
async fn listeners(api: &Api, kill: bool) -> usize {
    let what = if kill {
        "pg_terminate_backend(pid)"
    } else {
        "pid"
    };
    let sql = format!(
        "SELECT {what} FROM pg_stat_activity \
         WHERE datname = current_database() AND query LIKE 'LISTEN%'"
    );
    api.db
        .query_all_raw(Statement::from_string(api.db.get_database_backend(), sql))
        .await
        .expect("the listeners")
        .len()
}

/// Waits (at most 5 s) until both servers listen.
async fn both_listen(api: &Api) {
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while listeners(api, false).await < 2 {
        assert!(
            std::time::Instant::now() < deadline,
            "the servers do not listen"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

tests_on!(a_listener_that_lost_its_connection_misses_nothing: postgres => Postgres);
/// The events listeners' connections are killed (`pg_terminate_backend`) and clicks committed
/// at once on the other server: they reach the subscriber all the same, in order, and each
/// server listens again.
async fn a_listener_that_lost_its_connection_misses_nothing(db: TestDb) {
    let one = ServerProcess::start(SERVER, &db, &[]).await;
    let two = ServerProcess::start(SERVER, &db, &[]).await;
    let (_client, mut events) = events_on(&one).await;
    let mut links = Vec::new();
    for _ in 0..5 {
        links.push(two.issue_link().await);
    }
    both_listen(&one).await;
    assert_eq!(listeners(&one, true).await, 2);
    for link in &links {
        two.track(&link.token).await;
    }
    for link in &links {
        assert_eq!(
            event(&next(&mut events).await),
            ("STARTED", link.id.as_str(), "ACTIVE")
        );
    }
    both_listen(&one).await;
}

shared_db_test!(the_tail_reads_a_row_whose_transaction_commits_late);
/// Ids are given out as rows are written, not as they commit: a row that commits after one
/// with a higher id, which the tail has read, is read all the same, once.
async fn the_tail_reads_a_row_whose_transaction_commits_late(db: TestDb) {
    let app = TestApp::spawn(&db, &[]).await;
    let mut tail = Tail::at_end(&app.db).await.unwrap();
    let row = |link| [(EventKind::Started, LinkId(link), Utc::now())];
    let late = app.db.begin().await.unwrap();
    table::append(&late, 7, &row(1)).await.unwrap();
    table::append(&app.db, 7, &row(2)).await.unwrap();
    let links =
        |(read, _): (Vec<table::Recorded>, bool)| read.iter().map(|e| e.link.0).collect::<Vec<_>>();
    assert_eq!(links(tail.read(&app.db).await.unwrap()), [2]);
    late.commit().await.unwrap();
    assert_eq!(links(tail.read(&app.db).await.unwrap()), [1]);
    table::append(&app.db, 7, &row(3)).await.unwrap();
    assert_eq!(links(tail.read(&app.db).await.unwrap()), [3]);
    assert_eq!(links(tail.read(&app.db).await.unwrap()), Vec::<i64>::new());
    app.stop().await;
}

shared_db_test!(a_killed_servers_events_reach_the_others);
/// A server killed with SIGKILL the moment its clicks and ends are answered: the events it
/// committed with them reach a subscriber on another server all the same.
async fn a_killed_servers_events_reach_the_others(db: TestDb) {
    let one = ServerProcess::start(SERVER, &db, &[]).await;
    let doomed = ServerProcess::start(SERVER, &db, &[]).await;
    let (_client, mut events) = events_on(&one).await;
    let mut links = Vec::new();
    for _ in 0..3 {
        links.push(one.issue_link().await);
    }
    for link in &links {
        assert_eq!(doomed.track(&link.token).await.status(), 200);
        assert_eq!(doomed.end_session(&link.token).await.0, 200);
    }
    doomed.kill();
    // In order; each with the session as the subscriber's server reads it when it relays.
    for link in &links {
        for kind in ["STARTED", "ENDED"] {
            let data = next(&mut events).await;
            let (got, id, _) = event(&data);
            assert_eq!((got, id), (kind, link.id.as_str()));
        }
    }
    for link in &links {
        assert_eq!(one.link(&link.id).await["status"], "ENDED");
    }
}
