//! The service layer: every query and rule lives here. Functions take a connection and `now`,
//! so the HTTP and GraphQL edges stay thin and tests control time.

pub mod auth;
pub mod beats;
mod error;
pub mod links;
pub mod notifications;
pub mod people;
pub mod reports;
pub mod sessions;
pub mod zoom;

pub use error::ServiceError;

pub type Result<T, E = ServiceError> = std::result::Result<T, E>;
