//! A JSON body extractor with a size limit and JSON errors, that also takes `text/plain`
//! (what `navigator.sendBeacon` sends for a string body).

use axum::{
    body::Bytes,
    extract::{FromRequest, Request},
    http::header::CONTENT_TYPE,
};
use futures::StreamExt;
use serde::de::DeserializeOwned;

use super::error::ApiError;

/// Tracking bodies are a token and two optional fields: a few hundred bytes.
pub const TRACKING_BODY_LIMIT: usize = 4 * 1024;

pub struct JsonBody<T>(pub T);

/// Up to this much of an oversized body is read and dropped before the 413 goes out, so the
/// client sees the answer instead of a connection reset mid-upload.
const DRAIN_LIMIT: usize = 2 * 1024 * 1024;

/// How long a request's body may take to arrive (`BODY_READ_TIMEOUT`), set on every request by
/// the accept loop.
#[derive(Clone, Copy, Debug)]
pub struct BodyTimeout(pub std::time::Duration);

/// Reads the whole body within the body deadline, refusing more than `limit` bytes.
pub async fn read_limited(req: Request, limit: usize) -> Result<Bytes, ApiError> {
    let deadline = req
        .extensions()
        .get::<BodyTimeout>()
        .map_or(std::time::Duration::from_secs(10), |timeout| timeout.0);
    tokio::time::timeout(deadline, read_body(req, limit))
        .await
        .map_err(|_| ApiError::SlowBody)?
}

async fn read_body(req: Request, limit: usize) -> Result<Bytes, ApiError> {
    let declared = req
        .headers()
        .get(axum::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|len| len > DRAIN_LIMIT) {
        return Err(ApiError::PayloadTooLarge(limit));
    }
    let mut stream = req.into_body().into_data_stream();
    let mut body = Vec::new();
    let mut total = 0usize;
    while let Some(chunk) = stream.next().await {
        let chunk =
            chunk.map_err(|e| ApiError::BadRequest(format!("the body could not be read: {e}")))?;
        total += chunk.len();
        if total <= limit {
            body.extend_from_slice(&chunk);
        } else if total > DRAIN_LIMIT {
            break;
        }
    }
    if total > limit {
        return Err(ApiError::PayloadTooLarge(limit));
    }
    Ok(body.into())
}

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, _state: &S) -> Result<Self, Self::Rejection> {
        accepts(
            req.headers()
                .get(CONTENT_TYPE)
                .and_then(|v| v.to_str().ok()),
        )?;
        let bytes = read_limited(req, TRACKING_BODY_LIMIT).await?;
        parse(&bytes).map(JsonBody)
    }
}

/// JSON, sent as `application/json` or as `text/plain` (or with no content type).
fn accepts(content_type: Option<&str>) -> Result<(), ApiError> {
    let Some(value) = content_type else {
        return Ok(());
    };
    let media = value.split(';').next().unwrap_or_default().trim();
    if media.eq_ignore_ascii_case("application/json") || media.eq_ignore_ascii_case("text/plain") {
        Ok(())
    } else {
        Err(ApiError::UnsupportedMediaType)
    }
}

/// A tracking body as the endpoints read it: its content type, then its JSON.
pub fn decode<T: DeserializeOwned>(
    content_type: Option<&str>,
    bytes: &[u8],
) -> Result<T, ApiError> {
    accepts(content_type)?;
    parse(bytes)
}

fn parse<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    serde_json::from_slice(bytes)
        .map_err(|e| ApiError::BadRequest(format!("the body is not the expected JSON: {e}")))
}
