//! `POST /api/zoom/webhook`: Zoom's event notifications, on when `ZOOM_WEBHOOK_SECRET` is set.
//! Every request must carry Zoom's signature over its raw body and a fresh timestamp; anything
//! else gets 401 and changes nothing.

use axum::{
    Json,
    extract::{Request, State},
};
use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use super::{body::read_limited, error::ApiError, state::AppState};
use crate::{
    domain::{time, zoom_webhook},
    services::zoom::{Applied, Participant, ZoomEvent},
};

/// Zoom's event bodies are a few kilobytes.
const WEBHOOK_BODY_LIMIT: usize = 64 * 1024;

fn text(value: &Value) -> Option<String> {
    match value {
        Value::String(s) if !s.trim().is_empty() => Some(s.trim().to_owned()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn when(value: &Value, field: &str) -> Result<DateTime<Utc>, ApiError> {
    value
        .as_str()
        .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
        .map(|at| time::truncate(at.with_timezone(&Utc)))
        .ok_or_else(|| ApiError::BadRequest(format!("{field} is not an ISO 8601 time")))
}

fn participant(object: &Value) -> Result<Participant, ApiError> {
    let p = &object["participant"];
    let key = ["participant_uuid", "user_id", "id", "user_name"]
        .iter()
        .find_map(|field| text(&p[field]))
        .ok_or_else(|| ApiError::BadRequest("payload.object.participant names no one".into()))?;
    Ok(Participant {
        key,
        name: text(&p["user_name"]).unwrap_or_default(),
    })
}

fn header(req: &Request, name: &str) -> Option<String> {
    req.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

/// The host is not the student: their own joins and leaves are not a lesson's.
fn is_host(object: &Value) -> bool {
    let host = text(&object["host_id"]);
    let participant = text(&object["participant"]["id"]);
    host.is_some() && host == participant
}

/// What a (verified) webhook body asks.
#[derive(Debug)]
pub enum Incoming {
    /// Zoom checking that the endpoint is ours: answer with the token hashed with the secret.
    UrlValidation { plain_token: String },
    /// An event; `None` for one that does not concern sessions (other events, the host).
    Event {
        name: String,
        event: Option<ZoomEvent>,
    },
}

/// Reads a webhook body: JSON, with the fields its event needs.
pub fn parse_event(body: &[u8]) -> Result<Incoming, ApiError> {
    let body: Value = serde_json::from_slice(body)
        .map_err(|e| ApiError::BadRequest(format!("the body is not JSON: {e}")))?;
    let name = body["event"].as_str().unwrap_or_default().to_owned();
    let object = &body["payload"]["object"];
    let meeting_id = || {
        text(&object["id"]).ok_or_else(|| {
            ApiError::BadRequest("payload.object.id (the meeting id) is missing".into())
        })
    };
    let event = match name.as_str() {
        "endpoint.url_validation" => {
            let plain = body["payload"]["plainToken"]
                .as_str()
                .ok_or_else(|| ApiError::BadRequest("payload.plainToken is missing".into()))?;
            return Ok(Incoming::UrlValidation {
                plain_token: plain.to_owned(),
            });
        }
        "meeting.participant_joined" | "meeting.participant_left" if is_host(object) => None,
        "meeting.participant_joined" => Some(ZoomEvent::Joined {
            meeting_id: meeting_id()?,
            participant: participant(object)?,
            at: when(&object["participant"]["join_time"], "participant.join_time")?,
        }),
        "meeting.participant_left" => Some(ZoomEvent::Left {
            meeting_id: meeting_id()?,
            participant: participant(object)?,
            at: when(
                &object["participant"]["leave_time"],
                "participant.leave_time",
            )?,
        }),
        "meeting.ended" => Some(ZoomEvent::MeetingEnded {
            meeting_id: meeting_id()?,
            instance: text(&object["uuid"]).unwrap_or_default(),
            at: when(&object["end_time"], "end_time")?,
        }),
        _ => None,
    };
    Ok(Incoming::Event { name, event })
}

pub async fn webhook(State(state): State<AppState>, req: Request) -> Result<Json<Value>, ApiError> {
    let Some(secret) = state.settings.zoom_webhook_secret.clone() else {
        return Err(ApiError::NotConfigured(
            "Zoom webhooks are off on this server: ZOOM_WEBHOOK_SECRET is not set",
        ));
    };
    let timestamp = header(&req, "x-zm-request-timestamp");
    let signature = header(&req, "x-zm-signature");
    let body = read_limited(req, WEBHOOK_BODY_LIMIT).await?;
    let now = time::now();
    zoom_webhook::verify(
        secret.expose(),
        timestamp.as_deref(),
        signature.as_deref(),
        &body,
        now,
    )
    .map_err(ApiError::InvalidSignature)?;
    let (event, parsed) = match parse_event(&body)? {
        Incoming::UrlValidation { plain_token } => {
            return Ok(Json(json!({
                "encryptedToken": zoom_webhook::encrypted_token(secret.expose(), &plain_token),
                "plainToken": plain_token,
            })));
        }
        Incoming::Event { name, event } => (name, event),
    };
    let Some(parsed) = parsed else {
        return Ok(Json(
            json!({ "success": true, "event": event, "result": "ignored" }),
        ));
    };
    let applied = state.tracker.apply_zoom(parsed, now).await?;
    let (result, sessions) = match applied {
        Applied::Sessions(ids) => ("applied", ids.into_iter().map(|id| id.0).collect()),
        Applied::Unmatched => ("unmatched", Vec::new()),
        Applied::Duplicate => ("duplicate", Vec::new()),
        Applied::OutOfRange => ("out_of_range", Vec::new()),
    };
    Ok(Json(json!({
        "success": true,
        "event": event,
        "result": result,
        "sessions": sessions,
    })))
}
