//! The WebSocket endpoint's limits, spoken to frame by frame: the one protocol it speaks, the
//! `connection_init` deadline, keepalive pings, the caps on subscriptions and connections, and
//! revoked keys.

use std::time::Duration;

use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio_tungstenite::{
    MaybeTlsStream, WebSocketStream,
    tungstenite::{Message, client::IntoClientRequest, http::HeaderValue},
};
use zoomtrack_tests::{ADMIN_TOKEN, Backend, TestApp, run_on, shared_db_test};

type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

async fn open(app: &TestApp, protocol: Option<&'static str>) -> Result<Socket, u16> {
    let mut request = format!("{}/graphql/ws", app.base.replacen("http", "ws", 1))
        .into_client_request()
        .unwrap();
    if let Some(protocol) = protocol {
        request
            .headers_mut()
            .insert("Sec-WebSocket-Protocol", HeaderValue::from_static(protocol));
    }
    match tokio_tungstenite::connect_async(request).await {
        Ok((socket, _)) => Ok(socket),
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            Err(response.status().as_u16())
        }
        Err(err) => panic!("{err}"),
    }
}

async fn send(socket: &mut Socket, message: Value) {
    socket
        .send(Message::Text(message.to_string().into()))
        .await
        .expect("sent");
}

/// The next protocol message (pings are answered by the client library and skipped here).
async fn next(socket: &mut Socket, within: Duration) -> Result<Value, Option<u16>> {
    let read = tokio::time::timeout(within, async {
        while let Some(frame) = socket.next().await {
            match frame {
                Ok(Message::Text(text)) => return Ok(serde_json::from_str(&text).unwrap()),
                Ok(Message::Close(frame)) => return Err(frame.map(|f| u16::from(f.code))),
                Ok(_) => continue,
                Err(_) => return Err(None),
            }
        }
        Err(None)
    })
    .await;
    read.expect("an answer in time")
}

async fn init(socket: &mut Socket, token: &str) -> Result<Value, Option<u16>> {
    send(
        socket,
        json!({ "type": "connection_init", "payload": { "authorization": format!("Bearer {token}") } }),
    )
    .await;
    next(socket, Duration::from_secs(5)).await
}

const STATS: &str = "subscription { sessionStats { totalSessions } }";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_graphql_transport_ws_is_spoken_and_init_comes_in_time() {
    run_on(Backend::Sqlite, |db| async move {
        let app = TestApp::spawn(&db, &[]).await;
        assert_eq!(open(&app, Some("graphql-ws")).await.err(), Some(400));
        let refused = app.client.get(app.url("/graphql/ws")).send().await.unwrap();
        assert!(refused.status().is_client_error());
        // Named or not, graphql-transport-ws.
        let mut named = open(&app, Some("graphql-transport-ws")).await.unwrap();
        assert_eq!(
            init(&mut named, ADMIN_TOKEN).await.unwrap()["type"],
            "connection_ack"
        );
        // A socket that never sends connection_init is closed with 4408.
        let mut silent = open(&app, None).await.unwrap();
        let started = std::time::Instant::now();
        assert_eq!(
            next(&mut silent, Duration::from_secs(15)).await,
            Err(Some(4408))
        );
        assert!(started.elapsed() >= Duration::from_secs(9));
        // A wrong credential closes with 4403; a second init with 4429.
        let mut wrong = open(&app, None).await.unwrap();
        assert_eq!(init(&mut wrong, "ztk_wrong").await, Err(Some(4403)));
        assert_eq!(init(&mut named, ADMIN_TOKEN).await, Err(Some(4429)));
        app.stop().await;
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscriptions_and_connections_are_capped_with_the_protocols_errors() {
    run_on(Backend::Sqlite, |db| async move {
        let app = TestApp::spawn(
            &db,
            &[
                "--ws-max-subscriptions",
                "2",
                "--ws-max-per-credential",
                "1",
                "--ws-max-connections",
                "3",
                "--ws-keepalive",
                "1s",
            ],
        )
        .await;
        let mut first = open(&app, None).await.unwrap();
        assert_eq!(
            init(&mut first, ADMIN_TOKEN).await.unwrap()["type"],
            "connection_ack"
        );
        for id in ["1", "2"] {
            send(
                &mut first,
                json!({ "id": id, "type": "subscribe", "payload": { "query": STATS } }),
            )
            .await;
            let answer = next(&mut first, Duration::from_secs(5)).await.unwrap();
            assert_eq!(
                (answer["type"].as_str(), answer["id"].as_str()),
                (Some("next"), Some(id))
            );
        }
        send(
            &mut first,
            json!({ "id": "3", "type": "subscribe", "payload": { "query": STATS } }),
        )
        .await;
        let refused = next(&mut first, Duration::from_secs(5)).await.unwrap();
        assert_eq!(refused["type"], "error");
        assert_eq!(refused["id"], "3");
        assert_eq!(
            refused["payload"][0]["extensions"]["code"],
            "TOO_MANY_SUBSCRIPTIONS"
        );
        // Completing one frees its place.
        send(&mut first, json!({ "id": "1", "type": "complete" })).await;
        send(
            &mut first,
            json!({ "id": "4", "type": "subscribe", "payload": { "query": STATS } }),
        )
        .await;
        let answer = next(&mut first, Duration::from_secs(5)).await.unwrap();
        assert_eq!(answer["id"], "4", "{answer}");

        // The credential's one connection is taken.
        let mut second = open(&app, None).await.unwrap();
        assert_eq!(init(&mut second, ADMIN_TOKEN).await, Err(Some(1013)));
        // Three open in all: the fourth is refused before the upgrade.
        let _a = open(&app, None).await.unwrap();
        let _b = open(&app, None).await.unwrap();
        assert_eq!(open(&app, None).await.err(), Some(503));

        // The server pings a quiet connection.
        let pinged = tokio::time::timeout(Duration::from_secs(5), async {
            loop {
                match first.next().await {
                    Some(Ok(Message::Ping(_))) => return true,
                    Some(Ok(_)) => continue,
                    _ => return false,
                }
            }
        })
        .await;
        assert_eq!(pinged, Ok(true));
        app.stop().await;
    })
    .await
}

/// `socket` closes with 4403 within 5 s (`why` says by whom), and `key` is refused by `app`.
async fn closed_as_revoked(app: &TestApp, socket: &mut Socket, key: &str, why: &str) {
    let started = std::time::Instant::now();
    assert_eq!(
        next(socket, Duration::from_secs(5)).await,
        Err(Some(4403)),
        "{why}"
    );
    assert!(started.elapsed() < Duration::from_secs(5));
    let refused = app
        .graphql_as(Some(key), "{ me { role } }", json!({}))
        .await;
    assert_eq!(
        refused["errors"][0]["extensions"]["code"],
        "UNAUTHENTICATED"
    );
}

/// A new teacher, a credential of theirs, and a socket with that credential subscribed to the
/// statistics (their first answer read).
async fn teacher_subscribed(app: &TestApp) -> (String, String, Socket) {
    let teacher = app.create_teacher("Anna").await;
    let key = app.teacher_key(&teacher).await;
    let mut socket = open(app, None).await.unwrap();
    assert_eq!(
        init(&mut socket, &key).await.unwrap()["type"],
        "connection_ack"
    );
    send(
        &mut socket,
        json!({ "id": "s", "type": "subscribe", "payload": { "query": STATS } }),
    )
    .await;
    assert_eq!(
        next(&mut socket, Duration::from_secs(5)).await.unwrap()["type"],
        "next"
    );
    (teacher, key, socket)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revoked_key_stops_at_once_and_its_sockets_close() {
    run_on(Backend::Sqlite, |db| async move {
        let app = TestApp::spawn(&db, &[]).await;
        let (teacher, key, mut socket) = teacher_subscribed(&app).await;
        let keys = app
            .admin(
                "{ apiKeys { id role teacherId lastUsedAt revokedAt } }",
                json!({}),
            )
            .await;
        let listed = keys["apiKeys"].as_array().expect("a list");
        let mine = listed
            .iter()
            .find(|k| k["teacherId"] == teacher.as_str())
            .expect("the teacher's key is listed");
        assert_eq!(mine["role"], "TEACHER");
        assert!(mine["lastUsedAt"].is_string(), "{mine}");
        assert!(mine["revokedAt"].is_null());
        assert!(!keys.to_string().contains(&key), "no token is ever listed");

        let revoked = app
            .admin(
                "mutation($id: ID!) { revokeApiKey(id: $id) { id revokedAt } }",
                json!({ "id": mine["id"] }),
            )
            .await;
        assert!(
            revoked["revokeApiKey"]["revokedAt"].is_string(),
            "{revoked}"
        );
        closed_as_revoked(&app, &mut socket, &key, "closed").await;
        // Twice is the same; a key nobody has is not found; teachers may not.
        let again = app
            .admin(
                "mutation($id: ID!) { revokeApiKey(id: $id) { revokedAt } }",
                json!({ "id": mine["id"] }),
            )
            .await;
        assert_eq!(
            again["revokeApiKey"]["revokedAt"],
            revoked["revokeApiKey"]["revokedAt"]
        );
        let missing = app
            .graphql_as(
                Some(ADMIN_TOKEN),
                "mutation { revokeApiKey(id: \"999999\") { revokedAt } }",
                json!({}),
            )
            .await;
        assert_eq!(missing["errors"][0]["extensions"]["code"], "NOT_FOUND");
        let other = app.teacher_key(&teacher).await;
        let forbidden = app
            .graphql_as(Some(&other), "{ apiKeys { id } }", json!({}))
            .await;
        assert_eq!(forbidden["errors"][0]["extensions"]["code"], "FORBIDDEN");
        app.stop().await;
    })
    .await
}

shared_db_test!(a_key_revoked_on_another_server_closes_its_sockets);
/// Two servers on one database: a key revoked on one closes its subscription on the other.
async fn a_key_revoked_on_another_server_closes_its_sockets(db: zoomtrack_tests::TestDb) {
    let one = TestApp::spawn(&db, &[]).await;
    let two = TestApp::spawn(&db, &[]).await;
    let (teacher, key, mut socket) = teacher_subscribed(&one).await;
    let keys = two.admin("{ apiKeys { id teacherId } }", json!({})).await;
    let id = keys["apiKeys"]
        .as_array()
        .expect("a list")
        .iter()
        .find(|k| k["teacherId"] == teacher.as_str())
        .expect("the teacher's key")["id"]
        .clone();
    two.admin(
        "mutation($id: ID!) { revokeApiKey(id: $id) { revokedAt } }",
        json!({ "id": id }),
    )
    .await;
    closed_as_revoked(&one, &mut socket, &key, "closed by the other server").await;
    one.stop().await;
    two.stop().await;
}
