//! The student's endpoints: the tracking page, heartbeats and the end of a session.

use axum::{
    Json,
    extract::{RawQuery, State},
    http::{HeaderMap, header},
    response::{IntoResponse, Response},
};
use serde::Deserialize;
use serde_json::{Value, json};

use super::{body::JsonBody, error::ApiError, page, status_name};
use crate::{
    domain::{TrackingToken, time},
    services::sessions,
    startup::AppState,
};

fn parse_token(token: &str) -> Result<TrackingToken, ApiError> {
    TrackingToken::parse(token).ok_or_else(|| {
        ApiError::BadRequest("token is malformed: expected the token from a tracking link".into())
    })
}

fn token_from_query(query: Option<&str>) -> Result<TrackingToken, ApiError> {
    let token = query
        .and_then(|q| url::form_urlencoded::parse(q.as_bytes()).find(|(k, _)| k == "token"))
        .map(|(_, v)| v.into_owned())
        .ok_or_else(|| ApiError::BadRequest("the token query parameter is missing".into()))?;
    parse_token(&token)
}

fn wants_html(headers: &HeaderMap) -> bool {
    headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|accept| accept.contains("text/html"))
}

/// `GET /api/zoom/track?token=…`: records the click and returns the tracking page.
pub async fn track(
    State(state): State<AppState>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    let outcome = async {
        let token = token_from_query(query.as_deref())?;
        let (click, link) =
            sessions::click(&state.db, &token, state.settings.rules, time::now()).await?;
        tracing::info!(token = %token.redacted(), ?click, "tracking link opened");
        Ok::<_, ApiError>((click, link))
    }
    .await;
    match outcome {
        Ok((click, link)) => page::tracking(&state.settings, click, &link),
        Err(err) if wants_html(&headers) => {
            err.log();
            page::error(err.status(), &err.message())
        }
        Err(err) => err.into_response(),
    }
}

#[derive(Deserialize)]
pub struct HeartbeatBody {
    token: String,
}

/// `POST /api/zoom/heartbeat` `{"token"}` → `{"success": true}`.
pub async fn heartbeat(
    State(state): State<AppState>,
    JsonBody(body): JsonBody<HeartbeatBody>,
) -> Result<Json<Value>, ApiError> {
    let token = parse_token(&body.token)?;
    sessions::heartbeat(&state.db, &token, state.settings.rules, time::now()).await?;
    Ok(Json(json!({ "success": true })))
}

/// The spec's end-session body. `duration` and `endTime` are accepted for compatibility and
/// ignored: durations come from server time only.
#[derive(Deserialize)]
pub struct EndSessionBody {
    token: String,
    #[serde(default, rename = "duration")]
    _duration: Option<Value>,
    #[serde(default, rename = "endTime")]
    _end_time: Option<Value>,
}

/// `POST /api/zoom/end-session` → `{"success": true, "duration": <minutes>}`.
pub async fn end_session(
    State(state): State<AppState>,
    JsonBody(body): JsonBody<EndSessionBody>,
) -> Result<Json<Value>, ApiError> {
    let token = parse_token(&body.token)?;
    let end = sessions::end(&state.db, &token, state.settings.rules, time::now()).await?;
    Ok(Json(json!({
        "success": true,
        "duration": end.duration_minutes,
        "durationSeconds": end.duration_seconds,
        "status": status_name(Some(end.status)),
        "endedAt": end.ended_at.to_rfc3339(),
    })))
}
