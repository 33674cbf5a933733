use entity::zoom_link::SessionStatus;
use sea_orm::{DbErr, RuntimeErr};

/// What can go wrong in a service call, with a stable code for clients.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    #[error("{0} not found")]
    NotFound(&'static str),
    #[error("{0}")]
    BadInput(String),
    #[error("a valid credential is required")]
    Unauthenticated,
    #[error("{0}")]
    Forbidden(&'static str),
    /// A session operation that needs an active session met one in another state.
    #[error("{}", not_active_message(*.0))]
    SessionNotActive(Option<SessionStatus>),
    #[error("database error")]
    Database(#[from] DbErr),
    #[error("internal error: {0}")]
    Internal(String),
}

fn not_active_message(status: Option<SessionStatus>) -> &'static str {
    match status {
        None => "the session has not started: the link was never opened",
        Some(SessionStatus::Active) => "the session is active",
        Some(SessionStatus::Ended) => "the session has ended",
        Some(SessionStatus::Timeout) => "the session timed out",
    }
}

impl ServiceError {
    /// The code clients see: `extensions.code` in GraphQL, `error.code` over REST.
    pub fn code(&self) -> &'static str {
        match self {
            Self::NotFound(_) => "NOT_FOUND",
            Self::BadInput(_) => "BAD_USER_INPUT",
            Self::Unauthenticated => "UNAUTHENTICATED",
            Self::Forbidden(_) => "FORBIDDEN",
            Self::SessionNotActive(_) => "SESSION_NOT_ACTIVE",
            Self::Database(_) | Self::Internal(_) => "INTERNAL",
        }
    }

    /// The message clients see; internal causes are logged, never shown.
    pub fn public_message(&self) -> String {
        match self {
            Self::Database(_) | Self::Internal(_) => "internal server error".into(),
            other => other.to_string(),
        }
    }

    /// The database ended the statement as one side of a deadlock (PostgreSQL `40P01`, MySQL
    /// `40001`): the same work, tried again, can succeed.
    pub fn is_deadlock(&self) -> bool {
        let Self::Database(
            DbErr::Exec(RuntimeErr::SqlxError(err)) | DbErr::Query(RuntimeErr::SqlxError(err)),
        ) = self
        else {
            return false;
        };
        matches!(
            &**err,
            sea_orm::sqlx::Error::Database(err) if matches!(err.code().as_deref(), Some("40P01" | "40001"))
        )
    }

    pub fn is_internal(&self) -> bool {
        matches!(self, Self::Database(_) | Self::Internal(_))
    }
}

impl From<getrandom::Error> for ServiceError {
    fn from(err: getrandom::Error) -> Self {
        Self::Internal(format!("random number generator: {err}"))
    }
}
