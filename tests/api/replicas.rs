//! Several servers on one database. On PostgreSQL and MariaDB, servers started at the same
//! moment on an empty database migrate it once and make one admin credential, one after
//! another, the sweep's rounds take turns, and an end on one server stops the others'
//! heartbeats within a second; on SQLite a second server process on the same file is refused
//! at start.

use std::{
    process::{Command, Stdio},
    time::{Duration, Instant},
};

use entity::zoom_link::{self, SessionStatus};
use futures::future::join_all;
use migration::{Migrator, MigratorTrait};
use sea_orm::{
    ColumnTrait, ConnectionTrait, Database, DatabaseConnection, EntityTrait, PaginatorTrait,
    QueryFilter, Statement,
};
use zoomtrack_tests::{
    Backend, Seed, TestApp, TestDb, insert_seeds,
    process::{ServerProcess, free_port},
    run_on, shared_db_test,
};

const SERVER: &str = env!("CARGO_BIN_EXE_zoomtrack-under-test");

async fn count(db: &TestDb, sql: &str) -> i64 {
    let conn = Database::connect(&db.url).await.expect("the test database");
    let n = conn
        .query_one_raw(Statement::from_string(conn.get_database_backend(), sql))
        .await
        .expect("a count")
        .expect("a row")
        .try_get_by_index::<i64>(0)
        .expect("a number");
    conn.close().await.expect("closed");
    n
}

shared_db_test!(started_together_migrate_once);
async fn started_together_migrate_once(db: TestDb) {
    let logs: Vec<_> = (0..3)
        .map(|n| std::env::temp_dir().join(format!("replica-{n}-{}.log", free_port())))
        .collect();
    // No ADMIN_TOKEN: each would make the first admin credential if it found none.
    let servers = join_all(logs.iter().map(|log| {
        let file = std::fs::File::create(log).expect("a log file");
        ServerProcess::launch_with(SERVER, &db, &[], "info", Stdio::from(file))
    }))
    .await;
    for server in &servers {
        assert_eq!(
            server
                .client
                .get(server.url("/health"))
                .send()
                .await
                .unwrap()
                .status(),
            200
        );
    }
    let text: Vec<String> = logs
        .iter()
        .map(|log| std::fs::read_to_string(log).expect("the log"))
        .collect();
    let applied: usize = text
        .iter()
        .map(|log| log.matches("Applying migration").count())
        .sum();
    assert_eq!(
        applied,
        Migrator::migrations().len(),
        "each migration applied once, by one of them: {text:#?}"
    );
    let generated = text
        .iter()
        .filter(|log| log.contains("an admin credential was created"))
        .count();
    assert_eq!(
        generated, 1,
        "one of them made the admin credential: {text:#?}"
    );
    assert_eq!(
        count(
            &db,
            "SELECT COUNT(*) FROM api_keys WHERE role = 'admin' AND revoked_at IS NULL"
        )
        .await,
        1,
        "one admin credential"
    );
    for log in &logs {
        let _ = std::fs::remove_file(log);
    }
}

/// Runs the server binary on `db` expecting it to stop at start (within 30 s); returns what
/// it said.
fn refused(db: &TestDb) -> String {
    let mut child = Command::new(SERVER)
        .args([
            "--database-url",
            &db.url,
            "--admin-token",
            zoomtrack_tests::ADMIN_TOKEN,
        ])
        .args(["--bind-addr", &format!("127.0.0.1:{}", free_port())])
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the server runs");
    let deadline = Instant::now() + Duration::from_secs(30);
    while child.try_wait().expect("a status").is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("the second server kept running");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let output = child.wait_with_output().expect("its output");
    assert!(!output.status.success(), "the second server started");
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_server_on_one_sqlite_file_is_refused() {
    run_on(Backend::Sqlite, |db| async move {
        let first = ServerProcess::start(SERVER, &db, &[]).await;
        let said = refused(&db);
        assert!(
            said.contains("another server is running on")
                && said.contains("one server process per database file"),
            "{said}"
        );
        // The first is untouched, and once it stops the file is free again.
        let link = first.issue_link().await;
        assert_eq!(first.track(&link.token).await.status(), 200);
        assert!(first.terminate().success());
        let second = ServerProcess::start(SERVER, &db, &[]).await;
        assert_eq!(second.heartbeat(&link.token).await.0, 200);
        assert!(second.terminate().success());
    })
    .await
}

/// Stale active sessions of the seeded teacher and student, silent for 3 hours.
async fn stale_sessions(db: &DatabaseConnection, count: usize, first: usize) {
    let seeds: Vec<Seed> = (0..count)
        .map(|_| Seed {
            teacher_id: 1,
            student_id: 1,
            at: chrono::Utc::now() - chrono::Duration::hours(3),
            status: Some(SessionStatus::Active),
            duration_seconds: None,
        })
        .collect();
    insert_seeds(db, &seeds, first).await;
}

/// Active sessions of the seeds (tokens `seed…`).
async fn still_active(db: &DatabaseConnection) -> u64 {
    zoom_link::Entity::find()
        .filter(zoom_link::Column::SessionStatus.eq(SessionStatus::Active))
        .filter(zoom_link::Column::TrackingToken.starts_with("seed"))
        .count(db)
        .await
        .expect("a count")
}

/// Waits (at most `within`) until no seeded session is active.
async fn all_swept(db: &DatabaseConnection, within: Duration, what: &str) {
    let deadline = Instant::now() + within;
    while still_active(db).await > 0 {
        assert!(Instant::now() < deadline, "{what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

shared_db_test!(sweep_rounds_take_turns);
/// While another server holds the sweep's lock, a server's rounds are skipped; once it is
/// released, the next round sweeps. Then three servers sweeping every second, taking turns,
/// end 10,000 stale sessions, each once (the statements are conditional) with one event, and
/// the totals count each once.
async fn sweep_rounds_take_turns(db: TestDb) {
    let lock = zoomtrack_server::db::SweepLock::connect(&db.url)
        .await
        .expect("the lock's connection");
    let (release, released) = tokio::sync::oneshot::channel::<()>();
    let (taken, is_taken) = tokio::sync::oneshot::channel::<()>();
    let holder = tokio::spawn(async move {
        lock.run(async {
            let _ = taken.send(());
            let _ = released.await;
        })
        .await
        .expect("the lock")
        .expect("taken: nobody else sweeps yet");
    });
    is_taken.await.expect("the lock is taken");
    let app = TestApp::spawn(&db, &["--sweep-interval", "1s"]).await;
    app.create_teacher("Anna Teacher").await;
    app.create_student("Bob Student").await;
    stale_sessions(&app.db, 50, 0).await;
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(
        still_active(&app.db).await,
        50,
        "no round while another server sweeps"
    );
    release.send(()).expect("the holder waits");
    holder.await.expect("released");
    all_swept(&app.db, Duration::from_secs(5), "the next round swept").await;

    let others = [
        TestApp::spawn(&db, &["--sweep-interval", "1s"]).await,
        TestApp::spawn(&db, &["--sweep-interval", "1s"]).await,
    ];
    stale_sessions(&app.db, 10_000, 100).await;
    all_swept(&app.db, Duration::from_secs(20), "three servers swept").await;
    let timed_out = zoom_link::Entity::find()
        .filter(zoom_link::Column::SessionStatus.eq(SessionStatus::Timeout))
        .count(&app.db)
        .await
        .expect("a count");
    assert_eq!(timed_out, 10_050);
    // One event each, for other servers' subscribers.
    let events = "SELECT COUNT(*) FROM session_events WHERE kind = 'timed_out'";
    assert_eq!(count(&db, events).await, 10_050);
    let sessions = "SELECT COUNT(DISTINCT link_id) FROM session_events WHERE kind = 'timed_out'";
    assert_eq!(count(&db, sessions).await, 10_050);
    let (totals, counted) = crate::totals::both(&app.db).await;
    assert_eq!(totals, counted);
    for other in others {
        other.stop().await;
    }
    app.stop().await;
}

shared_db_test!(an_end_reaches_the_other_servers_heartbeats);
/// An end on one server, heartbeats on another that answered the session from memory: within
/// 1 s the other answers 409, and nothing it wrote afterwards moves the recorded end.
async fn an_end_reaches_the_other_servers_heartbeats(db: TestDb) {
    let one = TestApp::spawn(&db, &[]).await;
    let two = TestApp::spawn(&db, &[]).await;
    let link = one.issue_link().await;
    one.track(&link.token).await;
    // The other server knows the session active: its beats are answered from memory.
    for _ in 0..3 {
        assert_eq!(two.heartbeat(&link.token).await.0, 200);
    }
    assert_eq!(one.end_session(&link.token).await.0, 200);
    let ended = one.link(&link.id).await;
    assert_eq!(ended["status"], "ENDED");
    let started = Instant::now();
    loop {
        let (status, _) = two.heartbeat(&link.token).await;
        if status == 409 {
            break;
        }
        assert_eq!(status, 200);
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "the other server still took beats 1 s after the end"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    eprintln!("409 on the other server after {:?}", started.elapsed());
    // Past both servers' next flushes: the end and its last activity stay as recorded.
    tokio::time::sleep(Duration::from_millis(1200)).await;
    assert_eq!(one.link(&link.id).await, ended);
    assert_eq!(two.link(&link.id).await, ended);
    one.stop().await;
    two.stop().await;
}

shared_db_test!(a_killed_server_leaves_the_others_whole);
/// Three server processes under heartbeats, one killed with SIGKILL: the others keep
/// answering, every click and end answered before stays recorded, and the dead server's
/// sweep lock (gone with its connection) holds no round up.
async fn a_killed_server_leaves_the_others_whole(db: TestDb) {
    let sweep = ["--sweep-interval", "1s"];
    let mut servers = join_all((0..3).map(|_| ServerProcess::start(SERVER, &db, &sweep))).await;
    let mut links = Vec::new();
    for n in 0..12 {
        let link = servers[0].issue_link().await;
        assert_eq!(servers[n % 3].track(&link.token).await.status(), 200);
        links.push(link);
    }
    for (n, link) in links.iter().enumerate() {
        assert_eq!(servers[n % 3].heartbeat(&link.token).await.0, 200);
    }
    // Ends answered by the server about to die are stored.
    for link in &links[..3] {
        assert_eq!(servers[1].end_session(&link.token).await.0, 200);
    }
    servers.remove(1).kill();
    for round in 0..10 {
        for (n, link) in links[3..].iter().enumerate() {
            let server = &servers[(n + round) % 2];
            assert_eq!(server.heartbeat(&link.token).await.0, 200, "round {round}");
        }
    }
    for link in &links[3..6] {
        assert_eq!(servers[1].end_session(&link.token).await.0, 200);
    }
    let statuses: Vec<String> = join_all(links.iter().map(|link| servers[0].link(&link.id)))
        .await
        .iter()
        .map(|session| session["status"].as_str().unwrap_or_default().to_owned())
        .collect();
    assert_eq!(statuses[..6], ["ENDED"; 6], "{statuses:?}");
    assert_eq!(statuses[6..], ["ACTIVE"; 6], "{statuses:?}");

    // The survivors sweep: whoever held the sweep's lock, its connection is gone.
    stale_sessions(&servers[0].db, 20, 1000).await;
    all_swept(
        &servers[0].db,
        Duration::from_secs(8),
        "the survivors swept",
    )
    .await;
    for server in servers {
        assert!(server.terminate().success());
    }
}
