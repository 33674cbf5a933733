//! REST errors: a status and a JSON body `{"success": false, "error": {"code", "message"}}`.

use axum::{
    Json,
    http::{HeaderMap, HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use serde_json::json;

use crate::{domain::names::status_name, services::ServiceError};

#[derive(Debug)]
pub enum ApiError {
    Service(ServiceError),
    BadRequest(String),
    PayloadTooLarge(usize),
    UnsupportedMediaType,
    RouteNotFound,
    MethodNotAllowed,
    /// A signed request whose signature or timestamp does not check out.
    InvalidSignature(&'static str),
    /// An optional feature that this server was not configured for.
    NotConfigured(&'static str),
    /// Too many requests from one address: try again after this long.
    RateLimited(std::time::Duration),
    /// The request was not answered in time.
    Timeout(&'static str),
    /// The request's body did not arrive in time.
    SlowBody,
}

impl From<ServiceError> for ApiError {
    fn from(err: ServiceError) -> Self {
        Self::Service(err)
    }
}

impl ApiError {
    pub fn status(&self) -> StatusCode {
        match self {
            Self::Service(err) => match err {
                ServiceError::NotFound(_) => StatusCode::NOT_FOUND,
                ServiceError::BadInput(_) => StatusCode::BAD_REQUEST,
                ServiceError::Unauthenticated => StatusCode::UNAUTHORIZED,
                ServiceError::Forbidden(_) => StatusCode::FORBIDDEN,
                ServiceError::SessionNotActive(_) => StatusCode::CONFLICT,
                ServiceError::Database(_) | ServiceError::Internal(_) => {
                    StatusCode::INTERNAL_SERVER_ERROR
                }
            },
            Self::BadRequest(_) => StatusCode::BAD_REQUEST,
            Self::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            Self::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::RouteNotFound => StatusCode::NOT_FOUND,
            Self::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Self::InvalidSignature(_) => StatusCode::UNAUTHORIZED,
            Self::NotConfigured(_) => StatusCode::NOT_FOUND,
            Self::RateLimited(_) => StatusCode::TOO_MANY_REQUESTS,
            Self::Timeout(_) => StatusCode::SERVICE_UNAVAILABLE,
            Self::SlowBody => StatusCode::REQUEST_TIMEOUT,
        }
    }

    pub fn code(&self) -> &'static str {
        match self {
            Self::Service(err) => err.code(),
            Self::BadRequest(_) => "BAD_REQUEST",
            Self::PayloadTooLarge(_) => "PAYLOAD_TOO_LARGE",
            Self::UnsupportedMediaType => "UNSUPPORTED_MEDIA_TYPE",
            Self::RouteNotFound => "NOT_FOUND",
            Self::MethodNotAllowed => "METHOD_NOT_ALLOWED",
            Self::InvalidSignature(_) => "INVALID_SIGNATURE",
            Self::NotConfigured(_) => "NOT_CONFIGURED",
            Self::RateLimited(_) => "RATE_LIMITED",
            Self::Timeout(_) => "TIMEOUT",
            Self::SlowBody => "REQUEST_TIMEOUT",
        }
    }

    pub fn message(&self) -> String {
        match self {
            Self::Service(err) => err.public_message(),
            Self::BadRequest(msg) => msg.clone(),
            Self::PayloadTooLarge(limit) => {
                format!("the request body is larger than {limit} bytes")
            }
            Self::UnsupportedMediaType => {
                "send the body as application/json (text/plain holding JSON is accepted too)".into()
            }
            Self::RouteNotFound => "no such endpoint".into(),
            Self::MethodNotAllowed => "this endpoint does not accept that method".into(),
            Self::InvalidSignature(why) | Self::NotConfigured(why) | Self::Timeout(why) => {
                (*why).into()
            }
            Self::SlowBody => "the request body did not arrive within BODY_READ_TIMEOUT".into(),
            Self::RateLimited(wait) => format!(
                "too many requests from this address: try again in {} s",
                retry_after(*wait)
            ),
        }
    }

    /// The headers to send beside the body: `Retry-After` on a 429.
    pub fn headers(&self) -> HeaderMap {
        let mut headers = HeaderMap::new();
        if let Self::RateLimited(wait) = self {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(retry_after(*wait)));
        }
        headers
    }

    /// Logs internal causes where no response carries them (a subscription after its
    /// upgrade); clients only see the generic message.
    pub fn log(&self) {
        if let Some(failure) = self.failure() {
            failure.log(None);
        }
    }

    /// Hands an internal cause to the router's outer layer (`http::answer_within`), which logs
    /// it with the request's method and path; clients only see the generic message.
    pub fn attach(&self, response: &mut Response) {
        if let Some(failure) = self.failure() {
            response.extensions_mut().insert(failure);
        }
    }

    /// What an internal failure is, for the log.
    fn failure(&self) -> Option<Failure> {
        match self {
            Self::Service(err) if err.is_internal() => Some(Failure {
                error: err.to_string(),
                cause: format!("{err:?}"),
            }),
            _ => None,
        }
    }
}

/// An internal failure behind a response: the router's outer layer logs it with the request's
/// method and path (`http::answer_within`), so that a request needs no span to be traced.
#[derive(Clone, Debug)]
pub struct Failure {
    error: String,
    cause: String,
}

impl Failure {
    /// Logs the failure, with the request that met it when known.
    pub fn log(&self, request: Option<(&axum::http::Method, &str)>) {
        let (error, cause) = (&self.error, &self.cause);
        match request {
            Some((method, path)) => {
                tracing::error!(%method, %path, %error, %cause, "request failed");
            }
            None => tracing::error!(%error, %cause, "request failed"),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut body = json!({
            "success": false,
            "error": { "code": self.code(), "message": self.message() },
        });
        if let Self::Service(ServiceError::SessionNotActive(status)) = &self {
            body["status"] = json!(status_name(*status));
        }
        let mut response = (self.status(), self.headers(), Json(body)).into_response();
        self.attach(&mut response);
        response
    }
}

/// Whole seconds to wait, at least one.
fn retry_after(wait: std::time::Duration) -> u64 {
    wait.as_secs_f64().ceil().max(1.0) as u64
}

pub async fn route_not_found() -> ApiError {
    ApiError::RouteNotFound
}

pub async fn method_not_allowed() -> ApiError {
    ApiError::MethodNotAllowed
}
