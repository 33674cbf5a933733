//! Connecting to the database and bringing its schema up to date.

use std::{future::Future, path::Path, time::Duration};

use migration::{Migrator, MigratorTrait};
use sea_orm::{
    ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DbBackend, DbErr, Statement,
    sqlx::sqlite::{SqliteJournalMode, SqliteSynchronous},
};

/// Connections to one database. On SQLite, which lets one writer in at a time, `write` is a
/// single connection, so writers queue in the pool instead of sleeping in SQLite's busy handler,
/// and `read` is a pool of read-only connections that WAL lets run beside it. On PostgreSQL and
/// MySQL both are the same pool.
#[derive(Clone, Debug)]
pub struct Pools {
    pub write: DatabaseConnection,
    pub read: DatabaseConnection,
}

/// SQLite connections reading beside the writer.
const SQLITE_READERS: u32 = 4;
/// Page caches (negative: KiB), filled only as pages are used. The writer's holds the index
/// pages a sweep or a burst of clicks touches; each reader's the totals and recent sessions.
const WRITER_CACHE: &str = "-32768";
const READER_CACHE: &str = "-8192";

fn options(url: &str, connections: u32, read_only: bool) -> ConnectOptions {
    let mut options = ConnectOptions::new(url);
    options
        .max_connections(connections)
        .acquire_timeout(Duration::from_secs(10))
        // A new connection reads the planner's latest statistics (see `analyze_sqlite`).
        .max_lifetime(Duration::from_secs(3600))
        .sqlx_logging(false)
        .map_sqlx_sqlite_opts(move |opts| {
            let opts = opts
                .create_if_missing(!read_only)
                .read_only(read_only)
                .busy_timeout(Duration::from_secs(10))
                .foreign_keys(true);
            if read_only {
                opts.pragma("cache_size", READER_CACHE)
            } else {
                // NORMAL in WAL mode: a commit is in the log before it is answered, so it
                // survives a crash of the server; only an operating-system crash or a power cut
                // can take back the last commits. FULL would add a disk flush to every one.
                opts.journal_mode(SqliteJournalMode::Wal)
                    .synchronous(SqliteSynchronous::Normal)
                    .pragma("cache_size", WRITER_CACHE)
            }
        });
    options
}

/// Gives SQLite's planner what PostgreSQL and MySQL keep by themselves: how many rows each
/// index narrows to (`sqlite_stat1`). Without it SQLite guesses, and picks the status index for
/// the heartbeats' flush (`id IN (…) AND session_status = …`), reading every active session.
///
/// Every index entry is read (about 0.4 s for a million sessions): a sampled ANALYZE
/// (`analysis_limit`) reads only the first entries of each index, and the status index starts
/// with the few active sessions, so its estimate is wrong in just the way that matters. The
/// samples ANALYZE also writes (`sqlite_stat4`) are removed: with them, every statement whose
/// parameter meets an indexed column is planned again each time it runs (a lookup by token
/// costs about eight times as much), and the row counts alone choose the same plans here.
/// Run at start and by the sweep job every few hours; a connection reads the statistics when
/// it opens, and this one again at once.
pub async fn analyze_sqlite(db: &DatabaseConnection) -> Result<(), DbErr> {
    let started = std::time::Instant::now();
    // Through a small cache: ANALYZE reads every page once, and the writer's own cache would
    // keep them (the server's resident memory at start would be the database's size).
    db.execute_unprepared("PRAGMA cache_size = -2048; ANALYZE")
        .await?;
    let samples = db
        .query_one_raw(sea_orm::Statement::from_string(
            sea_orm::DbBackend::Sqlite,
            "SELECT COUNT(*) FROM sqlite_schema WHERE name = 'sqlite_stat4'",
        ))
        .await?
        .map(|row| row.try_get_by_index::<i64>(0))
        .transpose()?
        .unwrap_or(0);
    if samples > 0 {
        db.execute_unprepared("DELETE FROM sqlite_stat4").await?;
    }
    db.execute_unprepared(&format!(
        "ANALYZE sqlite_schema; PRAGMA cache_size = {WRITER_CACHE}; PRAGMA shrink_memory"
    ))
    .await?;
    tracing::info!(
        took_ms = started.elapsed().as_millis() as u64,
        "SQLite's planner statistics taken"
    );
    Ok(())
}

/// Creates the folder of a SQLite database file.
fn create_folder(sqlite_file: &Path) -> Result<(), DbErr> {
    match sqlite_file.parent().filter(|d| !d.as_os_str().is_empty()) {
        Some(dir) => std::fs::create_dir_all(dir).map_err(|e| {
            DbErr::Custom(format!(
                "cannot create the database folder {}: {e}",
                dir.display()
            ))
        }),
        None => Ok(()),
    }
}

/// Connects, prepares SQLite (folder, WAL, planner statistics) and runs pending migrations.
pub async fn connect(url: &str, sqlite_file: Option<&Path>) -> Result<Pools, DbErr> {
    if let Some(file) = sqlite_file {
        create_folder(file)?;
    }
    let sqlite = url.starts_with("sqlite:");
    let write = Database::connect(options(url, if sqlite { 1 } else { 16 }, false)).await?;
    Migrator::up(&write, None).await?;
    if sqlite {
        // Before the readers open: each connection reads the statistics when it starts.
        analyze_sqlite(&write).await?;
    }
    // An in-memory SQLite database exists once per connection: its one connection does all.
    let read = if sqlite && sqlite_file.is_some() {
        Database::connect(options(url, SQLITE_READERS, true)).await?
    } else {
        write.clone()
    };
    Ok(Pools { write, read })
}

/// A connection of its own for a lock the database holds per session: a pool of one that
/// keeps reusing it and never closes it for being idle or old (which would drop the lock);
/// `None` on SQLite.
async fn lock_connection(url: &str) -> Result<Option<DatabaseConnection>, DbErr> {
    if url.starts_with("sqlite:") {
        return Ok(None);
    }
    let mut options = ConnectOptions::new(url);
    options
        .max_connections(1)
        .min_connections(1)
        .idle_timeout(None::<Duration>)
        .max_lifetime(None::<Duration>)
        .acquire_timeout(Duration::from_secs(10))
        .sqlx_logging(false);
    Database::connect(options).await.map(Some)
}

/// MySQL's lock names are the server's, not a database's, and at most 64 characters: the
/// database's name, hashed, tells the servers of one database from another's.
fn mysql_lock_name(what: &str) -> String {
    format!("CONCAT('zoomtrack.{what}.', MD5(COALESCE(DATABASE(), '')))")
}

/// How long a server waits for another one's start on the same database.
const START_WAIT_SECONDS: u32 = 300;
/// PostgreSQL's advisory lock key of the start: any number, the same in every server.
const POSTGRES_START_KEY: i64 = 0x7a74_7374_6172_7401;

/// PostgreSQL and MySQL: held while a server migrates the schema and creates the first admin
/// credential. Servers started together on one database then do it one after another: the
/// first migrates, the others find nothing left to do, and one admin credential is made.
/// Without it each would run the same migrations at once (on PostgreSQL one of them fails on
/// a duplicate; on MySQL, where a schema change is not transactional, worse). The lock is the
/// database's own (`pg_advisory_lock`, `GET_LOCK`) on a connection of its own: a server that
/// dies holding it releases it with its connection. Nothing on SQLite, which has one server
/// process per file ([`SqliteOwner`]).
pub struct StartLock(Option<DatabaseConnection>);

impl StartLock {
    /// Waits (at most 5 minutes) until no other server is starting on the database at `url`.
    pub async fn acquire(url: &str) -> Result<Self, DbErr> {
        let Some(conn) = lock_connection(url).await? else {
            return Ok(Self(None));
        };
        let waited = |cause: String| {
            DbErr::Custom(format!(
                "taking the start lock (another server starting on this database, migrating \
                 or creating the first admin credential, is waited for at most \
                 {START_WAIT_SECONDS} s): {cause}"
            ))
        };
        match conn.get_database_backend() {
            DbBackend::Postgres => {
                conn.execute_unprepared(&format!(
                    "SET lock_timeout = '{START_WAIT_SECONDS}s'; \
                     SELECT pg_advisory_lock({POSTGRES_START_KEY})"
                ))
                .await
                .map_err(|err| waited(err.to_string()))?;
            }
            DbBackend::MySql => {
                let got = conn
                    .query_one_raw(Statement::from_string(
                        DbBackend::MySql,
                        format!(
                            "SELECT GET_LOCK({}, {START_WAIT_SECONDS})",
                            mysql_lock_name("start")
                        ),
                    ))
                    .await?
                    .map(|row| row.try_get_by_index::<Option<i64>>(0))
                    .transpose()?
                    .flatten();
                if got != Some(1) {
                    return Err(waited(format!("GET_LOCK answered {got:?}")));
                }
            }
            _ => {}
        }
        Ok(Self(Some(conn)))
    }

    /// Lets the next server start: closing the lock's connection releases the lock.
    pub async fn release(self) -> Result<(), DbErr> {
        match self.0 {
            Some(conn) => conn.close().await,
            None => Ok(()),
        }
    }
}

/// PostgreSQL's advisory lock key of a sweep round.
const POSTGRES_SWEEP_KEY: i64 = 0x7a74_7377_6565_7001;

/// PostgreSQL and MySQL: at most one server runs a round of the auto-timeout sweep at a time,
/// so that servers on one database do not each do the same work at the same moment (and wait
/// on each other's row locks). A try, never a wait: a server that finds another one sweeping
/// skips its round. Nothing relies on it for correctness: every sweep statement is a
/// conditional update, so a session ends once whoever runs it. On a connection of its own,
/// kept for the server's life; nothing on SQLite.
pub struct SweepLock(Option<DatabaseConnection>);

impl SweepLock {
    pub async fn connect(url: &str) -> Result<Self, DbErr> {
        Ok(Self(lock_connection(url).await?))
    }

    /// Runs `round` unless another server is running one: then `None`. The lock is released
    /// when the round ends, whatever it returned.
    pub async fn run<T>(&self, round: impl Future<Output = T>) -> Result<Option<T>, DbErr> {
        let Some(conn) = &self.0 else {
            return Ok(Some(round.await));
        };
        let backend = conn.get_database_backend();
        // Released whole (the connection holds no other lock): a lock taken twice by one
        // session is otherwise counted twice and would stay held after one release.
        let (take, release) = match backend {
            DbBackend::Postgres => (
                format!(
                    "SELECT CAST(CAST(pg_try_advisory_lock({POSTGRES_SWEEP_KEY}) AS INT) AS BIGINT)"
                ),
                "SELECT pg_advisory_unlock_all()".to_owned(),
            ),
            _ => (
                format!("SELECT GET_LOCK({}, 0)", mysql_lock_name("sweep")),
                "SELECT RELEASE_ALL_LOCKS()".to_owned(),
            ),
        };
        let asked = conn
            .query_one_raw(Statement::from_string(backend, take))
            .await
            .and_then(|row| {
                row.map(|row| row.try_get_by_index::<Option<i64>>(0))
                    .transpose()
            });
        match asked {
            Ok(taken) if taken.flatten() == Some(1) => {}
            Ok(_) => return Ok(None),
            Err(err) => {
                // Nothing relies on the lock: the round runs without it.
                tracing::warn!(error = %err, "the sweep's lock could not be asked for");
                return Ok(Some(round.await));
            }
        }
        let done = round.await;
        conn.execute_unprepared(&release).await?;
        Ok(Some(done))
    }
}

/// SQLite: one server process per database file. Held for as long as the server runs: an
/// exclusive lock (`flock`) on `<file>.lock` beside the database. A second server on the same
/// file stops at start with a message instead of writing beside the first (each keeps
/// heartbeats and live events in its own memory, which only PostgreSQL and MariaDB share).
/// The lock is on a file of its own: SQLite's own locks on the database file are released
/// when any descriptor of it in the process is closed.
#[derive(Debug)]
pub struct SqliteOwner {
    _locked: std::fs::File,
}

impl SqliteOwner {
    pub fn claim(sqlite_file: &Path) -> Result<Self, DbErr> {
        create_folder(sqlite_file)?;
        let mut name = sqlite_file.as_os_str().to_owned();
        name.push(".lock");
        let path = std::path::PathBuf::from(name);
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|e| DbErr::Custom(format!("cannot open {}: {e}", path.display())))?;
        match file.try_lock() {
            Ok(()) => Ok(Self { _locked: file }),
            Err(std::fs::TryLockError::WouldBlock) => Err(DbErr::Custom(format!(
                "another server is running on {}: SQLite takes one server process per \
                 database file (several servers share PostgreSQL or MariaDB; see \
                 docs/deploy.md)",
                sqlite_file.display()
            ))),
            Err(std::fs::TryLockError::Error(e)) => Err(DbErr::Custom(format!(
                "cannot lock {}: {e}",
                path.display()
            ))),
        }
    }
}
