//! The HTTP edge: routes, and the handlers that parse a request, call one service function and
//! map its result.

mod admin;
mod auth;
mod body;
mod dashboard;
mod error;
mod graphql;
mod page;
mod state;
mod tracking;
mod zoom;

use axum::{
    Json, Router,
    http::Request,
    routing::{get, post},
};
use tower_http::trace::TraceLayer;

pub use self::state::AppState;

pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/api/zoom/track", get(tracking::track))
        .route("/api/zoom/heartbeat", post(tracking::heartbeat))
        .route("/api/zoom/end-session", post(tracking::end_session))
        .route("/api/zoom/webhook", post(zoom::webhook))
        .route("/api/admin/auto-timeout", post(admin::auto_timeout))
        .route("/api/admin/teacher-sessions", get(admin::teacher_sessions))
        .route("/api/admin/sessions.csv", get(admin::sessions_csv))
        .route("/graphql", get(graphql::graphiql).post(graphql::execute))
        .route("/graphql/ws", get(graphql::subscriptions))
        .route("/health", get(|| async { Json(serde_json::json!({ "status": "ok" })) }))
        .merge(dashboard::routes(&state.settings.admin_ui_dir))
        .fallback(error::route_not_found)
        .method_not_allowed_fallback(error::method_not_allowed)
        // Spans carry the path only: queries hold tracking tokens.
        .layer(TraceLayer::new_for_http().make_span_with(|req: &Request<_>| {
            tracing::info_span!("http", method = %req.method(), path = %req.uri().path())
        }))
        .with_state(state)
}
