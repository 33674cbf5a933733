//! A graphql-transport-ws client: one WebSocket carries the live statistics and the session
//! events; it reconnects by itself, with backoff, until it is stopped.

use std::rc::Rc;

use futures::{
    FutureExt, SinkExt, StreamExt,
    channel::oneshot,
    future::{Either, select},
};
use gloo_net::websocket::{Message, WebSocketError, futures::WebSocket};
use gloo_timers::future::TimeoutFuture;
use graphql_client::{GraphQLQuery, Response};
use leptos::prelude::*;
use serde_json::{Value, json};

use crate::{
    api::{LiveStats, SessionEvents, live_stats, session_events},
    session::Credential,
};

/// What the connection badge shows.
#[derive(Clone, Debug, PartialEq)]
pub enum LinkState {
    Connecting,
    Live,
    Retrying(u32),
    Refused(String),
}

impl LinkState {
    pub fn label(&self) -> String {
        match self {
            Self::Connecting => "Connecting…".into(),
            Self::Live => "Live".into(),
            Self::Retrying(secs) => format!("Reconnecting in {secs} s"),
            Self::Refused(why) => format!("Not connected: {why}"),
        }
    }
}

/// Where the live data goes.
pub struct Handlers {
    pub state: RwSignal<LinkState>,
    /// Called on each (re)connect: anything loaded before may have missed events.
    pub on_open: Box<dyn Fn()>,
    pub on_stats: Box<dyn Fn(live_stats::ResponseData)>,
    pub on_event: Box<dyn Fn(session_events::ResponseData)>,
}

enum Ended {
    Stopped,
    Refused(String),
    Lost { was_live: bool },
}

fn ws_url() -> Option<String> {
    let location = web_sys::window()?.location();
    let scheme = if location.protocol().ok()? == "https:" {
        "wss"
    } else {
        "ws"
    };
    Some(format!("{scheme}://{}/graphql/ws", location.host().ok()?))
}

/// Runs the connection until `stop` fires (or the credential is refused).
pub async fn run(
    credential: Credential,
    stats: live_stats::Variables,
    events: session_events::Variables,
    handlers: Rc<Handlers>,
    mut stop: oneshot::Receiver<()>,
) {
    let mut delay = 1;
    loop {
        handlers.state.set(LinkState::Connecting);
        match connect(&credential, &stats, &events, &handlers, &mut stop).await {
            Ended::Stopped => return,
            Ended::Refused(why) => {
                handlers.state.set(LinkState::Refused(why));
                return;
            }
            Ended::Lost { was_live } => {
                if was_live {
                    delay = 1;
                }
            }
        }
        handlers.state.set(LinkState::Retrying(delay));
        let wait = TimeoutFuture::new(delay * 1000);
        if let Either::Right(_) = select(wait, &mut stop).await {
            return;
        }
        delay = (delay * 2).min(10);
    }
}

async fn connect(
    credential: &Credential,
    stats: &live_stats::Variables,
    events: &session_events::Variables,
    handlers: &Handlers,
    stop: &mut oneshot::Receiver<()>,
) -> Ended {
    let Some(url) = ws_url() else {
        return Ended::Refused("no browser location".into());
    };
    // No subprotocol named: the server then speaks graphql-transport-ws, and proxies that do
    // not pass the subprotocol back (such as `trunk serve`'s) work too.
    let Ok(socket) = WebSocket::open(&url) else {
        return Ended::Lost { was_live: false };
    };
    let (mut tx, mut rx) = socket.split();
    let init =
        json!({ "type": "connection_init", "payload": { "authorization": credential.bearer() } });
    if tx.send(Message::Text(init.to_string())).await.is_err() {
        return Ended::Lost { was_live: false };
    }
    let mut live = false;
    loop {
        let next = match select(rx.next(), &mut *stop).await {
            Either::Left((next, _)) => next,
            Either::Right(_) => {
                let _ = tx.close().now_or_never();
                return Ended::Stopped;
            }
        };
        // A message that arrived together with the stop belongs to the old link.
        if !matches!(stop.try_recv(), Ok(None)) {
            return Ended::Stopped;
        }
        let text = match next {
            Some(Ok(Message::Text(text))) => text,
            Some(Ok(Message::Bytes(_))) => continue,
            // Closed before the acknowledgement: the server refused the connection_init.
            Some(Err(WebSocketError::ConnectionClose(close)))
                if !live && matches!(close.code, 1002 | 4401 | 4403) =>
            {
                return Ended::Refused("the server refused the credential".into());
            }
            _ => return Ended::Lost { was_live: live },
        };
        let Ok(message) = serde_json::from_str::<Value>(&text) else {
            continue;
        };
        let reply = match message["type"].as_str() {
            Some("connection_ack") => {
                live = true;
                handlers.state.set(LinkState::Live);
                for (id, payload) in [
                    (
                        "stats",
                        serde_json::to_value(LiveStats::build_query(stats.clone())),
                    ),
                    (
                        "events",
                        serde_json::to_value(SessionEvents::build_query(events.clone())),
                    ),
                ] {
                    let Ok(payload) = payload else { continue };
                    let subscribe = json!({ "id": id, "type": "subscribe", "payload": payload });
                    if tx.send(Message::Text(subscribe.to_string())).await.is_err() {
                        return Ended::Lost { was_live: live };
                    }
                }
                // Subscribed: reload what was loaded before, so nothing falls in between.
                (handlers.on_open)();
                None
            }
            Some("ping") => Some(json!({ "type": "pong" })),
            // The server ended a subscription (it fell behind): start over, and reload.
            Some("complete") => return Ended::Lost { was_live: live },
            Some("next") => {
                let payload = message["payload"].clone();
                match message["id"].as_str() {
                    Some("stats") => {
                        if let Ok(Response {
                            data: Some(data), ..
                        }) = serde_json::from_value(payload)
                        {
                            (handlers.on_stats)(data);
                        }
                    }
                    Some("events") => {
                        if let Ok(Response {
                            data: Some(data), ..
                        }) = serde_json::from_value(payload)
                        {
                            (handlers.on_event)(data);
                        }
                    }
                    _ => {}
                }
                None
            }
            Some("error") => {
                let error = &message["payload"][0];
                let why = error["message"]
                    .as_str()
                    .unwrap_or("the subscription failed")
                    .to_owned();
                // Refusals stay refused; anything else (a database hiccup) is retried.
                return match error["extensions"]["code"].as_str() {
                    Some("UNAUTHENTICATED" | "FORBIDDEN" | "BAD_USER_INPUT") => Ended::Refused(why),
                    _ => Ended::Lost { was_live: live },
                };
            }
            _ => None,
        };
        if let Some(reply) = reply
            && tx.send(Message::Text(reply.to_string())).await.is_err()
        {
            return Ended::Lost { was_live: live };
        }
    }
}
