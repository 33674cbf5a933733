//! What every handler shares.

use std::sync::Arc;

use tokio::sync::watch;

use crate::{config::Settings, graphql::AppSchema, services::Tracker};

#[derive(Clone)]
pub struct AppState {
    /// Session tracking, and the database connections.
    pub tracker: Arc<Tracker>,
    pub settings: Arc<Settings>,
    pub schema: AppSchema,
    /// Turns `true` when the server begins to shut down: long-lived connections end then.
    pub stopping: watch::Receiver<bool>,
}
