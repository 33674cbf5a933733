//! Several servers on one database (`--replicas`): heartbeats, clicks and ends per second with
//! requests spread over 1, 2 and 3 servers on one PostgreSQL, the heartbeat's p99 at a busy
//! hour's rate spread the same way, and how long a live event takes from one server's commit
//! to a subscriber on another, on PostgreSQL (woken by `NOTIFY`) and MariaDB (polling).

use std::{
    collections::HashMap,
    sync::{Arc, Mutex, atomic::AtomicU64},
    time::{Duration, Instant},
};

use chrono::Utc;
use entity::zoom_link::SessionStatus;
use futures::{StreamExt, future::join_all};
use serde_json::json;
use zoomtrack_tests::{
    ADMIN_TOKEN, Api, Backend, TestDb,
    bench::{BenchArgs, percentile, seed_links, seed_school, seed_token, settle_history},
    live::{connect, subscribe},
    process::free_port,
};

use crate::{
    SERVER, Sizes,
    load::{Make, Throughput, each_once, get, open_loop, post_json, saturate, token_body},
    processes::Process,
    server_args,
};

/// Servers in the largest run.
const MOST: usize = 3;

/// One run's figures, with `servers` servers.
pub struct Spread {
    servers: usize,
    heartbeats: Throughput,
    clicks: Throughput,
    ends: Throughput,
    /// The heartbeat's p99 at the busy hour's rate, on the slowest server, in ms.
    beat_p99: f64,
}

/// The lag of live events across servers on one database, in ms.
pub struct Lag {
    backend: Backend,
    p50: f64,
    p99: f64,
    events: usize,
}

/// The runs over the databases of `args` that servers can share.
pub async fn measure(args: &BenchArgs, sizes: Sizes) -> (Vec<Spread>, Vec<Lag>) {
    let mut spreads = Vec::new();
    let wanted = |backend| args.databases.contains(&backend);
    let postgres = match wanted(Backend::Postgres) {
        true => TestDb::create(Backend::Postgres)
            .await
            .expect("a bench database"),
        false => None,
    };
    match postgres {
        Some(db) => {
            let live = sizes.live;
            seed(&db, sizes.history, live).await;
            for servers in 1..=MOST {
                eprintln!("{servers} server(s) on PostgreSQL…");
                spreads.push(spread(&db, servers, sizes).await);
            }
        }
        None if wanted(Backend::Postgres) => args.unreachable(Backend::Postgres),
        None => {}
    }
    let mut lags = Vec::new();
    for backend in [Backend::Postgres, Backend::MySql]
        .into_iter()
        .filter(|b| wanted(*b))
    {
        match TestDb::create(backend).await.expect("a bench database") {
            Some(db) => lags.push(lag(&db, backend, if args.smoke { 10 } else { 300 }).await),
            None => args.unreachable(backend),
        }
    }
    (spreads, lags)
}

/// The history, and for each run of `servers` servers its sessions that beat, links never
/// opened and sessions to end (`live` each), tokens from `history`.
async fn seed(db: &TestDb, history: usize, live: usize) {
    let pools = zoomtrack_server::db::connect(&db.url, None)
        .await
        .expect("the bench database");
    let write = pools.write.clone();
    seed_school(&write, history).await;
    let now = Utc::now();
    let active = Some(SessionStatus::Active);
    seed_links(&write, history, live, active, now).await;
    for servers in 1..=MOST {
        let (fresh, ending) = groups(history, live, servers);
        seed_links(&write, fresh, live, None, now).await;
        seed_links(&write, ending, live, active, now).await;
    }
    settle_history(pools).await;
}

/// The first tokens of the links to click and the sessions to end with `servers` servers.
fn groups(history: usize, live: usize, servers: usize) -> (usize, usize) {
    let fresh = history + live + 2 * live * (servers - 1);
    (fresh, fresh + live)
}

async fn start(db: &TestDb, servers: usize) -> Vec<Process> {
    join_all((0..servers).map(|_| {
        let port = free_port();
        let mut command = std::process::Command::new(SERVER);
        command.args(server_args(&db.url, port));
        Process::start(command, port, Duration::from_secs(120))
    }))
    .await
}

/// Requests of `make` at saturation on every server at once: their sum.
async fn saturate_all(servers: &[Process], make: &Make, seconds: f64) -> Throughput {
    let next = Arc::new(AtomicU64::new(0));
    let each = join_all(
        servers
            .iter()
            .map(|server| saturate(server.addr, server.pid(), make, &next, seconds)),
    )
    .await;
    Throughput {
        per_second: each.iter().map(|t| t.per_second).sum(),
        errors: each.iter().map(|t| t.errors).sum(),
        cpu_us: each.iter().map(|t| t.cpu_us).sum::<f64>() / each.len() as f64,
    }
}

async fn spread(db: &TestDb, count: usize, sizes: Sizes) -> Spread {
    let servers = start(db, count).await;
    let (history, live) = (sizes.history, sizes.live);
    let beat: Make = Arc::new(move |n| {
        let token = seed_token(history + (n as usize % live));
        post_json("/api/zoom/heartbeat", token_body(&token))
    });
    // Every session has beaten on every server before: no server sticks to a session.
    for server in &servers {
        each_once(server.addr, &beat, live as u64).await;
    }
    let heartbeats = saturate_all(&servers, &beat, sizes.seconds).await;
    let (fresh, ending) = groups(history, live, count);
    let click: Make = Arc::new(move |n| {
        get(format!(
            "/api/zoom/track?token={}",
            seed_token(fresh + (n as usize % live))
        ))
    });
    let clicks = saturate_all(&servers, &click, sizes.seconds).await;
    let end: Make = Arc::new(move |n| {
        let token = seed_token(ending + (n as usize % live));
        post_json("/api/zoom/end-session", token_body(&token))
    });
    let ends = saturate_all(&servers, &end, sizes.seconds).await;
    let next = Arc::new(AtomicU64::new(0));
    let rate = sizes.heartbeat_rate / count as f64;
    let latencies = join_all(
        servers
            .iter()
            .map(|server| open_loop(server.addr, &beat, &next, rate, sizes.seconds)),
    )
    .await;
    let beat_p99 = latencies.iter().map(|l| l.p99).fold(0.0, f64::max);
    for server in servers {
        server.terminate();
    }
    Spread {
        servers: count,
        heartbeats,
        clicks,
        ends,
        beat_p99,
    }
}

fn api(server: &Process, db: &sea_orm::DatabaseConnection) -> Api {
    Api {
        base: format!("http://{}", server.addr),
        client: reqwest::Client::new(),
        db: db.clone(),
    }
}

/// `clicks` clicks on one server, 20 a second, each seen by a `sessionEvents` subscriber on
/// another: from the click's answer to the event's arrival.
async fn lag(db: &TestDb, backend: Backend, clicks: usize) -> Lag {
    eprintln!("event lag on {backend:?}…");
    let servers = start(db, 2).await;
    let conn = sea_orm::Database::connect(&db.url)
        .await
        .expect("the bench database");
    let (subscribed, clicked) = (api(&servers[0], &conn), api(&servers[1], &conn));
    let teacher = clicked.create_teacher("Lag Teacher").await;
    let student = clicked.create_student("Lag Student").await;
    let mut links = Vec::new();
    for _ in 0..clicks + 20 {
        links.push(
            clicked
                .issue_link_for(Some(ADMIN_TOKEN), &teacher, &student)
                .await
                .expect("a link"),
        );
    }
    let client = connect(&subscribed, Some(ADMIN_TOKEN))
        .await
        .expect("admin connects");
    let mut stream = subscribe(
        &client,
        "subscription { sessionEvents { kind session { id } } }",
        json!({}),
    )
    .await;
    let seen: Arc<Mutex<HashMap<String, Instant>>> = Arc::default();
    let reader = {
        let seen = seen.clone();
        tokio::spawn(async move {
            while let Some(Ok(item)) = stream.next().await {
                if let Some(id) = item["data"]["sessionEvents"]["session"]["id"].as_str() {
                    seen.lock()
                        .expect("the events")
                        .entry(id.to_owned())
                        .or_insert_with(Instant::now);
                }
            }
        })
    };
    // Until the subscription delivers: clicks that are not counted.
    let (warm, measured) = links.split_at(20);
    for link in warm {
        clicked.track(&link.token).await;
        tokio::time::sleep(Duration::from_millis(200)).await;
        if seen.lock().expect("the events").contains_key(&link.id) {
            break;
        }
    }
    let mut answered = Vec::new();
    for link in measured {
        clicked.track(&link.token).await;
        answered.push((link.id.clone(), Instant::now()));
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    reader.abort();
    let seen = seen.lock().expect("the events");
    let mut lags: Vec<Duration> = answered
        .iter()
        .filter_map(|(id, at)| Some(seen.get(id)?.saturating_duration_since(*at)))
        .collect();
    lags.sort();
    for server in servers {
        server.terminate();
    }
    Lag {
        backend,
        p50: percentile(&lags, 0.5),
        p99: percentile(&lags, 0.99),
        events: lags.len(),
    }
}

/// The replicas' Markdown table.
pub fn print(spreads: &[Spread], lags: &[Lag], sizes: Sizes) {
    println!(
        "\n## Several servers on one database: {} sessions of history, {} s per measurement\n",
        sizes.history, sizes.seconds
    );
    if !spreads.is_empty() {
        println!(
            "| servers (PostgreSQL) | heartbeats/s | clicks/s | ends/s | heartbeat p99 at {:.0}/s |",
            sizes.heartbeat_rate
        );
        println!("|---:|---:|---:|---:|---:|");
        let first = spreads[0].heartbeats.per_second.max(1.0);
        for spread in spreads {
            println!(
                "| {} | {:.0} ({:.2}×){} | {:.0}{} | {:.0}{} | {:.1} ms |",
                spread.servers,
                spread.heartbeats.per_second,
                spread.heartbeats.per_second / first,
                errors(spread.heartbeats.errors),
                spread.clicks.per_second,
                errors(spread.clicks.errors),
                spread.ends.per_second,
                errors(spread.ends.errors),
                spread.beat_p99,
            );
        }
    }
    if !lags.is_empty() {
        println!(
            "\n| live event, one server's answer → another's subscriber | p50 | p99 | events |"
        );
        println!("|---|---:|---:|---:|");
        for lag in lags {
            println!(
                "| {:?} | {:.1} ms | {:.1} ms | {} |",
                lag.backend, lag.p50, lag.p99, lag.events
            );
        }
    }
}

fn errors(count: u64) -> String {
    if count == 0 {
        String::new()
    } else {
        format!(" ({count} errors)")
    }
}
