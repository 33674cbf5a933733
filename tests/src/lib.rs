//! Test harness: a fresh database per test on each backend, and the whole server bound to
//! port 0 in-process, spoken to over real HTTP.

use std::{
    future::Future,
    path::PathBuf,
    sync::Arc,
    sync::atomic::{AtomicU32, Ordering},
    time::{SystemTime, UNIX_EPOCH},
};

use anyhow::Context;
use clap::Parser;
use sea_orm::{ConnectionTrait, Database, DatabaseConnection};
use serde_json::{Value, json};
use tokio::{sync::oneshot, task::JoinHandle};
use zoomtrack_server::{Application, Config, config::Settings, services::Tracker};

pub mod bench;
pub mod browser;
pub mod live;
pub mod process;
pub mod telegram;
pub mod zoom;

/// The `ADMIN_TOKEN` every test server is started with.
pub const ADMIN_TOKEN: &str = "test-admin-token-0123456789";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
    MySql,
}

impl Backend {
    fn server_url_var(self) -> Option<&'static str> {
        match self {
            Backend::Sqlite => None,
            Backend::Postgres => Some("TEST_POSTGRES_URL"),
            Backend::MySql => Some("TEST_MYSQL_URL"),
        }
    }
}

fn unique_name() -> String {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or_default();
    format!(
        "zt_test_{}_{}_{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed),
        nanos
    )
}

/// A database made for one test and dropped after it.
pub struct TestDb {
    pub backend: Backend,
    pub url: String,
    server_url: Option<String>,
    name: String,
    sqlite_dir: Option<PathBuf>,
}

impl TestDb {
    /// `None` when the backend's server is not configured (its `TEST_*_URL` is unset).
    pub async fn create(backend: Backend) -> anyhow::Result<Option<Self>> {
        let name = unique_name();
        let Some(var) = backend.server_url_var() else {
            let dir = std::env::temp_dir().join(&name);
            std::fs::create_dir_all(&dir)?;
            return Ok(Some(Self {
                backend,
                url: format!("sqlite://{}?mode=rwc", dir.join("test.db").display()),
                server_url: None,
                name,
                sqlite_dir: Some(dir),
            }));
        };
        let Ok(server_url) = std::env::var(var) else {
            return Ok(None);
        };
        let admin = Database::connect(&server_url)
            .await
            .with_context(|| format!("{var}: cannot connect"))?;
        admin
            .execute_unprepared(&format!("CREATE DATABASE {name}"))
            .await?;
        admin.close().await?;
        let mut url = url::Url::parse(&server_url)?;
        url.set_path(&format!("/{name}"));
        Ok(Some(Self {
            backend,
            url: url.into(),
            server_url: Some(server_url),
            name,
            sqlite_dir: None,
        }))
    }

    async fn drop_database(
        server_url: String,
        backend: Backend,
        name: String,
    ) -> anyhow::Result<()> {
        let admin = Database::connect(&server_url).await?;
        let sql = match backend {
            Backend::Postgres => format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"),
            _ => format!("DROP DATABASE IF EXISTS {name}"),
        };
        admin.execute_unprepared(&sql).await?;
        admin.close().await?;
        Ok(())
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let Some(dir) = self.sqlite_dir.take() {
            let _ = std::fs::remove_dir_all(dir);
        }
        if let Some(server_url) = self.server_url.take() {
            let (backend, name) = (self.backend, self.name.clone());
            // Drop runs inside the test's runtime: clean up on a runtime of its own.
            let _ = std::thread::spawn(move || {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()?;
                runtime.block_on(Self::drop_database(server_url, backend, name))
            })
            .join();
        }
    }
}

/// Runs `test` against a fresh database of `backend`, or says why it was skipped.
pub async fn run_on<F, Fut>(backend: Backend, test: F)
where
    F: FnOnce(TestDb) -> Fut,
    Fut: Future<Output = ()>,
{
    match TestDb::create(backend).await {
        Ok(Some(db)) => test(db).await,
        Ok(None) if std::env::var_os("TEST_REQUIRE_ALL_DATABASES").is_some() => {
            panic!(
                "{backend:?} is required (TEST_REQUIRE_ALL_DATABASES) but its TEST_*_URL is not set"
            )
        }
        Ok(None) => eprintln!("skipped on {backend:?}: its TEST_*_URL is not set"),
        Err(err) => panic!("cannot create a {backend:?} test database: {err:#}"),
    }
}

/// Declares `async fn name(db: TestDb)` as one test per listed backend, in a module `name`:
/// `tests_on!(name: sqlite => Sqlite, postgres => Postgres)`.
#[macro_export]
macro_rules! tests_on {
    ($name:ident: $($test:ident => $backend:ident),+) => {
        mod $name {
            use $crate::Backend;

            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $test() {
                    $crate::run_on(Backend::$backend, super::$name).await
                }
            )+
        }
    };
}

/// Declares a test that runs once per database backend: `db_test!(name);` over
/// `async fn name(db: TestDb)`.
#[macro_export]
macro_rules! db_test {
    ($name:ident) => {
        $crate::tests_on!($name: sqlite => Sqlite, postgres => Postgres, mysql => MySql);
    };
}

/// Declares a test that runs on each database several servers may share, PostgreSQL and
/// MariaDB (SQLite takes one server process per file): `shared_db_test!(name);` over
/// `async fn name(db: TestDb)`.
#[macro_export]
macro_rules! shared_db_test {
    ($name:ident) => {
        $crate::tests_on!($name: postgres => Postgres, mysql => MySql);
    };
}

/// A client of a running server, with a connection to its database.
pub struct Api {
    pub base: String,
    pub client: reqwest::Client,
    pub db: DatabaseConnection,
}

/// A server running in this process on port 0, and a client for it.
pub struct TestApp {
    api: Api,
    /// The server's session tracking: its operations take `now`, for tests that set the time.
    pub tracker: Arc<Tracker>,
    pub settings: Settings,
    pub generated_admin_token: Option<String>,
    shutdown: Option<oneshot::Sender<()>>,
    server: Option<JoinHandle<anyhow::Result<()>>>,
}

/// A time as the APIs answer it (RFC 3339), in UTC.
pub fn at(value: &Value) -> chrono::DateTime<chrono::Utc> {
    value
        .as_str()
        .and_then(|s| chrono::DateTime::parse_from_rfc3339(s).ok())
        .map(|t| t.with_timezone(&chrono::Utc))
        .unwrap_or_else(|| panic!("not a timestamp: {value}"))
}

/// A link issued through the API.
#[derive(Debug)]
pub struct Link {
    pub id: String,
    pub token: String,
    pub tracking_url: String,
}

impl TestApp {
    /// Starts the server on `db` with `ADMIN_TOKEN` set and any extra flags.
    pub async fn spawn(db: &TestDb, extra: &[&str]) -> Self {
        let mut args = vec!["--admin-token", ADMIN_TOKEN];
        args.extend_from_slice(extra);
        Self::spawn_with(db, &args).await
    }

    /// Starts the server on `db` with exactly these flags (and port 0 unless they name one).
    pub async fn spawn_with(db: &TestDb, args: &[&str]) -> Self {
        let mut all = vec!["zoomtrack", "--database-url", &db.url];
        if !args.contains(&"--bind-addr") {
            all.extend(["--bind-addr", "127.0.0.1:0"]);
        }
        all.extend_from_slice(args);
        let config = Config::try_parse_from(all).expect("test flags parse");
        let app = Application::build(config).await.expect("the server starts");
        let base = format!("http://{}", app.local_addr());
        let db = app.tracker().db().clone();
        let tracker = app.tracker();
        let settings = app.settings().clone();
        let generated_admin_token = app.generated_admin_token.clone();
        let (tx, rx) = oneshot::channel();
        let server = tokio::spawn(app.run_until(async {
            let _ = rx.await;
        }));
        Self {
            api: Api {
                base,
                client: reqwest::Client::new(),
                db,
            },
            tracker,
            settings,
            generated_admin_token,
            shutdown: Some(tx),
            server: Some(server),
        }
    }

    /// Stops the server gracefully and waits for it.
    pub async fn stop(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(server) = self.server.take() {
            server.await.expect("server task").expect("server ran");
        }
    }

    /// Writes the heartbeats the server answered and has not written yet.
    pub async fn flush(&self) {
        self.tracker.flush().await.expect("heartbeats written");
    }
}

impl std::ops::Deref for TestApp {
    type Target = Api;

    fn deref(&self) -> &Api {
        &self.api
    }
}

impl Api {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Posts a GraphQL operation with an optional bearer token; returns the JSON response.
    pub async fn graphql_as(&self, token: Option<&str>, query: &str, variables: Value) -> Value {
        let mut req = self
            .client
            .post(self.url("/graphql"))
            .json(&json!({ "query": query, "variables": variables }));
        if let Some(token) = token {
            req = req.bearer_auth(token);
        }
        req.send()
            .await
            .expect("graphql request")
            .json()
            .await
            .expect("graphql json")
    }

    /// A GraphQL operation as admin that must succeed; returns `data`.
    pub async fn admin(&self, query: &str, variables: Value) -> Value {
        let response = self.graphql_as(Some(ADMIN_TOKEN), query, variables).await;
        assert!(
            response.get("errors").is_none(),
            "GraphQL errors: {response}"
        );
        response["data"].clone()
    }

    pub async fn create_teacher(&self, name: &str) -> String {
        let data = self
            .admin(
                "mutation($name: String!) { createTeacher(input: {name: $name, telegramChatId: \"100200300400\"}) { id } }",
                json!({ "name": name }),
            )
            .await;
        data["createTeacher"]["id"]
            .as_str()
            .expect("teacher id")
            .to_owned()
    }

    pub async fn create_student(&self, name: &str) -> String {
        let data = self
            .admin(
                "mutation($name: String!) { createStudent(input: {name: $name, telegramChatId: \"-1001234567890\"}) { id } }",
                json!({ "name": name }),
            )
            .await;
        data["createStudent"]["id"]
            .as_str()
            .expect("student id")
            .to_owned()
    }

    /// A new TEACHER credential for `teacher`, created by the admin.
    pub async fn teacher_key(&self, teacher: &str) -> String {
        let data = self
            .admin(
                "mutation($t: ID) { createApiKey(input: {role: TEACHER, teacherId: $t}) { token role teacherId } }",
                json!({ "t": teacher }),
            )
            .await;
        assert_eq!(data["createApiKey"]["role"], "TEACHER");
        assert_eq!(data["createApiKey"]["teacherId"], teacher);
        data["createApiKey"]["token"]
            .as_str()
            .expect("a token")
            .to_owned()
    }

    /// Issues a link as admin for a new teacher and student.
    pub async fn issue_link(&self) -> Link {
        let teacher = self.create_teacher("Anna Teacher").await;
        let student = self.create_student("Bob Student").await;
        self.issue_link_for(Some(ADMIN_TOKEN), &teacher, &student)
            .await
            .expect("link issued")
    }

    /// Issues a link with `token` as the credential; `Err` holds the GraphQL error.
    pub async fn issue_link_for(
        &self,
        token: Option<&str>,
        teacher: &str,
        student: &str,
    ) -> Result<Link, Value> {
        let response = self
            .graphql_as(
                token,
                "mutation($t: ID!, $s: ID!) { issueZoomLink(input: {teacherId: $t, studentId: $s, zoomUrl: \"https://us02web.zoom.us/j/85012345678?pwd=abc\"}) { id trackingUrl } }",
                json!({ "t": teacher, "s": student }),
            )
            .await;
        if let Some(errors) = response.get("errors") {
            return Err(errors[0].clone());
        }
        let link = &response["data"]["issueZoomLink"];
        let tracking_url = link["trackingUrl"]
            .as_str()
            .expect("trackingUrl")
            .to_owned();
        let token = url::Url::parse(&tracking_url)
            .expect("tracking URL")
            .query_pairs()
            .find(|(k, _)| k == "token")
            .map(|(_, v)| v.into_owned())
            .expect("token in tracking URL");
        Ok(Link {
            id: link["id"].as_str().expect("link id").to_owned(),
            token,
            tracking_url,
        })
    }

    /// `GET /api/zoom/track` as a browser would.
    pub async fn track(&self, token: &str) -> reqwest::Response {
        self.client
            .get(self.url("/api/zoom/track"))
            .query(&[("token", token)])
            .header("accept", "text/html")
            .send()
            .await
            .expect("track request")
    }

    pub async fn post_json(&self, path: &str, body: Value) -> (u16, Value) {
        Self::answer(self.client.post(self.url(path)).json(&body)).await
    }

    /// A body sent as is, with its content type; returns the status and the JSON answer.
    pub async fn post_raw(&self, path: &str, content_type: &str, body: String) -> (u16, Value) {
        Self::answer(
            self.client
                .post(self.url(path))
                .header("content-type", content_type)
                .body(body),
        )
        .await
    }

    pub async fn get_json(&self, path: &str) -> (u16, Value) {
        Self::answer(self.client.get(self.url(path))).await
    }

    async fn answer(request: reqwest::RequestBuilder) -> (u16, Value) {
        let response = request.send().await.expect("request");
        let status = response.status().as_u16();
        (status, response.json().await.expect("JSON answer"))
    }

    pub async fn heartbeat(&self, token: &str) -> (u16, Value) {
        self.post_json("/api/zoom/heartbeat", json!({ "token": token }))
            .await
    }

    pub async fn end_session(&self, token: &str) -> (u16, Value) {
        self.post_json("/api/zoom/end-session", json!({ "token": token }))
            .await
    }

    /// The link's session as GraphQL shows it to an admin.
    pub async fn link(&self, id: &str) -> Value {
        let data = self
            .admin(
                "query($id: ID!) { session(id: $id) { status clickedAt endedAt lastActivityAt durationMinutes durationSeconds endReason } }",
                json!({ "id": id }),
            )
            .await;
        data["session"].clone()
    }

    /// The link's Telegram message as GraphQL shows it to an admin.
    pub async fn notification(&self, id: &str) -> Value {
        let data = self
            .admin(
                "query($id: ID!) { session(id: $id) { notificationStatus notificationAttempts notificationLastError notificationSentAt notificationNextAttemptAt } }",
                json!({ "id": id }),
            )
            .await;
        data["session"].clone()
    }

    /// Waits (up to 30 s) until the link's message has `status`; returns its state then.
    pub async fn notification_reaches(&self, id: &str, status: &str) -> Value {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        loop {
            let state = self.notification(id).await;
            if state["notificationStatus"] == status {
                return state;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "link {id} never reached {status}: {state}"
            );
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
    }

    /// Moves a session's clock back by `seconds`, as if it had started and last been seen
    /// that much earlier.
    pub async fn backdate(&self, link_id: &str, seconds: i64) {
        let when = |column: &str| match self.db.get_database_backend() {
            sea_orm::DbBackend::Postgres => format!("{column} - INTERVAL '{seconds} seconds'"),
            sea_orm::DbBackend::MySql => format!("{column} - INTERVAL {seconds} SECOND"),
            _ => format!("datetime({column}, '-{seconds} seconds')"),
        };
        let sql = format!(
            "UPDATE wpos_zoom_links SET clicked_at = {}, last_activity_at = {}, created_at = {} WHERE id = {link_id}",
            when("clicked_at"),
            when("last_activity_at"),
            when("created_at"),
        );
        self.db.execute_unprepared(&sql).await.expect("backdate");
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

/// A session written straight into the database, for read-side tests that need many rows or
/// exact times.
#[derive(Clone, Debug)]
pub struct Seed {
    pub teacher_id: i64,
    pub student_id: i64,
    /// When the session started; for a link never clicked (`status: None`), when it was
    /// issued. A clicked link was issued ten minutes before its click.
    pub at: chrono::DateTime<chrono::Utc>,
    pub status: Option<entity::zoom_link::SessionStatus>,
    pub duration_seconds: Option<i64>,
}

impl Seed {
    pub fn model(&self, n: usize) -> entity::zoom_link::ActiveModel {
        use entity::zoom_link::{EndReason, SessionStatus};
        use sea_orm::Set;
        let at = self.at.naive_utc();
        let clicked = self.status.map(|_| at);
        let issued = clicked.map_or(at, |at| at - chrono::Duration::minutes(10));
        let finished = matches!(
            self.status,
            Some(SessionStatus::Ended | SessionStatus::Timeout)
        );
        let duration = self.duration_seconds.filter(|_| finished);
        let ended = clicked
            .zip(duration)
            .map(|(at, secs)| at + chrono::Duration::seconds(secs));
        entity::zoom_link::ActiveModel {
            tracking_token: Set(format!("seed{n:0>28}")),
            teacher_id: Set(entity::TeacherId(self.teacher_id)),
            student_id: Set(entity::StudentId(self.student_id)),
            zoom_url: Set("https://zoom.us/j/1234567890".into()),
            created_at: Set(issued),
            clicked_at: Set(clicked),
            session_ended_at: Set(ended),
            session_duration_minutes: Set(
                duration.map(zoomtrack_server::domain::time::whole_minutes)
            ),
            session_duration_seconds: Set(duration),
            session_status: Set(self.status),
            last_activity_at: Set(ended.or(clicked)),
            visit_id: Set(None),
            session_end_reason: Set(match self.status {
                Some(SessionStatus::Ended) => Some(EndReason::TabClosed),
                Some(SessionStatus::Timeout) => Some(EndReason::TimedOut),
                _ => None,
            }),
            ..Default::default()
        }
    }
}

/// Inserts seeds in batches; token numbers start at `first`.
pub async fn insert_seeds(db: &DatabaseConnection, seeds: &[Seed], first: usize) {
    use sea_orm::EntityTrait;
    for (chunk_no, chunk) in seeds.chunks(500).enumerate() {
        let models = chunk
            .iter()
            .enumerate()
            .map(|(i, seed)| seed.model(first + chunk_no * 500 + i));
        entity::zoom_link::Entity::insert_many(models)
            .exec_without_returning(db)
            .await
            .expect("seed insert");
    }
}
