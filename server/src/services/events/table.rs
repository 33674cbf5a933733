//! The events table, on PostgreSQL and MySQL: how live events cross servers sharing a database.
//!
//! Each change that owes subscribers an event appends a row to `session_events` in the
//! transaction that makes the change, so an event exists exactly when its change does. Every
//! server reads the rows the others wrote ([`Tail`]) and passes them to its own subscribers
//! (`Tracker::relay`); its own events it publishes at once, as before.
//!
//! Ids are given out when a row is written, and transactions commit in their own order: a row
//! may become visible after a row with a higher id. The tail remembers the ids it skipped over
//! and asks for them again for [`GAP_WAIT`]; a rolled-back transaction leaves a gap that is
//! never filled and is forgotten then.

use std::{
    collections::BTreeMap,
    hash::{BuildHasher, RandomState},
    time::{Duration, Instant},
};

use chrono::{DateTime, Utc};
use sea_orm::{
    ConnectionTrait, DbBackend, DbErr, Order, QueryResult, Value,
    sea_query::{Alias, Cond, Expr, ExprTrait, Func, Query},
};

use super::EventKind;
use crate::domain::{LinkId, time};

/// The PostgreSQL channel that each statement appending rows notifies with its last id.
pub const CHANNEL: &str = "session_events";
/// How long an id skipped over is asked for again.
const GAP_WAIT: Duration = Duration::from_secs(10);
/// Skipped ids remembered at most: a larger jump (ids a crash or a large rollback used up) is
/// not waited for.
const GAPS: usize = 1024;
/// Rows one read takes at most.
pub const PAGE: u64 = 1000;

fn table() -> Alias {
    Alias::new("session_events")
}

fn column(name: &'static str) -> Alias {
    Alias::new(name)
}

/// This server process, as its rows name it: random at every start.
pub fn new_origin() -> i64 {
    RandomState::new().hash_one(std::process::id()) as i64
}

/// Whether servers can share `backend`'s database (SQLite has one server per file, and no
/// table).
pub fn shared(backend: DbBackend) -> bool {
    backend != DbBackend::Sqlite
}

fn name(kind: EventKind) -> &'static str {
    match kind {
        EventKind::Started => "started",
        EventKind::Resumed => "resumed",
        EventKind::Heartbeat => "heartbeat",
        EventKind::Ended => "ended",
        EventKind::TimedOut => "timed_out",
    }
}

fn parse(name: &str) -> Option<EventKind> {
    Some(match name {
        "started" => EventKind::Started,
        "resumed" => EventKind::Resumed,
        "heartbeat" => EventKind::Heartbeat,
        "ended" => EventKind::Ended,
        "timed_out" => EventKind::TimedOut,
        _ => return None,
    })
}

/// Appends the rows of `events` (what happened to which session, and when), written by
/// `origin`, in `db`: the transaction that makes their changes. Nothing on SQLite.
pub async fn append(
    db: &impl ConnectionTrait,
    origin: i64,
    events: &[(EventKind, LinkId, DateTime<Utc>)],
) -> Result<(), DbErr> {
    let backend = db.get_database_backend();
    if !shared(backend) || events.is_empty() {
        return Ok(());
    }
    let written_at = Utc::now().naive_utc();
    let mut insert = Query::insert();
    insert
        .into_table(table())
        .columns(["link_id", "kind", "at", "written_at", "origin"].map(column));
    for &(kind, link, at) in events {
        insert.values_panic([
            link.0.into(),
            name(kind).into(),
            time::to_db(at).into(),
            written_at.into(),
            origin.into(),
        ]);
    }
    db.execute_raw(backend.build(&insert)).await?;
    Ok(())
}

/// The SQL that appends a row for each session a statement returns, written by `origin` at
/// `at`, as part of a PostgreSQL statement: `WITH ended AS (UPDATE … RETURNING …), recorded AS
/// (<this>) …`. `from` names the statement's result; its values follow `values`.
pub fn postgres_append_from(
    from: &str,
    kind: EventKind,
    origin: i64,
    at: DateTime<Utc>,
    values: &mut Vec<Value>,
) -> String {
    values.extend([
        name(kind).into(),
        time::to_db(at).into(),
        Utc::now().naive_utc().into(),
        origin.into(),
    ]);
    let n = values.len();
    format!(
        "INSERT INTO session_events (link_id, kind, at, written_at, origin) \
         SELECT id, ${}, ${}, ${}, ${} FROM {from}",
        n - 3,
        n - 2,
        n - 1,
        n
    )
}

/// An event as another server recorded it.
#[derive(Clone, Debug)]
pub struct Recorded {
    pub id: i64,
    pub link: LinkId,
    pub kind: EventKind,
    pub at: DateTime<Utc>,
    pub written_at: DateTime<Utc>,
    pub origin: i64,
}

impl Recorded {
    fn from_row(row: &QueryResult) -> Result<Option<Self>, DbErr> {
        let kind: String = row.try_get("", "kind")?;
        // A kind this server does not know (written by a newer one) is not passed on.
        let Some(kind) = parse(&kind) else {
            return Ok(None);
        };
        Ok(Some(Self {
            id: row.try_get("", "id")?,
            link: LinkId(row.try_get("", "link_id")?),
            kind,
            at: time::from_db(row.try_get("", "at")?),
            written_at: time::from_db(row.try_get("", "written_at")?),
            origin: row.try_get("", "origin")?,
        }))
    }
}

/// Where a server is in the table: the highest id it read, and the lower ids it has not seen
/// yet (their transactions may still commit).
pub struct Tail {
    last: i64,
    gaps: BTreeMap<i64, Instant>,
}

impl Tail {
    /// At the table's end: what was written before is not read.
    pub async fn at_end(db: &impl ConnectionTrait) -> Result<Self, DbErr> {
        let mut select = Query::select();
        select
            .expr(Func::max(Expr::col(column("id"))))
            .from(table());
        let last = db
            .query_one_raw(db.get_database_backend().build(&select))
            .await?
            .map(|row| row.try_get_by_index::<Option<i64>>(0))
            .transpose()?
            .flatten()
            .unwrap_or(0);
        Ok(Self {
            last,
            gaps: BTreeMap::new(),
        })
    }

    /// The highest id read.
    pub fn last(&self) -> i64 {
        self.last
    }

    /// The rows committed since the last read, in the order of their ids, at most [`PAGE`]: the
    /// rows after the highest id read, and the ones among the ids skipped over that committed
    /// since.
    pub async fn read(&mut self, db: &impl ConnectionTrait) -> Result<Vec<Recorded>, DbErr> {
        let now = Instant::now();
        self.gaps
            .retain(|_, since| now.duration_since(*since) < GAP_WAIT);
        let mut after = Cond::any().add(Expr::col(column("id")).gt(self.last));
        if !self.gaps.is_empty() {
            after = after.add(Expr::col(column("id")).is_in(self.gaps.keys().copied()));
        }
        let mut select = Query::select();
        select
            .columns(["id", "link_id", "kind", "at", "written_at", "origin"].map(column))
            .from(table())
            .cond_where(after)
            .order_by(column("id"), Order::Asc)
            .limit(PAGE);
        let rows = db
            .query_all_raw(db.get_database_backend().build(&select))
            .await?;
        let mut read = Vec::with_capacity(rows.len());
        for row in rows {
            let id: i64 = row.try_get("", "id")?;
            if self.gaps.remove(&id).is_none() && id > self.last {
                for skipped in (self.last + 1..id)
                    .rev()
                    .take(GAPS - self.gaps.len().min(GAPS))
                {
                    self.gaps.insert(skipped, now);
                }
                self.last = id;
            }
            read.extend(Recorded::from_row(&row)?);
        }
        Ok(read)
    }
}

/// Deletes the rows up to `id`: every server has read them.
pub async fn prune(db: &impl ConnectionTrait, id: i64) -> Result<u64, DbErr> {
    let mut delete = Query::delete();
    delete
        .from_table(table())
        .cond_where(Expr::col(column("id")).lte(id));
    Ok(db
        .execute_raw(db.get_database_backend().build(&delete))
        .await?
        .rows_affected())
}
