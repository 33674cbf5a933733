//! Keys revoked on another server: servers sharing a database each close their own connections
//! that use them. A key stops working on every server at once (each request looks its
//! credential up); this job closes the subscriptions already open with it, within
//! [`EVERY`]. It reads the database only while a subscription is open here.

use std::{sync::Arc, time::Duration};

use sea_orm::DbBackend;
use tokio::sync::watch;

use crate::{
    domain::time,
    services::{Tracker, auth::Revocations},
};

/// How often the job looks.
pub const EVERY: Duration = Duration::from_secs(2);
/// How far back each look reaches: more than [`EVERY`] and the servers' clocks' difference.
const WINDOW: chrono::Duration = chrono::Duration::seconds(30);

pub async fn run(
    tracker: Arc<Tracker>,
    revocations: Arc<Revocations>,
    stop: watch::Receiver<bool>,
) {
    // SQLite has one server per file: every revocation is this server's own.
    if tracker.read().get_database_backend() == DbBackend::Sqlite {
        return;
    }
    super::every(EVERY, stop, || async {
        if !revocations.listened() {
            return;
        }
        let since = time::now() - WINDOW;
        if let Err(err) = revocations
            .announce_revoked_since(tracker.read(), since)
            .await
        {
            tracing::error!(error = %err, "reading the keys revoked elsewhere failed");
        }
    })
    .await;
}
