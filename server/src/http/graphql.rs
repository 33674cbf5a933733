//! `POST /graphql` and GraphiQL at `GET /graphql`.

use axum::{
    Json,
    extract::{Request, State},
    http::StatusCode,
    response::{Html, IntoResponse, Response},
};
use serde_json::json;

use super::{auth, body::read_limited, error::ApiError};
use crate::startup::AppState;

/// A GraphQL document with its variables; generous, but bounded.
pub const GRAPHQL_BODY_LIMIT: usize = 256 * 1024;

fn refuse(status: StatusCode, code: &str, message: String) -> Response {
    let body = json!({ "errors": [{ "message": message, "extensions": { "code": code } }] });
    (status, Json(body)).into_response()
}

pub async fn execute(State(state): State<AppState>, req: Request) -> Response {
    let caller = match auth::caller(&state, req.headers()).await {
        Ok(caller) => caller,
        Err(err) => {
            let err = ApiError::from(err);
            err.log();
            return refuse(err.status(), err.code(), err.message());
        }
    };
    let bytes = match read_limited(req, GRAPHQL_BODY_LIMIT).await {
        Ok(bytes) => bytes,
        Err(err) => return refuse(err.status(), err.code(), err.message()),
    };
    let request = match parse_request(&bytes) {
        Ok(request) => request,
        Err(message) => return refuse(StatusCode::BAD_REQUEST, "BAD_REQUEST", message),
    };
    let request = match caller {
        Some(caller) => request.data(caller),
        None => request,
    };
    let mut response = state.schema.execute(request).await;
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

pub async fn graphiql() -> Html<String> {
    Html(
        async_graphql::http::GraphiQLSource::build()
            .endpoint("/graphql")
            .title("zoomtrack GraphQL")
            .finish(),
    )
}
