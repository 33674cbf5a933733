//! The HTTP edge: routes, and the handlers that parse a request, call one service function and
//! map its result.

pub mod admin;
mod auth;
pub mod body;
mod counts;
mod csp;
mod dashboard;
mod error;
mod graphql;
mod limits;
mod metrics;
mod page;
mod serve;
mod sockets;
mod state;
pub mod subscriptions;
pub mod tracking;
pub mod zoom;

use std::time::Duration;

use axum::{
    Json, Router,
    extract::{Request, State},
    middleware::{self, Next},
    response::{IntoResponse, Response},
    routing::{get, post},
};
use tower_http::trace::TraceLayer;

pub use self::{
    limits::RateLimits,
    metrics::serve_private as serve_metrics,
    serve::serve,
    sockets::Sockets,
    state::{AppState, Shared as SharedState},
};

pub fn router(state: AppState) -> Router {
    let deadline = state.settings.limits.request_timeout;
    // The public endpoints, each request counted against its client address.
    let public = Router::new()
        .route("/api/zoom/track", get(tracking::track))
        .route("/api/zoom/heartbeat", post(tracking::heartbeat))
        .route("/api/zoom/end-session", post(tracking::end_session))
        .route("/api/zoom/webhook", post(zoom::webhook))
        .route_layer(middleware::from_fn_with_state(
            state.limits.clone(),
            limits::public,
        ));
    Router::new()
        .merge(public)
        .route("/api/admin/auto-timeout", post(admin::auto_timeout))
        .route("/api/admin/teacher-sessions", get(admin::teacher_sessions))
        .route("/api/admin/sessions.csv", get(admin::sessions_csv))
        .route("/api/admin/payroll.csv", get(admin::payroll_csv))
        .route("/graphql", get(graphql::graphiql).post(graphql::execute))
        .route("/graphql/ws", get(subscriptions::upgrade))
        .route("/health", get(|| async { Json(serde_json::json!({ "status": "ok" })) }))
        .route("/metrics", get(metrics::scrape))
        .merge(dashboard::routes(&state.settings.admin_ui_dir))
        .fallback(error::route_not_found)
        .method_not_allowed_fallback(error::method_not_allowed)
        .layer(middleware::from_fn_with_state(deadline, answer_within))
        // Request spans at debug level (`RUST_LOG=zoomtrack_server=debug,tower_http=debug`):
        // formatting one costs a heartbeat about an eighth of its instructions. They carry the
        // path only: queries hold tracking tokens.
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(|req: &Request<_>| {
                    tracing::debug_span!("http", method = %req.method(), path = %req.uri().path())
                })
                // `answer_within` logs server errors with their request.
                .on_failure(()),
        )
        .layer(middleware::from_fn(metrics::track))
        .with_state(state)
}

/// Answers 503 when a request takes longer than `REQUEST_TIMEOUT`, and logs a server error with
/// the request's method and path (and the internal failure behind it, when there is one).
async fn answer_within(State(deadline): State<Duration>, req: Request, next: Next) -> Response {
    let (method, uri) = (req.method().clone(), req.uri().clone());
    let response = match tokio::time::timeout(deadline, next.run(req)).await {
        Ok(response) => response,
        Err(_) => error::ApiError::Timeout("the request was not answered within REQUEST_TIMEOUT")
            .into_response(),
    };
    match response.extensions().get::<error::Failure>() {
        Some(failure) => failure.log(Some((&method, uri.path()))),
        None if response.status().is_server_error() => tracing::warn!(
            %method,
            path = %uri.path(),
            status = response.status().as_u16(),
            "request answered with a server error"
        ),
        None => {}
    }
    response
}
