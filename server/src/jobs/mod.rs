//! Background jobs that run inside the server.

pub mod sweeper;
