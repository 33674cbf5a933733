//! The zoomtrack server: tracking endpoints for students, GraphQL and REST for admins,
//! teachers and integrators, and the jobs that keep sessions honest.

pub mod cli;
pub mod config;
pub mod db;
pub mod domain;
pub mod graphql;
pub mod http;
pub mod jobs;
pub mod services;
pub mod startup;
pub mod telegram;
pub mod telemetry;

pub use config::Config;
pub use startup::Application;
