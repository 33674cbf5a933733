//! Background jobs that run inside the server.

pub mod notifier;
pub mod sweeper;
