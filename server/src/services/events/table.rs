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

use entity::zoom_link::{self, SessionStatus};
use sea_orm::ColumnTrait;

use super::EventKind;
use crate::domain::{LinkId, time};

/// The PostgreSQL channel that each statement appending rows notifies with its last id.
pub const CHANNEL: &str = "session_events";
/// How long an id skipped over is asked for again.
const GAP_WAIT: Duration = Duration::from_secs(10);
/// Skipped ids remembered at most: a larger jump (ids a crash or a large rollback used up) is
/// not waited for.
const GAPS: usize = 1024;
/// Rows one read takes at most, and one statement writes or deletes at most.
pub const PAGE: u64 = 1000;
/// The ids below the table's end that a server starting reads again: rows of transactions
/// still open then. Nobody subscribes to a server that is starting, so this only forgets ended
/// sessions (none yet in its heartbeat buffer).
const AT_START: i64 = 256;

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
    for chunk in events.chunks(PAGE as usize) {
        let mut insert = Query::insert();
        insert
            .into_table(table())
            .columns(["link_id", "kind", "at", "written_at", "origin"].map(column));
        for &(kind, link, at) in chunk {
            insert.values_panic([
                link.0.into(),
                name(kind).into(),
                time::to_db(at).into(),
                written_at.into(),
                origin.into(),
            ]);
        }
        db.execute_raw(backend.build(&insert)).await?;
    }
    Ok(())
}

/// Appends a `kind` row at `at` for each of `links` whose session is active, written by
/// `origin`, in `db`: the transaction that changed them. Nothing on SQLite.
pub async fn append_active(
    db: &impl ConnectionTrait,
    origin: i64,
    kind: EventKind,
    at: DateTime<Utc>,
    links: &[LinkId],
) -> Result<(), DbErr> {
    let backend = db.get_database_backend();
    if !shared(backend) {
        return Ok(());
    }
    let written_at = Utc::now().naive_utc();
    for chunk in links.chunks(PAGE as usize) {
        let mut active = Query::select();
        active
            .column(zoom_link::Column::Id)
            .exprs([
                Expr::val(name(kind)),
                Expr::val(time::to_db(at)),
                Expr::val(written_at),
                Expr::val(origin),
            ])
            .from(zoom_link::Entity)
            .and_where(zoom_link::Column::Id.is_in(chunk.iter().copied()))
            .and_where(zoom_link::Column::SessionStatus.eq(SessionStatus::Active));
        let mut insert = Query::insert();
        insert
            .into_table(table())
            .columns(["link_id", "kind", "at", "written_at", "origin"].map(column))
            .select_from(active)
            .map_err(|err| DbErr::Custom(err.to_string()))?;
        db.execute_raw(backend.build(&insert)).await?;
    }
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
    /// At the table's end: what was written before is not read, but for the last [`AT_START`]
    /// ids (their transactions may still commit).
    pub async fn at_end(db: &impl ConnectionTrait) -> Result<Self, DbErr> {
        let last = end(db, true).await?.unwrap_or(0);
        Ok(Self {
            last: Ord::max(last - AT_START, 0),
            gaps: BTreeMap::new(),
        })
    }

    /// The highest id read.
    pub fn last(&self) -> i64 {
        self.last
    }

    /// The rows committed since the last read, in the order of their ids: the rows after the
    /// highest id read, and the ones among the ids skipped over that committed since. At most
    /// [`PAGE`] rows are read: the second value says whether that many were.
    pub async fn read(
        &mut self,
        db: &impl ConnectionTrait,
    ) -> Result<(Vec<Recorded>, bool), DbErr> {
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
        let full = rows.len() as u64 == PAGE;
        // Every row decoded before the tail moves: a failed read is read again.
        let mut read = Vec::with_capacity(rows.len());
        let mut ids = Vec::with_capacity(rows.len());
        for row in &rows {
            ids.push(row.try_get::<i64>("", "id")?);
            read.extend(Recorded::from_row(row)?);
        }
        for id in ids {
            if self.gaps.remove(&id).is_none() && id > self.last {
                for skipped in (self.last + 1..id)
                    .rev()
                    .take(GAPS - self.gaps.len().min(GAPS))
                {
                    self.gaps.insert(skipped, now);
                }
                self.last = id;
            }
        }
        Ok((read, full))
    }
}

/// The lowest or the highest id in the table, if any.
async fn end(db: &impl ConnectionTrait, highest: bool) -> Result<Option<i64>, DbErr> {
    let id = Expr::col(column("id"));
    let mut select = Query::select();
    select
        .expr(if highest {
            Func::max(id)
        } else {
            Func::min(id)
        })
        .from(table());
    Ok(db
        .query_one_raw(db.get_database_backend().build(&select))
        .await?
        .map(|row| row.try_get_by_index::<Option<i64>>(0))
        .transpose()?
        .flatten())
}

/// Deletes the rows up to `id` (every server has read them), [`PAGE`] ids per statement, so
/// that no statement holds many rows at once; returns the rows deleted.
pub async fn prune(db: &impl ConnectionTrait, id: i64) -> Result<u64, DbErr> {
    let Some(mut low) = end(db, false).await? else {
        return Ok(0);
    };
    let mut deleted = 0;
    while low <= id {
        let high = Ord::min(id, low + PAGE as i64 - 1);
        let mut delete = Query::delete();
        delete.from_table(table()).cond_where(
            Cond::all()
                .add(Expr::col(column("id")).gte(low))
                .add(Expr::col(column("id")).lte(high)),
        );
        deleted += db
            .execute_raw(db.get_database_backend().build(&delete))
            .await?
            .rows_affected();
        low = high + 1;
    }
    Ok(deleted)
}
