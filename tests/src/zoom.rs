//! Zoom's side of the webhooks: event payloads shaped like Zoom's documentation, signed and
//! delivered as Zoom delivers them.

use chrono::{DateTime, Duration, Utc};
use serde_json::{Value, json};
use zoomtrack_server::domain::zoom_webhook::signature;

use crate::Api;

/// The webhook secret the tests' servers are started with (`--zoom-webhook-secret`).
pub const SECRET: &str = "zoom-webhook-secret-for-tests";
/// The meeting of the links the tests issue (`…/j/85012345678?pwd=abc`).
pub const MEETING: u64 = 85_012_345_678;
pub const HOST: &str = "host-user-id-1";

/// Posts `body` signed with `secret`, with a timestamp `age` old; the status and JSON answer.
pub async fn deliver_signed(api: &Api, body: &Value, secret: &str, age: Duration) -> (u16, Value) {
    let body = body.to_string();
    let timestamp = (Utc::now() - age).timestamp().to_string();
    let response = api
        .client
        .post(api.url("/api/zoom/webhook"))
        .header("content-type", "application/json")
        .header("x-zm-request-timestamp", &timestamp)
        .header(
            "x-zm-signature",
            signature(secret, &timestamp, body.as_bytes()),
        )
        .body(body)
        .send()
        .await
        .expect("webhook request");
    let status = response.status().as_u16();
    (status, response.json().await.expect("a JSON answer"))
}

/// Delivers a correctly signed event, expecting 200; the answer.
pub async fn deliver(api: &Api, body: &Value) -> Value {
    let (status, answer) = deliver_signed(api, body, SECRET, Duration::zero()).await;
    assert_eq!(status, 200, "{answer}");
    answer
}

pub fn zulu(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// A participant event; `meeting` as a number or a string, `who` = (participant id, name).
pub fn participant_event(
    event: &str,
    meeting: Value,
    who: (&str, &str),
    at: DateTime<Utc>,
) -> Value {
    let (id, name) = who;
    let time_field = if event.ends_with("joined") {
        "join_time"
    } else {
        "leave_time"
    };
    json!({
        "event": event,
        "event_ts": Utc::now().timestamp_millis(),
        "payload": {
            "account_id": "AAAAAABBBB",
            "object": {
                "id": meeting,
                "uuid": "4444AAAiAAAAAiAiAiiAii==",
                "host_id": HOST,
                "topic": "Lesson",
                "type": 2,
                "start_time": zulu(at - Duration::minutes(5)),
                "timezone": "Europe/Berlin",
                "duration": 60,
                "participant": {
                    "user_id": format!("1{id}"),
                    "user_name": name,
                    "id": id,
                    "participant_uuid": format!("uuid-{id}"),
                    time_field: zulu(at),
                    "email": "",
                }
            }
        }
    })
}

/// `meeting.participant_joined` with a numeric meeting id.
pub fn joined(who: (&str, &str), at: DateTime<Utc>) -> Value {
    participant_event("meeting.participant_joined", json!(MEETING), who, at)
}

/// `meeting.participant_left` with the meeting id as a string, as Zoom sends it too.
pub fn left(who: (&str, &str), at: DateTime<Utc>) -> Value {
    participant_event(
        "meeting.participant_left",
        json!(MEETING.to_string()),
        who,
        at,
    )
}
