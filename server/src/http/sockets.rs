//! The WebSocket connection caps: in all, and per credential.

use std::{sync::Arc, time::Duration};

use tokio::sync::Semaphore;

use super::{
    counts::{Counted, Counts},
    limits::ClientIp,
};
use crate::{config::Limits, domain::ApiKeyId};

/// Sockets one address may hold before their `connection_init` is accepted.
pub const MAX_PENDING_PER_ADDRESS: usize = 16;

/// The connection caps, shared by every connection.
pub struct Sockets {
    pub(super) all: Arc<Semaphore>,
    per_credential: Counts<Option<ApiKeyId>>,
    pending: Counts<ClientIp>,
    max_per_credential: usize,
    pub(super) max_subscriptions: usize,
    pub(super) keepalive: Duration,
}

/// A connection's place among its credential's.
pub(super) type CredentialSlot = Counted<Option<ApiKeyId>>;
/// A place among its address's sockets not signed in yet.
pub(super) type PendingSlot = Counted<ClientIp>;

impl Sockets {
    pub fn new(limits: &Limits) -> Self {
        Self {
            all: Arc::new(Semaphore::new(limits.ws_max_connections.get() as usize)),
            per_credential: Counts::default(),
            pending: Counts::default(),
            max_per_credential: limits.ws_max_per_credential.get() as usize,
            max_subscriptions: limits.ws_max_subscriptions.get() as usize,
            keepalive: limits.ws_keepalive,
        }
    }

    /// Takes a place for one more connection of `key`, given back when the guard drops.
    pub(super) fn enter(&self, key: Option<ApiKeyId>) -> Option<CredentialSlot> {
        self.per_credential.take(key, self.max_per_credential)
    }

    /// Takes one of `ip`'s places for a socket not signed in yet, given back when the guard
    /// drops (at `connection_init`, or when the socket ends).
    pub(super) fn arrive(&self, ip: ClientIp) -> Option<PendingSlot> {
        self.pending.take(ip, MAX_PENDING_PER_ADDRESS)
    }
}
