//! Heartbeats, coalesced in memory and written in batches.
//!
//! A session beats every heartbeat interval (30 s); 100,000 students in lessons send about
//! 3,500 beats a second. Writing each one would make the database's writer the limit, so a beat
//! of a session this process knows to be active and fresh is answered from memory: its time is
//! kept as the session's pending last activity, and [`Heartbeats::flush`] writes every pending
//! one in a few statements (one per distinct second, since times are whole seconds).
//!
//! What is never lost: the flush job writes at least every flush interval (at most 1 s), the
//! server flushes once more after its last request on a graceful stop, and a sweep, a click or
//! an end writes the beats it depends on before it decides. A crash loses at most the beats of
//! the last flush interval; clicks and ends are written before they are answered.
//!
//! `last_activity_at` only moves forward and only on an active session: the batch update is
//! conditional, so a session ended meanwhile (here, by another server or by an admin) stays
//! ended, and its token is forgotten so that its next beat asks the database again.

use std::{
    collections::HashMap,
    sync::{Mutex, MutexGuard},
};

use chrono::{DateTime, Duration, Utc};
use entity::zoom_link::{self, SessionStatus};
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, EntityTrait, QueryFilter, QuerySelect,
    TransactionSession, TransactionTrait, sea_query::Expr,
};

use super::Result;
use crate::domain::time;

/// Ids per statement: far below every backend's limit of bound parameters.
const CHUNK: usize = 1000;

/// How often quiet sessions are dropped from memory.
const PRUNE_EVERY: Duration = Duration::minutes(1);

/// A session this process has seen active.
#[derive(Clone, Copy, Debug)]
struct Known {
    id: i64,
    /// Its last activity: the database's, or a later beat answered here.
    last: DateTime<Utc>,
}

#[derive(Default)]
struct State {
    /// Active sessions by tracking token.
    known: HashMap<String, Known>,
    /// Beats answered but not yet written: session id → latest beat.
    pending: HashMap<i64, DateTime<Utc>>,
    /// Counts the times sessions were forgotten: a session read from the database before one
    /// of them may have ended since, and is not remembered as active.
    forgotten: u64,
    /// When [`Heartbeats::prune`] last walked `known`.
    pruned_at: Option<DateTime<Utc>>,
}

#[derive(Default)]
pub struct Heartbeats {
    state: Mutex<State>,
    /// One flush at a time, so a sweep that flushed first sees every beat answered before it.
    flushing: tokio::sync::Mutex<()>,
}

impl Heartbeats {
    fn state(&self) -> MutexGuard<'_, State> {
        // The state is plain data, consistent after every statement: a panic elsewhere while
        // holding the lock leaves nothing half-done.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Answers a beat from memory when the session is known active and is not stale.
    pub fn accept(&self, token: &str, now: DateTime<Utc>, timeout: Duration) -> bool {
        let mut state = self.state();
        let Some(known) = state.known.get_mut(token) else {
            return false;
        };
        if known.last < now - timeout {
            return false;
        }
        known.last = known.last.max(now);
        let id = known.id;
        let pending = state.pending.entry(id).or_insert(now);
        *pending = (*pending).max(now);
        true
    }

    /// Where the forgetting stands: take it before reading a session for [`Self::record`].
    pub fn mark(&self) -> u64 {
        self.state().forgotten
    }

    /// Records a beat of a session the database showed active and fresh, read after `mark`.
    /// It is remembered as active only if nothing was forgotten since (a sweep or an end may
    /// have ended it after the read).
    pub fn record(&self, token: &str, id: i64, last: DateTime<Utc>, now: DateTime<Utc>, mark: u64) {
        let mut state = self.state();
        if state.forgotten == mark {
            let at = last.max(now);
            state.known.insert(token.to_owned(), Known { id, last: at });
        }
        let pending = state.pending.entry(id).or_insert(now);
        *pending = (*pending).max(now);
    }

    /// A session this process ended or changed: its next beat asks the database.
    pub fn forget(&self, token: &str) {
        let mut state = self.state();
        state.known.remove(token);
        state.forgotten += 1;
    }

    /// Sessions a sweep ended: their next beats ask the database. By token, so that the lock
    /// heartbeats wait for is held for these sessions only, not for every one known.
    pub fn forget_tokens(&self, tokens: &[String]) {
        let mut state = self.state();
        for token in tokens {
            state.known.remove(token);
        }
        state.forgotten += 1;
    }

    /// Writes the pending beat of one session now, before a click or an end decides on it.
    pub async fn flush_session(&self, db: &impl ConnectionTrait, token: &str) -> Result<()> {
        let beat = {
            let mut state = self.state();
            let id = state.known.get(token).map(|known| known.id);
            id.and_then(|id| state.pending.remove(&id).map(|at| (id, at)))
        };
        if let Some((id, at)) = beat {
            touch(vec![id], at).exec(db).await?;
        }
        Ok(())
    }

    /// Writes every pending beat in one transaction; returns how many sessions moved forward.
    /// Sessions that turned out not to be active any more are forgotten.
    pub async fn flush<C: ConnectionTrait + TransactionTrait>(&self, db: &C) -> Result<u64> {
        let _one_at_a_time = self.flushing.lock().await;
        let pending = std::mem::take(&mut self.state().pending);
        if pending.is_empty() {
            return Ok(0);
        }
        match write(db, &pending).await {
            Ok(written) if written == pending.len() as u64 => Ok(written),
            Ok(written) => {
                let ids: Vec<i64> = pending.keys().copied().collect();
                let ended = ended_tokens(db, &ids).await?;
                let mut state = self.state();
                for token in ended {
                    state.known.remove(&token);
                }
                Ok(written)
            }
            Err(err) => {
                // Put them back (newer beats meanwhile win): the next flush tries again.
                let mut state = self.state();
                for (id, at) in pending {
                    let kept = state.pending.entry(id).or_insert(at);
                    *kept = (*kept).max(at);
                }
                Err(err)
            }
        }
    }

    /// Forgets sessions that went quiet for longer than `timeout`: the sweep ends them. At most
    /// once every [`PRUNE_EVERY`]: it walks every known session while heartbeats wait for the
    /// lock, and a stale entry is never used anyway ([`Self::accept`] checks the time).
    pub fn prune(&self, now: DateTime<Utc>, timeout: Duration) {
        let mut state = self.state();
        if state.pruned_at.is_some_and(|at| now - at < PRUNE_EVERY) {
            return;
        }
        state.pruned_at = Some(now);
        state.known.retain(|_, known| known.last >= now - timeout);
    }
}

fn touch(ids: Vec<i64>, at: DateTime<Utc>) -> sea_orm::UpdateMany<zoom_link::Entity> {
    zoom_link::Entity::update_many()
        .col_expr(
            zoom_link::Column::LastActivityAt,
            Expr::value(time::to_db(at)),
        )
        .filter(zoom_link::Column::Id.is_in(ids))
        .filter(zoom_link::Column::SessionStatus.eq(SessionStatus::Active))
        .filter(zoom_link::Column::LastActivityAt.lt(time::to_db(at)))
}

async fn write<C: ConnectionTrait + TransactionTrait>(
    db: &C,
    pending: &HashMap<i64, DateTime<Utc>>,
) -> Result<u64> {
    let mut by_second: HashMap<DateTime<Utc>, Vec<i64>> = HashMap::new();
    for (id, at) in pending {
        by_second.entry(*at).or_default().push(*id);
    }
    let txn = db.begin().await?;
    let mut written = 0;
    for (at, ids) in by_second {
        for chunk in ids.chunks(CHUNK) {
            written += touch(chunk.to_vec(), at).exec(&txn).await?.rows_affected;
        }
    }
    txn.commit().await?;
    Ok(written)
}

/// After a flush that moved fewer sessions than it had: the tokens among `ids` whose session is
/// no longer active.
async fn ended_tokens(db: &impl ConnectionTrait, ids: &[i64]) -> Result<Vec<String>> {
    let mut ended = Vec::new();
    for chunk in ids.chunks(CHUNK) {
        let tokens: Vec<String> = zoom_link::Entity::find()
            .select_only()
            .column(zoom_link::Column::TrackingToken)
            .filter(zoom_link::Column::Id.is_in(chunk.iter().copied()))
            .filter(
                Condition::any()
                    .add(zoom_link::Column::SessionStatus.is_null())
                    .add(zoom_link::Column::SessionStatus.ne(SessionStatus::Active)),
            )
            .into_tuple()
            .all(db)
            .await?;
        ended.extend(tokens);
    }
    Ok(ended)
}
