//! `POST /graphql`, and GraphiQL at `GET /graphql` when `GRAPHIQL=1`.

use axum::{
    Json,
    extract::{Request, State},
    http::{HeaderMap, StatusCode, header},
    response::{Html, IntoResponse, Response},
};
use serde_json::json;

use super::{auth, body::read_limited, csp, error::ApiError, limits::ClientIp, state::AppState};
use crate::graphql;

/// A GraphQL document with its variables; generous, but bounded.
pub const GRAPHQL_BODY_LIMIT: usize = 256 * 1024;

/// An answer in GraphQL's error shape, before anything ran.
pub(super) fn refuse(status: StatusCode, code: &str, message: &str) -> Response {
    let body = json!({ "errors": [{ "message": message, "extensions": { "code": code } }] });
    (status, Json(body)).into_response()
}

/// A REST error in GraphQL's shape, with its status and headers.
fn refuse_with(err: &ApiError) -> Response {
    let mut response = refuse(err.status(), err.code(), &err.message());
    response.headers_mut().extend(err.headers());
    err.attach(&mut response);
    response
}

pub async fn execute(State(state): State<AppState>, ip: ClientIp, req: Request) -> Response {
    let credential = match auth::credential(&state, req.headers(), ip).await {
        // Without a credential, the document counts as public traffic.
        Ok(None) => state.limits.public(ip).map(|()| None),
        other => other,
    };
    let credential = match credential {
        Ok(credential) => credential,
        Err(err) => return refuse_with(&err),
    };
    let bytes = match read_limited(req, GRAPHQL_BODY_LIMIT).await {
        Ok(bytes) => bytes,
        Err(err) => return refuse_with(&err),
    };
    let request = match parse_request(&bytes) {
        Ok(request) => request,
        Err(message) => return refuse(StatusCode::BAD_REQUEST, "BAD_REQUEST", &message),
    };
    let mut request = match credential {
        Some(credential) => request.data(credential.caller).data(credential),
        None => request,
    };
    let mut response = match graphql::check_document(&mut request) {
        Ok(()) => state.schema.execute(request).await,
        Err(refused) => async_graphql::Response::from_errors(vec![refused]),
    };
    // Parse, validation and limit errors come without a code: they are the caller's to fix.
    for error in &mut response.errors {
        let extensions = error.extensions.get_or_insert_with(Default::default);
        if extensions.get("code").is_none() {
            extensions.set("code", "BAD_USER_INPUT");
        }
    }
    Json(response).into_response()
}

/// A single request: a JSON object whose `query` is a string.
fn parse_request(bytes: &[u8]) -> Result<async_graphql::Request, String> {
    let value: serde_json::Value =
        serde_json::from_slice(bytes).map_err(|e| format!("the body is not JSON: {e}"))?;
    if !value.get("query").is_some_and(serde_json::Value::is_string) {
        return Err("the body must be a JSON object with a \"query\" string".into());
    }
    serde_json::from_value(value).map_err(|e| format!("the body is not a GraphQL request: {e}"))
}

/// GraphiQL's page: its files are bundled into the dashboard's build (`/admin/graphiql/`), so
/// nothing loads from a third party; the credential goes in its Headers tab and is not kept.
const GRAPHIQL_PAGE: &str = r#"<!doctype html>
<html lang="en">
  <head>
    <meta charset="utf-8" />
    <meta name="referrer" content="no-referrer" />
    <title>zoomtrack GraphQL</title>
    <link rel="stylesheet" href="/admin/graphiql/graphiql.min.css" />
    <link rel="stylesheet" href="/admin/graphiql/page.css" />
  </head>
  <body>
    <div id="graphiql">Loading GraphiQL…</div>
    <script src="/admin/graphiql/react.production.min.js"></script>
    <script src="/admin/graphiql/react-dom.production.min.js"></script>
    <script src="/admin/graphiql/graphiql.min.js"></script>
    <script src="/admin/graphiql/start.js"></script>
  </body>
</html>
"#;

/// `GET /graphql`: GraphiQL when `GRAPHIQL=1`, else a JSON 404 saying how to turn it on.
pub async fn graphiql(State(state): State<AppState>, headers: HeaderMap) -> Response {
    if !state.settings.limits.graphiql {
        return ApiError::NotConfigured(
            "GraphiQL is off: start the server with GRAPHIQL=1 to serve it here; POST GraphQL \
             requests to this URL",
        )
        .into_response();
    }
    let bundled = state.settings.admin_ui_dir.join("graphiql/graphiql.min.js");
    if !tokio::fs::metadata(&bundled)
        .await
        .is_ok_and(|meta| meta.is_file())
    {
        return refuse(
            StatusCode::SERVICE_UNAVAILABLE,
            "NOT_BUILT",
            "GraphiQL's files are not in the dashboard's build yet: scripts/dashboard.sh bundles \
             them into ADMIN_UI_DIR/graphiql",
        );
    }
    let policy = csp::graphiql_policy(&headers);
    (
        [
            (header::CONTENT_SECURITY_POLICY, policy),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff".into()),
            (header::REFERRER_POLICY, "no-referrer".into()),
            (header::CACHE_CONTROL, "no-cache".into()),
        ],
        Html(GRAPHIQL_PAGE),
    )
        .into_response()
}
