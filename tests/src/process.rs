//! The server as a child process, for what only a process shows: a SIGTERM's graceful stop
//! and a crash (SIGKILL) that ends it without warning.

use std::{
    process::{Child, Command, ExitStatus, Stdio},
    time::{Duration, Instant},
};

use sea_orm::Database;

use crate::{ADMIN_TOKEN, Api, TestDb};

pub struct ServerProcess {
    api: Api,
    child: Child,
}

/// A port nothing listens on now, for a process to bind.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a free port")
        .port()
}

impl ServerProcess {
    /// Starts `binary` (the test package's `zoomtrack-under-test`) on `db` with the admin
    /// token and `extra` flags, and waits until it answers.
    pub async fn start(binary: &str, db: &TestDb, extra: &[&str]) -> Self {
        Self::launch(binary, db, extra, Stdio::null()).await
    }

    /// Like [`Self::start`], the process's log (warnings and errors) written to `log`.
    pub async fn start_logging_to(
        binary: &str,
        db: &TestDb,
        extra: &[&str],
        log: &std::path::Path,
    ) -> Self {
        let file = std::fs::File::create(log).expect("the log file");
        Self::launch(binary, db, extra, Stdio::from(file)).await
    }

    /// Starts the process with its log (standard output) going to `log`.
    async fn launch(binary: &str, db: &TestDb, extra: &[&str], log: Stdio) -> Self {
        let mut args = vec!["--admin-token", ADMIN_TOKEN];
        args.extend_from_slice(extra);
        Self::launch_with(binary, db, &args, "warn", log).await
    }

    /// Starts `binary` on `db` with exactly `args` (no admin token unless they give one), its
    /// log at `level` (`RUST_LOG`) going to `log`, and waits until it answers.
    pub async fn launch_with(
        binary: &str,
        db: &TestDb,
        args: &[&str],
        level: &str,
        log: Stdio,
    ) -> Self {
        let port = free_port();
        let child = Command::new(binary)
            .args(["--database-url", &db.url])
            .args(["--bind-addr", &format!("127.0.0.1:{port}")])
            .args(args)
            .env("RUST_LOG", level)
            .stdout(log)
            .spawn()
            .expect("the server process starts");
        let api = Api {
            base: format!("http://127.0.0.1:{port}"),
            client: reqwest::Client::new(),
            db: Database::connect(&db.url).await.expect("the test database"),
        };
        let mut server = Self { api, child };
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let health = server.client.get(server.url("/health")).send().await;
            if health.is_ok_and(|r| r.status().is_success()) {
                return server;
            }
            if let Ok(Some(status)) = server.child.try_wait() {
                panic!("the server process exited at start: {status}");
            }
            assert!(
                Instant::now() < deadline,
                "the server process never answered"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    fn signal(&mut self, name: &str) -> ExitStatus {
        let sent = Command::new("kill")
            .args([&format!("-{name}"), &self.child.id().to_string()])
            .status()
            .expect("kill runs");
        assert!(sent.success(), "kill -{name} failed");
        self.child.wait().expect("the server process ends")
    }

    /// SIGTERM, then waits for the process: a graceful stop.
    pub fn terminate(mut self) -> ExitStatus {
        self.signal("TERM")
    }

    /// SIGKILL: a crash, nothing runs after it.
    pub fn kill(mut self) {
        self.signal("KILL");
    }
}

impl std::ops::Deref for ServerProcess {
    type Target = Api;

    fn deref(&self) -> &Api {
        &self.api
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
