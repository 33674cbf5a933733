//! The admin dashboard: the Leptos app's build, served at `/admin/`. Paths that are not files
//! get its `index.html`, so a bookmarked view loads the app.
//!
//! The server may start before the dashboard is built (`scripts/run.sh` builds it while the
//! server runs): until the folder holds an `index.html`, every path answers a page that says so,
//! shows the build script's progress and reloads itself. The folder is looked at on every
//! request, so a finished build is served without a restart.

use std::{
    path::{Path, PathBuf},
    sync::Arc,
    time::{Duration, SystemTime},
};

use axum::{
    Router,
    extract::Request,
    http::{HeaderValue, StatusCode, header},
    middleware::{self, Next},
    response::{Html, IntoResponse, Response},
    routing::get,
};
use tokio::io::AsyncReadExt;
use tower::ServiceExt;
use tower_http::services::{ServeDir, ServeFile};

use super::{csp, page::escape, state::AppState};

/// How often the building page reloads itself.
const RELOAD_SECONDS: u32 = 5;

/// The building page loads nothing: no script, no image, no font, no frame.
const BUILDING_PAGE_POLICY: &str = "default-src 'none'; style-src 'unsafe-inline'; \
     base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/// Every `/admin/` answer, the app's and the building page's: never framed, never sniffed,
/// never named in a referrer.
const FRAME_POLICY: &str = "frame-ancestors 'none'";

/// `/admin/` and every path under it: the build in `dir`, or the building page until it is there.
pub fn routes(dir: &Path) -> Router<AppState> {
    let site = Arc::new(Site {
        // The build holds a brotli and a gzip copy of each file (`scripts/compress.mjs`): sent,
        // with its `Content-Encoding`, to a browser that accepts one.
        files: ServeDir::new(dir)
            .precompressed_br()
            .precompressed_gzip()
            .fallback(
                ServeFile::new(dir.join("index.html"))
                    .precompressed_br()
                    .precompressed_gzip(),
            ),
        index: dir.join("index.html"),
        progress: progress_file(dir),
    });
    Router::new()
        .nest_service(
            "/admin",
            get(move |request: Request| {
                let site = Arc::clone(&site);
                async move { site.serve(request).await }
            })
            .fallback(super::error::method_not_allowed),
        )
        .layer(middleware::from_fn(headers))
}

/// Where the build script reports its progress: beside the folder, as `<folder>.progress`, so
/// a build that replaces the folder leaves it alone.
fn progress_file(dir: &Path) -> PathBuf {
    let mut name = dir.components().collect::<PathBuf>().into_os_string();
    name.push(".progress");
    PathBuf::from(name)
}

struct Site {
    files: ServeDir<ServeFile>,
    index: PathBuf,
    progress: PathBuf,
}

impl Site {
    async fn serve(&self, request: Request) -> Response {
        let built = tokio::fs::metadata(&self.index)
            .await
            .is_ok_and(|meta| meta.is_file());
        if !built {
            let (progress, age) = read_progress(&self.progress)
                .await
                .map_or((None, None), |(text, age)| (Some(text), age));
            return building_page(progress.as_deref().map(Progress::parse), age);
        }
        let headers = request.headers().clone();
        // Decided by the path: a 304 for the page names no content type, and a browser takes
        // the 304's headers for the page it kept.
        let page = names_page(request.uri().path());
        let mut response = match self.files.clone().oneshot(request).await {
            Ok(response) => response.into_response(),
            Err(never) => match never {},
        };
        if page {
            // The app's policy names its inline loader by hash: read from the page served.
            let html = tokio::fs::read_to_string(&self.index)
                .await
                .unwrap_or_default();
            let policy = csp::app_policy(&csp::inline_script_hashes(&html), &headers);
            if let Ok(value) = HeaderValue::from_str(&policy) {
                response
                    .headers_mut()
                    .insert(header::CONTENT_SECURITY_POLICY, value);
            }
        }
        response
    }
}

/// The progress file's text and how long ago it was written, from one open file.
async fn read_progress(path: &Path) -> Option<(String, Option<Duration>)> {
    let mut file = tokio::fs::File::open(path).await.ok()?;
    let age = file
        .metadata()
        .await
        .and_then(|meta| meta.modified())
        .ok()
        .and_then(|modified| SystemTime::now().duration_since(modified).ok());
    let mut bytes = Vec::new();
    file.read_to_end(&mut bytes).await.ok()?;
    Some((String::from_utf8_lossy(&bytes).into_owned(), age))
}

/// What the build script last wrote: its state on the first line, the step on the second, and
/// for a failure the end of the build's output after it.
#[derive(Debug, PartialEq)]
struct Progress<'a> {
    failed: bool,
    step: &'a str,
    detail: &'a str,
}

impl<'a> Progress<'a> {
    fn parse(text: &'a str) -> Self {
        let (state, rest) = text.split_once('\n').unwrap_or((text, ""));
        let (step, detail) = rest.split_once('\n').unwrap_or((rest, ""));
        Self {
            failed: state.trim() == "failed",
            step: step.trim(),
            detail: detail.trim_end(),
        }
    }
}

fn building_page(progress: Option<Progress>, age: Option<Duration>) -> Response {
    let (title, body) = match &progress {
        Some(p) if p.failed => (
            "The dashboard build failed",
            format!(
                "<p class=\"failed\">{}</p>{}<p>The API, the tracking page and the webhooks \
                 keep working. Fix the cause and run <code>scripts/dashboard.sh</code> again: \
                 this page shows the dashboard as soon as the build is there.</p>",
                escape(p.step),
                detail_block(p.detail)
            ),
        ),
        Some(p) => (
            "The dashboard is being built",
            format!(
                "<p>{}</p>{}<p>The API, the tracking page and the webhooks already work. This \
                 page reloads itself and shows the dashboard as soon as the build is there.</p>",
                escape(if p.step.is_empty() {
                    "The build is starting."
                } else {
                    p.step
                }),
                detail_block(p.detail)
            ),
        ),
        None => (
            "The dashboard is not built yet",
            "<p>No build of the dashboard is in its folder (<code>ADMIN_UI_DIR</code>). \
             <code>scripts/run.sh</code> builds it while the server runs; \
             <code>scripts/dashboard.sh</code> builds it alone. This page reloads itself and \
             shows the dashboard as soon as the build is there.</p>"
                .to_owned(),
        ),
    };
    let updated = match (&progress, age) {
        (Some(p), Some(age)) if p.failed => {
            format!("<p class=\"age\">Failed {} ago.</p>", ago(age))
        }
        (Some(_), Some(age)) => format!("<p class=\"age\">This step has run for {}.</p>", ago(age)),
        _ => String::new(),
    };
    let page = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <meta http-equiv=\"refresh\" content=\"{RELOAD_SECONDS}\">\
         <title>zoomtrack · {title}</title><style>\
         body{{font:16px/1.5 system-ui,sans-serif;max-width:40rem;margin:4rem auto;padding:0 1rem;color:#1f2933}}\
         h1{{font-size:1.4rem}}.failed{{color:#b42318;font-weight:600}}.age{{color:#616e7c;font-size:.9rem}}\
         pre{{background:#f5f7fa;padding:.75rem;overflow:auto;font-size:.8rem}}\
         </style></head><body><h1 id=\"building\">{title}</h1>{body}{updated}</body></html>"
    );
    (
        [
            (header::CACHE_CONTROL, "no-store"),
            (header::CONTENT_SECURITY_POLICY, BUILDING_PAGE_POLICY),
        ],
        Html(page),
    )
        .into_response()
}

fn detail_block(detail: &str) -> String {
    if detail.is_empty() {
        String::new()
    } else {
        format!("<pre>{}</pre>", escape(detail))
    }
}

fn ago(age: Duration) -> String {
    match age.as_secs() {
        s if s < 60 => format!("{s} s"),
        s => format!("{} min {} s", s / 60, s % 60),
    }
}

/// Whether a path asks for the app's page: a route of the app (no file extension) or an HTML
/// file.
fn names_page(path: &str) -> bool {
    path.rsplit('/')
        .next()
        .and_then(|name| name.rsplit_once('.'))
        .is_none_or(|(_, extension)| extension.eq_ignore_ascii_case("html"))
}

fn is_html(response: &Response) -> bool {
    response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.starts_with("text/html"))
}

/// The page is checked again on every load, so a new build is picked up at once; the files it
/// names carry a hash of their content and never change. Decided by the path, since a 304
/// names no content type. Every answer may not be framed, sniffed or named in a referrer.
async fn headers(request: Request, next: Next) -> Response {
    let path = request.uri().path();
    // GraphiQL's files are copied in under their packages' names, without a hash.
    let hashed_file = !names_page(path) && !path.contains("/graphiql/");
    let mut response = next.run(request).await;
    let status = response.status();
    let page = is_html(&response);
    let immutable =
        hashed_file && !page && (status.is_success() || status == StatusCode::NOT_MODIFIED);
    let headers = response.headers_mut();
    if !headers.contains_key(header::CACHE_CONTROL) {
        let policy = if immutable {
            "public, max-age=31536000, immutable"
        } else {
            "no-cache"
        };
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static(policy));
    }
    if !headers.contains_key(header::CONTENT_SECURITY_POLICY) {
        headers.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(FRAME_POLICY),
        );
    }
    // A file may be answered in another encoding (its precompressed copy).
    if !headers.contains_key(header::VARY) {
        headers.insert(header::VARY, HeaderValue::from_static("accept-encoding"));
    }
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn progress_sits_beside_the_folder() {
        assert_eq!(
            progress_file(Path::new("admin-ui/dist/")),
            Path::new("admin-ui/dist.progress")
        );
        assert_eq!(
            progress_file(Path::new("/srv/zoomtrack/ui")),
            Path::new("/srv/zoomtrack/ui.progress")
        );
    }

    #[test]
    fn progress_reads_state_step_and_detail() {
        assert_eq!(
            Progress::parse("building\nstep 2 of 5: installing trunk\n"),
            Progress {
                failed: false,
                step: "step 2 of 5: installing trunk",
                detail: ""
            }
        );
        assert_eq!(
            Progress::parse("failed\nstep 5 of 5 failed\nerror[E0425]\nmore\n"),
            Progress {
                failed: true,
                step: "step 5 of 5 failed",
                detail: "error[E0425]\nmore"
            }
        );
        assert_eq!(
            Progress::parse(""),
            Progress {
                failed: false,
                step: "",
                detail: ""
            }
        );
    }
}
