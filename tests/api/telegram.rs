//! Telegram notifications against a local server that speaks the Bot API: each issued link's
//! message is delivered exactly once or marked failed with its reason, whatever Telegram does.

use std::{
    collections::HashMap,
    io::Write,
    sync::{Arc, Mutex},
    time::Duration,
};

use sea_orm::ConnectionTrait;
use serde_json::{Value, json};
use zoomtrack_server::{
    domain::time,
    jobs::notifier::{Deliveries, RetryPolicy},
    telegram::BotApi,
};
use zoomtrack_tests::{
    ADMIN_TOKEN, Backend, Link, TestApp, TestDb, db_test, run_on, shared_db_test,
    telegram::{BOT_TOKEN, FakeTelegram, Reply, unused_port},
};

/// A server that notifies through the Bot API at `api_base`, with retries fast enough for
/// tests; `extra` flags replace these.
async fn spawn(db: &TestDb, api_base: &str, extra: &[&str]) -> TestApp {
    let defaults = [
        ("--telegram-bot-token", BOT_TOKEN),
        ("--telegram-api-base", api_base),
        ("--telegram-timeout", "2s"),
        ("--telegram-retry-backoff", "1s"),
        ("--telegram-retry-interval", "2s"),
    ];
    let mut args = extra.to_vec();
    for (flag, value) in defaults {
        if !extra.contains(&flag) {
            args.extend([flag, value]);
        }
    }
    TestApp::spawn(db, &args).await
}

/// One round of the delivery job an hour from now, as `app`'s server runs them against
/// `api_base` (its retry waits are a few seconds), its attempts answered before it returns:
/// what is still to be sent by then. It starts once the server has recorded every answer, so
/// that the round cannot take an attempt in flight for a lost one.
async fn round_an_hour_later(app: &TestApp, api_base: &str) {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let sending = app
            .db
            .query_one_raw(sea_orm::Statement::from_string(
                app.db.get_database_backend(),
                "SELECT COUNT(*) AS n FROM telegram_notifications WHERE status = 'sending'",
            ))
            .await
            .expect("the notifications")
            .and_then(|row| row.try_get::<i64>("", "n").ok());
        if sending == Some(0) {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "an attempt stayed in flight"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let base = url::Url::parse(api_base).expect("a URL");
    let token = BOT_TOKEN.parse().expect("a bot token");
    let bot = BotApi::new(&base, &token, Duration::from_secs(2)).expect("a client");
    let policy = RetryPolicy {
        backoff: Duration::from_secs(1),
        round_interval: Duration::from_secs(2),
        max_attempts: 12,
    };
    let settings = Arc::new(app.settings.clone());
    let mut job = Deliveries::new(app.db.clone(), bot, settings, policy);
    job.step(time::now() + chrono::Duration::hours(1)).await;
    job.finish().await;
}

fn down(port: u16) -> String {
    format!("http://127.0.0.1:{port}")
}

/// A new student named `name` and a link for them from `teacher`, as admin.
async fn link_for(app: &TestApp, teacher: &str, name: &str) -> Link {
    let student = app.create_student(name).await;
    app.issue_link_for(Some(ADMIN_TOKEN), teacher, &student)
        .await
        .expect("link issued")
}

async fn resend(app: &TestApp, token: &str, link: &str) -> Value {
    app.graphql_as(
        Some(token),
        "mutation($id: ID!) { resendNotification(linkId: $id) { id notificationStatus notificationAttempts } }",
        json!({ "id": link }),
    )
    .await
}

/// Messages delivered per tracking token (development mode puts the tracking URL in the text).
fn per_link(fake: &FakeTelegram) -> HashMap<String, usize> {
    let mut counts = HashMap::new();
    for message in fake.delivered() {
        let token = message
            .text
            .rsplit_once("token=")
            .map(|(_, token)| token.to_owned())
            .expect("a tracking URL in the text");
        *counts.entry(token).or_default() += 1;
    }
    counts
}

#[tokio::test]
async fn a_public_base_url_puts_the_tracking_page_behind_the_button() {
    run_on(Backend::Sqlite, |db| async move {
        let fake = FakeTelegram::start().await;
        let app = spawn(
            &db,
            &fake.base,
            &["--public-base-url", "https://lessons.example.com"],
        )
        .await;
        let link = app.issue_link().await;
        let state = app.notification_reaches(&link.id, "SENT").await;
        assert_eq!(state["notificationAttempts"], 1);
        assert_eq!(state["notificationLastError"], Value::Null);
        assert!(state["notificationSentAt"].is_string());
        let delivered = fake.delivered();
        assert_eq!(delivered.len(), 1);
        let message = &delivered[0];
        assert!(
            link.tracking_url
                .starts_with("https://lessons.example.com/api/zoom/track?token=")
        );
        assert_eq!(message.button_url, link.tracking_url);
        assert_eq!(message.button_text, "Join the lesson");
        assert_eq!(message.chat_id, "-1001234567890");
        assert!(message.text.contains("Anna Teacher"), "{}", message.text);
        assert!(message.text.contains("Bob Student"), "{}", message.text);
        assert!(!message.text.contains(&link.tracking_url));
        app.stop().await;
    })
    .await
}

#[tokio::test]
async fn a_local_base_url_sends_zoom_in_the_button_and_the_tracking_url_in_the_text() {
    run_on(Backend::Sqlite, |db| async move {
        let fake = FakeTelegram::start().await;
        let app = spawn(&db, &fake.base, &[]).await;
        let link = app.issue_link().await;
        assert!(link.tracking_url.starts_with("http://127.0.0.1:"));
        app.notification_reaches(&link.id, "SENT").await;
        let delivered = fake.delivered();
        assert_eq!(delivered.len(), 1);
        assert_eq!(
            delivered[0].button_url,
            "https://us02web.zoom.us/j/85012345678?pwd=abc"
        );
        assert_eq!(delivered[0].button_text, "Open Zoom");
        assert!(delivered[0].text.ends_with(&link.tracking_url));
        app.stop().await;
    })
    .await
}

db_test!(server_errors_and_rate_limits_are_retried_until_delivered);
async fn server_errors_and_rate_limits_are_retried_until_delivered(db: TestDb) {
    let fake = FakeTelegram::start().await;
    fake.script([
        Reply::Refuse(500, "Internal Server Error"),
        Reply::RetryAfter(2),
    ]);
    let app = spawn(&db, &fake.base, &[]).await;
    let link = app.issue_link().await;
    let state = app.notification_reaches(&link.id, "SENT").await;
    assert_eq!(state["notificationAttempts"], 3);
    assert_eq!(fake.delivered().len(), 1);
    let requests = fake.requests();
    assert_eq!(requests.len(), 3);
    assert!(
        requests[1] - requests[0] >= Duration::from_secs(1),
        "the backoff was not waited"
    );
    assert!(
        requests[2] - requests[1] >= Duration::from_secs(2),
        "retry_after was not obeyed"
    );
    app.stop().await;
}

db_test!(refusals_are_final_and_say_why);
async fn refusals_are_final_and_say_why(db: TestDb) {
    let fake = FakeTelegram::start().await;
    fake.script([
        Reply::Refuse(403, "Forbidden: bot was blocked by the user"),
        Reply::Refuse(400, "Bad Request: chat not found"),
    ]);
    let app = spawn(&db, &fake.base, &[]).await;
    let teacher = app.create_teacher("Anna Teacher").await;
    let blocked = link_for(&app, &teacher, "Blocked Student").await;
    let blocked = app.notification_reaches(&blocked.id, "FAILED").await;
    let unknown = link_for(&app, &teacher, "Unknown Chat").await;
    let unknown = app.notification_reaches(&unknown.id, "FAILED").await;
    assert_eq!(blocked["notificationAttempts"], 1);
    assert_eq!(
        blocked["notificationLastError"],
        "Telegram refused the message (403): Forbidden: bot was blocked by the user"
    );
    assert_eq!(unknown["notificationAttempts"], 1);
    assert_eq!(
        unknown["notificationLastError"],
        "Telegram refused the message (400): Bad Request: chat not found"
    );
    // Long after every backoff, nothing is tried again.
    round_an_hour_later(&app, &fake.base).await;
    assert_eq!(fake.requests().len(), 2);
    assert!(fake.delivered().is_empty());
    app.stop().await;
}

db_test!(a_timeout_is_retried_and_the_message_delivered_once);
async fn a_timeout_is_retried_and_the_message_delivered_once(db: TestDb) {
    let fake = FakeTelegram::start().await;
    fake.script([Reply::Stall(Duration::from_secs(5))]);
    let app = spawn(&db, &fake.base, &["--telegram-timeout", "1s"]).await;
    let link = app.issue_link().await;
    let state = app.notification_reaches(&link.id, "SENT").await;
    assert_eq!(state["notificationAttempts"], 2);
    assert_eq!(fake.requests().len(), 2);
    assert_eq!(fake.delivered().len(), 1);
    app.stop().await;
}

db_test!(a_message_that_keeps_failing_is_given_up_at_the_cap);
async fn a_message_that_keeps_failing_is_given_up_at_the_cap(db: TestDb) {
    let fake = FakeTelegram::start().await;
    fake.script([
        Reply::Refuse(502, "Bad Gateway"),
        Reply::Refuse(502, "Bad Gateway"),
        Reply::Refuse(502, "Bad Gateway"),
        Reply::Refuse(502, "Bad Gateway"),
    ]);
    let app = spawn(&db, &fake.base, &["--telegram-max-attempts", "4"]).await;
    let link = app.issue_link().await;
    let pending = app.notification(&link.id).await;
    assert!(
        ["PENDING", "SENDING"].contains(&pending["notificationStatus"].as_str().unwrap_or("")),
        "{pending}"
    );
    let state = app.notification_reaches(&link.id, "FAILED").await;
    assert_eq!(state["notificationAttempts"], 4);
    assert_eq!(
        state["notificationLastError"],
        "gave up after 4 attempts: Telegram answered 502: Bad Gateway"
    );
    assert!(fake.delivered().is_empty());
    app.stop().await;
}

db_test!(issuing_a_link_never_waits_for_telegram);
async fn issuing_a_link_never_waits_for_telegram(db: TestDb) {
    let fake = FakeTelegram::start().await;
    fake.script([Reply::Hold]);
    let app = spawn(&db, &fake.base, &["--telegram-timeout", "30s"]).await;
    // Telegram holds the request: the link is issued and usable all the same.
    let link = app.issue_link().await;
    let state = app.notification_reaches(&link.id, "SENDING").await;
    assert_eq!(state["notificationAttempts"], 1);
    assert_eq!(app.track(&link.token).await.status(), 200);
    assert_eq!(app.link(&link.id).await["status"], "ACTIVE");
    assert!(fake.delivered().is_empty());
    fake.release();
    app.notification_reaches(&link.id, "SENT").await;
    assert_eq!(fake.delivered().len(), 1);
    app.stop().await;
}

db_test!(telegram_down_then_up_delivers_each_message_once_across_a_restart);
async fn telegram_down_then_up_delivers_each_message_once_across_a_restart(db: TestDb) {
    let port = unused_port().await;
    let first = spawn(&db, &down(port), &["--telegram-retry-interval", "4s"]).await;
    let teacher = first.create_teacher("Anna Teacher").await;
    let mut links = Vec::new();
    for n in 0..4 {
        links.push(link_for(&first, &teacher, &format!("Student {n}")).await);
    }
    for link in &links {
        assert_eq!(first.link(&link.id).await["status"], "PENDING");
    }
    // The first round of three attempts fails on every link.
    for link in &links {
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        loop {
            let state = first.notification(&link.id).await;
            if state["notificationAttempts"] == 3 && state["notificationStatus"] == "PENDING" {
                let error = state["notificationLastError"].as_str().unwrap_or_default();
                assert!(error.starts_with("cannot reach Telegram"), "{error}");
                assert!(state["notificationNextAttemptAt"].is_string());
                break;
            }
            assert!(std::time::Instant::now() < deadline, "{state}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    first.stop().await;
    // Telegram comes back while the server is down; the restarted server delivers.
    let fake = FakeTelegram::start_on(port).await;
    let second = spawn(&db, &fake.base, &[]).await;
    for link in &links {
        let state = second.notification_reaches(&link.id, "SENT").await;
        assert!(state["notificationAttempts"].as_i64() >= Some(4), "{state}");
        assert_eq!(state["notificationLastError"], Value::Null);
    }
    round_an_hour_later(&second, &fake.base).await;
    let counts = per_link(&fake);
    assert_eq!(counts.len(), links.len());
    for link in &links {
        assert_eq!(counts.get(&link.token), Some(&1), "{counts:?}");
    }
    second.stop().await;
}

shared_db_test!(two_servers_on_one_database_send_each_message_once);
/// Several servers share PostgreSQL or MariaDB (SQLite takes one server per file).
async fn two_servers_on_one_database_send_each_message_once(db: TestDb) {
    let port = unused_port().await;
    let one = spawn(&db, &down(port), &[]).await;
    let two = spawn(&db, &down(port), &[]).await;
    let teacher = one.create_teacher("Anna Teacher").await;
    let mut links = Vec::new();
    for n in 0..10 {
        let app = if n % 2 == 0 { &one } else { &two };
        links.push(link_for(app, &teacher, &format!("Student {n}")).await);
    }
    // Both servers now wake for the same retries and race to claim them.
    let fake = FakeTelegram::start_on(port).await;
    for link in &links {
        one.notification_reaches(&link.id, "SENT").await;
    }
    round_an_hour_later(&one, &fake.base).await;
    round_an_hour_later(&two, &fake.base).await;
    let counts = per_link(&fake);
    assert_eq!(fake.delivered().len(), links.len(), "{counts:?}");
    for link in &links {
        assert_eq!(counts.get(&link.token), Some(&1), "{counts:?}");
    }
    one.stop().await;
    two.stop().await;
}

db_test!(an_unanswered_attempt_is_not_repeated_until_resent);
async fn an_unanswered_attempt_is_not_repeated_until_resent(db: TestDb) {
    // Issued while notifications were off.
    let quiet = TestApp::spawn(&db, &[]).await;
    let teacher = quiet.create_teacher("Anna Teacher").await;
    let link = link_for(&quiet, &teacher, "Bob Student").await;
    assert_eq!(
        quiet.notification(&link.id).await["notificationStatus"],
        "DISABLED"
    );
    let refused = resend(&quiet, ADMIN_TOKEN, &link.id).await;
    assert_eq!(refused["errors"][0]["extensions"]["code"], "BAD_USER_INPUT");
    assert!(
        refused["errors"][0]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("TELEGRAM_BOT_TOKEN")
    );
    quiet.stop().await;
    // What a server that died mid-attempt leaves behind: an attempt with no answer.
    let at = match db.backend {
        Backend::Postgres => "NOW() AT TIME ZONE 'UTC' - INTERVAL '1 minute'",
        Backend::MySql => "UTC_TIMESTAMP() - INTERVAL 1 MINUTE",
        Backend::Sqlite => "datetime('now', '-1 minute')",
    };
    let sql = format!(
        "UPDATE telegram_notifications SET status = 'sending', attempts = 1, due_at = {at} \
         WHERE link_id = {}",
        link.id
    );
    quiet_db(&db)
        .await
        .execute_unprepared(&sql)
        .await
        .expect("crash state");

    let fake = FakeTelegram::start().await;
    let app = spawn(&db, &fake.base, &["--telegram-resend-cooldown", "2s"]).await;
    let state = app.notification_reaches(&link.id, "FAILED").await;
    let error = state["notificationLastError"].as_str().unwrap_or_default();
    assert!(
        error.contains("not known whether the message arrived"),
        "{error}"
    );
    round_an_hour_later(&app, &fake.base).await;
    assert!(
        fake.requests().is_empty(),
        "an unanswered attempt was repeated"
    );

    // Another teacher does not see the link; its own teacher resends it.
    let other = app.create_teacher("Other Teacher").await;
    let other_key = app.teacher_key(&other).await;
    let hidden = resend(&app, &other_key, &link.id).await;
    assert_eq!(hidden["errors"][0]["extensions"]["code"], "NOT_FOUND");
    let own_key = app.teacher_key(&teacher).await;
    let queued = resend(&app, &own_key, &link.id).await;
    assert!(queued.get("errors").is_none(), "{queued}");
    let state = app.notification_reaches(&link.id, "SENT").await;
    assert_eq!(state["notificationAttempts"], 1);
    assert_eq!(fake.delivered().len(), 1);
    // Only a resend sends a second message, and not right after the first arrived.
    let early = resend(&app, ADMIN_TOKEN, &link.id).await;
    assert_eq!(early["errors"][0]["extensions"]["code"], "BAD_USER_INPUT");
    let why = early["errors"][0]["message"].as_str().unwrap_or_default();
    assert!(why.contains("TELEGRAM_RESEND_COOLDOWN"), "{why}");
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(fake.delivered().len(), 1, "a refused resend sends nothing");
    let again = resend(&app, ADMIN_TOKEN, &link.id).await;
    assert!(again.get("errors").is_none(), "{again}");
    app.notification_reaches(&link.id, "SENT").await;
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while fake.delivered().len() < 2 {
        assert!(
            std::time::Instant::now() < deadline,
            "the resend never went out"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    round_an_hour_later(&app, &fake.base).await;
    assert_eq!(fake.delivered().len(), 2);
    let missing = resend(&app, ADMIN_TOKEN, "999999").await;
    assert_eq!(missing["errors"][0]["extensions"]["code"], "NOT_FOUND");
    let bad = resend(&app, ADMIN_TOKEN, "abc").await;
    assert_eq!(bad["errors"][0]["extensions"]["code"], "BAD_USER_INPUT");
    app.stop().await;
}

async fn quiet_db(db: &TestDb) -> sea_orm::DatabaseConnection {
    sea_orm::Database::connect(&db.url).await.expect("connect")
}

/// A log sink shared with the subscriber.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Every failure Telegram can give, logged at the most detailed level: the bot token appears
/// in no log line and no error message. (A single-threaded runtime, so the server's tasks log
/// into this test's subscriber.)
#[tokio::test]
async fn the_bot_token_never_appears_in_logs_or_errors() {
    let captured = Captured::default();
    let sink = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .with_writer(move || sink.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);
    run_on(Backend::Sqlite, |db| async move {
        let mut errors = Vec::new();
        // Telegram down, then answering 500, 403 and 429.
        let port = unused_port().await;
        let app = spawn(&db, &down(port), &["--telegram-max-attempts", "1"]).await;
        let link = app.issue_link().await;
        errors.push(app.notification_reaches(&link.id, "FAILED").await);
        app.stop().await;
        let fake = FakeTelegram::start().await;
        fake.script([
            Reply::Refuse(500, "Internal Server Error"),
            Reply::Refuse(403, "Forbidden: bot was blocked by the user"),
            Reply::RetryAfter(1),
        ]);
        let app = spawn(&db, &fake.base, &["--telegram-max-attempts", "1"]).await;
        for _ in 0..3 {
            let link = app.issue_link().await;
            errors.push(app.notification_reaches(&link.id, "FAILED").await);
        }
        app.stop().await;
        // A token Telegram does not know.
        let app = TestApp::spawn(
            &db,
            &[
                "--telegram-bot-token",
                "7000000001:AAF-wrong_token-ALSO-secret",
                "--telegram-api-base",
                &fake.base,
            ],
        )
        .await;
        let link = app.issue_link().await;
        let refused = app.notification_reaches(&link.id, "FAILED").await;
        let reason = refused["notificationLastError"]
            .as_str()
            .unwrap_or_default();
        assert!(reason.contains("check TELEGRAM_BOT_TOKEN"), "{reason}");
        errors.push(refused);
        app.stop().await;
        // A malformed token is refused at start-up without being repeated.
        let started = zoomtrack_server::Application::build(
            <zoomtrack_server::Config as clap::Parser>::try_parse_from([
                "zoomtrack",
                "--database-url",
                &db.url,
                "--telegram-bot-token",
                "not a token: AAF-secret_Bot-Token-never-LOGGED",
            ])
            .expect("flags parse"),
        )
        .await;
        let refusal = started.err().map(|e| format!("{e:#}")).unwrap_or_default();
        assert!(refusal.contains("TELEGRAM_BOT_TOKEN"), "{refusal}");
        assert!(!refusal.contains("AAF-secret"), "{refusal}");
        let errors = serde_json::to_string(&errors).expect("json");
        assert!(!errors.contains(BOT_TOKEN), "{errors}");
    })
    .await;
    let logs =
        String::from_utf8_lossy(&captured.0.lock().unwrap_or_else(|p| p.into_inner())).into_owned();
    assert!(
        logs.contains("Telegram message failed"),
        "nothing was logged"
    );
    for secret in [
        "AAF-secret_Bot-Token-never-LOGGED",
        "AAF-wrong_token-ALSO-secret",
    ] {
        assert!(!logs.contains(secret), "a bot token was logged");
    }
}

db_test!(a_late_answer_to_an_attempt_before_a_resend_is_never_recorded);
async fn a_late_answer_to_an_attempt_before_a_resend_is_never_recorded(db: TestDb) {
    use sea_orm::ConnectionTrait;
    use zoomtrack_server::{
        domain::Caller,
        services::{links, notifications},
    };
    // No bot token: the delivery job does not run, the test makes the attempts itself.
    let app = TestApp::spawn(&db, &[]).await;
    let link = app.issue_link().await;
    let id: entity::LinkId = link.id.parse().unwrap();
    let now = chrono::Utc::now();
    app.db
        .execute_unprepared(&format!(
            "UPDATE telegram_notifications SET status = 'pending', due_at = updated_at WHERE link_id = {id}"
        ))
        .await
        .expect("queued");
    let lease = chrono::Duration::seconds(30);
    let old = notifications::claim(&app.db, id, lease, now)
        .await
        .unwrap()
        .expect("the first attempt");
    // Its answer never came: given up, then resent, then attempted again with the same number.
    let later = now + chrono::Duration::seconds(31);
    assert_eq!(
        notifications::give_up_lost(&app.db, later).await.unwrap(),
        1
    );
    let model = links::by_id(&app.db, id).await.unwrap();
    notifications::resend(
        &app.db,
        Caller::Admin,
        &model,
        true,
        chrono::Duration::seconds(60),
        later,
    )
    .await
    .expect("resent");
    let new = notifications::claim(&app.db, id, lease, later)
        .await
        .unwrap()
        .expect("the resend's attempt");
    assert_eq!(
        new.attempt, old.attempt,
        "attempt numbers repeat after a resend"
    );
    assert_ne!(new.id, old.id, "claims never do");
    let sent = notifications::Outcome::Sent { message_id: 7 };
    assert!(
        !notifications::record(&app.db, id, &old, &sent, later)
            .await
            .unwrap(),
        "the old attempt's late answer is not taken for the new one"
    );
    assert!(
        notifications::record(&app.db, id, &new, &sent, later)
            .await
            .unwrap()
    );
    app.stop().await;
}
