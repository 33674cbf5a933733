//! The service layer: every query and rule lives here. Functions take a connection and `now`,
//! so the HTTP and GraphQL edges stay thin and tests control time. Session tracking is one
//! handle, [`Tracker`].

pub mod auth;
pub mod corrections;
mod error;
pub mod events;
pub mod links;
pub mod notifications;
pub mod people;
pub mod reports;
pub mod timeline;
pub mod totals;
pub mod tracker;
pub mod view;
pub mod zoom;

use std::str::FromStr;

use sea_orm::{ConnectionTrait, DbErr, EntityTrait, Select};

pub use error::ServiceError;
pub use tracker::Tracker;

use crate::domain::TrackingToken;

pub type Result<T, E = ServiceError> = std::result::Result<T, E>;

/// The row a select by a unique key (or a single-row aggregate) finds. SeaORM's `one` adds
/// `LIMIT 1` as a bound parameter, and SQLite plans a statement with a bound limit again every
/// time it runs (about 190,000 instructions, several times the lookup itself); a unique key
/// needs no limit.
pub async fn unique<E: EntityTrait>(
    select: Select<E>,
    db: &impl ConnectionTrait,
) -> std::result::Result<Option<E::Model>, DbErr> {
    Ok(select.all(db).await?.into_iter().next())
}

/// How many times [`retried`] tries work that a deadlock ended.
const DEADLOCK_ATTEMPTS: usize = 3;

/// Runs `work`, and again while the database ends it as one side of a deadlock (at most
/// [`DEADLOCK_ATTEMPTS`] times). For work that leaves nothing behind when it fails: one
/// statement, or one transaction.
pub async fn retried<T, F: Future<Output = Result<T>>>(mut work: impl FnMut() -> F) -> Result<T> {
    let mut attempt = 1;
    loop {
        match work().await {
            Err(err) if err.is_deadlock() && attempt < DEADLOCK_ATTEMPTS => {
                tracing::warn!(error = %err, attempt, "a deadlock ended the work: it runs again");
                attempt += 1;
            }
            done => return done,
        }
    }
}

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
