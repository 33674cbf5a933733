//! The admin dashboard: the Leptos app's build, served at `/admin/`. Paths that are not files
//! get its `index.html`, so a bookmarked view loads the app.

use std::path::Path;

use axum::{
    Router,
    http::{StatusCode, header},
    response::IntoResponse,
    routing::get,
};
use tower_http::services::{ServeDir, ServeFile};

use crate::startup::AppState;

pub fn routes(dir: Option<&Path>) -> Router<AppState> {
    match dir {
        Some(dir) => Router::new().nest_service(
            "/admin",
            ServeDir::new(dir).fallback(ServeFile::new(dir.join("index.html"))),
        ),
        None => Router::new()
            .route("/admin", get(not_built))
            .route("/admin/{*path}", get(not_built)),
    }
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
