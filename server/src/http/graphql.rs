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
    let request: async_graphql::Request = match serde_json::from_slice(&bytes) {
        Ok(request) => request,
        Err(e) => {
            return refuse(
                StatusCode::BAD_REQUEST,
                "BAD_REQUEST",
                format!("the body is not a GraphQL request (JSON with a \"query\"): {e}"),
            );
        }
    };
    let request = match caller {
        Some(caller) => request.data(caller),
        None => request,
    };
    Json(state.schema.execute(request).await).into_response()
}

pub async fn graphiql() -> Html<String> {
    Html(
        async_graphql::http::GraphiQLSource::build()
            .endpoint("/graphql")
            .title("zoomtrack GraphQL")
            .finish(),
    )
}
