//! The heartbeat flush job: writes the beats answered from memory at least every flush
//! interval. The last flush, after the final request of a graceful stop, is the server's
//! (see `Application::run_until`).

use std::{sync::Arc, time::Duration};

use sea_orm::DatabaseConnection;
use tokio::sync::watch;

use crate::{domain::time, services::beats::Heartbeats};

pub async fn run(
    db: DatabaseConnection,
    beats: Arc<Heartbeats>,
    timeout: chrono::Duration,
    interval: Duration,
    stop: watch::Receiver<bool>,
) {
    super::every(interval, stop, || async {
        if let Err(err) = beats.flush(&db).await {
            tracing::error!(error = %err, cause = ?err, "writing heartbeats failed; retrying");
        }
        beats.prune(time::now(), timeout);
    })
    .await;
}
