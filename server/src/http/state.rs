//! What every handler shares.

use std::sync::Arc;

use tokio::sync::watch;

use super::{limits::RateLimits, sockets::Sockets};
use crate::{
    config::Settings,
    graphql::AppSchema,
    services::{Tracker, auth::Revocations},
};

/// Cloned for every request (each handler and middleware that takes it): one shared
/// allocation, so a clone is one reference count.
#[derive(Clone)]
pub struct AppState(Arc<Shared>);

impl AppState {
    pub fn new(shared: Shared) -> Self {
        Self(Arc::new(shared))
    }
}

impl std::ops::Deref for AppState {
    type Target = Shared;

    fn deref(&self) -> &Shared {
        &self.0
    }
}

pub struct Shared {
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
