//! The student's endpoints: the tracking page, heartbeats and the end of a session.

use axum::{
    Json,
    extract::{RawQuery, State},
    http::{HeaderMap, Method, header},
    response::{IntoResponse, Response},
};
use serde::Deserialize;
use serde_json::{Value, json};

use super::{body::JsonBody, error::ApiError, page, state::AppState};
use crate::{
    domain::{
        TrackingToken,
        names::{end_reason_name, status_name},
        time,
    },
    services::{
        self, links,
        tracker::{Click, EndOutcome},
    },
};

fn parse_token(token: &str) -> Result<TrackingToken, ApiError> {
    services::parse_token(token).map_err(|err| ApiError::BadRequest(err.to_string()))
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

/// Link-preview fetchers (chat apps unfurling a URL): they get the page but start nothing.
const PREVIEW_AGENTS: [&str; 9] = [
    "telegrambot",
    "twitterbot",
    "facebookexternalhit",
    "slackbot",
    "whatsapp",
    "discordbot",
    "linkedinbot",
    "skypeuripreview",
    "googlebot",
];

fn is_preview(method: &Method, headers: &HeaderMap) -> bool {
    let agent = headers
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .map(str::to_ascii_lowercase)
        .unwrap_or_default();
    method == Method::HEAD || PREVIEW_AGENTS.iter().any(|bot| agent.contains(bot))
}

/// `GET /api/zoom/track?token=…`: records the click and returns the tracking page. A HEAD
/// request or a link preview records nothing.
pub async fn track(
    State(state): State<AppState>,
    method: Method,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    let outcome = async {
        let token = token_from_query(query.as_deref())?;
        if is_preview(&method, &headers) {
            return Ok((
                page::View::Preview,
                links::by_token(state.tracker.db(), &token).await?,
            ));
        }
        let (click, link) = state.tracker.click(&token, time::now()).await?;
        tracing::info!(token = %token.redacted(), ?click, "tracking link opened");
        let view = match click {
            Click::AlreadyOver(_) => page::View::Over,
            _ => page::View::Tracking,
        };
        Ok::<_, ApiError>((view, link))
    }
    .await;
    match outcome {
        Ok((view, link)) => page::tracking(&state.settings, view, &link),
        Err(err) if wants_html(&headers) => {
            let mut response = page::error(err.status(), &err.message());
            err.attach(&mut response);
            response
        }
        Err(err) => err.into_response(),
    }
}

#[derive(Deserialize)]
pub struct HeartbeatBody {
    pub token: String,
    /// Whether the page is in the front: a silence of a visible page is an interruption.
    #[serde(default)]
    pub visible: Option<bool>,
}

/// `POST /api/zoom/heartbeat` `{"token", "visible"}` → `{"success": true}`.
pub async fn heartbeat(
    State(state): State<AppState>,
    JsonBody(body): JsonBody<HeartbeatBody>,
) -> Result<Json<Value>, ApiError> {
    let token = parse_token(&body.token)?;
    state
        .tracker
        .heartbeat(&token, body.visible, time::now())
        .await?;
    Ok(Json(json!({ "success": true })))
}

/// The spec's end-session body. `duration` and `endTime` are accepted for compatibility and
/// ignored: durations come from server time only.
#[derive(Deserialize)]
pub struct EndSessionBody {
    pub token: String,
    /// The page load sending the end (our tracking page sends it; the spec's clients do not).
    #[serde(default)]
    pub visit: Option<String>,
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
    let outcome = state
        .tracker
        .end(&token, body.visit.as_deref(), time::now())
        .await?;
    let end = match outcome {
        EndOutcome::Ended(end) => end,
        EndOutcome::Superseded => {
            return Ok(Json(
                json!({ "success": true, "status": "active", "superseded": true }),
            ));
        }
        EndOutcome::InMeeting => {
            return Ok(Json(
                json!({ "success": true, "status": "active", "inMeeting": true }),
            ));
        }
    };
    Ok(Json(json!({
        "success": true,
        "duration": end.duration_minutes,
        "durationSeconds": end.duration_seconds,
        "status": status_name(Some(end.status)),
        "endReason": end_reason_name(end.reason),
        "endedAt": end.ended_at.to_rfc3339(),
    })))
}
