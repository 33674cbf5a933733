//! The caller behind an `Authorization: Bearer …` header.

use axum::{extract::FromRequestParts, http::request::Parts};

use super::{error::ApiError, limits::ClientIp, state::AppState};
use crate::{
    domain::{Caller, bearer, time},
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

/// The credential a request sent; `None` without one. Credentials are
/// looked up on a reader, never the writer; an address whose checks keep failing gets 429
/// before any lookup.
pub async fn credential(
    state: &AppState,
    headers: &axum::http::HeaderMap,
    ip: ClientIp,
) -> Result<Option<auth::Credential>, ApiError> {
    if headers.get(axum::http::header::AUTHORIZATION).is_none() {
        return Ok(None);
    }
    state.limits.credentials(ip)?;
    let checked = match bearer_token(headers) {
        Ok(Some(token)) => {
            let admin = state.settings.admin_token_hash.as_deref();
            auth::identify(state.tracker.read(), admin, token).await
        }
        Ok(None) => return Ok(None),
        Err(err) => Err(err),
    };
    if matches!(checked, Err(ServiceError::Unauthenticated))
        && let Some(refused) = state.limits.credential_failed(ip)
    {
        return Err(refused);
    }
    let credential = checked?;
    if let Err(err) = auth::note_use(state.tracker.db(), &credential, time::now()).await {
        tracing::warn!(error = %err, "recording a credential's last use failed");
    }
    Ok(Some(credential))
}

/// The caller a request's credential stands for; `None` without a credential.
pub async fn caller(
    state: &AppState,
    headers: &axum::http::HeaderMap,
    ip: ClientIp,
) -> Result<Option<Caller>, ApiError> {
    Ok(credential(state, headers, ip)
        .await?
        .map(|credential| credential.caller))
}

/// Extracts an admin caller, or refuses with 401 / 403.
pub struct Admin;

impl FromRequestParts<AppState> for Admin {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let ip = ClientIp::from_request_parts(parts, state)
            .await
            .unwrap_or_else(|never| match never {});
        let caller = caller(state, &parts.headers, ip)
            .await?
            .ok_or(ServiceError::Unauthenticated)?;
        auth::require_admin(caller)?;
        Ok(Admin)
    }
}
