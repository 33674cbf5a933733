//! `GET /metrics`: the Prometheus text format, for admins on the main address and for anyone on
//! `METRICS_ADDR`. Counters are the process's (tests run many servers in one process, so they
//! are read as differences); states are this server's own at each scrape.

use zoomtrack_tests::{
    ADMIN_TOKEN, Api, TestApp, TestDb, db_test,
    process::{ServerProcess, free_port},
};

const SERVER: &str = env!("CARGO_BIN_EXE_zoomtrack-under-test");

/// A scrape as `token` (none: no credential): its status and text.
async fn scrape(api: &Api, token: Option<&str>) -> (u16, String) {
    let mut request = api.client.get(api.url("/metrics"));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.expect("a scrape");
    let status = response.status().as_u16();
    (status, response.text().await.expect("a body"))
}

/// The value of the sample `name{labels}` (labels as the exporter writes them), 0 if absent.
fn sample(text: &str, series: &str) -> f64 {
    text.lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' '))
        .map_or(0.0, |value| value.trim().parse().expect("a number"))
}

const HEARTBEATS: &str =
    r#"zoomtrack_http_requests_total{route="/api/zoom/heartbeat",method="POST",status="200"}"#;

db_test!(admins_read_requests_and_states);
async fn admins_read_requests_and_states(db: TestDb) {
    let app = TestApp::spawn(&db, &[]).await;
    let (status, body) = scrape(&app, None).await;
    assert_eq!(status, 401, "{body}");
    assert!(body.contains("\"error\""), "a JSON error: {body}");
    let teacher = app.create_teacher("Anna Teacher").await;
    let key = app.teacher_key(&teacher).await;
    assert_eq!(
        scrape(&app, Some(&key)).await.0,
        403,
        "a teacher is refused"
    );

    let (status, before) = scrape(&app, Some(ADMIN_TOKEN)).await;
    assert_eq!(status, 200);
    let link = app.issue_link().await;
    app.track(&link.token).await;
    for _ in 0..3 {
        assert_eq!(app.heartbeat(&link.token).await.0, 200);
    }
    let (_, after) = scrape(&app, Some(ADMIN_TOKEN)).await;
    assert!(
        sample(&after, HEARTBEATS) - sample(&before, HEARTBEATS) >= 3.0,
        "three heartbeats counted:\n{after}"
    );
    assert!(
        after.contains(r#"zoomtrack_http_request_duration_seconds_bucket{route="/api/zoom/heartbeat",le="0.001"}"#),
        "heartbeats timed:\n{after}"
    );
    assert_eq!(sample(&after, "zoomtrack_live_sessions"), 1.0, "{after}");
    assert_eq!(sample(&after, "zoomtrack_heartbeat_buffer_sessions"), 1.0);
    assert_eq!(sample(&after, "zoomtrack_subscribers"), 0.0);
    assert!(
        after.contains(r#"zoomtrack_telegram_outbox{status="pending"} 0"#),
        "{after}"
    );

    // A path no route has is counted as `other`, never under its own name.
    let _ = app.client.get(app.url("/no/such/path-8d1c")).send().await;
    let (_, text) = scrape(&app, Some(ADMIN_TOKEN)).await;
    assert!(!text.contains("8d1c"));
    assert!(
        text.contains(r#"route="other",method="GET",status="404""#),
        "{text}"
    );

    app.stop().await;
}

db_test!(refusals_by_a_rate_limit_are_counted);
async fn refusals_by_a_rate_limit_are_counted(db: TestDb) {
    let app = TestApp::spawn(&db, &["--public-rate", "1", "--public-burst", "2"]).await;
    let series = r#"zoomtrack_rate_limited_total{limit="public"}"#;
    let before = sample(&scrape(&app, Some(ADMIN_TOKEN)).await.1, series);
    let mut refused = 0;
    for _ in 0..5 {
        if app.heartbeat("no-such-token-0123456789abcdef01").await.0 == 429 {
            refused += 1;
        }
    }
    assert!(refused >= 2, "{refused} refused");
    let after = sample(&scrape(&app, Some(ADMIN_TOKEN)).await.1, series);
    assert!(after - before >= refused as f64, "{before} → {after}");
    app.stop().await;
}

db_test!(metrics_addr_serves_without_a_credential);
async fn metrics_addr_serves_without_a_credential(db: TestDb) {
    let port = free_port();
    let addr = format!("127.0.0.1:{port}");
    let server = ServerProcess::start(SERVER, &db, &["--metrics-addr", &addr]).await;
    let private = reqwest::get(format!("http://{addr}/metrics"))
        .await
        .expect("the metrics address answers");
    assert_eq!(private.status(), 200);
    assert_eq!(
        private.headers()["content-type"],
        "text/plain; version=0.0.4; charset=utf-8"
    );
    let text = private.text().await.unwrap();
    assert!(text.contains("zoomtrack_live_sessions 0"), "{text}");
    assert_eq!(
        scrape(&server, None).await.0,
        401,
        "the main address still asks"
    );
    assert!(server.terminate().success());
}
