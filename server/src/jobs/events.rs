//! Other servers' live events, on PostgreSQL and MySQL: tails the events table
//! (`services::events::table`) and passes them on (`Tracker::relay`).
//!
//! On PostgreSQL a listener of its own (`LISTEN session_events`, on a connection that is not
//! the pool's: through a transaction pooler, notifications do not arrive) wakes the tail when
//! a statement of rows commits. It reads after each notification, after each reconnect (what
//! was committed while it was away), and after [`POSTGRES_QUIET`] without either. MySQL has no
//! notifications: it reads every [`MYSQL_EVERY`]. A task of its own deletes the rows older
//! than [`KEEP`].

use std::{
    collections::VecDeque,
    sync::{
        Arc,
        atomic::{AtomicI64, Ordering},
    },
    time::{Duration, Instant},
};

use sea_orm::{DbBackend, sqlx::postgres::PgListener};
use tokio::sync::{Notify, watch};

use crate::services::{
    Tracker,
    events::table::{self, Recorded, Tail},
};

/// How long PostgreSQL's tail waits for a notification before it reads anyway.
const POSTGRES_QUIET: Duration = Duration::from_secs(2);
/// How often MySQL's tail reads.
const MYSQL_EVERY: Duration = Duration::from_millis(200);
/// How long after a failure the listener connects again.
const RETRY: Duration = Duration::from_secs(1);
/// How long rows are kept: every server has read them long before.
const KEEP: Duration = Duration::from_secs(300);
/// How often the rows older than [`KEEP`] are deleted.
const PRUNE_EVERY: Duration = Duration::from_secs(60);
/// Events kept for another try when passing them on failed, at most.
const RETRIED: usize = 10_000;

pub async fn run(tracker: Arc<Tracker>, url: String, mut stop: watch::Receiver<bool>) {
    let backend = tracker.db().get_database_backend();
    if !table::shared(backend) {
        return;
    }
    let mut tail = loop {
        match Tail::at_end(tracker.read()).await {
            Ok(tail) => break tail,
            Err(err) => tracing::error!(error = %err, "reading the events table failed; retrying"),
        }
        tokio::select! {
            _ = tokio::time::sleep(RETRY) => {}
            _ = stop.changed() => return,
        }
    };
    let wake = Arc::new(Notify::new());
    let listener =
        (backend == DbBackend::Postgres).then(|| tokio::spawn(listen(url, wake.clone())));
    let read = Arc::new(AtomicI64::new(tail.last()));
    let pruner = tokio::spawn(prune(tracker.clone(), read.clone(), stop.clone()));
    let every = match backend {
        DbBackend::Postgres => POSTGRES_QUIET,
        _ => MYSQL_EVERY,
    };
    let mut failed = Vec::new();
    loop {
        tokio::select! {
            _ = wake.notified() => {}
            _ = tokio::time::sleep(every) => {}
            _ = stop.changed() => break,
        }
        drain(&tracker, &mut tail, &mut failed).await;
        read.store(tail.last(), Ordering::Relaxed);
    }
    if let Some(listener) = listener {
        listener.abort();
    }
    let _ = pruner.await;
}

/// Reads and passes on every row committed since the last read. Events that could not be
/// passed on (the sessions' read failed) are kept in `failed` for the next time.
async fn drain(tracker: &Tracker, tail: &mut Tail, failed: &mut Vec<Recorded>) {
    loop {
        let (rows, full) = match tail.read(tracker.read()).await {
            Ok(read) => read,
            Err(err) => {
                tracing::error!(error = %err, "reading the events table failed; retrying");
                return;
            }
        };
        let mut events = std::mem::take(failed);
        events.extend(rows);
        if events.is_empty() {
            return;
        }
        if let Err(err) = tracker.relay(&events).await {
            tracing::error!(error = %err, "passing other servers' events on failed; retrying");
            if events.len() > RETRIED {
                tracing::error!(lost = events.len(), "other servers' events were lost");
            } else {
                *failed = events;
            }
            return;
        }
        if !full {
            return;
        }
    }
}

/// Every [`PRUNE_EVERY`], deletes the rows read [`KEEP`] ago (`read` is the highest id read).
async fn prune(tracker: Arc<Tracker>, read: Arc<AtomicI64>, stop: watch::Receiver<bool>) {
    let mut marks: VecDeque<(Instant, i64)> = VecDeque::new();
    super::every(PRUNE_EVERY, stop, || {
        marks.push_back((Instant::now(), read.load(Ordering::Relaxed)));
        let old = match marks.front() {
            Some(&(at, id)) if at.elapsed() >= KEEP => {
                marks.pop_front();
                Some(id)
            }
            _ => None,
        };
        let tracker = tracker.clone();
        async move {
            if let Some(id) = old
                && let Err(err) = table::prune(tracker.db(), id).await
            {
                tracing::error!(error = %err, "deleting old events failed");
            }
        }
    })
    .await;
}

/// Wakes the tail at each notification of the events channel, and after each (re)connection.
async fn listen(url: String, wake: Arc<Notify>) {
    loop {
        match PgListener::connect(&url).await {
            Ok(mut listener) => match listener.listen(table::CHANNEL).await {
                Ok(()) => loop {
                    // Connected, or connected again after the connection was lost.
                    wake.notify_one();
                    match listener.try_recv().await {
                        Ok(Some(_)) => {}
                        Ok(None) => {
                            tracing::warn!("the events listener's connection was lost; reconnected")
                        }
                        Err(err) => {
                            tracing::error!(error = %err, "the events listener failed");
                            break;
                        }
                    }
                },
                Err(err) => tracing::error!(error = %err, "listening for events failed"),
            },
            Err(err) => tracing::error!(error = %err, "the events listener cannot connect"),
        }
        tokio::time::sleep(RETRY).await;
    }
}
