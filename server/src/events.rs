//! Live session events for subscribers (the dashboard, integrators).
//!
//! Services publish after their statement has committed. A broadcast channel decouples
//! publishers from subscribers: a slow subscriber never slows the tracking endpoints or other
//! subscribers; one that falls too far behind lags (its `sessionEvents` stream then ends). Nothing is read from the database for events while nobody
//! listens.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
};

use chrono::{DateTime, Duration, Utc};
use entity::zoom_link;
use sea_orm::ConnectionTrait;
use tokio::sync::{Semaphore, broadcast};

use crate::services::reports;

/// How many events a subscriber may fall behind before it lags.
const CAPACITY: usize = 4096;
/// Live statistics recounting at the same time, at most.
const RECOUNTS: usize = 4;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventKind {
    Started,
    /// A second click continued the session, or reopened it after a reload.
    Resumed,
    Heartbeat,
    Ended,
    TimedOut,
}

#[derive(Clone, Debug)]
pub struct SessionEvent {
    pub kind: EventKind,
    pub at: DateTime<Utc>,
    pub session: reports::SessionView,
}

pub struct EventBus {
    sender: broadcast::Sender<Arc<SessionEvent>>,
    /// Live statistics recount on changes; this bounds how many recount at once, so
    /// subscribers never take the connection pool from the tracking endpoints.
    pub recounts: Semaphore,
    /// When each session's last heartbeat event went out, keyed by tracking token.
    beats: Mutex<LastBeats>,
    beat_every: Duration,
}

#[derive(Default)]
struct LastBeats {
    by_token: HashMap<String, DateTime<Utc>>,
    /// When sessions that stopped beating were last dropped from `by_token`.
    pruned_at: Option<DateTime<Utc>>,
}

impl EventBus {
    pub fn new(beat_every: Duration) -> Self {
        Self {
            sender: broadcast::channel(CAPACITY).0,
            recounts: Semaphore::new(RECOUNTS),
            beats: Mutex::default(),
            beat_every,
        }
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Arc<SessionEvent>> {
        self.sender.subscribe()
    }

    pub fn listened(&self) -> bool {
        self.sender.receiver_count() > 0
    }

    /// Publishes a state change of `links`, if anybody listens. The change is already
    /// committed: a failure here is logged and never turns it into an error.
    pub async fn publish(
        &self,
        db: &impl ConnectionTrait,
        kind: EventKind,
        links: Vec<zoom_link::Model>,
        at: DateTime<Utc>,
    ) {
        if !self.listened() || links.is_empty() {
            return;
        }
        match reports::attach(db, links).await {
            Ok(sessions) => {
                for session in sessions {
                    // Sending fails only when the last subscriber just left: nothing to do.
                    let _ = self
                        .sender
                        .send(Arc::new(SessionEvent { kind, at, session }));
                }
            }
            Err(err) => tracing::error!(error = %err, cause = ?err, "a live event was lost"),
        }
    }

    /// Whether a heartbeat of `token` at `now` should go out: at most one per session per
    /// heartbeat interval, and none while nobody listens.
    pub fn beat_due(&self, token: &str, now: DateTime<Utc>) -> bool {
        if !self.listened() {
            return false;
        }
        let Ok(mut beats) = self.beats.lock() else {
            return false;
        };
        if beats
            .by_token
            .get(token)
            .is_some_and(|last| now - *last < self.beat_every)
        {
            return false;
        }
        // Forget sessions that stopped beating, so the map stays as large as the live ones: once
        // per heartbeat interval, since it walks every live session.
        if beats.pruned_at.is_none_or(|at| now - at >= self.beat_every) {
            let horizon = now - self.beat_every * 4;
            beats.by_token.retain(|_, last| *last > horizon);
            beats.pruned_at = Some(now);
        }
        beats.by_token.insert(token.to_owned(), now);
        true
    }
}
