//! The auto-timeout job: every sweep interval, end the sessions that went quiet.
//!
//! The step is [`services::sessions::sweep`]; this is only the loop. Each statement is a
//! conditional update, so it is safe while requests arrive and when every replica runs it.

use std::{sync::Arc, time::Duration};

use sea_orm::DatabaseConnection;
use tokio::sync::watch;

use crate::{domain::time, events::EventBus, services, services::beats::Heartbeats};

pub async fn run(
    db: DatabaseConnection,
    events: Arc<EventBus>,
    beats: Arc<Heartbeats>,
    timeout: chrono::Duration,
    interval: Duration,
    stop: watch::Receiver<bool>,
) {
    super::every(interval, stop, || async {
        match services::sessions::sweep(&db, &events, &beats, timeout, time::now()).await {
            Ok(0) => {}
            Ok(ended) => tracing::info!(ended, "auto-timeout ended idle sessions"),
            Err(err) => tracing::error!(error = %err, cause = ?err, "auto-timeout sweep failed"),
        }
    })
    .await;
}
