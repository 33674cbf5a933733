//! `POST /graphql` and GraphiQL at `GET /graphql`.

use async_graphql::{Data, http::ALL_WEBSOCKET_PROTOCOLS};
use async_graphql_axum::{GraphQLProtocol, GraphQLWebSocket};
use axum::extract::ws::WebSocketUpgrade;
use axum::{
    Json,
    extract::{FromRequestParts, Request, State},
    http::{StatusCode, header},
    response::{Html, IntoResponse, Response},
};
use serde_json::json;

use super::{auth, body::read_limited, error::ApiError, state::AppState};
use crate::{domain::bearer, graphql::error, services::auth as credentials};

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

/// `GET /graphql/ws`: subscriptions over graphql-transport-ws (or the older graphql-ws when
/// the client asks for it; a client that names no subprotocol, as behind some proxies, gets
/// graphql-transport-ws). The credential comes in the `connection_init` payload:
/// `{"authorization": "Bearer <token>"}`.
pub async fn subscriptions(
    State(state): State<AppState>,
    protocol: Result<GraphQLProtocol, StatusCode>,
    upgrade: WebSocketUpgrade,
) -> Response {
    let Some(protocol) = protocol.ok().or(transport_ws().await) else {
        return StatusCode::BAD_REQUEST.into_response();
    };
    let schema = state.schema.clone();
    let mut stopping = state.stopping.clone();
    upgrade
        .max_message_size(GRAPHQL_BODY_LIMIT)
        .protocols(ALL_WEBSOCKET_PROTOCOLS)
        .on_upgrade(move |socket| {
            let serve = GraphQLWebSocket::new(socket, schema, protocol)
                .on_connection_init(move |payload| connection_caller(state, payload))
                .serve();
            async move {
                // A stopping server drops the connection: clients reconnect to its successor.
                tokio::select! {
                    _ = serve => {}
                    _ = stopping.wait_for(|stop| *stop) => {}
                }
            }
        })
}

async fn connection_caller(
    state: AppState,
    payload: serde_json::Value,
) -> async_graphql::Result<Data> {
    let header = ["authorization", "Authorization"]
        .iter()
        .find_map(|key| payload.get(key))
        .and_then(serde_json::Value::as_str)
        .unwrap_or_default();
    let token = bearer(header).ok_or_else(|| {
        error(
            "UNAUTHENTICATED",
            "connection_init needs {\"authorization\": \"Bearer <token>\"}",
        )
    })?;
    let admin = state.settings.admin_token_hash.as_deref();
    let caller = credentials::authenticate(state.tracker.db(), admin, token)
        .await
        .map_err(|err| error(err.code(), err.public_message()))?;
    let mut data = Data::default();
    data.insert(caller);
    Ok(data)
}

pub async fn graphiql() -> Html<String> {
    Html(
        async_graphql::http::GraphiQLSource::build()
            .endpoint("/graphql")
            .title("zoomtrack GraphQL")
            .finish(),
    )
}

/// The graphql-transport-ws protocol, for clients that name none.
async fn transport_ws() -> Option<GraphQLProtocol> {
    let (mut parts, ()) = axum::http::Request::builder()
        .header(header::SEC_WEBSOCKET_PROTOCOL, "graphql-transport-ws")
        .body(())
        .ok()?
        .into_parts();
    GraphQLProtocol::from_request_parts(&mut parts, &())
        .await
        .ok()
}
