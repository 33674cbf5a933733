//! A local HTTP server that speaks the Telegram Bot API's `sendMessage`, as documented at
//! <https://core.telegram.org/bots/api#sendmessage> and
//! <https://core.telegram.org/bots/api#making-requests>: `POST /bot<token>/sendMessage` with
//! a JSON body, answered `{"ok": true, "result": Message}` or `{"ok": false, "error_code",
//! "description", "parameters": {"retry_after"}}`. Tests script its answers one request at a
//! time and read back what it delivered.

use std::{
    collections::VecDeque,
    net::SocketAddr,
    sync::{Arc, Mutex, MutexGuard},
    time::{Duration, Instant},
};

use axum::{
    Json, Router,
    extract::{Path, State},
    http::StatusCode,
    routing::post,
};
use serde_json::{Value, json};
use tokio::{net::TcpListener, sync::watch, task::JoinHandle};

/// The bot token every test server is configured with. It must never show up in a log or an
/// error message.
pub const BOT_TOKEN: &str = "7000000001:AAF-secret_Bot-Token-never-LOGGED";

/// How the fake answers one request.
#[derive(Clone, Debug)]
pub enum Reply {
    /// Delivers the message.
    Deliver,
    /// Refuses with this HTTP status and description.
    Refuse(u16, &'static str),
    /// `429 Too Many Requests` with `parameters.retry_after` seconds.
    RetryAfter(u64),
    /// Answers only after this long, and delivers nothing (the client gave up before).
    Stall(Duration),
    /// Waits until [`FakeTelegram::release`], then delivers.
    Hold,
}

/// A message the fake delivered.
#[derive(Clone, Debug)]
pub struct Delivered {
    pub message_id: i64,
    pub chat_id: String,
    pub text: String,
    pub button_text: String,
    pub button_url: String,
}

#[derive(Default)]
struct Inner {
    script: VecDeque<Reply>,
    requests: Vec<Instant>,
    delivered: Vec<Delivered>,
}

#[derive(Clone)]
struct Shared {
    inner: Arc<Mutex<Inner>>,
    gate: watch::Sender<bool>,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

pub struct FakeTelegram {
    pub base: String,
    shared: Shared,
    server: JoinHandle<()>,
}

/// A loopback port nothing listens on (yet): Telegram down.
pub async fn unused_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    listener.local_addr().expect("address").port()
}

impl FakeTelegram {
    pub async fn start() -> Self {
        Self::start_on(0).await
    }

    /// Starts on `port` (0 for any free port).
    pub async fn start_on(port: u16) -> Self {
        let listener = TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], port)))
            .await
            .expect("the fake Bot API binds");
        let addr = listener.local_addr().expect("address");
        let shared = Shared {
            inner: Arc::default(),
            gate: watch::channel(false).0,
        };
        let router = Router::new()
            .route("/{bot}/sendMessage", post(send_message))
            .with_state(shared.clone());
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, router).await;
        });
        Self {
            base: format!("http://{addr}"),
            shared,
            server,
        }
    }

    /// The answers to the next requests, in order; after them every request is delivered.
    pub fn script(&self, replies: impl IntoIterator<Item = Reply>) {
        self.shared.lock().script.extend(replies);
    }

    /// Lets requests held by [`Reply::Hold`] through.
    pub fn release(&self) {
        self.shared.gate.send_replace(true);
    }

    pub fn delivered(&self) -> Vec<Delivered> {
        self.shared.lock().delivered.clone()
    }

    /// When each request arrived, delivered or not.
    pub fn requests(&self) -> Vec<Instant> {
        self.shared.lock().requests.clone()
    }
}

impl Drop for FakeTelegram {
    fn drop(&mut self) {
        self.server.abort();
    }
}

fn failure(status: u16, description: &str, parameters: Option<Value>) -> (StatusCode, Json<Value>) {
    let mut body = json!({ "ok": false, "error_code": status, "description": description });
    if let Some(parameters) = parameters {
        body["parameters"] = parameters;
    }
    (StatusCode::from_u16(status).expect("a status"), Json(body))
}

/// Telegram refuses a button that links to a local or private address.
fn private_url(url: &str) -> bool {
    let host = url::Url::parse(url)
        .ok()
        .and_then(|u| u.host_str().map(str::to_owned))
        .unwrap_or_default();
    host == "localhost"
        || ["127.", "10.", "192.168."]
            .iter()
            .any(|prefix| host.starts_with(prefix))
        || !host.contains('.')
}

async fn send_message(
    State(shared): State<Shared>,
    Path(bot): Path<String>,
    Json(body): Json<Value>,
) -> (StatusCode, Json<Value>) {
    if bot.strip_prefix("bot") != Some(BOT_TOKEN) {
        return failure(404, "Not Found", None);
    }
    let reply = {
        let mut inner = shared.lock();
        inner.requests.push(Instant::now());
        inner.script.pop_front().unwrap_or(Reply::Deliver)
    };
    let text = |v: &Value| v.as_str().map(str::to_owned).unwrap_or_default();
    let chat_id = match &body["chat_id"] {
        Value::Number(n) => n.to_string(),
        other => text(other),
    };
    let button = &body["reply_markup"]["inline_keyboard"][0][0];
    if chat_id.is_empty() || text(&body["text"]).is_empty() {
        return failure(400, "Bad Request: message text is empty", None);
    }
    if private_url(&text(&button["url"])) {
        return failure(400, "Bad Request: BUTTON_URL_INVALID", None);
    }
    match reply {
        Reply::Deliver => {}
        Reply::Refuse(status, description) => return failure(status, description, None),
        Reply::RetryAfter(secs) => {
            return failure(
                429,
                &format!("Too Many Requests: retry after {secs}"),
                Some(json!({ "retry_after": secs })),
            );
        }
        Reply::Stall(wait) => {
            tokio::time::sleep(wait).await;
            return failure(504, "Gateway Timeout", None);
        }
        Reply::Hold => {
            let mut gate = shared.gate.subscribe();
            let _ = gate.wait_for(|open| *open).await;
        }
    }
    let mut inner = shared.lock();
    let message_id = inner.delivered.len() as i64 + 1;
    inner.delivered.push(Delivered {
        message_id,
        chat_id: chat_id.clone(),
        text: text(&body["text"]),
        button_text: text(&button["text"]),
        button_url: text(&button["url"]),
    });
    (
        StatusCode::OK,
        Json(json!({
            "ok": true,
            "result": {
                "message_id": message_id,
                "chat": { "id": chat_id },
                "date": 1_790_000_000,
                "text": body["text"],
            },
        })),
    )
}
