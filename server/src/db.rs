//! Connecting to the database and bringing its schema up to date.

use std::{path::Path, time::Duration};

use migration::{Migrator, MigratorTrait};
use sea_orm::{
    ConnectOptions, Database, DatabaseConnection, DbErr,
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

/// Connects, prepares SQLite (folder, WAL) and runs pending migrations.
pub async fn connect(url: &str, sqlite_file: Option<&Path>) -> Result<Pools, DbErr> {
    if let Some(dir) = sqlite_file
        .and_then(Path::parent)
        .filter(|d| !d.as_os_str().is_empty())
    {
        std::fs::create_dir_all(dir).map_err(|e| {
            DbErr::Custom(format!(
                "cannot create the database folder {}: {e}",
                dir.display()
            ))
        })?;
    }
    let sqlite = url.starts_with("sqlite:");
    let write = Database::connect(options(url, if sqlite { 1 } else { 16 }, false)).await?;
    Migrator::up(&write, None).await?;
    // An in-memory SQLite database exists once per connection: its one connection does all.
    let read = if sqlite && sqlite_file.is_some() {
        Database::connect(options(url, SQLITE_READERS, true)).await?
    } else {
        write.clone()
    };
    Ok(Pools { write, read })
}
