//! The heartbeat flush job: writes the beats answered from memory at least every flush
//! interval, and folds the per-day totals' changes (`services::totals`). The last flush, after
//! the final request of a graceful stop, is the server's (see `Application::run_until`).

use std::{sync::Arc, time::Duration};

use chrono::{DateTime, Utc};
use tokio::sync::watch;

use crate::{
    domain::time,
    services::{Tracker, totals},
    telemetry,
};

pub async fn run(tracker: Arc<Tracker>, interval: Duration, stop: watch::Receiver<bool>) {
    super::every(interval, stop, || step(&tracker, time::now())).await;
}

/// One round at `now`: a failed write keeps its beats for the next round.
pub async fn step(tracker: &Tracker, now: DateTime<Utc>) {
    match tracker.flush().await {
        Ok(written) => telemetry::flushed(written, now.timestamp()),
        Err(err) => {
            tracing::error!(error = %err, cause = ?err, "writing heartbeats failed; retrying")
        }
    }
    tracker.prune(now);
    if let Err(err) = totals::fold(tracker.db()).await {
        tracing::error!(error = %err, cause = ?err, "folding the totals' changes failed; retrying");
    }
}
