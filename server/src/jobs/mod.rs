//! Background jobs that run inside the server.

pub mod flusher;
pub mod notifier;
pub mod sweeper;
