//! The service layer: every query and rule lives here. Functions take a connection and `now`,
//! so the HTTP and GraphQL edges stay thin and tests control time. Session tracking is one
//! handle, [`Tracker`].

pub mod auth;
mod error;
pub mod events;
pub mod links;
pub mod notifications;
pub mod people;
pub mod reports;
pub mod totals;
pub mod tracker;
pub mod view;
pub mod zoom;

use std::str::FromStr;

pub use error::ServiceError;
pub use tracker::Tracker;

use crate::domain::TrackingToken;

pub type Result<T, E = ServiceError> = std::result::Result<T, E>;

/// An id as the APIs show it (`teacherId`, `linkId`, …); `what` names it in the error.
pub fn parse_id<T: FromStr>(value: &str, what: &str) -> Result<T> {
    value
        .parse()
        .map_err(|_| ServiceError::BadInput(format!("{what} is not a valid id")))
}

/// The token of a tracking link, as the tracking endpoints and the API take it.
pub fn parse_token(value: &str) -> Result<TrackingToken> {
    TrackingToken::parse(value).ok_or_else(|| {
        ServiceError::BadInput("token is malformed: expected the token from a tracking link".into())
    })
}
