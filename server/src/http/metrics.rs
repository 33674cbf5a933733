//! `GET /metrics`: the Prometheus text format (see `crate::telemetry`). On the public address it
//! needs an admin credential; with `METRICS_ADDR` set it is also served there without one, for
//! a private scrape network.

use std::{future::Future, time::Instant};

use axum::{
    Router,
    extract::{Request, State},
    http::{HeaderValue, header},
    middleware::Next,
    response::{IntoResponse, Response},
    routing::get,
};
use entity::{
    telegram_notification::{self, NotificationStatus},
    zoom_link::{self, SessionStatus},
};
use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};
use tokio::net::TcpListener;

use super::{auth::Admin, error::ApiError, state::AppState};
use crate::{
    services::{ServiceError, Tracker},
    telemetry::{self, States},
};

/// Counts and times every request, by route (one of the router's own paths, so the labels
/// stay few whatever paths clients send), method and status.
pub async fn track(req: Request, next: Next) -> Response {
    let started = Instant::now();
    let route = route_label(req.uri().path());
    let method = req.method().to_string();
    let response = next.run(req).await;
    telemetry::request(route, method, response.status().as_u16(), started.elapsed());
    response
}

/// The route a path is for: one of the router's paths, `/admin` for the dashboard's files, or
/// `other` (a path no route has).
fn route_label(path: &str) -> &'static str {
    const ROUTES: [&str; 12] = [
        "/api/zoom/track",
        "/api/zoom/heartbeat",
        "/api/zoom/end-session",
        "/api/zoom/webhook",
        "/api/admin/auto-timeout",
        "/api/admin/teacher-sessions",
        "/api/admin/sessions.csv",
        "/graphql",
        "/graphql/ws",
        "/health",
        "/metrics",
        "/admin",
    ];
    if let Some(route) = ROUTES.into_iter().find(|route| *route == path) {
        return route;
    }
    if path.starts_with("/admin/") {
        "/admin"
    } else {
        "other"
    }
}

/// `GET /metrics` on the public address: admins only.
pub async fn scrape(_: Admin, State(state): State<AppState>) -> Result<Response, ApiError> {
    exposition(&state.tracker).await
}

async fn exposition(tracker: &Tracker) -> Result<Response, ApiError> {
    let db = tracker.read();
    let outbox = |statuses: Vec<NotificationStatus>| {
        telegram_notification::Entity::find()
            .filter(telegram_notification::Column::Status.is_in(statuses))
            .count(db)
    };
    let (sessions, pending) = tracker.buffer();
    let states = States {
        live_sessions: zoom_link::Entity::find()
            .filter(zoom_link::Column::SessionStatus.eq(SessionStatus::Active))
            .count(db)
            .await
            .map_err(ServiceError::from)?,
        buffer_sessions: sessions,
        buffer_pending: pending,
        subscribers: tracker.events().subscribers(),
        outbox_pending: outbox(vec![
            NotificationStatus::Pending,
            NotificationStatus::Sending,
        ])
        .await
        .map_err(ServiceError::from)?,
        outbox_failed: outbox(vec![NotificationStatus::Failed])
            .await
            .map_err(ServiceError::from)?,
    };
    let text = telemetry::render(states).map_err(ServiceError::Internal)?;
    let mut response = text.into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    Ok(response)
}

/// Serves `GET /metrics` without a credential on `listener` (`METRICS_ADDR`) until `stop`.
pub async fn serve_private(
    listener: TcpListener,
    state: AppState,
    stop: impl Future<Output = ()> + Send + 'static,
) {
    let router = Router::new()
        .route(
            "/metrics",
            get(|State(state): State<AppState>| async move { exposition(&state.tracker).await }),
        )
        .with_state(state);
    if let Err(err) = axum::serve(listener, router)
        .with_graceful_shutdown(stop)
        .await
    {
        tracing::error!(error = %err, "the metrics listener (METRICS_ADDR) stopped");
    }
}
