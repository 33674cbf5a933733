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

/// Counts and times every request, by route, method and status (see `telemetry::ROUTES`).
pub async fn track(req: Request, next: Next) -> Response {
    let started = Instant::now();
    let route = route_index(req.uri().path());
    let method = telemetry::METHODS
        .iter()
        .position(|name| *name == req.method().as_str())
        .unwrap_or(telemetry::METHODS.len() - 1);
    let response = next.run(req).await;
    telemetry::request(route, method, response.status().as_u16(), started.elapsed());
    response
}

/// The route a path is counted under: its own, `/admin` for the dashboard's files, or `other`.
fn route_index(path: &str) -> usize {
    let named = |name: &str| {
        telemetry::ROUTES
            .iter()
            .position(|route| *route == name)
            .unwrap_or_default()
    };
    // Every route starts with `/`; `other` never matches a path.
    match telemetry::ROUTES.iter().position(|route| *route == path) {
        Some(index) => index,
        None if path.starts_with("/admin/") => named("/admin"),
        None => named("other"),
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
