//! A client of the live updates: `/graphql/ws` spoken to with a graphql-transport-ws client
//! library, its answers kept as JSON.

use futures::Stream;
use graphql_ws_client::{Client, graphql::GraphqlOperation};
use serde::Serialize;
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::{client::IntoClientRequest, http::HeaderValue};

use crate::Api;

/// A subscription document and its variables.
#[derive(Serialize)]
pub struct Operation {
    pub query: &'static str,
    pub variables: Value,
}

impl GraphqlOperation for Operation {
    type Response = Value;
    type Error = serde_json::Error;

    fn decode(&self, data: Value) -> Result<Value, Self::Error> {
        Ok(data)
    }
}

/// Opens `server`'s WebSocket with `token` as the credential (none without); `Err` when the
/// server refuses it at `connection_init`.
pub async fn connect(
    server: &Api,
    token: Option<&str>,
) -> Result<Client, graphql_ws_client::Error> {
    let mut request = format!("{}/graphql/ws", server.base.replacen("http", "ws", 1))
        .into_client_request()
        .expect("a WebSocket request");
    request.headers_mut().insert(
        "Sec-WebSocket-Protocol",
        HeaderValue::from_static("graphql-transport-ws"),
    );
    let (connection, _) = tokio_tungstenite::connect_async(request)
        .await
        .expect("the WebSocket opens");
    let mut builder = Client::build(connection);
    if let Some(token) = token {
        builder = builder.payload(json!({ "authorization": format!("Bearer {token}") }))?;
    }
    let (client, actor) = builder.await?;
    tokio::spawn(actor.into_future());
    Ok(client)
}

/// Subscribes `client` to `query`.
pub async fn subscribe(
    client: &Client,
    query: &'static str,
    variables: Value,
) -> impl Stream<Item = Result<Value, graphql_ws_client::Error>> + Unpin + use<> {
    client
        .subscribe(Operation { query, variables })
        .await
        .expect("subscribed")
}
