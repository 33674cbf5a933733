//! `GET /graphql/ws`: subscriptions over the graphql-transport-ws protocol, with its limits.
//!
//! The credential comes in the `connection_init` payload (`{"authorization": "Bearer …"}`),
//! which must arrive within 10 s (else close 4408). A refused credential closes with 4403.
//! Each connection holds at most `WS_MAX_SUBSCRIPTIONS` subscriptions (one more is answered with
//! an `error` message), each credential at most `WS_MAX_PER_CREDENTIAL` connections (one more is
//! closed with 1013, try again later) and the server at most `WS_MAX_CONNECTIONS` (one more gets
//! 503 before the upgrade). The server pings every `WS_KEEPALIVE`; a client silent for two of
//! them is dropped. A revoked key's connections close with 4403 at once; a stopping server
//! closes every connection with 1001.

use std::{collections::HashMap, time::Duration};

use axum::{
    extract::{
        State,
        ws::{
            CloseFrame, Message, WebSocket, WebSocketUpgrade, rejection::WebSocketUpgradeRejection,
        },
    },
    http::{HeaderMap, StatusCode, header},
    response::{IntoResponse, Response},
};
use futures::StreamExt;
use serde_json::{Value, json};
use tokio::{
    sync::{OwnedSemaphorePermit, broadcast::error::RecvError, mpsc},
    task::JoinHandle,
    time::{Instant, sleep_until},
};

use super::{
    error::ApiError,
    graphql::refuse,
    limits::ClientIp,
    sockets::{CredentialSlot, PendingSlot},
    state::AppState,
};
use crate::{
    domain::{ApiKeyId, bearer, time},
    graphql,
    services::{ServiceError, auth},
};

/// The only subprotocol spoken.
pub const PROTOCOL: &str = "graphql-transport-ws";
/// How long a new connection may take to send `connection_init`.
pub const INIT_TIMEOUT: Duration = Duration::from_secs(10);
/// A message (a subscribe with its variables) is at most this large.
const MESSAGE_LIMIT: usize = 64 * 1024;

/// Whether the client asks for graphql-transport-ws (or names no subprotocol, as some proxies
/// strip it).
fn speaks_our_protocol(headers: &HeaderMap) -> bool {
    let mut named = headers
        .get_all(header::SEC_WEBSOCKET_PROTOCOL)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .map(str::trim)
        .filter(|name| !name.is_empty())
        .peekable();
    named.peek().is_none() || named.any(|name| name == PROTOCOL)
}

pub async fn upgrade(
    State(state): State<AppState>,
    ip: ClientIp,
    headers: HeaderMap,
    upgrade: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Response {
    let Ok(upgrade) = upgrade else {
        return refuse(
            StatusCode::BAD_REQUEST,
            "BAD_REQUEST",
            "this endpoint takes WebSocket upgrades speaking graphql-transport-ws; send queries \
             and mutations to POST /graphql",
        );
    };
    if !speaks_our_protocol(&headers) {
        return refuse(
            StatusCode::BAD_REQUEST,
            "BAD_REQUEST",
            "this endpoint speaks the graphql-transport-ws subprotocol only",
        );
    }
    // Each upgrade counts as a public request, and an address holds only a few sockets that
    // have not signed in.
    if let Err(refused) = state.limits.public(ip) {
        return refused.into_response();
    }
    let Some(pending) = state.sockets.arrive(ip) else {
        return refuse(
            StatusCode::TOO_MANY_REQUESTS,
            "TOO_MANY_CONNECTIONS",
            "this address has too many subscription connections waiting for connection_init",
        );
    };
    let Ok(place) = state.sockets.all.clone().try_acquire_owned() else {
        let mut response = refuse(
            StatusCode::SERVICE_UNAVAILABLE,
            "TOO_MANY_CONNECTIONS",
            "WS_MAX_CONNECTIONS subscription connections are open: try again later",
        );
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, header::HeaderValue::from_static("5"));
        return response;
    };
    upgrade
        .max_message_size(MESSAGE_LIMIT)
        .max_frame_size(MESSAGE_LIMIT)
        .protocols([PROTOCOL])
        .on_upgrade(move |socket| async move {
            Connection::new(state, socket, ip, place, pending)
                .run()
                .await;
        })
}

/// Why a connection ends, and the close frame it gets.
enum Close {
    Frame(u16, &'static str),
    /// The client is gone: nothing to say.
    Silently,
}

struct Connection {
    state: AppState,
    socket: WebSocket,
    ip: ClientIp,
    _place: OwnedSemaphorePermit,
    /// Held until `connection_init` is accepted.
    pending: Option<PendingSlot>,
    credential: Option<(auth::Credential, CredentialSlot)>,
    subscriptions: HashMap<String, JoinHandle<()>>,
    out: mpsc::Sender<Value>,
    outgoing: mpsc::Receiver<Value>,
}

impl Connection {
    fn new(
        state: AppState,
        socket: WebSocket,
        ip: ClientIp,
        place: OwnedSemaphorePermit,
        pending: PendingSlot,
    ) -> Self {
        let (out, outgoing) = mpsc::channel(64);
        Self {
            state,
            socket,
            ip,
            _place: place,
            pending: Some(pending),
            credential: None,
            subscriptions: HashMap::new(),
            out,
            outgoing,
        }
    }

    async fn run(mut self) {
        let close = self.serve().await;
        for (_, task) in self.subscriptions.drain() {
            task.abort();
        }
        if let Close::Frame(code, reason) = close {
            let frame = CloseFrame {
                code,
                reason: reason.into(),
            };
            let _ = self.write(Message::Close(Some(frame))).await;
        }
    }

    async fn serve(&mut self) -> Close {
        let keepalive = self.state.sockets.keepalive;
        let init_deadline = Instant::now() + INIT_TIMEOUT;
        let mut heard = Instant::now();
        let mut ping = tokio::time::interval_at(Instant::now() + keepalive, keepalive);
        let mut revoked = self.state.revocations.subscribe();
        let mut stopping = self.state.stopping.clone();
        loop {
            // Stop and revocation first: a busy socket never delays them.
            tokio::select! {
                biased;
                () = async { let _ = stopping.wait_for(|stop| *stop).await; } => {
                    return Close::Frame(1001, "the server is restarting");
                }
                key = revoked.recv() => {
                    if self.revoked(key).await {
                        return Close::Frame(4403, "Forbidden: the credential was revoked");
                    }
                }
                () = sleep_until(init_deadline), if self.credential.is_none() => {
                    return Close::Frame(4408, "Connection initialisation timeout");
                }
                _ = ping.tick() => {
                    if heard.elapsed() > keepalive * 2 {
                        return Close::Silently;
                    }
                    if let Err(close) = self.write(Message::Ping(Default::default())).await {
                        return close;
                    }
                }
                incoming = self.socket.recv() => {
                    let Some(Ok(message)) = incoming else { return Close::Silently };
                    heard = Instant::now();
                    let text = match message {
                        Message::Text(text) => text,
                        Message::Binary(_) => return Close::Frame(4400, "text messages only"),
                        Message::Ping(_) | Message::Pong(_) => continue,
                        Message::Close(_) => return Close::Silently,
                    };
                    if let Err(close) = self.handle(text.as_str()).await {
                        return close;
                    }
                }
                Some(message) = self.outgoing.recv() => {
                    if let Err(close) = self.send(message).await {
                        return close;
                    }
                }
            }
        }
    }

    /// Whether a revocation concerns this connection's key.
    async fn revoked(&mut self, announced: Result<ApiKeyId, RecvError>) -> bool {
        let Some(mine) = self.credential.as_ref().and_then(|(c, _)| c.key) else {
            return false;
        };
        match announced {
            Ok(key) => key == mine,
            // Announcements were missed: ask.
            Err(RecvError::Lagged(_)) => !matches!(
                auth::is_live(self.state.tracker.read(), mine).await,
                Ok(true)
            ),
            Err(RecvError::Closed) => false,
        }
    }

    async fn handle(&mut self, text: &str) -> Result<(), Close> {
        match ClientMessage::parse(text).map_err(|(code, why)| Close::Frame(code, why))? {
            ClientMessage::ConnectionInit(payload) => self.init(&payload).await,
            ClientMessage::Ping => self.send(json!({ "type": "pong" })).await,
            ClientMessage::Pong => Ok(()),
            ClientMessage::Subscribe { id, request } => self.subscribe(id, *request).await,
            ClientMessage::Complete(id) => {
                if let Some(task) = self.subscriptions.remove(&id) {
                    task.abort();
                }
                Ok(())
            }
        }
    }

    async fn init(&mut self, payload: &Value) -> Result<(), Close> {
        if self.credential.is_some() {
            return Err(Close::Frame(4429, "Too many initialisation requests"));
        }
        let header = ["authorization", "Authorization"]
            .iter()
            .find_map(|key| payload.get(key))
            .and_then(Value::as_str)
            .unwrap_or_default();
        let Some(token) = bearer(header) else {
            return Err(Close::Frame(
                4403,
                "Forbidden: connection_init needs {\"authorization\": \"Bearer <token>\"}",
            ));
        };
        let limits = &self.state.limits;
        if limits.credentials(self.ip).is_err() {
            return Err(Close::Frame(1013, "too many failed credential checks"));
        }
        let admin = self.state.settings.admin_token_hash.as_deref();
        let credential = match auth::identify(self.state.tracker.read(), admin, token).await {
            Ok(credential) => credential,
            Err(ServiceError::Unauthenticated) => {
                if limits.credential_failed(self.ip).is_some() {
                    return Err(Close::Frame(1013, "too many failed credential checks"));
                }
                return Err(Close::Frame(4403, "Forbidden: the credential is not valid"));
            }
            Err(err) => {
                ApiError::from(err).log();
                return Err(Close::Frame(1011, "the credential could not be checked"));
            }
        };
        if let Err(err) = auth::note_use(self.state.tracker.db(), &credential, time::now()).await {
            tracing::warn!(error = %err, "recording a credential's last use failed");
        }
        let Some(slot) = self.state.sockets.enter(credential.key) else {
            return Err(Close::Frame(
                1013,
                "WS_MAX_PER_CREDENTIAL connections of this credential are open",
            ));
        };
        self.credential = Some((credential, slot));
        self.pending = None;
        self.send(json!({ "type": "connection_ack" })).await
    }

    async fn send(&mut self, message: Value) -> Result<(), Close> {
        self.write(Message::Text(message.to_string().into())).await
    }

    /// Writes one frame; a client that does not read it within a keepalive interval is gone.
    async fn write(&mut self, message: Message) -> Result<(), Close> {
        match tokio::time::timeout(self.state.sockets.keepalive, self.socket.send(message)).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(_)) | Err(_) => Err(Close::Silently),
        }
    }

    async fn subscribe(
        &mut self,
        id: String,
        request: async_graphql::Request,
    ) -> Result<(), Close> {
        let Some(caller) = self.credential.as_ref().map(|(c, _)| c.caller) else {
            return Err(Close::Frame(4401, "Unauthorized"));
        };
        self.subscriptions.retain(|_, task| !task.is_finished());
        if self.subscriptions.contains_key(&id) {
            return Err(Close::Frame(4409, "Subscriber for this id already exists"));
        }
        if self.subscriptions.len() >= self.state.sockets.max_subscriptions {
            let error = json!({
                "message": format!(
                    "at most {} subscriptions on one connection (WS_MAX_SUBSCRIPTIONS)",
                    self.state.sockets.max_subscriptions
                ),
                "extensions": { "code": "TOO_MANY_SUBSCRIPTIONS" },
            });
            return self
                .send(json!({ "type": "error", "id": id, "payload": [error] }))
                .await;
        }
        let mut request = request.data(caller);
        if let Err(refused) = graphql::check_document(&mut request) {
            let error = json!({
                "message": refused.message,
                "extensions": { "code": "BAD_USER_INPUT" },
            });
            return self
                .send(json!({ "type": "error", "id": id, "payload": [error] }))
                .await;
        }
        let mut responses = self.state.schema.execute_stream(request);
        let out = self.out.clone();
        let task_id = id.clone();
        let task = tokio::spawn(async move {
            while let Some(response) = responses.next().await {
                let next = json!({ "type": "next", "id": task_id, "payload": response });
                if out.send(next).await.is_err() {
                    return;
                }
            }
            let _ = out.send(json!({ "type": "complete", "id": task_id })).await;
        });
        self.subscriptions.insert(id, task);
        Ok(())
    }
}

/// A message a client sends, as graphql-transport-ws defines them.
#[derive(Debug)]
pub enum ClientMessage {
    ConnectionInit(Value),
    Ping,
    Pong,
    Subscribe {
        id: String,
        request: Box<async_graphql::Request>,
    },
    Complete(String),
}

impl ClientMessage {
    /// Reads one text message; `Err` is the close code and reason the protocol gives it.
    pub fn parse(text: &str) -> Result<Self, (u16, &'static str)> {
        let invalid = |why| (4400, why);
        let message: Value =
            serde_json::from_str(text).map_err(|_| invalid("Invalid message: not JSON"))?;
        let id = || {
            message["id"]
                .as_str()
                .filter(|id| !id.is_empty())
                .map(str::to_owned)
                .ok_or(invalid("Invalid message: it needs an id"))
        };
        match message["type"].as_str() {
            Some("connection_init") => Ok(Self::ConnectionInit(message["payload"].clone())),
            Some("ping") => Ok(Self::Ping),
            Some("pong") => Ok(Self::Pong),
            Some("subscribe") => {
                let request = serde_json::from_value(message["payload"].clone())
                    .map_err(|_| invalid("Invalid message: not a GraphQL request"))?;
                Ok(Self::Subscribe {
                    id: id()?,
                    request: Box::new(request),
                })
            }
            Some("complete") => Ok(Self::Complete(id()?)),
            _ => Err(invalid("Invalid message: unknown type")),
        }
    }
}
