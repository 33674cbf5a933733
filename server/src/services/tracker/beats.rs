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
//!
//! The same entries keep whether the page was visible at its last beat: a beat after a silence
//! of more than two intervals of a visible page is an interruption (the student was away; a
//! hidden page is in the background while the student is in Zoom, and browsers slow its
//! timers), and a change of visibility is a moment of the session's timeline. Both are written
//! after the beats (`page`), a silence first checked against what every server wrote.
//!
//! The same entries say when each session's last live heartbeat event went out, so that at
//! most one per session per heartbeat interval reaches subscribers: one in-memory view of the
//! live sessions. Where servers share the database, the flush also appends one heartbeat event
//! per session per interval to the events table, for the other servers' subscribers.

use std::{
    collections::HashMap,
    sync::{Mutex, MutexGuard},
};

use chrono::{DateTime, Duration, Utc};
use entity::zoom_link::{self, SessionStatus};
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, DbBackend, EntityTrait, IsolationLevel, QueryFilter,
    QuerySelect, QueryTrait, Statement, TransactionSession, TransactionTrait,
    sea_query::{Expr, UpdateStatement},
};

use super::page::{PageMark, confirmed, page_marks, write_marks};
use crate::domain::{LinkId, time};
use crate::services::{
    Result,
    events::{EventKind, table},
};

/// Ids per statement: far below every backend's limit of bound parameters.
const CHUNK: usize = 1000;

/// Page marks kept for the next flush at most: past this, new ones are dropped.
const MAX_PENDING_MARKS: usize = 10_000;

/// How often quiet sessions are dropped from memory.
const PRUNE_EVERY: Duration = Duration::minutes(1);

/// A session this process has seen beat, by tracking token.
#[derive(Clone, Copy, Debug, Default)]
struct Entry {
    /// While it is known active: its id and last activity (the database's, or a later beat
    /// answered here). `None` once forgotten: its next beat asks the database.
    active: Option<(LinkId, DateTime<Utc>)>,
    /// When its last live heartbeat event went out.
    announced: Option<DateTime<Utc>>,
    /// Whether the page was visible at its last beat here (`None`: it did not say).
    visible: Option<bool>,
}

impl Entry {
    /// A beat of the session `id` at `now`, after its last activity `last`: what it tells of
    /// the page (nothing to allocate when it tells nothing); remembers whether the page is
    /// visible now.
    fn observe(
        &mut self,
        (id, last): (LinkId, DateTime<Utc>),
        (visible, now): (Option<bool>, DateTime<Utc>),
        away_after: Duration,
    ) -> Vec<PageMark> {
        let marks = page_marks(id, (self.visible, last), (visible, now), away_after);
        self.visible = visible;
        marks
    }

    /// Whether a live heartbeat event goes out for a beat at `now`; records it when it does.
    fn announce(&mut self, now: DateTime<Utc>, listened: bool, every: Duration) -> bool {
        let due = listened && self.announced.is_none_or(|last| now - last >= every);
        if due {
            self.announced = Some(now);
        }
        due
    }
}

#[derive(Default)]
struct State {
    entries: HashMap<String, Entry>,
    /// Beats answered but not yet written: session id → latest beat.
    pending: HashMap<LinkId, DateTime<Utc>>,
    /// Counts the times sessions were forgotten: a session read from the database before one
    /// of them may have ended since, and is not remembered as active.
    forgotten: u64,
    /// When [`Heartbeats::prune`] last walked `entries`.
    pruned_at: Option<DateTime<Utc>>,
    /// When each session's last heartbeat event for other servers was written.
    shared: HashMap<LinkId, DateTime<Utc>>,
    /// Page marks not yet written.
    marks: Vec<PageMark>,
}

impl State {
    fn pend(&mut self, id: LinkId, at: DateTime<Utc>) {
        let pending = self.pending.entry(id).or_insert(at);
        *pending = (*pending).max(at);
    }

    /// Keeps marks for the next flush, at most [`MAX_PENDING_MARKS`]: a database that refuses
    /// them for long never fills the memory.
    fn keep_marks(&mut self, marks: Vec<PageMark>) {
        let room = MAX_PENDING_MARKS.saturating_sub(self.marks.len());
        self.marks.extend(marks.into_iter().take(room));
    }
}

/// A beat answered from memory.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Accepted {
    /// A live heartbeat event is due for it.
    pub announce: bool,
}

pub struct Heartbeats {
    state: Mutex<State>,
    /// One flush at a time, so a sweep that flushed first sees every beat answered before it.
    flushing: tokio::sync::Mutex<()>,
    /// A session silent for this long is not answered from memory.
    timeout: Duration,
    /// At most one live heartbeat event per session this often.
    announce_every: Duration,
    /// This server in the events table.
    origin: i64,
}

impl Heartbeats {
    /// `origin` names this server in the events table.
    pub fn new(timeout: Duration, announce_every: Duration, origin: i64) -> Self {
        Self {
            state: Mutex::default(),
            flushing: tokio::sync::Mutex::new(()),
            timeout,
            announce_every,
            origin,
        }
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // The state is plain data, consistent after every statement: a panic elsewhere while
        // holding the lock leaves nothing half-done.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Answers a beat from memory when the session is known active and is not stale; `None`
    /// when the database must be asked. `listened`: whether anybody takes live events.
    pub fn accept(
        &self,
        token: &str,
        (visible, now): (Option<bool>, DateTime<Utc>),
        listened: bool,
    ) -> Option<Accepted> {
        let mut state = self.state();
        let entry = state.entries.get_mut(token)?;
        let (id, last) = entry.active?;
        if last < now - self.timeout {
            return None;
        }
        entry.active = Some((id, last.max(now)));
        let announce = entry.announce(now, listened, self.announce_every);
        let marks = entry.observe((id, last), (visible, now), self.away_after());
        state.keep_marks(marks);
        state.pend(id, now);
        Some(Accepted { announce })
    }

    /// A visible page silent for longer than this was away: two missed beats.
    fn away_after(&self) -> Duration {
        self.announce_every * 2
    }

    /// Where the forgetting stands: take it before reading a session for [`Self::record`].
    pub fn mark(&self) -> u64 {
        self.state().forgotten
    }

    /// Records a beat of a session the database showed active and fresh, read after `mark`.
    /// It is remembered as active only if nothing was forgotten since (a sweep or an end may
    /// have ended it after the read).
    pub fn record(
        &self,
        token: &str,
        (id, last): (LinkId, DateTime<Utc>),
        (visible, now): (Option<bool>, DateTime<Utc>),
        mark: u64,
        listened: bool,
    ) -> Accepted {
        let mut state = self.state();
        let remember = state.forgotten == mark;
        let entry = state.entries.entry(token.to_owned()).or_default();
        if remember {
            entry.active = Some((id, last.max(now)));
        }
        let announce = entry.announce(now, listened, self.announce_every);
        let marks = entry.observe((id, last), (visible, now), self.away_after());
        state.keep_marks(marks);
        state.pend(id, now);
        Accepted { announce }
    }

    /// A session this process ended or changed: its next beat asks the database.
    pub fn forget(&self, token: &str) {
        self.forget_tokens(std::slice::from_ref(&token));
    }

    /// Sessions ended together (a sweep): their next beats ask the database. By token, so
    /// that the lock heartbeats wait for is held for these sessions only.
    pub fn forget_tokens<T: AsRef<str>>(&self, tokens: &[T]) {
        if tokens.is_empty() {
            return;
        }
        let mut state = self.state();
        for token in tokens {
            if let Some(entry) = state.entries.get_mut(token.as_ref()) {
                entry.active = None;
            }
        }
        state.forgotten += 1;
    }

    /// Sessions seen beating lately, and beats answered and not yet written.
    pub fn sizes(&self) -> (usize, usize) {
        let state = self.state();
        (state.entries.len(), state.pending.len())
    }

    /// The latest beat of a session answered here and not yet written.
    pub fn latest(&self, id: LinkId) -> Option<DateTime<Utc>> {
        self.state().pending.get(&id).copied()
    }

    /// Takes the pending beats of `ids`, for a transaction that writes them before it decides
    /// on their sessions (a click or an end). [`Self::restore`] puts them back if it fails.
    pub fn take(&self, ids: impl IntoIterator<Item = LinkId>) -> Vec<(LinkId, DateTime<Utc>)> {
        let mut state = self.state();
        ids.into_iter()
            .filter_map(|id| state.pending.remove(&id).map(|at| (id, at)))
            .collect()
    }

    /// Beats taken but not written: the next flush writes them (newer beats meanwhile win).
    pub fn restore(&self, beats: impl IntoIterator<Item = (LinkId, DateTime<Utc>)>) {
        let mut state = self.state();
        for (id, at) in beats {
            state.pend(id, at);
        }
    }

    /// Writes every pending beat in one transaction; returns how many sessions moved forward.
    /// Sessions that turned out not to be active any more are forgotten. Where servers share
    /// the database, the transaction also appends a heartbeat event for each session that had
    /// none in the last heartbeat interval.
    pub async fn flush<C: ConnectionTrait + TransactionTrait>(&self, db: &C) -> Result<u64> {
        let _one_at_a_time = self.flushing.lock().await;
        let (pending, marks) = {
            let mut state = self.state();
            (
                std::mem::take(&mut state.pending),
                std::mem::take(&mut state.marks),
            )
        };
        if pending.is_empty() && marks.is_empty() {
            return Ok(0);
        }
        // Read before this flush moves the sessions' last activity forward.
        let marks = match confirmed(db, marks, self.away_after()).await {
            Ok(marks) => marks,
            Err(err) => {
                tracing::warn!(error = %err, "checking the page's silences failed: they are dropped");
                Vec::new()
            }
        };
        let due = if table::shared(db.get_database_backend()) {
            self.shared_due(&pending)
        } else {
            Vec::new()
        };
        let written = write(db, &pending, self.origin, &due).await;
        if written.is_ok() {
            {
                let mut state = self.state();
                for &(id, at) in &due {
                    state.shared.insert(id, at);
                }
            }
            // Apart from the beats: marks that cannot be written never hold the beats back.
            if let Err(err) = write_marks(db, &marks).await {
                tracing::warn!(error = %err, marks = marks.len(), "the page's marks were not written");
            }
        }
        match written {
            Ok(written) if written == pending.len() as u64 => Ok(written),
            Ok(written) => {
                let ids: Vec<LinkId> = pending.keys().copied().collect();
                let ended = ended_tokens(db, &ids).await?;
                self.forget_tokens(&ended);
                Ok(written)
            }
            Err(err) => {
                self.restore(pending);
                self.state().keep_marks(marks);
                Err(err)
            }
        }
    }

    /// The beats among `pending` that owe other servers a heartbeat event: of the sessions that
    /// had none in the last heartbeat interval.
    fn shared_due(&self, pending: &HashMap<LinkId, DateTime<Utc>>) -> Vec<(LinkId, DateTime<Utc>)> {
        let state = self.state();
        pending
            .iter()
            .filter(|(id, at)| {
                state
                    .shared
                    .get(id)
                    .is_none_or(|last| **at - *last >= self.announce_every)
            })
            .map(|(id, at)| (*id, *at))
            .collect()
    }

    /// Forgets sessions that went quiet for longer than the timeout (the sweep ends them), and
    /// forgotten ones whose last live event is older than the interval. At most once every
    /// [`PRUNE_EVERY`]: it walks every session while heartbeats wait for the lock, and a stale
    /// entry is never used anyway ([`Self::accept`] checks the time).
    pub fn prune(&self, now: DateTime<Utc>) {
        let mut state = self.state();
        if state.pruned_at.is_some_and(|at| now - at < PRUNE_EVERY) {
            return;
        }
        state.pruned_at = Some(now);
        let (stale, unannounced) = (now - self.timeout, now - self.announce_every);
        state.entries.retain(|_, entry| {
            if entry.active.is_some_and(|(_, last)| last < stale) {
                entry.active = None;
            }
            // A forgotten session's entry matters only while its last event is recent.
            entry.active.is_some() || entry.announced.is_some_and(|at| at >= unannounced)
        });
        state.shared.retain(|_, at| *at >= unannounced);
    }

    /// Beats answered and not yet written.
    #[cfg(test)]
    fn pending(&self) -> Vec<(LinkId, DateTime<Utc>)> {
        let mut pending: Vec<_> = self.state().pending.clone().into_iter().collect();
        pending.sort();
        pending
    }
}

fn touch(ids: Vec<LinkId>, at: DateTime<Utc>) -> sea_orm::UpdateMany<zoom_link::Entity> {
    zoom_link::Entity::update_many()
        .col_expr(
            zoom_link::Column::LastActivityAt,
            Expr::value(time::to_db(at)),
        )
        .filter(zoom_link::Column::Id.is_in(ids))
        .filter(zoom_link::Column::SessionStatus.eq(SessionStatus::Active))
        .filter(zoom_link::Column::LastActivityAt.lt(time::to_db(at)))
}

/// Writes `pending`, and the heartbeat events of the beats `due` whose sessions are still
/// active, written by `origin`, in one transaction (on MySQL read committed, so the events'
/// read of the sessions locks none of them).
async fn write<C: ConnectionTrait + TransactionTrait>(
    db: &C,
    pending: &HashMap<LinkId, DateTime<Utc>>,
    origin: i64,
    due: &[(LinkId, DateTime<Utc>)],
) -> Result<u64> {
    let txn = match db.get_database_backend() {
        DbBackend::MySql => {
            db.begin_with_config(Some(IsolationLevel::ReadCommitted), None)
                .await?
        }
        _ => db.begin().await?,
    };
    let written = write_beats(&txn, pending.iter().map(|(id, at)| (*id, *at))).await?;
    for (at, ids) in by_second(due.iter().copied()) {
        table::append_active(&txn, origin, EventKind::Heartbeat, at, &ids).await?;
    }
    txn.commit().await?;
    Ok(written)
}

/// Moves each session's last activity forward to its beat, if it is still active: one
/// statement per distinct second. Returns how many sessions moved.
pub async fn write_beats(
    db: &impl ConnectionTrait,
    beats: impl IntoIterator<Item = (LinkId, DateTime<Utc>)>,
) -> Result<u64> {
    let mut written = 0;
    for (at, ids) in by_second(beats) {
        for chunk in ids.chunks(CHUNK) {
            let update = touch(chunk.to_vec(), at).into_query();
            written += db.execute_raw(by_rowid(db, &update)).await?.rows_affected();
        }
    }
    Ok(written)
}

/// `beats`' sessions by the second of their beat.
fn by_second(
    beats: impl IntoIterator<Item = (LinkId, DateTime<Utc>)>,
) -> HashMap<DateTime<Utc>, Vec<LinkId>> {
    let mut by_second: HashMap<DateTime<Utc>, Vec<LinkId>> = HashMap::new();
    for (id, at) in beats {
        by_second.entry(at).or_default().push(id);
    }
    by_second
}

/// An update of sessions listed by id, as the backend runs it. On SQLite the rows are found by
/// their ids only (`NOT INDEXED` keeps the rowid): its planner, when its statistics are missing
/// or old, may read every active session through the status index instead.
pub fn by_rowid(db: &impl ConnectionTrait, update: &UpdateStatement) -> Statement {
    let backend = db.get_database_backend();
    let mut statement = backend.build(update);
    if backend == DbBackend::Sqlite {
        statement.sql = statement.sql.replacen(
            "UPDATE \"wpos_zoom_links\" SET",
            "UPDATE \"wpos_zoom_links\" NOT INDEXED SET",
            1,
        );
    }
    statement
}

/// After a flush that moved fewer sessions than it had: the tokens among `ids` whose session is
/// no longer active.
async fn ended_tokens(db: &impl ConnectionTrait, ids: &[LinkId]) -> Result<Vec<String>> {
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

#[cfg(test)]
mod tests {
    use super::*;

    const TIMEOUT: Duration = Duration::minutes(10);
    const EVERY: Duration = Duration::seconds(30);

    fn at(seconds: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000 + seconds, 0).unwrap()
    }

    fn buffer() -> Heartbeats {
        Heartbeats::new(TIMEOUT, EVERY, 0)
    }

    #[test]
    fn a_session_read_once_is_answered_from_memory_until_it_goes_stale() {
        let beats = buffer();
        assert_eq!(
            beats.accept("t", (None, at(0)), false),
            None,
            "unknown: ask the database"
        );
        let mark = beats.mark();
        beats.record("t", (LinkId(7), at(0)), (None, at(5)), mark, false);
        assert!(beats.accept("t", (None, at(20)), false).is_some());
        assert!(
            beats.accept("t", (None, at(10)), false).is_some(),
            "an older beat is taken"
        );
        assert_eq!(
            beats.pending(),
            [(LinkId(7), at(20))],
            "the latest beat waits"
        );
        let silent = at(20) + TIMEOUT + Duration::seconds(1);
        assert_eq!(
            beats.accept("t", (None, silent), false),
            None,
            "stale: the database decides"
        );
    }

    #[test]
    fn a_session_forgotten_during_its_read_is_not_remembered() {
        let beats = buffer();
        let mark = beats.mark();
        beats.forget("other");
        beats.record("t", (LinkId(1), at(0)), (None, at(0)), mark, false);
        assert_eq!(beats.accept("t", (None, at(1)), false), None);
        assert_eq!(
            beats.pending(),
            [(LinkId(1), at(0))],
            "the beat itself is kept"
        );
        let mark = beats.mark();
        beats.record("t", (LinkId(1), at(0)), (None, at(2)), mark, false);
        beats.forget("t");
        assert_eq!(
            beats.accept("t", (None, at(3)), false),
            None,
            "ended here: ask again"
        );
    }

    #[test]
    fn one_live_heartbeat_per_session_per_interval_and_none_unheard() {
        let beats = buffer();
        let mark = beats.mark();
        let first = beats.record("t", (LinkId(1), at(0)), (None, at(0)), mark, true);
        assert!(first.announce);
        assert_eq!(
            beats.accept("t", (None, at(10)), true),
            Some(Accepted { announce: false })
        );
        assert_eq!(
            beats.accept("t", (None, at(31)), false),
            Some(Accepted { announce: false })
        );
        assert_eq!(
            beats.accept("t", (None, at(32)), true),
            Some(Accepted { announce: true })
        );
        // A click forgets the session; its next beat within the interval is not announced.
        beats.forget("t");
        let mark = beats.mark();
        let again = beats.record("t", (LinkId(1), at(32)), (None, at(40)), mark, true);
        assert!(!again.announce);
    }

    #[test]
    fn pruning_drops_quiet_sessions_and_keeps_live_ones() {
        let beats = buffer();
        let mark = beats.mark();
        beats.record("quiet", (LinkId(1), at(0)), (None, at(0)), mark, true);
        beats.record("live", (LinkId(2), at(0)), (None, at(0)), mark, true);
        let later = at(0) + TIMEOUT + Duration::seconds(5);
        assert!(
            beats
                .accept("live", (None, later - Duration::seconds(10)), false)
                .is_some()
        );
        beats.prune(later);
        assert_eq!(beats.state().entries.len(), 1);
        assert!(beats.accept("live", (None, later), false).is_some());
        assert_eq!(beats.accept("quiet", (None, later), false), None);
    }
}
