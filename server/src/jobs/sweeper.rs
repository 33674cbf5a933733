//! The auto-timeout job: every sweep interval, end the sessions that went quiet.
//!
//! The sweep is [`Tracker::sweep`]; each statement is a conditional update, so it is safe
//! while requests arrive and when every replica runs it.

use std::{sync::Arc, time::Duration};

use chrono::{DateTime, Utc};
use tokio::sync::watch;

use crate::{domain::time, services::Tracker};

pub async fn run(tracker: Arc<Tracker>, interval: Duration, stop: watch::Receiver<bool>) {
    super::every(interval, stop, || step(&tracker, time::now())).await;
}

/// One round at `now`: failures are logged and the next round tries again.
pub async fn step(tracker: &Tracker, now: DateTime<Utc>) {
    match tracker.sweep(now).await {
        Ok(0) => {}
        Ok(ended) => tracing::info!(ended, "auto-timeout ended idle sessions"),
        Err(err) => tracing::error!(error = %err, cause = ?err, "auto-timeout sweep failed"),
    }
}
