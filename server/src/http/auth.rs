//! The caller behind an `Authorization: Bearer …` header.

use axum::{extract::FromRequestParts, http::request::Parts};

use super::{error::ApiError, state::AppState};
use crate::{
    domain::{Caller, bearer},
    services::{ServiceError, auth},
};

/// The bearer token of a request, if it sent one.
fn bearer_token(headers: &axum::http::HeaderMap) -> Result<Option<&str>, ServiceError> {
    let Some(value) = headers.get(axum::http::header::AUTHORIZATION) else {
        return Ok(None);
    };
    let value = value.to_str().map_err(|_| ServiceError::Unauthenticated)?;
    bearer(value).map(Some).ok_or(ServiceError::Unauthenticated)
}

/// The caller a request's credential stands for; `None` without a credential.
pub async fn caller(
    state: &AppState,
    headers: &axum::http::HeaderMap,
) -> Result<Option<Caller>, ServiceError> {
    match bearer_token(headers)? {
        None => Ok(None),
        Some(token) => {
            let admin = state.settings.admin_token_hash.as_deref();
            auth::authenticate(state.tracker.db(), admin, token)
                .await
                .map(Some)
        }
    }
}

/// Extracts an admin caller, or refuses with 401 / 403.
pub struct Admin;

impl FromRequestParts<AppState> for Admin {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let caller = caller(state, &parts.headers)
            .await?
            .ok_or(ServiceError::Unauthenticated)?;
        auth::require_admin(caller)?;
        Ok(Admin)
    }
}
