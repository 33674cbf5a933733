//! The admin dashboard: the Leptos app's build, served at `/admin/`. Paths that are not files
//! get its `index.html`, so a bookmarked view loads the app.

use std::path::Path;

use axum::{
    Router,
    http::{HeaderValue, StatusCode, header},
    middleware,
    response::{IntoResponse, Response},
    routing::get,
};
use tower_http::services::{ServeDir, ServeFile};

use crate::startup::AppState;

pub fn routes(dir: Option<&Path>) -> Router<AppState> {
    match dir {
        Some(dir) => Router::new()
            .nest_service(
                "/admin",
                ServeDir::new(dir).fallback(ServeFile::new(dir.join("index.html"))),
            )
            .layer(middleware::map_response(cache_control)),
        None => Router::new()
            .route("/admin", get(not_built))
            .route("/admin/{*path}", get(not_built)),
    }
}

/// The page is checked again on every load, so a new build is picked up at once; the files it
/// names carry a hash of their content and never change.
async fn cache_control(mut response: Response) -> Response {
    let page = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.starts_with("text/html"));
    let policy = if page {
        "no-cache"
    } else {
        "public, max-age=31536000, immutable"
    };
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static(policy));
    response
}

async fn not_built() -> impl IntoResponse {
    (
        StatusCode::SERVICE_UNAVAILABLE,
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        "<!doctype html><title>Dashboard not built</title><h1>The dashboard is not built</h1>\
         <p><code>scripts/run.sh</code> builds it before it starts the server. To build it by \
         hand: <code>trunk build --release</code> at the repository root, then restart the \
         server (or point <code>ADMIN_UI_DIR</code> at the build).</p>",
    )
}
