//! The auto-timeout job: every sweep interval, end the sessions that went quiet; on SQLite,
//! every few hours, take the planner's statistics again.
//!
//! The sweep is [`Tracker::sweep`]; each statement is a conditional update, so it is safe
//! while requests arrive and when every replica runs it.

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use chrono::{DateTime, Utc};
use sea_orm::DbBackend;
use tokio::sync::watch;

use crate::{db, domain::time, services::Tracker};

/// How often SQLite's planner statistics are taken again (see `db::analyze_sqlite`).
const ANALYZE_EVERY: Duration = Duration::from_secs(6 * 3600);

pub async fn run(tracker: Arc<Tracker>, interval: Duration, stop: watch::Receiver<bool>) {
    let tracker = &tracker;
    let sqlite = tracker.db().get_database_backend() == DbBackend::Sqlite;
    let mut analyzed = Instant::now();
    super::every(interval, stop, move || {
        let analyze = sqlite && analyzed.elapsed() >= ANALYZE_EVERY;
        if analyze {
            analyzed = Instant::now();
        }
        async move {
            step(tracker, time::now()).await;
            if analyze && let Err(err) = db::analyze_sqlite(tracker.db()).await {
                tracing::error!(error = %err, "taking SQLite's planner statistics failed");
            }
        }
    })
    .await;
}

/// One round at `now`: failures are logged and the next round tries again.
pub async fn step(tracker: &Tracker, now: DateTime<Utc>) {
    match tracker.sweep(now).await {
        Ok(0) => {}
        Ok(ended) => tracing::info!(ended, "auto-timeout ended idle sessions"),
        Err(err) => tracing::error!(error = %err, cause = ?err, "auto-timeout sweep failed"),
    }
}
