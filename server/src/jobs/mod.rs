//! Background jobs that run inside the server.

use std::{future::Future, time::Duration};

use tokio::sync::watch;

pub mod events;
pub mod flusher;
pub mod notifier;
pub mod revocations;
pub mod sweeper;

/// Runs `step` every `every` (the first time at once) until `stop` changes.
async fn every<F, Fut>(every: Duration, mut stop: watch::Receiver<bool>, mut step: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = ()>,
{
    let mut ticks = tokio::time::interval(every);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = ticks.tick() => {}
            _ = stop.changed() => return,
        }
        step().await;
    }
}
