//! Abuse from outside, against the server as its own process with its default limits: a
//! classroom of 300 sessions behind one address beats at its real rate (one beat per session
//! every 30 s) while an attacker on other loopback addresses floods random tokens, sends one
//! anonymous document of 2,000 aliased `endSession` calls, holds 1,000 slowloris connections and
//! opens 300 WebSockets that never say `connection_init`. Prints one table; everything goes to
//! loopback and stops by itself.
//!
//! `cargo bench -p zoomtrack-tests --bench abuse`

use std::{
    net::IpAddr,
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, Instant},
};

use serde_json::{Value, json};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpSocket,
    sync::Mutex,
};
use zoomtrack_tests::{ADMIN_TOKEN, Backend, TestDb, bench::percentile, process::ServerProcess};

const SERVER: &str = env!("CARGO_BIN_EXE_zoomtrack-under-test");
const CLASSROOM: &str = "127.0.0.10";
const ATTACKER: &str = "127.0.0.66";
const SESSIONS: usize = 300;
const BEAT_EVERY: Duration = Duration::from_secs(30);

fn client_from(ip: &str, connections: usize) -> reqwest::Client {
    reqwest::Client::builder()
        .local_address(ip.parse::<IpAddr>().unwrap())
        .pool_max_idle_per_host(connections)
        .build()
        .unwrap()
}

/// What the classroom felt during one phase.
#[derive(Default)]
struct Felt {
    latencies: Vec<Duration>,
    failed: usize,
}

impl Felt {
    fn describe(&mut self) -> String {
        self.latencies.sort();
        if self.latencies.is_empty() && self.failed == 0 {
            return "no beat fell in this phase".into();
        }
        format!(
            "{} beats, {} failed, p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
            self.latencies.len() + self.failed,
            self.failed,
            percentile(&self.latencies, 0.50),
            percentile(&self.latencies, 0.99),
            self.latencies.last().map_or(0.0, |d| d.as_secs_f64() * 1e3)
        )
    }
}

/// The classroom: each session beats once per `BEAT_EVERY`, spread evenly, into `felt`.
fn classroom(
    base: String,
    tokens: Vec<String>,
    felt: Arc<Mutex<Felt>>,
    stop: Arc<AtomicBool>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let client = client_from(CLASSROOM, 64);
        let gap = BEAT_EVERY / tokens.len() as u32;
        let mut tick = tokio::time::interval(gap);
        for token in tokens.iter().cycle() {
            if stop.load(Ordering::Relaxed) {
                return;
            }
            tick.tick().await;
            let (client, url, felt) = (
                client.clone(),
                format!("{base}/api/zoom/heartbeat"),
                felt.clone(),
            );
            let token = token.clone();
            tokio::spawn(async move {
                let started = Instant::now();
                let answer = client
                    .post(url)
                    .json(&json!({ "token": token }))
                    .send()
                    .await;
                let took = started.elapsed();
                let mut felt = felt.lock().await;
                match answer {
                    Ok(r) if r.status() == 200 => felt.latencies.push(took),
                    _ => felt.failed += 1,
                }
            });
        }
    })
}

async fn phase(felt: &Arc<Mutex<Felt>>) -> String {
    std::mem::take(&mut *felt.lock().await).describe()
}

#[tokio::main]
async fn main() {
    let db = TestDb::create(Backend::Sqlite)
        .await
        .expect("a database")
        .expect("SQLite is always there");
    let server = ServerProcess::start(SERVER, &db, &[]).await;
    let base = server.base.clone();
    let mut tokens = Vec::new();
    let teacher = server.create_teacher("Teacher").await;
    let student = server.create_student("Student").await;
    let opener = client_from(CLASSROOM, 8);
    for _ in 0..SESSIONS {
        let link = server
            .issue_link_for(Some(ADMIN_TOKEN), &teacher, &student)
            .await
            .expect("a link");
        let opened = opener
            .get(format!("{base}/api/zoom/track?token={}", link.token))
            .send()
            .await
            .unwrap();
        assert_eq!(opened.status(), 200);
        tokens.push(link.token);
    }
    let felt = Arc::new(Mutex::new(Felt::default()));
    let stop = Arc::new(AtomicBool::new(false));
    let beating = classroom(base.clone(), tokens.clone(), felt.clone(), stop.clone());
    let mut rows: Vec<(String, String, String)> = Vec::new();

    tokio::time::sleep(Duration::from_secs(10)).await;
    rows.push((
        "none (baseline), 10 s".into(),
        "—".into(),
        phase(&felt).await,
    ));

    // 64 connections of random tokens for 8 s.
    let attacker = client_from(ATTACKER, 64);
    let until = Instant::now() + Duration::from_secs(8);
    let counts = Arc::new(Mutex::new([0usize; 3]));
    let floods: Vec<_> = (0..64)
        .map(|worker| {
            let (client, url, counts) = (
                attacker.clone(),
                format!("{base}/api/zoom/heartbeat"),
                counts.clone(),
            );
            tokio::spawn(async move {
                let mut n = 0usize;
                while Instant::now() < until {
                    n += 1;
                    let token = format!("{worker:0>16}{n:0>16}");
                    let status = match client
                        .post(&url)
                        .json(&json!({ "token": token }))
                        .send()
                        .await
                    {
                        Ok(r) => r.status().as_u16(),
                        Err(_) => 0,
                    };
                    let mut counts = counts.lock().await;
                    match status {
                        429 => counts[0] += 1,
                        404 => counts[1] += 1,
                        _ => counts[2] += 1,
                    }
                }
            })
        })
        .collect();
    for flood in floods {
        flood.await.unwrap();
    }
    let [refused, looked_up, other] = *counts.lock().await;
    rows.push((
        "random-token heartbeat flood, 64 connections, 8 s".into(),
        format!(
            "{:.0} requests/s: {refused} × 429, {looked_up} × 404, {other} other",
            (refused + looked_up + other) as f64 / 8.0
        ),
        phase(&felt).await,
    ));

    // One anonymous document of 2,000 aliased endSession calls.
    let fields: String = (0..2000)
        .map(|i| format!("a{i}: endSession(token: \"{i:0>32}\") {{ status }} "))
        .collect();
    let document = client_from("127.0.0.67", 1);
    let started = Instant::now();
    let answer = document
        .post(format!("{base}/graphql"))
        .json(&json!({ "query": format!("mutation {{ {fields}}}") }))
        .send()
        .await
        .unwrap();
    let took = started.elapsed();
    let status = answer.status().as_u16();
    let body: Value = answer.json().await.unwrap();
    rows.push((
        "one anonymous document, 2,000 aliased `endSession`".into(),
        format!(
            "{status} in {:.1} ms: {}",
            took.as_secs_f64() * 1e3,
            body["errors"][0]["message"].as_str().unwrap_or("(ran)")
        ),
        phase(&felt).await,
    ));

    // 1,000 connections that send half a request and wait.
    let addr = base.trim_start_matches("http://").parse().unwrap();
    let started = Instant::now();
    let mut slow = Vec::new();
    for n in 0..1000 {
        let socket = TcpSocket::new_v4().unwrap();
        socket
            .bind(format!("127.0.0.{}:0", 70 + n % 8).parse().unwrap())
            .unwrap();
        let Ok(mut stream) = socket.connect(addr).await else {
            continue;
        };
        slow.push(tokio::spawn(async move {
            let _ = stream
                .write_all(b"GET /health HTTP/1.1\r\nHost: x\r\nX-Slow: ")
                .await;
            let mut buf = [0u8; 512];
            loop {
                // The server closing the connection ends the wait.
                match stream.read(&mut buf).await {
                    Ok(0) | Err(_) => return Some(started.elapsed()),
                    Ok(_) => {}
                }
                if started.elapsed() > Duration::from_secs(60) {
                    return None;
                }
            }
        }));
    }
    let opened = slow.len();
    let mut closed = Vec::new();
    for wait in slow {
        if let Ok(Some(at)) = tokio::time::timeout(Duration::from_secs(60), wait)
            .await
            .unwrap_or(Ok(None))
        {
            closed.push(at);
        }
    }
    closed.sort();
    rows.push((
        format!("{opened} slowloris connections (partial headers)"),
        format!(
            "{} of {opened} closed by the server, the last after {:.1} s",
            closed.len(),
            closed.last().map_or(0.0, Duration::as_secs_f64)
        ),
        phase(&felt).await,
    ));

    // 300 WebSockets that never send connection_init.
    // From 20 addresses: one address may hold only 16 sockets that have not signed in.
    let ws_url = format!("{}/graphql/ws", base.replacen("http", "ws", 1));
    let mut silent = Vec::new();
    for n in 0..300 {
        let socket = TcpSocket::new_v4().unwrap();
        socket
            .bind(format!("127.0.0.{}:0", 100 + n % 20).parse().unwrap())
            .unwrap();
        let Ok(stream) = socket.connect(addr).await else {
            continue;
        };
        let Ok((mut socket, _)) = tokio_tungstenite::client_async(ws_url.as_str(), stream).await
        else {
            continue;
        };
        // Each socket's own time, from its upgrade to its close.
        let started = Instant::now();
        silent.push(tokio::spawn(async move {
            use futures::StreamExt;
            loop {
                match tokio::time::timeout(Duration::from_secs(30), socket.next()).await {
                    Ok(Some(Ok(tokio_tungstenite::tungstenite::Message::Close(frame)))) => {
                        return Some((started.elapsed(), frame.map(|f| u16::from(f.code))));
                    }
                    Ok(Some(Ok(_))) => continue,
                    Ok(_) => return Some((started.elapsed(), None)),
                    Err(_) => return None,
                }
            }
        }));
    }
    let opened = silent.len();
    let mut closes = Vec::new();
    for socket in silent {
        if let Ok(Some(close)) = socket.await {
            closes.push(close);
        }
    }
    let with_4408 = closes
        .iter()
        .filter(|(_, code)| *code == Some(4408))
        .count();
    let last = closes.iter().map(|(at, _)| *at).max().unwrap_or_default();
    rows.push((
        format!("{opened} WebSockets that never send `connection_init` (from 20 addresses)"),
        format!(
            "{} of {opened} closed ({with_4408} with 4408), each at most {:.2} s after it opened",
            closes.len(),
            last.as_secs_f64()
        ),
        phase(&felt).await,
    ));

    stop.store(true, Ordering::Relaxed);
    beating.await.unwrap();
    tokio::time::sleep(Duration::from_secs(1)).await;
    let active = server
        .graphql_as(
            Some(ADMIN_TOKEN),
            "{ sessionStats(filter: {status: [ACTIVE]}) { activeSessions } }",
            json!({}),
        )
        .await;
    let health = reqwest::get(format!("{base}/health"))
        .await
        .map(|r| r.status().as_u16());
    rows.push((
        "afterwards".into(),
        "—".into(),
        format!(
            "{} of {SESSIONS} sessions active; /health {}",
            active["data"]["sessionStats"]["activeSessions"],
            health.map_or_else(|e| e.to_string(), |s| s.to_string())
        ),
    ));
    server.terminate();

    println!(
        "| phase (attacker on other loopback addresses) | attacker got | the classroom felt |"
    );
    println!("|---|---|---|");
    for (what, attacker, felt) in rows {
        println!("| {what} | {attacker} | {felt} |");
    }
}
