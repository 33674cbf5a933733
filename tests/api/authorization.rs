//! Who may call what, for every field of `schema.graphql`. Each query, mutation and
//! subscription field runs as: no credential, teacher A on its own data, teacher A on teacher
//! B's data, a revoked key, and an admin; its answers must be the row of [`TABLE`]. A field the
//! schema gains without a row fails the test, as does a row for a field it no longer has.

use std::{collections::BTreeSet, time::Duration};

use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;
use zoomtrack_tests::{ADMIN_TOKEN, Backend, TestApp, run_on};

/// What a caller gets: the operation ran, or the code it was refused with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Answer {
    Ran,
    /// `UNAUTHENTICATED`; for a subscription, the socket closed at `connection_init` (4403).
    Unauthenticated,
    Forbidden,
    NotFound,
    /// `BAD_USER_INPUT`: allowed, and refused for what was asked (the server has no bot token).
    BadInput,
}

use Answer::*;

#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug)]
enum Root {
    Query,
    Mutation,
    Subscription,
}

/// One field: a document on teacher A's data, one on teacher B's (`None`: the same document,
/// as the field has no one else's data), and the answers of the five callers.
struct Row {
    root: Root,
    field: &'static str,
    own: &'static str,
    others: Option<&'static str>,
    anonymous: Answer,
    teacher: Answer,
    teacher_on_others: Answer,
    revoked: Answer,
    admin: Answer,
}

/// Variables every document may use: `$a` and `$b` the teachers, `$s` a student both teach,
/// `$la` and `$lb` a link of each, `$token` a fresh active session's tracking token, `$key` a
/// spare API key's id.
#[rustfmt::skip]
const TABLE: &[Row] = &[
    Row { root: Root::Query, field: "me", own: "{ me { role } }", others: None,
        anonymous: Unauthenticated, teacher: Ran, teacher_on_others: Ran, revoked: Unauthenticated, admin: Ran },
    Row { root: Root::Query, field: "apiKeys", own: "{ apiKeys { id } }", others: None,
        anonymous: Unauthenticated, teacher: Forbidden, teacher_on_others: Forbidden, revoked: Unauthenticated, admin: Ran },
    Row { root: Root::Query, field: "sessions", own: "{ sessions { nodes { id } } }",
        others: Some("query($b: ID) { sessions(filter: {teacherId: $b}) { nodes { id } } }"),
        anonymous: Unauthenticated, teacher: Ran, teacher_on_others: Forbidden, revoked: Unauthenticated, admin: Ran },
    Row { root: Root::Query, field: "session", own: "query($la: ID!) { session(id: $la) { id } }",
        others: Some("query($lb: ID!) { session(id: $lb) { id } }"),
        anonymous: Unauthenticated, teacher: Ran, teacher_on_others: NotFound, revoked: Unauthenticated, admin: Ran },
    Row { root: Root::Query, field: "sessionStats", own: "{ sessionStats { totalSessions } }",
        others: Some("query($b: ID) { sessionStats(filter: {teacherId: $b}) { totalSessions } }"),
        anonymous: Unauthenticated, teacher: Ran, teacher_on_others: Forbidden, revoked: Unauthenticated, admin: Ran },
    Row { root: Root::Query, field: "teacherStats", own: "{ teacherStats { sessions } }",
        others: Some("query($b: ID) { teacherStats(filter: {teacherId: $b}) { sessions } }"),
        anonymous: Unauthenticated, teacher: Ran, teacher_on_others: Forbidden, revoked: Unauthenticated, admin: Ran },
    Row { root: Root::Query, field: "durationDistribution", own: "{ durationDistribution { sessions } }",
        others: Some("query($b: ID) { durationDistribution(filter: {teacherId: $b}) { sessions } }"),
        anonymous: Unauthenticated, teacher: Ran, teacher_on_others: Forbidden, revoked: Unauthenticated, admin: Ran },
    Row { root: Root::Query, field: "dailyStats", own: "{ dailyStats { sessions } }",
        others: Some("query($b: ID) { dailyStats(filter: {teacherId: $b}) { sessions } }"),
        anonymous: Unauthenticated, teacher: Ran, teacher_on_others: Forbidden, revoked: Unauthenticated, admin: Ran },
    Row { root: Root::Query, field: "links", own: "{ links { nodes { id } } }",
        others: Some("query($b: ID) { links(filter: {teacherId: $b}) { nodes { id } } }"),
        anonymous: Unauthenticated, teacher: Ran, teacher_on_others: Forbidden, revoked: Unauthenticated, admin: Ran },
    Row { root: Root::Query, field: "payroll",
        own: "{ payroll(from: \"2026-01-01\", to: \"2026-01-31\") { lessons } }", others: None,
        anonymous: Unauthenticated, teacher: Ran, teacher_on_others: Ran, revoked: Unauthenticated, admin: Ran },
    Row { root: Root::Query, field: "corrections", own: "{ corrections { nodes { id } } }",
        others: Some("query($b: ID) { corrections(teacherId: $b) { nodes { id } } }"),
        anonymous: Unauthenticated, teacher: Ran, teacher_on_others: Forbidden, revoked: Unauthenticated, admin: Ran },
    Row { root: Root::Query, field: "teachers", own: "{ teachers { id } }", others: None,
        anonymous: Unauthenticated, teacher: Ran, teacher_on_others: Ran, revoked: Unauthenticated, admin: Ran },
    Row { root: Root::Query, field: "students", own: "{ students { id } }", others: None,
        anonymous: Unauthenticated, teacher: Ran, teacher_on_others: Ran, revoked: Unauthenticated, admin: Ran },
    Row { root: Root::Mutation, field: "createTeacher",
        own: "mutation { createTeacher(input: {name: \"T\", telegramChatId: \"1\"}) { id } }", others: None,
        anonymous: Unauthenticated, teacher: Forbidden, teacher_on_others: Forbidden, revoked: Unauthenticated, admin: Ran },
    Row { root: Root::Mutation, field: "createStudent",
        own: "mutation { createStudent(input: {name: \"S\", telegramChatId: \"1\"}) { id } }", others: None,
        anonymous: Unauthenticated, teacher: Forbidden, teacher_on_others: Forbidden, revoked: Unauthenticated, admin: Ran },
    Row { root: Root::Mutation, field: "createApiKey",
        own: "mutation($a: ID) { createApiKey(input: {role: TEACHER, teacherId: $a}) { id } }", others: None,
        anonymous: Unauthenticated, teacher: Forbidden, teacher_on_others: Forbidden, revoked: Unauthenticated, admin: Ran },
    Row { root: Root::Mutation, field: "revokeApiKey",
        own: "mutation($key: ID!) { revokeApiKey(id: $key) { id } }", others: None,
        anonymous: Unauthenticated, teacher: Forbidden, teacher_on_others: Forbidden, revoked: Unauthenticated, admin: Ran },
    Row { root: Root::Mutation, field: "issueZoomLink",
        own: "mutation($a: ID!, $s: ID!) { issueZoomLink(input: {teacherId: $a, studentId: $s, zoomUrl: \"https://zoom.us/j/123456789\"}) { id } }",
        others: Some("mutation($b: ID!, $s: ID!) { issueZoomLink(input: {teacherId: $b, studentId: $s, zoomUrl: \"https://zoom.us/j/123456789\"}) { id } }"),
        anonymous: Unauthenticated, teacher: Ran, teacher_on_others: Forbidden, revoked: Unauthenticated, admin: Ran },
    Row { root: Root::Mutation, field: "resendNotification",
        own: "mutation($la: ID!) { resendNotification(linkId: $la) { id } }",
        others: Some("mutation($lb: ID!) { resendNotification(linkId: $lb) { id } }"),
        anonymous: Unauthenticated, teacher: BadInput, teacher_on_others: NotFound, revoked: Unauthenticated, admin: BadInput },
    // The tracking token is the credential of these two: anyone holding it may; a wrong
    // bearer header is still refused before anything runs.
    Row { root: Root::Mutation, field: "heartbeat",
        own: "mutation($token: String!) { heartbeat(token: $token) }", others: None,
        anonymous: Ran, teacher: Ran, teacher_on_others: Ran, revoked: Unauthenticated, admin: Ran },
    Row { root: Root::Mutation, field: "endSession",
        own: "mutation($token: String!) { endSession(token: $token) { status } }", others: None,
        anonymous: Ran, teacher: Ran, teacher_on_others: Ran, revoked: Unauthenticated, admin: Ran },
    // An admin may correct: told that this end lies before the session started.
    Row { root: Root::Mutation, field: "correctSession",
        own: "mutation($la: ID!) { correctSession(id: $la, endedAt: \"2026-01-01T10:00:00Z\", reason: \"r\") { id } }",
        others: None,
        anonymous: Unauthenticated, teacher: Forbidden, teacher_on_others: Forbidden, revoked: Unauthenticated, admin: BadInput },
    Row { root: Root::Mutation, field: "runAutoTimeout", own: "mutation { runAutoTimeout }", others: None,
        anonymous: Unauthenticated, teacher: Forbidden, teacher_on_others: Forbidden, revoked: Unauthenticated, admin: Ran },
    Row { root: Root::Subscription, field: "sessionEvents", own: "subscription { sessionEvents { kind } }",
        others: Some("subscription($b: ID) { sessionEvents(filter: {teacherId: $b}) { kind } }"),
        anonymous: Unauthenticated, teacher: Ran, teacher_on_others: Forbidden, revoked: Unauthenticated, admin: Ran },
    Row { root: Root::Subscription, field: "sessionStats", own: "subscription { sessionStats { totalSessions } }",
        others: Some("subscription($b: ID) { sessionStats(filter: {teacherId: $b}) { totalSessions } }"),
        anonymous: Unauthenticated, teacher: Ran, teacher_on_others: Forbidden, revoked: Unauthenticated, admin: Ran },
];

/// The root fields `schema.graphql` declares.
fn schema_fields() -> BTreeSet<(Root, String)> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../schema.graphql");
    let sdl = std::fs::read_to_string(path).expect("schema.graphql");
    let mut fields = BTreeSet::new();
    let (mut root, mut described) = (None, false);
    for line in sdl.lines() {
        let trimmed = line.trim();
        if trimmed.starts_with("\"\"\"") {
            // A description: one line, or until its closing quotes.
            if !(trimmed.len() > 3 && trimmed.ends_with("\"\"\"")) {
                described = !described;
            }
            continue;
        }
        if described {
            continue;
        }
        match trimmed {
            "type Query {" => root = Some(Root::Query),
            "type Mutation {" => root = Some(Root::Mutation),
            "type Subscription {" => root = Some(Root::Subscription),
            "}" => root = None,
            _ => {
                if let Some(root) = root {
                    let name: String = trimmed
                        .chars()
                        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                        .collect();
                    if !name.is_empty() {
                        fields.insert((root, name));
                    }
                }
            }
        }
    }
    fields
}

#[test]
fn every_field_of_the_schema_has_a_row() {
    let schema = schema_fields();
    let table: BTreeSet<_> = TABLE
        .iter()
        .map(|row| (row.root, row.field.to_owned()))
        .collect();
    let missing: Vec<_> = schema.difference(&table).collect();
    let stale: Vec<_> = table.difference(&schema).collect();
    assert!(
        missing.is_empty() && stale.is_empty(),
        "fields without a row in TABLE: {missing:?}; rows for fields the schema lacks: {stale:?}"
    );
    assert_eq!(table.len(), TABLE.len(), "a field has two rows");
}

/// Who runs the document.
#[derive(Clone, Copy, Debug)]
enum Caller {
    Anonymous,
    Teacher,
    TeacherOnOthers,
    Revoked,
    Admin,
}

struct Fixture {
    teacher_key: String,
    revoked_key: String,
    variables: Value,
}

impl Fixture {
    async fn new(app: &TestApp) -> Self {
        let a = app.create_teacher("Anna").await;
        let b = app.create_teacher("Boris").await;
        let s = app.create_student("Carl").await;
        let la = app.issue_link_for(Some(ADMIN_TOKEN), &a, &s).await.unwrap();
        let lb = app.issue_link_for(Some(ADMIN_TOKEN), &b, &s).await.unwrap();
        app.track(&la.token).await;
        app.track(&lb.token).await;
        let teacher_key = app.teacher_key(&a).await;
        let revoked_key = app.teacher_key(&a).await;
        let keys = app.admin("{ apiKeys { id } }", json!({})).await;
        let newest = keys["apiKeys"][0]["id"].clone();
        app.admin(
            "mutation($id: ID!) { revokeApiKey(id: $id) { id } }",
            json!({ "id": newest }),
        )
        .await;
        let spare = app
            .admin(
                "mutation { createApiKey(input: {role: ADMIN}) { id } }",
                json!({}),
            )
            .await["createApiKey"]["id"]
            .clone();
        Self {
            teacher_key,
            revoked_key,
            variables: json!({ "a": a, "b": b, "s": s, "la": la.id, "lb": lb.id, "key": spare }),
        }
    }

    /// The variables, with a fresh active session of teacher A's.
    async fn variables(&self, app: &TestApp) -> Value {
        let link = app
            .issue_link_for(
                Some(ADMIN_TOKEN),
                self.variables["a"].as_str().unwrap(),
                self.variables["s"].as_str().unwrap(),
            )
            .await
            .unwrap();
        app.track(&link.token).await;
        let mut variables = self.variables.clone();
        variables["token"] = json!(link.token);
        variables
    }

    fn token(&self, caller: Caller) -> Option<&str> {
        match caller {
            Caller::Anonymous => None,
            Caller::Teacher | Caller::TeacherOnOthers => Some(&self.teacher_key),
            Caller::Revoked => Some(&self.revoked_key),
            Caller::Admin => Some(ADMIN_TOKEN),
        }
    }
}

fn answer_of(response: &Value) -> Answer {
    match response["errors"][0]["extensions"]["code"].as_str() {
        None if response.get("errors").is_none() => Ran,
        Some("UNAUTHENTICATED") => Unauthenticated,
        Some("FORBIDDEN") => Forbidden,
        Some("NOT_FOUND") => NotFound,
        Some("BAD_USER_INPUT") => BadInput,
        _ => panic!("an answer the table has no name for: {response}"),
    }
}

/// Runs a subscription: refused at `connection_init`, refused by its first message, or running
/// (a first message without errors, or none within a second).
async fn subscribe(app: &TestApp, token: Option<&str>, query: &str, variables: &Value) -> Answer {
    let url = format!("{}/graphql/ws", app.base.replacen("http", "ws", 1));
    let (mut socket, _) = tokio_tungstenite::connect_async(url).await.expect("opens");
    let payload = token.map_or(
        json!({}),
        |t| json!({ "authorization": format!("Bearer {t}") }),
    );
    let init = json!({ "type": "connection_init", "payload": payload });
    socket
        .send(Message::Text(init.to_string().into()))
        .await
        .unwrap();
    let mut subscribed = false;
    loop {
        let frame = tokio::time::timeout(Duration::from_secs(1), socket.next()).await;
        let Ok(Some(Ok(frame))) = frame else {
            assert!(subscribed, "no acknowledgement");
            return Ran;
        };
        let message: Value = match frame {
            Message::Text(text) => serde_json::from_str(&text).unwrap(),
            Message::Close(frame) => {
                let code = frame.map(|f| u16::from(f.code));
                assert_eq!(code, Some(4403), "closed at connection_init");
                return Unauthenticated;
            }
            _ => continue,
        };
        match message["type"].as_str() {
            Some("connection_ack") => {
                let subscribe = json!({ "id": "1", "type": "subscribe",
                    "payload": { "query": query, "variables": variables } });
                socket
                    .send(Message::Text(subscribe.to_string().into()))
                    .await
                    .unwrap();
                subscribed = true;
            }
            Some("next") => return answer_of(&message["payload"]),
            Some("error") => return answer_of(&json!({ "errors": message["payload"] })),
            _ => {}
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_field_answers_each_caller_as_the_table_says() {
    run_on(Backend::Sqlite, |db| async move {
        // The revoked key fails its checks on every row: from one address, many times.
        let app = TestApp::spawn(&db, &["--auth-failure-burst", "1000"]).await;
        let fixture = Fixture::new(&app).await;
        let mut wrong = Vec::new();
        for row in TABLE {
            for (caller, expected) in [
                (Caller::Anonymous, row.anonymous),
                (Caller::Teacher, row.teacher),
                (Caller::TeacherOnOthers, row.teacher_on_others),
                (Caller::Revoked, row.revoked),
                (Caller::Admin, row.admin),
            ] {
                let document = match caller {
                    Caller::TeacherOnOthers => row.others.unwrap_or(row.own),
                    _ => row.own,
                };
                let variables = fixture.variables(&app).await;
                let token = fixture.token(caller);
                let got = match row.root {
                    Root::Subscription => subscribe(&app, token, document, &variables).await,
                    _ => answer_of(&app.graphql_as(token, document, variables).await),
                };
                if got != expected {
                    wrong.push(format!(
                        "{}: {caller:?} got {got:?}, the table says {expected:?}",
                        row.field
                    ));
                }
            }
        }
        assert!(wrong.is_empty(), "{}", wrong.join("\n"));
        app.stop().await;
    })
    .await
}
