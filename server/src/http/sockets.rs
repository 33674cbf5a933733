//! The WebSocket connection caps: in all, and per credential.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::Duration,
};

use tokio::sync::Semaphore;

use super::limits::ClientIp;
use crate::{config::Limits, domain::ApiKeyId};

/// Sockets one address may hold before their `connection_init` is accepted.
pub const MAX_PENDING_PER_ADDRESS: usize = 16;

/// The connection caps, shared by every connection.
pub struct Sockets {
    pub(super) all: Arc<Semaphore>,
    per_credential: Mutex<HashMap<Option<ApiKeyId>, usize>>,
    pending: Mutex<HashMap<ClientIp, usize>>,
    max_per_credential: usize,
    pub(super) max_subscriptions: usize,
    pub(super) keepalive: Duration,
}

impl Sockets {
    pub fn new(limits: &Limits) -> Self {
        Self {
            all: Arc::new(Semaphore::new(limits.ws_max_connections.get() as usize)),
            per_credential: Mutex::new(HashMap::new()),
            pending: Mutex::new(HashMap::new()),
            max_per_credential: limits.ws_max_per_credential.get() as usize,
            max_subscriptions: limits.ws_max_subscriptions.get() as usize,
            keepalive: limits.ws_keepalive,
        }
    }

    /// Takes a place for one more connection of `key`, given back when the guard drops.
    pub(super) fn enter(self: &Arc<Self>, key: Option<ApiKeyId>) -> Option<CredentialSlot> {
        let mut open = self.per_credential.lock().expect("not poisoned");
        let count = open.entry(key).or_default();
        if *count >= self.max_per_credential {
            return None;
        }
        *count += 1;
        Some(CredentialSlot {
            sockets: self.clone(),
            key,
        })
    }
}

pub(super) struct CredentialSlot {
    sockets: Arc<Sockets>,
    key: Option<ApiKeyId>,
}

impl Drop for CredentialSlot {
    fn drop(&mut self) {
        let mut open = self.sockets.per_credential.lock().expect("not poisoned");
        if let Some(count) = open.get_mut(&self.key) {
            *count -= 1;
            if *count == 0 {
                open.remove(&self.key);
            }
        }
    }
}

impl Sockets {
    /// Takes one of `ip`'s places for a socket not signed in yet, given back when the guard
    /// drops (at `connection_init`, or when the socket ends).
    pub(super) fn arrive(self: &Arc<Self>, ip: ClientIp) -> Option<PendingSlot> {
        let mut pending = self.pending.lock().expect("not poisoned");
        let count = pending.entry(ip).or_default();
        if *count >= MAX_PENDING_PER_ADDRESS {
            return None;
        }
        *count += 1;
        Some(PendingSlot {
            sockets: self.clone(),
            ip,
        })
    }
}

pub(super) struct PendingSlot {
    sockets: Arc<Sockets>,
    ip: ClientIp,
}

impl Drop for PendingSlot {
    fn drop(&mut self) {
        let mut pending = self.sockets.pending.lock().expect("not poisoned");
        if let Some(count) = pending.get_mut(&self.ip) {
            *count -= 1;
            if *count == 0 {
                pending.remove(&self.ip);
            }
        }
    }
}
