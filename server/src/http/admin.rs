//! The spec's admin REST endpoints.

use axum::{Json, extract::State};
use serde_json::{Value, json};

use super::{auth::Admin, error::ApiError};
use crate::{domain::time, services::sessions, startup::AppState};

/// `POST /api/admin/auto-timeout`: runs one sweep now.
pub async fn auto_timeout(
    _: Admin,
    State(state): State<AppState>,
) -> Result<Json<Value>, ApiError> {
    let ended = sessions::sweep(&state.db, state.settings.rules.timeout, time::now()).await?;
    Ok(Json(json!({ "success": true, "ended": ended })))
}
