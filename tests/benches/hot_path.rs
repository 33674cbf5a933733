//! Hot-path benchmark: the tracking endpoints, statistics, the sweep and memory, side by side
//! with a bare axum handler measured the same way in the same run. Prints one Markdown table.
//!
//! `cargo bench -p zoomtrack-tests --bench hot_path` (SQLite; also PostgreSQL when
//! `TEST_POSTGRES_URL` is set). `BENCH_SESSIONS` sets the size of the history (default
//! 1,000,000 sessions); `BENCH_SECONDS` the length of each measurement (default 5).
//!
//! The server runs as its own process (the test package's `zoomtrack-under-test`), the floor
//! as another (this benchmark started with `HOT_PATH_FLOOR_PORT`); the load generator is this
//! process, on loopback, with one HTTP/1.1 connection per concurrent request.

use std::{
    net::SocketAddr,
    process::{Child, Command, Stdio},
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use axum::{Json, Router, routing::post};
use chrono::{Duration as Span, Utc};
use entity::zoom_link::SessionStatus;
use http_body_util::{BodyExt, Full};
use hyper::{Request, body::Bytes, client::conn::http1::SendRequest};
use hyper_util::rt::TokioIo;
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::{net::TcpStream, sync::Mutex};
use zoomtrack_server::{
    domain::{SessionRules, time},
    services::Tracker,
};
use zoomtrack_tests::{
    ADMIN_TOKEN, Api, Backend, TestDb,
    bench::{TEACHERS, percentile, rss_mib, seed_links, seed_school, seed_token, time_graphql},
    process::free_port,
};

const FLOOR_PORT: &str = "HOT_PATH_FLOOR_PORT";
const SERVER: &str = env!("CARGO_BIN_EXE_zoomtrack-under-test");
/// Concurrent requests at saturation.
const CONNECTIONS: usize = 32;
/// Connections of the open-loop generator: enough that none waits for a free one.
const OPEN_LOOP_CONNECTIONS: usize = 64;
/// 100,000 students in lessons, one beat each per 30 s.
const HEARTBEAT_RATE: f64 = 3500.0;
/// Clicks and ends: 100,000 students in hour-long lessons start about 30 a second on average;
/// this is the peak when most of them start on the hour, within about five minutes.
const WRITE_RATE: f64 = 300.0;
/// Sessions that beat, and those the sweep ends.
const LIVE: usize = 100_000;
const RUNS: usize = 30;

type Make = Arc<dyn Fn(u64) -> Request<Full<Bytes>> + Send + Sync>;

fn post_json(path: &'static str, body: String) -> Request<Full<Bytes>> {
    Request::post(path)
        .header("host", "127.0.0.1")
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(body)))
        .expect("a request")
}

fn token_body(token: &str) -> String {
    format!(r#"{{"token":"{token}"}}"#)
}

async fn connect(addr: SocketAddr) -> SendRequest<Full<Bytes>> {
    let stream = TcpStream::connect(addr).await.expect("connect");
    stream.set_nodelay(true).expect("nodelay");
    let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .expect("handshake");
    tokio::spawn(connection);
    sender
}

/// Sends one request; true when it succeeded (2xx, body read).
async fn send(sender: &mut SendRequest<Full<Bytes>>, request: Request<Full<Bytes>>) -> bool {
    if sender.ready().await.is_err() {
        return false;
    }
    match sender.send_request(request).await {
        Ok(response) => {
            let ok = response.status().is_success();
            ok && response.into_body().collect().await.is_ok()
        }
        Err(_) => false,
    }
}

#[derive(Clone, Copy, Default)]
struct Throughput {
    per_second: f64,
    errors: u64,
}

/// Requests per second with `CONNECTIONS` requests always in flight, for `seconds`.
/// `next` numbers the requests across runs, so each can use a fresh session.
async fn saturate(
    addr: SocketAddr,
    make: &Make,
    next: &Arc<AtomicU64>,
    seconds: f64,
) -> Throughput {
    let stop = Arc::new(AtomicBool::new(false));
    let (done, errors) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let mut workers = Vec::new();
    for _ in 0..CONNECTIONS {
        let (make, next, stop) = (make.clone(), next.clone(), stop.clone());
        let (done, errors) = (done.clone(), errors.clone());
        workers.push(tokio::spawn(async move {
            let mut sender = connect(addr).await;
            while !stop.load(Ordering::Relaxed) {
                let request = make(next.fetch_add(1, Ordering::Relaxed));
                if send(&mut sender, request).await {
                    done.fetch_add(1, Ordering::Relaxed);
                } else {
                    errors.fetch_add(1, Ordering::Relaxed);
                    sender = connect(addr).await;
                }
            }
        }));
    }
    // Connections open and warm before the clock starts.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (start_done, start_errors) = (done.load(Ordering::Relaxed), errors.load(Ordering::Relaxed));
    let started = Instant::now();
    tokio::time::sleep(Duration::from_secs_f64(seconds)).await;
    let elapsed = started.elapsed().as_secs_f64();
    let counted = done.load(Ordering::Relaxed) - start_done;
    let failed = errors.load(Ordering::Relaxed) - start_errors;
    stop.store(true, Ordering::Relaxed);
    for worker in workers {
        worker.await.expect("a load worker");
    }
    Throughput {
        per_second: counted as f64 / elapsed,
        errors: failed,
    }
}

/// Sends requests `0..count` once each over `CONNECTIONS` connections.
async fn each_once(addr: SocketAddr, make: &Make, count: u64) {
    let next = Arc::new(AtomicU64::new(0));
    let workers: Vec<_> = (0..CONNECTIONS)
        .map(|_| {
            let (make, next) = (make.clone(), next.clone());
            tokio::spawn(async move {
                let mut sender = connect(addr).await;
                loop {
                    let n = next.fetch_add(1, Ordering::Relaxed);
                    if n >= count {
                        return;
                    }
                    assert!(send(&mut sender, make(n)).await, "request {n} failed");
                }
            })
        })
        .collect();
    for worker in workers {
        worker.await.expect("a load worker");
    }
}

#[derive(Clone, Debug, Default)]
struct Latency {
    p50: f64,
    p99: f64,
    errors: u64,
    /// Every request: when it was due, and its latency.
    samples: Vec<(Instant, Duration)>,
}

impl Latency {
    /// The p99 of the requests due in `[from, to)`.
    fn p99_between(&self, from: Instant, to: Instant) -> f64 {
        let mut within: Vec<Duration> = self
            .samples
            .iter()
            .filter(|(due, _)| (from..to).contains(due))
            .map(|(_, latency)| *latency)
            .collect();
        within.sort();
        percentile(&within, 0.99)
    }
}

/// Latency at a fixed arrival rate (open loop): request `i` is due at `i / rate`, and its
/// latency counts from then, so a slow answer delays nothing it should not (no coordinated
/// omission).
async fn open_loop(
    addr: SocketAddr,
    make: &Make,
    next: &Arc<AtomicU64>,
    rate: f64,
    seconds: f64,
) -> Latency {
    let total = (rate * seconds) as u64;
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel::<(Instant, u64)>();
    let rx = Arc::new(Mutex::new(rx));
    let mut workers = Vec::new();
    for _ in 0..OPEN_LOOP_CONNECTIONS {
        let (make, rx) = (make.clone(), rx.clone());
        workers.push(tokio::spawn(async move {
            let mut sender = connect(addr).await;
            let mut samples = Vec::new();
            let mut errors = 0u64;
            loop {
                let Some((due, n)) = rx.lock().await.recv().await else {
                    return (samples, errors);
                };
                if !send(&mut sender, make(n)).await {
                    errors += 1;
                    sender = connect(addr).await;
                }
                samples.push((due, due.elapsed()));
            }
        }));
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let started = Instant::now();
    for i in 0..total {
        let due = started + Duration::from_secs_f64(i as f64 / rate);
        tokio::time::sleep_until(due.into()).await;
        let n = next.fetch_add(1, Ordering::Relaxed);
        tx.send((due, n)).expect("workers run");
    }
    drop(tx);
    let mut samples = Vec::new();
    let mut errors = 0;
    for worker in workers {
        let (done, failed) = worker.await.expect("a load worker");
        errors += failed;
        samples.extend(done);
    }
    let mut all: Vec<Duration> = samples.iter().map(|(_, latency)| *latency).collect();
    all.sort();
    Latency {
        p50: percentile(&all, 0.5),
        p99: percentile(&all, 0.99),
        errors,
        samples,
    }
}

/// A process under test: the server or the floor.
struct Process {
    child: Child,
    addr: SocketAddr,
}

impl Process {
    async fn start(mut command: Command, port: u16) -> Self {
        let child = command
            .stdout(Stdio::null())
            .spawn()
            .expect("the process starts");
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let deadline = Instant::now() + Duration::from_secs(60);
        while TcpStream::connect(addr).await.is_err() {
            assert!(Instant::now() < deadline, "the process never listened");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Self { child, addr }
    }

    fn rss(&self) -> f64 {
        rss_mib(self.child.id())
    }

    /// Samples resident memory every 100 ms until the returned flag is set; the peak is in the
    /// returned cell.
    fn watch_rss(&self) -> (Arc<AtomicBool>, tokio::task::JoinHandle<f64>) {
        let stop = Arc::new(AtomicBool::new(false));
        let (pid, flag) = (self.child.id(), stop.clone());
        let peak = tokio::spawn(async move {
            let mut peak: f64 = 0.0;
            while !flag.load(Ordering::Relaxed) {
                peak = peak.max(rss_mib(pid));
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            peak
        });
        (stop, peak)
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[derive(Deserialize)]
struct FloorBody {
    token: String,
}

/// The floor: a bare axum handler that parses the same JSON body as a heartbeat and answers a
/// small JSON body, with the same runtime as the server.
fn run_floor(port: u16) {
    tokio::runtime::Runtime::new()
        .expect("a runtime")
        .block_on(async move {
            let app = Router::new().route(
                "/floor",
                post(|Json(body): Json<FloorBody>| async move {
                    Json(json!({ "success": !body.token.is_empty() }))
                }),
            );
            let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
                .await
                .expect("bind");
            axum::serve(listener, app).await.expect("serve");
        });
}

struct Floor {
    saturated: Throughput,
    latency: Latency,
}

async fn measure_floor(seconds: f64) -> Floor {
    let port = free_port();
    let mut command = Command::new(std::env::current_exe().expect("this benchmark"));
    command.env(FLOOR_PORT, port.to_string());
    let floor = Process::start(command, port).await;
    let make: Make = Arc::new(|_| post_json("/floor", token_body(&seed_token(0))));
    let next = Arc::new(AtomicU64::new(0));
    let saturated = saturate(floor.addr, &make, &next, seconds).await;
    let latency = open_loop(floor.addr, &make, &next, HEARTBEAT_RATE, seconds).await;
    Floor { saturated, latency }
}

#[derive(Default)]
struct Run {
    seeded_in: f64,
    idle_rss: f64,
    /// Requests per second of the first beat of each session (read from the database).
    first_beats: f64,
    load_rss: f64,
    heartbeat: (Throughput, Latency),
    track: (Throughput, Latency),
    end: (Throughput, Latency),
    stats: Vec<(&'static str, f64, f64)>,
    sweep_seconds: f64,
    swept: u64,
    beat_p99_before: f64,
    beat_p99_sweeping: f64,
}

/// Token numbers of each group of seeded links.
struct Groups {
    history: usize,
    beating: usize,
    fresh: usize,
    ending: usize,
    stale: usize,
}

impl Groups {
    fn new(history: usize) -> Self {
        Self {
            history,
            beating: history,
            fresh: history + LIVE,
            ending: history + 2 * LIVE,
            stale: history + 3 * LIVE,
        }
    }
}

async fn measure(backend: Backend, sessions: usize, seconds: f64) -> Option<Run> {
    let db = TestDb::create(backend).await.expect("a bench database")?;
    eprintln!("measuring {backend:?}…");
    let groups = Groups::new(sessions);
    let mut run = Run::default();
    let seeding = Instant::now();
    {
        let pools = zoomtrack_server::db::connect(&db.url, None)
            .await
            .expect("the bench database");
        let write = pools.write.clone();
        seed_school(&write, groups.history).await;
        let now = Utc::now();
        let active = Some(SessionStatus::Active);
        seed_links(&write, groups.beating, LIVE, active, now).await;
        seed_links(&write, groups.fresh, LIVE, None, now).await;
        seed_links(&write, groups.ending, LIVE, active, now).await;
        // The history is settled, as a running server leaves it: its old active sessions have
        // timed out, so the server starts with nothing to sweep.
        let rules = SessionRules::new(Span::hours(2), Span::seconds(30));
        Tracker::new(pools, rules)
            .sweep(time::now())
            .await
            .expect("the history settles");
        write.close().await.expect("closed");
    }
    run.seeded_in = seeding.elapsed().as_secs_f64();

    let port = free_port();
    let mut command = Command::new(SERVER);
    command
        .args(["--database-url", &db.url, "--admin-token", ADMIN_TOKEN])
        .args(["--bind-addr", &format!("127.0.0.1:{port}")])
        .args(["--sweep-interval", "24h"])
        // The generator is one client address: measured, not refused.
        .args(["--rate-limits", "off"]);
    let server = Process::start(command, port).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    run.idle_rss = server.rss();
    let (rss_stop, rss_peak) = server.watch_rss();

    // Heartbeats on 100,000 live sessions; one pass first, as each session has beaten before.
    let beating = groups.beating;
    let beat: Make = Arc::new(move |n| {
        let token = seed_token(beating + (n as usize % LIVE));
        post_json("/api/zoom/heartbeat", token_body(&token))
    });
    let make = beat.clone();
    let first_pass = Instant::now();
    each_once(server.addr, &make, LIVE as u64).await;
    run.first_beats = LIVE as f64 / first_pass.elapsed().as_secs_f64();
    let next = Arc::new(AtomicU64::new(0));
    let saturated = saturate(server.addr, &make, &next, seconds).await;
    let latency = open_loop(server.addr, &make, &next, HEARTBEAT_RATE, seconds).await;
    run.heartbeat = (saturated, latency);

    // Clicks on links never opened, then ends of live sessions: each request a new session.
    let fresh = groups.fresh;
    let make: Make = Arc::new(move |n| {
        Request::get(format!(
            "/api/zoom/track?token={}",
            seed_token(fresh + (n as usize % LIVE))
        ))
        .header("host", "127.0.0.1")
        .header("accept", "text/html")
        .body(Full::new(Bytes::new()))
        .expect("a request")
    });
    let next = Arc::new(AtomicU64::new(0));
    let saturated = saturate(server.addr, &make, &next, seconds).await;
    let latency = open_loop(server.addr, &make, &next, WRITE_RATE, seconds).await;
    run.track = (saturated, latency);
    let ending = groups.ending;
    let make: Make = Arc::new(move |n| {
        let token = seed_token(ending + (n as usize % LIVE));
        post_json("/api/zoom/end-session", token_body(&token))
    });
    let next = Arc::new(AtomicU64::new(0));
    let saturated = saturate(server.addr, &make, &next, seconds).await;
    let latency = open_loop(server.addr, &make, &next, WRITE_RATE, seconds).await;
    run.end = (saturated, latency);
    rss_stop.store(true, Ordering::Relaxed);
    run.load_rss = rss_peak.await.expect("the memory watch");

    // Statistics and a filtered page over the whole history.
    let api = Api {
        base: format!("http://{}", server.addr),
        client: reqwest::Client::new(),
        db: sea_orm::Database::connect(&db.url)
            .await
            .expect("the bench database"),
    };
    let month = (Utc::now().date_naive() - chrono::Days::new(29)).to_string();
    let cases: [(&'static str, &str, Value); 3] = [
        (
            "`sessionStats`, all time",
            "query { sessionStats { totalSessions activeSessions totalDurationMinutes avgDurationMinutes neverClickedLinks } }",
            json!({}),
        ),
        (
            "`teacherStats`, all time",
            "query { teacherStats { teacher { name } sessions totalDurationMinutes timeoutRate } }",
            json!({}),
        ),
        (
            "`sessions` page of 50: 30 days, ended, name search",
            "query($f: SessionFilter) { sessions(filter: $f, first: 50) { edges { node { id teacher { name } student { name } durationMinutes } } } }",
            json!({ "f": { "from": month, "status": ["ENDED"], "search": "teacher 01" } }),
        ),
    ];
    for (name, query, variables) in cases {
        let (p50, p95) = time_graphql(&api, query, &variables, RUNS).await;
        run.stats.push((name, p50, p95));
    }

    // 100,000 sessions gone quiet 3 h ago; the sweep runs while heartbeats keep arriving.
    seed_links(
        &api.db,
        groups.stale,
        LIVE,
        Some(SessionStatus::Active),
        Utc::now() - Span::hours(3),
    )
    .await;
    let make = beat;
    let next = Arc::new(AtomicU64::new(0));
    let sweep_at = Duration::from_secs(3);
    let sweep = {
        let api_base = api.base.clone();
        tokio::spawn(async move {
            tokio::time::sleep(sweep_at).await;
            let started = Instant::now();
            let answer: Value = reqwest::Client::new()
                .post(format!("{api_base}/api/admin/auto-timeout"))
                .bearer_auth(ADMIN_TOKEN)
                .send()
                .await
                .expect("the sweep request")
                .json()
                .await
                .expect("the sweep answer");
            (
                started,
                started.elapsed(),
                answer["ended"].as_u64().unwrap_or(0),
            )
        })
    };
    let load_started = Instant::now();
    let load = open_loop(server.addr, &make, &next, HEARTBEAT_RATE, 8.0);
    let (latency, swept) = tokio::join!(load, sweep);
    let (started, took, ended) = swept.expect("the sweep task");
    run.sweep_seconds = took.as_secs_f64();
    run.swept = ended;
    // Beats due before the sweep (after the generator's first second) against those due
    // while it ran, in the same run.
    run.beat_p99_before = latency.p99_between(load_started + Duration::from_secs(1), started);
    run.beat_p99_sweeping = latency.p99_between(started, started + took);
    Some(run)
}

fn ratio(value: f64, base: f64) -> String {
    format!("{:.2}×", value / base)
}

fn main() {
    if let Ok(port) = std::env::var(FLOOR_PORT) {
        run_floor(port.parse().expect("a port"));
        return;
    }
    let sessions = std::env::var("BENCH_SESSIONS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let seconds: f64 = std::env::var("BENCH_SECONDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5.0);
    let runtime = tokio::runtime::Runtime::new().expect("a runtime");
    runtime.block_on(async {
        let floor = measure_floor(seconds).await;
        let mut runs = Vec::new();
        for backend in [Backend::Sqlite, Backend::Postgres] {
            runs.push((backend, measure(backend, sessions, seconds).await));
        }
        print_table(&floor, &runs, sessions, seconds);
    });
}

fn print_table(floor: &Floor, runs: &[(Backend, Option<Run>)], sessions: usize, seconds: f64) {
    let measured: Vec<(Backend, &Run)> = runs
        .iter()
        .filter_map(|(backend, run)| run.as_ref().map(|run| (*backend, run)))
        .collect();
    let base = floor.saturated.per_second;
    println!(
        "\n## Hot paths: {sessions} sessions of history, {seconds} s per measurement, \
         {CONNECTIONS} connections at saturation\n"
    );
    let mut header = String::from("| measure | target (SQLite) |");
    let mut rule = String::from("|---|---|");
    for (backend, run) in &measured {
        header.push_str(&format!(
            " {backend:?} (seeded in {:.0} s) |",
            run.seeded_in
        ));
        rule.push_str("---:|");
    }
    println!("{header}\n{rule}");
    let row = |name: &str, target: &str, cell: &dyn Fn(&Run) -> String| {
        let mut line = format!("| {name} | {target} |");
        for (_, run) in &measured {
            line.push_str(&format!(" {} |", cell(run)));
        }
        println!("{line}");
    };
    row("floor: bare axum JSON handler, requests/s", "", &|_| {
        format!("{base:.0}")
    });
    row("floor: p50 / p99 ms at 3,500/s", "", &|_| {
        format!("{:.2} / {:.2}", floor.latency.p50, floor.latency.p99)
    });
    let throughput = |(t, _): &(Throughput, Latency)| {
        format!(
            "{:.0} ({} of floor{})",
            t.per_second,
            ratio(t.per_second, base),
            errors(t.errors)
        )
    };
    let latency =
        |(_, l): &(Throughput, Latency)| format!("{:.2} / {:.2}{}", l.p50, l.p99, errors(l.errors));
    row("`heartbeat` requests/s", "≥ 0.5× floor", &|r| {
        throughput(&r.heartbeat)
    });
    row(
        "`heartbeat` requests/s, first beat of each session",
        "",
        &|r| {
            format!(
                "{:.0} ({} of floor)",
                r.first_beats,
                ratio(r.first_beats, base)
            )
        },
    );
    row("`heartbeat` p50 / p99 ms at 3,500/s", "p99 < 20", &|r| {
        latency(&r.heartbeat)
    });
    row("`track` (first click) requests/s", "", &|r| {
        throughput(&r.track)
    });
    row("`track` p50 / p99 ms at 300/s", "", &|r| latency(&r.track));
    row("`end-session` requests/s", "", &|r| throughput(&r.end));
    row("`end-session` p50 / p99 ms at 300/s", "", &|r| {
        latency(&r.end)
    });
    for (i, (name, _, _)) in measured
        .first()
        .map(|(_, run)| run.stats.clone())
        .unwrap_or_default()
        .iter()
        .enumerate()
    {
        row(&format!("{name}: p50 / p95 ms"), "p95 < 100", &|r| {
            let (_, p50, p95) = r.stats[i];
            format!("{p50:.1} / {p95:.1}")
        });
    }
    row("sweep of 100,000 stale sessions, s", "< 2", &|r| {
        format!("{:.2} ({} ended)", r.sweep_seconds, r.swept)
    });
    row(
        "`heartbeat` p99 ms at 3,500/s while sweeping (before)",
        "< 2× before",
        &|r| {
            format!(
                "{:.2} ({:.2}; {})",
                r.beat_p99_sweeping,
                r.beat_p99_before,
                ratio(r.beat_p99_sweeping, r.beat_p99_before)
            )
        },
    );
    row("server memory (RSS) idle, MiB", "< 50", &|r| {
        format!("{:.1}", r.idle_rss)
    });
    row("server memory (RSS) under load, peak MiB", "", &|r| {
        format!("{:.1}", r.load_rss)
    });
    println!(
        "\n{} teachers; {LIVE} live sessions beat, {LIVE} links are clicked, {LIVE} sessions end, {LIVE} go stale.",
        TEACHERS
    );
}

fn errors(count: u64) -> String {
    if count == 0 {
        String::new()
    } else {
        format!(", {count} errors")
    }
}
