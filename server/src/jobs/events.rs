//! Other servers' live events, on PostgreSQL and MySQL: tails the events table
//! (`services::events::table`) and passes them on (`Tracker::relay`).
//!
//! On PostgreSQL a listener of its own (`LISTEN session_events`, on a connection that is not
//! the pool's: through a transaction pooler, notifications do not arrive) wakes the tail when
//! a statement of rows commits. It reads after each notification, after each reconnect (what
//! was committed while it was away), and every [`POSTGRES_EVERY`] whatever happens. MySQL has
//! no notifications: it reads every [`MYSQL_EVERY`]. Rows older than [`KEEP`] are deleted.

use std::{
    collections::VecDeque,
    sync::Arc,
    time::{Duration, Instant},
};

use sea_orm::{DbBackend, sqlx::postgres::PgListener};
use tokio::sync::{Notify, watch};

use crate::services::{
    Tracker,
    events::table::{self, PAGE, Tail},
};

/// How often PostgreSQL's tail reads without a notification.
const POSTGRES_EVERY: Duration = Duration::from_secs(2);
/// How often MySQL's tail reads.
const MYSQL_EVERY: Duration = Duration::from_millis(200);
/// How long after a failure the listener connects again.
const RETRY: Duration = Duration::from_secs(1);
/// How long rows are kept: every server has read them long before.
const KEEP: Duration = Duration::from_secs(300);
/// How often the rows older than [`KEEP`] are deleted.
const PRUNE_EVERY: Duration = Duration::from_secs(60);

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
    let every = match backend {
        DbBackend::Postgres => POSTGRES_EVERY,
        _ => MYSQL_EVERY,
    };
    // The highest id read, every PRUNE_EVERY: what is older than KEEP is deleted.
    let mut read: VecDeque<(Instant, i64)> = VecDeque::new();
    loop {
        tokio::select! {
            _ = wake.notified() => {}
            _ = tokio::time::sleep(every) => {}
            _ = stop.changed() => break,
        }
        drain(&tracker, &mut tail).await;
        if read
            .back()
            .is_none_or(|(at, _)| at.elapsed() >= PRUNE_EVERY)
        {
            read.push_back((Instant::now(), tail.last()));
        }
        if let Some(&(at, id)) = read.front()
            && at.elapsed() >= KEEP
        {
            read.pop_front();
            if let Err(err) = table::prune(tracker.db(), id).await {
                tracing::error!(error = %err, "deleting old events failed");
            }
        }
    }
    if let Some(listener) = listener {
        listener.abort();
    }
}

/// Reads and passes on every row committed since the last read.
async fn drain(tracker: &Tracker, tail: &mut Tail) {
    loop {
        let rows = match tail.read(tracker.read()).await {
            Ok(rows) => rows,
            Err(err) => {
                tracing::error!(error = %err, "reading the events table failed; retrying");
                return;
            }
        };
        let full = rows.len() as u64 == PAGE;
        if let Err(err) = tracker.relay(rows).await {
            tracing::error!(error = %err, "other servers' events were lost");
        }
        if !full {
            return;
        }
    }
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
