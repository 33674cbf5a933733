//! Hot-path benchmark: the tracking endpoints, statistics, the sweep and memory, on SQLite,
//! PostgreSQL and MySQL/MariaDB, each beside its floors measured the same way in the same run:
//! a bare axum handler for the HTTP paths, and the database's own durable single-row `UPDATE`
//! by token for clicks and ends. Prints one Markdown table.
//!
//! `scripts/bench.sh` (the databases started, `TEST_POSTGRES_URL` and `TEST_MYSQL_URL` set), or
//! `cargo bench -p zoomtrack-tests --bench hot_path -- [--sessions N] [--seconds S]
//! [--databases sqlite,postgres,mysql] [--smoke]`. With `--replicas` it measures several
//! servers on one database instead (`replicas`).
//!
//! The server runs as its own process (the test package's `zoomtrack-under-test`), the floor as
//! another (this benchmark started with `HOT_PATH_FLOOR_PORT`); the load generator is this
//! process, on loopback, with one HTTP/1.1 connection per concurrent request. On two or more
//! cores the generator runs on core 0 and the process under test on core 1.

mod callgrind;
mod load;
mod processes;
mod replicas;
mod table;

use std::{
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use chrono::{Duration as Span, Utc};
use entity::zoom_link::SessionStatus;
use sea_orm::{
    ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DbBackend, Statement,
};
use serde_json::{Value, json};
use zoomtrack_server::domain::time;
use zoomtrack_tests::{
    ADMIN_TOKEN, Api, Backend, TestDb,
    bench::{BenchArgs, seed_links, seed_school, seed_token, settle_history, time_graphql},
    process::free_port,
};

use self::{
    callgrind::Counted,
    load::{
        CONNECTIONS, Latency, Make, Throughput, each_once, get, open_loop, post_json, saturate,
        token_body,
    },
    processes::{Cores, FLOOR_PORT, Process, run_floor},
};

const SERVER: &str = env!("CARGO_BIN_EXE_zoomtrack-under-test");
/// 100,000 students in lessons, one beat each per 30 s.
const HEARTBEAT_RATE: f64 = 3500.0;
/// Clicks and ends: 100,000 students in hour-long lessons start about 30 a second on average;
/// this is the peak when most of them start on the hour, within about five minutes.
const WRITE_RATE: f64 = 300.0;

/// The sizes of one run.
#[derive(Clone, Copy)]
struct Sizes {
    history: usize,
    /// Sessions that beat; links clicked; sessions ended; sessions the sweep ends.
    live: usize,
    seconds: f64,
    /// Timed statistics requests.
    runs: usize,
    /// Requests counted under callgrind, per path.
    counted: usize,
    heartbeat_rate: f64,
    write_rate: f64,
}

impl Sizes {
    fn of(args: &BenchArgs) -> Self {
        if args.smoke {
            return Self {
                history: args.sessions,
                live: 300,
                seconds: args.seconds,
                runs: 2,
                counted: 10,
                heartbeat_rate: 200.0,
                write_rate: 50.0,
            };
        }
        Self {
            history: args.sessions,
            live: 100_000,
            seconds: args.seconds,
            runs: 30,
            counted: 1000,
            heartbeat_rate: HEARTBEAT_RATE,
            write_rate: WRITE_RATE,
        }
    }
}

/// The HTTP floor: a bare handler, measured like the server.
#[derive(Default)]
struct Floor {
    saturated: Throughput,
    latency: Latency,
}

#[derive(Default)]
struct Run {
    seeded_in: f64,
    /// The database's own durable single-row updates by token per second, from
    /// [`CONNECTIONS`] clients.
    database_floor: f64,
    idle_rss: f64,
    /// Requests per second of the first beat of each session (read from the database), and of
    /// the beats after it, over the same connections.
    first_beats: f64,
    load_rss: f64,
    heartbeat: (Throughput, Latency),
    track: (Throughput, Latency),
    end: (Throughput, Latency),
    stats: Vec<(&'static str, f64, f64)>,
    sweep_seconds: f64,
    swept: u64,
    /// The database's own single `UPDATE` ending as many sessions, seconds.
    sweep_floor: f64,
    beat_p99_before: f64,
    beat_p99_sweeping: f64,
    /// Instructions per request: heartbeat, track, end (SQLite only).
    instructions: Option<[f64; 3]>,
}

/// Token numbers of each group of seeded links.
struct Groups {
    history: usize,
    beating: usize,
    fresh: usize,
    ending: usize,
    stale: usize,
    /// Sessions the database's own statement ends, beside the sweep.
    stale_floor: usize,
}

impl Groups {
    fn new(sizes: Sizes) -> Self {
        let (history, live) = (sizes.history, sizes.live);
        Self {
            history,
            beating: history,
            fresh: history + live,
            ending: history + 2 * live,
            stale: history + 3 * live,
            stale_floor: history + 4 * live,
        }
    }
}

fn server_args(url: &str, port: u16) -> Vec<String> {
    [
        "--database-url",
        url,
        "--admin-token",
        ADMIN_TOKEN,
        "--bind-addr",
        &format!("127.0.0.1:{port}"),
        // The measured sweep is the only one.
        "--sweep-interval",
        "24h",
        // The generator is one client address: measured, not refused.
        "--rate-limits",
        "off",
    ]
    .map(str::to_owned)
    .to_vec()
}

async fn measure_floor(cores: Cores, sizes: Sizes) -> Floor {
    let port = free_port();
    let this = std::env::current_exe().expect("this benchmark");
    let mut command = cores.command(&this.display().to_string());
    command.env(FLOOR_PORT, port.to_string());
    let floor = Process::start(command, port, Duration::from_secs(60)).await;
    let make: Make = Arc::new(|_| post_json("/floor", token_body(&seed_token(0))));
    let next = Arc::new(AtomicU64::new(0));
    let saturated = saturate(floor.addr, floor.pid(), &make, &next, sizes.seconds).await;
    let latency = open_loop(
        floor.addr,
        &make,
        &next,
        sizes.heartbeat_rate,
        sizes.seconds,
    )
    .await;
    Floor { saturated, latency }
}

/// The database's own durable single-row `UPDATE` by token, autocommit, from [`CONNECTIONS`]
/// concurrent clients of this process (on SQLite, queued on the one writer connection, as the
/// server writes), over the sessions of `tokens`.
async fn database_floor(db: &TestDb, first: usize, count: usize, seconds: f64) -> f64 {
    let backend = match db.backend {
        Backend::Sqlite => DbBackend::Sqlite,
        Backend::Postgres => DbBackend::Postgres,
        Backend::MySql => DbBackend::MySql,
    };
    let conn = if backend == DbBackend::Sqlite {
        zoomtrack_server::db::connect(&db.url, None)
            .await
            .expect("the bench database")
            .write
    } else {
        let mut options = ConnectOptions::new(&db.url);
        options
            .max_connections(CONNECTIONS as u32)
            .sqlx_logging(false);
        Database::connect(options)
            .await
            .expect("the bench database")
    };
    let sql = match backend {
        DbBackend::Postgres => {
            "UPDATE wpos_zoom_links SET last_activity_at = $1 WHERE tracking_token = $2"
        }
        _ => "UPDATE wpos_zoom_links SET last_activity_at = ? WHERE tracking_token = ?",
    };
    let next = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let workers: Vec<_> = (0..CONNECTIONS)
        .map(|_| {
            let (conn, next, stop) = (conn.clone(), next.clone(), stop.clone());
            tokio::spawn(async move {
                let mut done = Vec::new();
                while !stop.load(Ordering::Relaxed) {
                    let n = next.fetch_add(1, Ordering::Relaxed) as usize;
                    let token = seed_token(first + n % count);
                    let at = time::to_db(time::now());
                    conn.execute_raw(Statement::from_sql_and_values(
                        backend,
                        sql,
                        [at.into(), token.into()],
                    ))
                    .await
                    .expect("an update");
                    done.push(Instant::now());
                }
                done
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let started = Instant::now();
    tokio::time::sleep(Duration::from_secs_f64(seconds)).await;
    let ended = Instant::now();
    stop.store(true, Ordering::Relaxed);
    let mut counted = 0;
    for worker in workers {
        let done = worker.await.expect("a database client");
        counted += done
            .iter()
            .filter(|at| (started..ended).contains(*at))
            .count();
    }
    conn.close().await.expect("closed");
    counted as f64 / (ended - started).as_secs_f64()
}

async fn measure(backend: Backend, cores: Cores, sizes: Sizes, args: &BenchArgs) -> Option<Run> {
    let Some(db) = TestDb::create(backend).await.expect("a bench database") else {
        args.unreachable(backend);
        return None;
    };
    eprintln!("measuring {backend:?}…");
    let groups = Groups::new(sizes);
    let live = sizes.live;
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
        seed_links(&write, groups.beating, live, active, now).await;
        seed_links(&write, groups.fresh, live, None, now).await;
        seed_links(&write, groups.ending, live, active, now).await;
        settle_history(pools).await;
    }
    run.seeded_in = seeding.elapsed().as_secs_f64();
    run.database_floor = database_floor(&db, groups.beating, live, sizes.seconds).await;

    let port = free_port();
    let mut command = cores.command(SERVER);
    command.args(server_args(&db.url, port));
    let server = Process::start(command, port, Duration::from_secs(120)).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    run.idle_rss = server.rss();
    let (rss_stop, rss_peak) = server.watch_rss();
    let (addr, pid) = (server.addr, server.pid());

    // Heartbeats on the live sessions; one pass first, as each session has beaten before.
    let beating = groups.beating;
    let beat: Make = Arc::new(move |n| {
        let token = seed_token(beating + (n as usize % live));
        post_json("/api/zoom/heartbeat", token_body(&token))
    });
    let first_pass = Instant::now();
    each_once(addr, &beat, live as u64).await;
    run.first_beats = live as f64 / first_pass.elapsed().as_secs_f64();
    let next = Arc::new(AtomicU64::new(0));
    run.heartbeat.0 = saturate(addr, pid, &beat, &next, sizes.seconds).await;

    // Clicks on links never opened, then ends of live sessions: each request a new session.
    let fresh = groups.fresh;
    let click: Make = Arc::new(move |n| {
        get(format!(
            "/api/zoom/track?token={}",
            seed_token(fresh + (n as usize % live))
        ))
    });
    let clicks = Arc::new(AtomicU64::new(0));
    run.track.0 = saturate(addr, pid, &click, &clicks, sizes.seconds).await;
    let ending = groups.ending;
    let end: Make = Arc::new(move |n| {
        let token = seed_token(ending + (n as usize % live));
        post_json("/api/zoom/end-session", token_body(&token))
    });
    let ends = Arc::new(AtomicU64::new(0));
    run.end.0 = saturate(addr, pid, &end, &ends, sizes.seconds).await;

    // Latencies at the rates of a busy hour, the server on every core from here on.
    cores.release(pid);
    run.heartbeat.1 = open_loop(addr, &beat, &next, sizes.heartbeat_rate, sizes.seconds).await;
    run.track.1 = open_loop(addr, &click, &clicks, sizes.write_rate, sizes.seconds).await;
    run.end.1 = open_loop(addr, &end, &ends, sizes.write_rate, sizes.seconds).await;
    rss_stop.store(true, Ordering::Relaxed);
    run.load_rss = rss_peak.await.expect("the memory watch");

    // Statistics and a filtered page over the whole history.
    let api = Api {
        base: format!("http://{addr}"),
        client: reqwest::Client::new(),
        db: sea_orm::Database::connect(&db.url)
            .await
            .expect("the bench database"),
    };
    // The totals' changes of the runs above are folded by the server's next flush.
    tokio::time::sleep(Duration::from_secs(1)).await;
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
        let (p50, p95) = time_graphql(&api, query, &variables, sizes.runs).await;
        run.stats.push((name, p50, p95));
    }

    // Sessions gone quiet 3 h ago; the sweep runs while heartbeats keep arriving.
    seed_links(
        &api.db,
        groups.stale,
        live,
        Some(SessionStatus::Active),
        Utc::now() - Span::hours(3),
    )
    .await;
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
    let load = open_loop(addr, &beat, &next, sizes.heartbeat_rate, 8.0);
    let (latency, swept) = tokio::join!(load, sweep);
    let (started, took, ended) = swept.expect("the sweep task");
    run.sweep_seconds = took.as_secs_f64();
    run.swept = ended;
    // Beats due before the sweep (after the generator's first second) against those due
    // while it ran, in the same run.
    run.beat_p99_before = latency.p99_between(load_started + Duration::from_secs(1), started);
    run.beat_p99_sweeping = latency.p99_between(started, started + took);
    server.terminate();
    run.sweep_floor = sweep_floor(&api.db, groups.stale_floor, live).await;

    if backend == Backend::Sqlite && callgrind::available() {
        run.instructions = Some(count_instructions(&db, &groups, sizes).await);
    }
    Some(run)
}

/// The sweep's floor: `count` more sessions gone quiet 3 h ago (tokens from `first`), ended by
/// the database's own single `UPDATE` of the columns the sweep sets (autocommit, the server
/// stopped, no other load), in seconds.
async fn sweep_floor(db: &DatabaseConnection, first: usize, count: usize) -> f64 {
    seed_links(
        db,
        first,
        count,
        Some(SessionStatus::Active),
        Utc::now() - Span::hours(3),
    )
    .await;
    let backend = db.get_database_backend();
    let seconds = match backend {
        DbBackend::Postgres => {
            "GREATEST(CAST(EXTRACT(EPOCH FROM (last_activity_at - clicked_at)) AS BIGINT), 0)"
        }
        DbBackend::MySql => "GREATEST(TIMESTAMPDIFF(SECOND, clicked_at, last_activity_at), 0)",
        _ => "MAX(unixepoch(last_activity_at) - unixepoch(clicked_at), 0)",
    };
    let div = if backend == DbBackend::MySql {
        "DIV"
    } else {
        "/"
    };
    let cutoff = time::to_db(time::now() - Span::hours(2));
    let sql = format!(
        "UPDATE wpos_zoom_links SET session_status = 'timeout', \
         session_end_reason = 'timed_out', session_ended_at = last_activity_at, \
         session_duration_seconds = {seconds}, \
         session_duration_minutes = ({seconds} + 30) {div} 60 \
         WHERE session_status = 'active' AND last_activity_at < {placeholder}",
        placeholder = if backend == DbBackend::Postgres {
            "$1"
        } else {
            "?"
        },
    );
    let started = Instant::now();
    let ended = db
        .execute_raw(Statement::from_sql_and_values(
            backend,
            sql,
            [cutoff.into()],
        ))
        .await
        .expect("the database's own sweep")
        .rows_affected();
    let took = started.elapsed().as_secs_f64();
    assert_eq!(ended, count as u64, "the floor ends every quiet session");
    took
}

/// Instructions per heartbeat, first click and end, under callgrind, on sessions the runs
/// above did not use (the end of each group).
async fn count_instructions(db: &TestDb, groups: &Groups, sizes: Sizes) -> [f64; 3] {
    eprintln!("counting instructions under callgrind…");
    let port = free_port();
    let mut server = Counted::start(
        SERVER.as_ref(),
        &server_args(&db.url, port),
        &[],
        port,
        "server",
    )
    .await;
    let (live, n) = (sizes.live, sizes.counted);
    // A hundred live sessions, each read once before the count: the steady state.
    let beating: Vec<String> = (0..100.min(live))
        .map(|i| seed_token(groups.beating + i))
        .collect();
    let beats = |count: usize| -> Vec<_> {
        (0..count)
            .map(|i| {
                post_json(
                    "/api/zoom/heartbeat",
                    token_body(&beating[i % beating.len()]),
                )
            })
            .collect()
    };
    server.per_request(beats(beating.len())).await;
    let heartbeat = server.per_request(beats(n)).await;
    let last = |group: usize| (0..n).map(move |i| seed_token(group + live - 1 - i));
    let track = server
        .per_request(
            last(groups.fresh)
                .map(|token| get(format!("/api/zoom/track?token={token}")))
                .collect(),
        )
        .await;
    let end = server
        .per_request(
            last(groups.ending)
                .map(|token| post_json("/api/zoom/end-session", token_body(&token)))
                .collect(),
        )
        .await;
    server.stop();
    [heartbeat, track, end]
}

/// Instructions per request of the bare handler.
async fn floor_instructions(sizes: Sizes) -> f64 {
    let port = free_port();
    let this = std::env::current_exe().expect("this benchmark");
    let mut floor =
        Counted::start(&this, &[], &[(FLOOR_PORT, port.to_string())], port, "floor").await;
    let requests = |count: usize| -> Vec<_> {
        (0..count)
            .map(|_| post_json("/floor", token_body(&seed_token(0))))
            .collect()
    };
    floor.per_request(requests(100)).await;
    let per_request = floor.per_request(requests(sizes.counted)).await;
    floor.stop();
    per_request
}

fn main() {
    if let Ok(port) = std::env::var(FLOOR_PORT) {
        run_floor(port.parse().expect("a port"));
        return;
    }
    let args = BenchArgs::parse("hot_path");
    let sizes = Sizes::of(&args);
    // Before the runtime starts its threads: they inherit the core.
    let cores = Cores::pin_generator();
    let runtime = tokio::runtime::Runtime::new().expect("a runtime");
    if args.replicas {
        runtime.block_on(async {
            let (spreads, lags) = replicas::measure(&args, sizes).await;
            replicas::print(&spreads, &lags, sizes);
        });
        return;
    }
    runtime.block_on(async {
        let floor = measure_floor(cores, sizes).await;
        let floor_instructions = if callgrind::available() {
            Some(floor_instructions(sizes).await)
        } else {
            println!(
                "\ninstructions not counted: valgrind is not installed (apt-get install valgrind)"
            );
            None
        };
        let mut runs = Vec::new();
        for &backend in &args.databases {
            runs.push((backend, measure(backend, cores, sizes, &args).await));
        }
        table::print(&table::Report {
            floor: &floor,
            floor_instructions,
            runs: &runs,
            sizes,
            cores,
        });
        // A smoke run takes every step once, several servers' too.
        if args.smoke {
            let (spreads, lags) = replicas::measure(&args, sizes).await;
            replicas::print(&spreads, &lags, sizes);
        }
    });
}
