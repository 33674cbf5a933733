//! Session tracking: one handle that owns what the session rules act on.
//!
//! [`Tracker`] holds the database connections, the heartbeat buffer, the live event bus and
//! the session rules; its methods are the operations the tracking endpoints, the GraphQL API,
//! Zoom's webhooks and the jobs call: [`Tracker::click`], [`Tracker::heartbeat`],
//! [`Tracker::end`], [`Tracker::sweep`], `Tracker::apply_zoom` (in `services::zoom`). Every
//! operation takes `now`, so tests decide the time.
//!
//! Clicks and ends are committed in groups (`commit`), each decided on its session as the
//! writer's transaction holds it, locked. The sweep and Zoom's webhooks end a session with a
//! conditional `UPDATE … WHERE session_status = 'active'`, which waits for such a lock and then
//! finds the session as it was left; so of an end-session, a sweep and a webhook racing on one
//! session exactly one takes effect, and the others see what it recorded.

mod beats;
mod changes;
mod commit;
mod lookup;
mod page;
mod relay;
mod session;
mod shapes;
mod sweep;

use std::sync::Arc;

use chrono::{DateTime, Utc};
use entity::zoom_link;
use sea_orm::DatabaseConnection;

use self::{beats::Heartbeats, commit::GroupCommit, lookup::Lookups};
pub use self::{
    changes::{Click, SessionEnd},
    session::EndOutcome,
};
use super::{
    events::{EventBus, EventKind},
    view,
};
use crate::{
    db::Pools,
    domain::{SessionRules, time},
};

pub struct Tracker {
    /// Writes, and reads that decide a write.
    pub(in crate::services) db: DatabaseConnection,
    /// Reads that may run beside the writer (on SQLite, read-only connections).
    pub(in crate::services) read: DatabaseConnection,
    pub(in crate::services) beats: Arc<Heartbeats>,
    /// Sessions read by token (from `read`), in batches.
    lookups: Lookups,
    /// Clicks and ends, committed in groups.
    commits: GroupCommit,
    pub(in crate::services) events: EventBus,
    pub(in crate::services) rules: SessionRules,
}

impl Tracker {
    /// Starts the task that commits clicks and ends (it needs a Tokio runtime).
    pub fn new(pools: Pools, rules: SessionRules) -> Self {
        // Live heartbeat events go out at most once per session per heartbeat interval.
        let events = EventBus::default();
        let beats = Arc::new(Heartbeats::new(
            rules.timeout,
            rules.heartbeat,
            events.origin,
        ));
        Self {
            lookups: Lookups::start(pools.read.clone()),
            commits: GroupCommit::start(pools.write.clone(), beats.clone(), rules, events.origin),
            db: pools.write,
            read: pools.read,
            beats,
            events,
            rules,
        }
    }

    /// The writer's connection: also for services that change other tables.
    pub fn db(&self) -> &DatabaseConnection {
        &self.db
    }

    /// Connections for reports and lists.
    pub fn read(&self) -> &DatabaseConnection {
        &self.read
    }

    pub fn events(&self) -> &EventBus {
        &self.events
    }

    /// Writes the heartbeats answered from memory (the flush job, and the last one at stop).
    pub async fn flush(&self) -> super::Result<u64> {
        self.beats.flush(&self.db).await
    }

    /// The heartbeat buffer: sessions seen beating lately, and beats not yet written.
    pub fn buffer(&self) -> (usize, usize) {
        self.beats.sizes()
    }

    /// Drops sessions that went quiet from memory (the flush job, at most once a minute).
    pub fn prune(&self, now: DateTime<Utc>) {
        self.beats.prune(now);
    }

    /// Publishes `links`' change to subscribers with their teacher and student, read (beside
    /// the writer) only while somebody listens. The change is committed: a failed read is
    /// logged, never returned.
    pub(in crate::services) async fn announce(
        &self,
        kind: EventKind,
        links: Vec<zoom_link::Model>,
        now: DateTime<Utc>,
    ) {
        if !self.events.listened() || links.is_empty() {
            return;
        }
        match view::attach(&self.read, links).await {
            Ok(sessions) => self.events.publish(kind, sessions, now),
            Err(err) => tracing::error!(error = %err, cause = ?err, "a live event was lost"),
        }
    }
}

/// `items` made as long as the next power of two by repeating its last: a statement over a list
/// of values then has one of a few shapes, each prepared once by the connection.
fn padded<T: Clone>(mut items: Vec<T>) -> Vec<T> {
    if let Some(last) = items.last().cloned() {
        items.resize(items.len().next_power_of_two(), last);
    }
    items
}

/// Silent for longer than the timeout (a day longer while Zoom reports the student in the
/// meeting: Zoom's leave was lost).
fn is_stale(link: &zoom_link::Model, rules: SessionRules, now: DateTime<Utc>) -> bool {
    let before = rules.stale_before(now, link.zoom_in_meeting);
    link.last_activity_at
        .is_none_or(|last| time::from_db(last) < before)
}
