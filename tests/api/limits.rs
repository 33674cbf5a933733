//! The limits that keep abusive traffic from hurting the sessions, from the outside: clients on
//! different loopback addresses act as different places (a school behind one address, an
//! attacker behind another). The limits do not depend on the database: these run on SQLite.

use std::{net::IpAddr, time::Duration};

use futures::future::join_all;
use serde_json::{Value, json};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::{TcpSocket, TcpStream},
};
use zoomtrack_tests::{ADMIN_TOKEN, Backend, TestApp, run_on};

fn client_from(ip: &str) -> reqwest::Client {
    reqwest::Client::builder()
        .local_address(ip.parse::<IpAddr>().expect("an address"))
        .build()
        .expect("a client")
}

async fn beat(client: &reqwest::Client, app: &TestApp, token: String) -> reqwest::Response {
    client
        .post(app.url("/api/zoom/heartbeat"))
        .json(&json!({ "token": token }))
        .send()
        .await
        .expect("an answer")
}

/// A tracking token nobody issued (well-formed, so it is looked up).
fn stranger(n: usize) -> String {
    format!("{:0>32}", n)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_from_one_address_is_refused_while_a_classroom_behind_another_is_served() {
    run_on(Backend::Sqlite, |db| async move {
        let app = TestApp::spawn(&db, &["--public-rate", "2", "--public-burst", "60"]).await;
        let classroom = client_from("127.0.0.10");
        let attacker = client_from("127.0.0.66");
        let mut links = Vec::new();
        for _ in 0..20 {
            links.push(app.issue_link().await);
        }
        for link in &links {
            let opened = classroom
                .get(app.url(&format!("/api/zoom/track?token={}", link.token)))
                .send()
                .await
                .unwrap();
            assert_eq!(opened.status(), 200);
        }
        let flood = join_all((0..300).map(|n| beat(&attacker, &app, stranger(n)))).await;
        let refused: Vec<_> = flood.iter().filter(|r| r.status() == 429).collect();
        assert!(refused.len() >= 200, "{} of 300 refused", refused.len());
        let retry = refused[0].headers()["retry-after"]
            .to_str()
            .unwrap()
            .parse::<u64>()
            .expect("Retry-After in whole seconds");
        assert!((1..=60).contains(&retry), "{retry}");
        let last = flood.into_iter().rev().find(|r| r.status() == 429).unwrap();
        let body: Value = last.json().await.unwrap();
        assert_eq!(body["error"]["code"], "RATE_LIMITED");
        assert!(
            body["error"]["message"]
                .as_str()
                .unwrap()
                .contains("try again in"),
            "{body}"
        );
        // The classroom's beats all go through.
        for link in &links {
            assert_eq!(
                beat(&classroom, &app, link.token.clone()).await.status(),
                200
            );
        }
        app.stop().await;

        let open = TestApp::spawn(
            &db,
            &[
                "--public-rate",
                "2",
                "--public-burst",
                "5",
                "--rate-limits",
                "off",
            ],
        )
        .await;
        let flood = join_all((0..100).map(|n| beat(&attacker, &open, stranger(n)))).await;
        assert!(flood.iter().all(|r| r.status() == 404), "RATE_LIMITS=off");
        open.stop().await;
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn behind_a_trusted_proxy_the_forwarded_client_counts_and_nothing_else() {
    run_on(Backend::Sqlite, |db| async move {
        let app = TestApp::spawn(
            &db,
            &[
                "--public-rate",
                "1",
                "--public-burst",
                "3",
                "--trusted-proxies",
                "127.0.0.5",
            ],
        )
        .await;
        let proxy = client_from("127.0.0.5");
        let forwarded = |client: &reqwest::Client, chain: &'static str, n: usize| {
            client
                .post(app.url("/api/zoom/heartbeat"))
                .header("x-forwarded-for", chain)
                .json(&json!({ "token": stranger(n) }))
                .send()
        };
        for n in 0..3 {
            let answer = forwarded(&proxy, "203.0.113.9", n).await.unwrap();
            assert_eq!(answer.status(), 404);
        }
        // The client is the rightmost address the proxy added; what the client wrote to its
        // left does not make it someone else.
        let spoofed = forwarded(&proxy, "198.51.100.1, 203.0.113.9", 3)
            .await
            .unwrap();
        assert_eq!(spoofed.status(), 429);
        let other = forwarded(&proxy, "203.0.113.10", 4).await.unwrap();
        assert_eq!(other.status(), 404, "another client behind the proxy");
        // A peer that is not a trusted proxy is itself the client, whatever it forwards.
        let direct = client_from("127.0.0.6");
        for n in 0..3 {
            let chain = ["192.0.2.1", "192.0.2.2", "192.0.2.3"][n];
            assert_eq!(forwarded(&direct, chain, n).await.unwrap().status(), 404);
        }
        assert_eq!(
            forwarded(&direct, "192.0.2.4", 9).await.unwrap().status(),
            429
        );
        app.stop().await;
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_credentials_from_one_address_are_refused_before_any_lookup() {
    run_on(Backend::Sqlite, |db| async move {
        let app = TestApp::spawn(
            &db,
            &[
                "--auth-failure-burst",
                "3",
                "--auth-failures-per-minute",
                "1",
            ],
        )
        .await;
        let guesser = client_from("127.0.0.20");
        let me = |client: &reqwest::Client, token: &str| {
            client
                .post(app.url("/graphql"))
                .bearer_auth(token)
                .json(&json!({ "query": "{ me { role } }" }))
                .send()
        };
        for n in 0..3 {
            let answer = me(&guesser, &format!("ztk_guess-{n}")).await.unwrap();
            assert_eq!(answer.status(), 401);
        }
        // The failed check past the allowance is refused, and so is every later one.
        let blocked = me(&guesser, "ztk_guess-3").await.unwrap();
        assert_eq!(blocked.status(), 429);
        // Refused before the lookup: even the right token, from that address, waits.
        let right = me(&guesser, ADMIN_TOKEN).await.unwrap();
        assert_eq!(right.status(), 429);
        assert!(right.headers().contains_key("retry-after"));
        let body: Value = right.json().await.unwrap();
        assert_eq!(body["errors"][0]["extensions"]["code"], "RATE_LIMITED");
        let admin = client_from("127.0.0.21");
        let answer: Value = me(&admin, ADMIN_TOKEN).await.unwrap().json().await.unwrap();
        assert_eq!(answer["data"]["me"]["role"], "ADMIN");
        // The REST admin endpoints share the count.
        let rest = guesser
            .get(app.url("/api/admin/teacher-sessions"))
            .bearer_auth(ADMIN_TOKEN)
            .send()
            .await
            .unwrap();
        assert_eq!(rest.status(), 429);
        app.stop().await;
    })
    .await
}

/// Reads until the server closes the connection; `None` when it stays open for `within`.
async fn closed_within(stream: &mut TcpStream, within: Duration) -> Option<Vec<u8>> {
    let mut seen = Vec::new();
    let mut buf = [0u8; 4096];
    tokio::time::timeout(within, async {
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return seen,
                Ok(n) => seen.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await
    .ok()
}

async fn connect(app: &TestApp, from: &str) -> TcpStream {
    let addr = app.base.trim_start_matches("http://").parse().unwrap();
    let socket = TcpSocket::new_v4().unwrap();
    socket
        .bind(format!("{from}:0").parse().unwrap())
        .expect("a loopback address");
    socket.connect(addr).await.expect("connects")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_and_idle_connections_are_dropped() {
    run_on(Backend::Sqlite, |db| async move {
        let app = TestApp::spawn(
            &db,
            &["--header-read-timeout", "1s", "--body-read-timeout", "1s"],
        )
        .await;
        // Headers that never end (slowloris).
        let mut slow = connect(&app, "127.0.0.30").await;
        slow.write_all(b"GET /health HTTP/1.1\r\nHost: x\r\nX-A: 1\r\n")
            .await
            .unwrap();
        assert!(
            closed_within(&mut slow, Duration::from_secs(5))
                .await
                .is_some(),
            "a connection whose headers never end is closed"
        );
        // A kept-alive connection that asks nothing more.
        let mut idle = connect(&app, "127.0.0.30").await;
        idle.write_all(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
            .await
            .unwrap();
        let seen = closed_within(&mut idle, Duration::from_secs(5))
            .await
            .expect("an idle kept-alive connection is closed");
        assert!(String::from_utf8_lossy(&seen).starts_with("HTTP/1.1 200"));
        // A body that never arrives whole.
        let mut trickle = connect(&app, "127.0.0.30").await;
        trickle
            .write_all(
                b"POST /api/zoom/heartbeat HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\
                  Content-Length: 100\r\n\r\n{\"token\"",
            )
            .await
            .unwrap();
        let seen = closed_within(&mut trickle, Duration::from_secs(5))
            .await
            .expect("answered and closed");
        let seen = String::from_utf8_lossy(&seen);
        assert!(seen.starts_with("HTTP/1.1 408"), "{seen}");
        assert!(seen.contains("REQUEST_TIMEOUT"), "{seen}");
        app.stop().await;
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_past_the_cap_are_closed_at_once() {
    run_on(Backend::Sqlite, |db| async move {
        let app = TestApp::spawn(
            &db,
            &["--max-connections", "3", "--header-read-timeout", "30s"],
        )
        .await;
        let mut held = Vec::new();
        for _ in 0..3 {
            let mut stream = connect(&app, "127.0.0.40").await;
            stream.write_all(b"GET /health HTTP/1.1\r\n").await.unwrap();
            held.push(stream);
        }
        let mut extra = connect(&app, "127.0.0.41").await;
        assert!(
            closed_within(&mut extra, Duration::from_secs(2))
                .await
                .is_some_and(|seen| seen.is_empty()),
            "the connection past the cap is closed at once, unanswered"
        );
        drop(held.pop());
        // The freed place is taken again once the server saw the close.
        let client = client_from("127.0.0.41");
        let mut served = false;
        for _ in 0..20 {
            if let Ok(answer) = client.get(app.url("/health")).send().await {
                served = answer.status() == 200;
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert!(served, "a place freed up");
        app.stop().await;

        // One address cannot take every place.
        let app = TestApp::spawn(
            &db,
            &[
                "--max-connections-per-address",
                "2",
                "--header-read-timeout",
                "30s",
            ],
        )
        .await;
        let mut held = Vec::new();
        for _ in 0..2 {
            let mut stream = connect(&app, "127.0.0.42").await;
            stream.write_all(b"GET /health HTTP/1.1\r\n").await.unwrap();
            held.push(stream);
        }
        let mut third = connect(&app, "127.0.0.42").await;
        assert!(
            closed_within(&mut third, Duration::from_secs(2))
                .await
                .is_some_and(|seen| seen.is_empty()),
            "the address's third connection is closed at once"
        );
        let other = client_from("127.0.0.43");
        let answer = other.get(app.url("/health")).send().await.unwrap();
        assert_eq!(answer.status(), 200, "another address is served");
        drop(held);
        app.stop().await;
    })
    .await
}

fn aliases(n: usize, field: &str) -> String {
    let fields: String = (0..n).map(|i| format!("a{i}: {field} ")).collect();
    format!("{{ {fields}}}")
}

fn mutation_aliases(n: usize) -> String {
    let fields: String = (0..n)
        .map(|i| format!("a{i}: heartbeat(token: \"{}\") ", stranger(i)))
        .collect();
    format!("mutation {{ {fields}}}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_document_carries_a_bounded_number_of_root_fields() {
    use zoomtrack_server::graphql::{MAX_ANONYMOUS_ROOT_FIELDS, MAX_ROOT_FIELDS};
    run_on(Backend::Sqlite, |db| async move {
        let app = TestApp::spawn(&db, &[]).await;
        // Without a credential: a handful of heartbeats run (each answers for itself).
        let few = app
            .graphql_as(
                None,
                &mutation_aliases(MAX_ANONYMOUS_ROOT_FIELDS),
                json!({}),
            )
            .await;
        assert_eq!(
            few["errors"].as_array().map(Vec::len),
            Some(MAX_ANONYMOUS_ROOT_FIELDS),
            "{few}"
        );
        assert_eq!(few["errors"][0]["extensions"]["code"], "NOT_FOUND");
        for n in [MAX_ANONYMOUS_ROOT_FIELDS + 1, 2000] {
            let many = app.graphql_as(None, &mutation_aliases(n), json!({})).await;
            let message = many["errors"][0]["message"].as_str().unwrap_or_default();
            assert!(
                message.contains(&format!("at most {MAX_ANONYMOUS_ROOT_FIELDS} root fields")),
                "{many}"
            );
            assert_eq!(many["errors"].as_array().map(Vec::len), Some(1));
            assert_eq!(many["errors"][0]["extensions"]["code"], "BAD_USER_INPUT");
            assert!(many.get("data").is_none_or(Value::is_null));
        }
        // Fragments count what they select at the root.
        let spread = format!(
            "{{ ...F }} fragment F on Query {{ {} }}",
            (0..=MAX_ANONYMOUS_ROOT_FIELDS)
                .map(|i| format!("m{i}: __typename"))
                .collect::<Vec<_>>()
                .join(" ")
        );
        let answer = app.graphql_as(None, &spread, json!({})).await;
        assert_eq!(answer["errors"][0]["extensions"]["code"], "BAD_USER_INPUT");
        // Fragments spread in fragments, four times per level: under a kilobyte, 4^15 fields
        // once spread. Refused at once, as is a fragment that spreads itself.
        let mut nested = String::from("{ ...F0 }");
        for level in 0..15 {
            let next = format!("...F{} ", level + 1);
            nested += &format!(" fragment F{level} on Query {{ {} }}", next.repeat(4));
        }
        nested += " fragment F15 on Query { __typename }";
        let answer = app.graphql_as(None, &nested, json!({})).await;
        let message = answer["errors"][0]["message"].as_str().unwrap_or_default();
        assert!(message.contains("fragments spread in place"), "{answer}");
        let cycle = "{ ...A } fragment A on Query { ...B } fragment B on Query { ...A }";
        let answer = app.graphql_as(None, cycle, json!({})).await;
        assert_eq!(answer["errors"][0]["extensions"]["code"], "BAD_USER_INPUT");
        // With a credential, more.
        let at = app
            .graphql_as(
                Some(ADMIN_TOKEN),
                &aliases(MAX_ROOT_FIELDS, "me { role }"),
                json!({}),
            )
            .await;
        assert!(at.get("errors").is_none(), "{at}");
        let over = app
            .graphql_as(
                Some(ADMIN_TOKEN),
                &aliases(MAX_ROOT_FIELDS + 1, "me { role }"),
                json!({}),
            )
            .await;
        assert!(
            over["errors"][0]["message"]
                .as_str()
                .unwrap_or_default()
                .contains(&format!("at most {MAX_ROOT_FIELDS} root fields")),
            "{over}"
        );
        app.stop().await;
    })
    .await
}

/// The introspection query GraphQL tools send (graphql-js's `getIntrospectionQuery` with every
/// option on, as GraphiQL, Apollo, Python `gql` and Postman send it), with type references nine
/// `ofType` deep.
const INTROSPECTION_QUERY: &str = r#"
query IntrospectionQuery {
  __schema {
    description
    queryType { name kind }
    mutationType { name kind }
    subscriptionType { name kind }
    types { ...FullType }
    directives {
      name
      description
      isRepeatable
      locations
      args(includeDeprecated: true) { ...InputValue }
    }
  }
}
fragment FullType on __Type {
  kind
  name
  description
  specifiedByURL
  fields(includeDeprecated: true) {
    name
    description
    args(includeDeprecated: true) { ...InputValue }
    type { ...TypeRef }
    isDeprecated
    deprecationReason
  }
  inputFields(includeDeprecated: true) { ...InputValue }
  interfaces { ...TypeRef }
  enumValues(includeDeprecated: true) {
    name
    description
    isDeprecated
    deprecationReason
  }
  possibleTypes { ...TypeRef }
}
fragment InputValue on __InputValue {
  name
  description
  type { ...TypeRef }
  defaultValue
  isDeprecated
  deprecationReason
}
fragment TypeRef on __Type {
  kind
  name
  ofType {
    kind
    name
    ofType {
      kind
      name
      ofType {
        kind
        name
        ofType {
          kind
          name
          ofType {
            kind
            name
            ofType {
              kind
              name
              ofType {
                kind
                name
                ofType {
                  kind
                  name
                  ofType { kind name }
                }
              }
            }
          }
        }
      }
    }
  }
}
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tools_fetch_the_schema_unless_introspection_is_off() {
    run_on(Backend::Sqlite, |db| async move {
        let app = TestApp::spawn(&db, &[]).await;
        let schema = app.graphql_as(None, INTROSPECTION_QUERY, json!({})).await;
        assert!(schema.get("errors").is_none(), "{}", schema["errors"]);
        let types = schema["data"]["__schema"]["types"].as_array().unwrap();
        assert!(types.iter().any(|t| t["name"] == "ZoomLink"));
        app.stop().await;

        let closed = TestApp::spawn(&db, &["--introspection", "0"]).await;
        let refused = closed
            .graphql_as(Some(ADMIN_TOKEN), INTROSPECTION_QUERY, json!({}))
            .await;
        assert_eq!(refused["errors"][0]["extensions"]["code"], "BAD_USER_INPUT");
        assert!(
            refused["errors"][0]["message"]
                .as_str()
                .unwrap_or_default()
                .contains("INTROSPECTION=0"),
            "{refused}"
        );
        assert!(refused["data"].is_null(), "no schema: {refused}");
        let me = closed
            .graphql_as(Some(ADMIN_TOKEN), "{ me { role } }", json!({}))
            .await;
        assert_eq!(me["data"]["me"]["role"], "ADMIN");
        closed.stop().await;
    })
    .await
}
