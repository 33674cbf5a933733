//! The auto-timeout job: every sweep interval, end the sessions that went quiet; on SQLite,
//! every few hours, take the planner's statistics again.
//!
//! The sweep is [`Tracker::sweep`]; each statement is a conditional update, so it is safe
//! while requests arrive and when every replica runs it. On PostgreSQL and MySQL a round runs
//! under [`db::SweepLock`], so replicas take turns instead of doing the same work at once.

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use chrono::{DateTime, Utc};
use sea_orm::DbBackend;
use tokio::sync::watch;

use crate::{db, domain::time, services::Tracker, telemetry};

/// How often SQLite's planner statistics are taken again (see `db::analyze_sqlite`).
const ANALYZE_EVERY: Duration = Duration::from_secs(6 * 3600);

/// Every `interval`, a round under `lock` (a server that finds another one sweeping skips
/// its round).
pub async fn run(
    tracker: Arc<Tracker>,
    lock: db::SweepLock,
    interval: Duration,
    stop: watch::Receiver<bool>,
) {
    let (tracker, lock) = (&tracker, &lock);
    let sqlite = tracker.db().get_database_backend() == DbBackend::Sqlite;
    let mut analyzed = Instant::now();
    super::every(interval, stop, move || {
        let analyze = sqlite && analyzed.elapsed() >= ANALYZE_EVERY;
        if analyze {
            analyzed = Instant::now();
        }
        async move {
            match lock.run(step(tracker, time::now())).await {
                Ok(Some(())) => {}
                Ok(None) => tracing::debug!("another server is sweeping: this round is skipped"),
                Err(err) => tracing::error!(error = %err, "the sweep's lock failed"),
            }
            if analyze && let Err(err) = db::analyze_sqlite(tracker.db()).await {
                tracing::error!(error = %err, "taking SQLite's planner statistics failed");
            }
        }
    })
    .await;
}

/// One round at `now`: failures are logged and the next round tries again.
pub async fn step(tracker: &Tracker, now: DateTime<Utc>) {
    let started = Instant::now();
    match tracker.sweep(now).await {
        Ok(ended) => {
            telemetry::swept(ended, started.elapsed());
            if ended > 0 {
                tracing::info!(ended, "auto-timeout ended idle sessions");
            }
        }
        Err(err) => tracing::error!(error = %err, cause = ?err, "auto-timeout sweep failed"),
    }
}
