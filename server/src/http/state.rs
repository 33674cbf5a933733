//! What every handler shares.

use std::sync::Arc;

use tokio::sync::watch;

use super::{limits::RateLimits, sockets::Sockets};
use crate::{
    config::Settings,
    graphql::AppSchema,
    services::{Tracker, auth::Revocations},
};

#[derive(Clone)]
pub struct AppState {
    /// Session tracking, and the database connections.
    pub tracker: Arc<Tracker>,
    pub settings: Arc<Settings>,
    pub schema: AppSchema,
    pub limits: Arc<RateLimits>,
    /// The WebSocket connection caps.
    pub sockets: Arc<Sockets>,
    /// Announces revoked keys to the connections using them.
    pub revocations: Arc<Revocations>,
    /// Turns `true` when the server begins to shut down: long-lived connections end then.
    pub stopping: watch::Receiver<bool>,
}
