//! What the benchmarks share: the seeded school, percentiles and resident memory.

use std::time::{Duration, Instant};

use chrono::{Duration as Span, Utc};
use entity::{student, teacher, zoom_link::SessionStatus};
use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, EntityTrait, Set};
use serde_json::Value;

use zoomtrack_server::{
    db::Pools,
    domain::{SessionRules, time},
    services::Tracker,
};

use crate::{ADMIN_TOKEN, Api, Backend, Seed, insert_seeds};

pub const TEACHERS: i64 = 200;
pub const STUDENTS: i64 = 5000;

/// 200 teachers and 5,000 students, then `sessions` lessons over the past year: a
/// deterministic mix of states (2 % active, 10 % timed out, the rest ended) and lengths.
/// Their tokens are numbered from 0. Ends [`settle`]d.
pub async fn seed_school(db: &DatabaseConnection, sessions: usize) {
    let now = Utc::now().naive_utc();
    for chunk in (1..=TEACHERS).collect::<Vec<_>>().chunks(500) {
        teacher::Entity::insert_many(chunk.iter().map(|i| teacher::ActiveModel {
            name: Set(format!("Teacher {i:03}")),
            telegram_chat_id: Set(i.to_string()),
            created_at: Set(now),
            ..Default::default()
        }))
        .exec_without_returning(db)
        .await
        .expect("teachers");
    }
    for chunk in (1..=STUDENTS).collect::<Vec<_>>().chunks(500) {
        student::Entity::insert_many(chunk.iter().map(|i| student::ActiveModel {
            name: Set(format!("Student {i:05}")),
            telegram_chat_id: Set(i.to_string()),
            created_at: Set(now),
            ..Default::default()
        }))
        .exec_without_returning(db)
        .await
        .expect("students");
    }
    let start = Utc::now() - Span::days(365);
    let step = Span::days(365).num_seconds() / sessions.max(1) as i64;
    let mut batch = Vec::with_capacity(10_000);
    let mut first = 0;
    for i in 0..sessions {
        let n = i as i64;
        batch.push(Seed {
            teacher_id: 1 + (n * 7919) % TEACHERS,
            student_id: 1 + (n * 104_729) % STUDENTS,
            at: start + Span::seconds(n * step),
            status: Some(match n % 50 {
                0 => SessionStatus::Active,
                1..=5 => SessionStatus::Timeout,
                _ => SessionStatus::Ended,
            }),
            duration_seconds: Some((n * 37) % 7200),
        });
        if batch.len() == batch.capacity() {
            insert_seeds(db, &batch, first).await;
            first = i + 1;
            batch.clear();
        }
    }
    insert_seeds(db, &batch, first).await;
    settle(db).await;
}

/// As a running server leaves the database: the totals' changes folded, and the planner's
/// statistics as the database keeps them by itself (PostgreSQL's autovacuum and MySQL's
/// persistent statistics analyse a changed table; SQLite has statistics only when someone
/// runs `ANALYZE`, which the server never does). PostgreSQL then writes the seeding's log
/// out in a checkpoint: otherwise the checkpoints that gigabytes of inserts call for run
/// through the measurements and hold commits up by tens of milliseconds.
pub async fn settle(db: &DatabaseConnection) {
    zoomtrack_server::services::totals::fold(db)
        .await
        .expect("the totals folded");
    let analyze = match db.get_database_backend() {
        DbBackend::MySql => "ANALYZE TABLE wpos_zoom_links, teachers, students, session_totals",
        DbBackend::Postgres => "ANALYZE",
        _ => return,
    };
    db.execute_unprepared(analyze).await.expect("analyze");
    if db.get_database_backend() == DbBackend::Postgres
        && let Err(err) = db.execute_unprepared("CHECKPOINT").await
    {
        eprintln!(
            "no checkpoint after seeding ({err}): the role needs pg_checkpoint \
             (scripts/services.sh grants it); the seeding's checkpoints may run during the \
             measurements"
        );
    }
}

/// The seeded history as a running server leaves it: its old active sessions timed out, so a
/// server starts with nothing to sweep, and [`settle`]d; the connections closed.
pub async fn settle_history(pools: Pools) {
    let write = pools.write.clone();
    let rules = SessionRules::new(Span::hours(2), Span::seconds(30));
    Tracker::new(pools, rules)
        .sweep(time::now())
        .await
        .expect("the history settles");
    settle(&write).await;
    write.close().await.expect("closed");
}

/// `count` links of the seeded school, all in one state at `at`, tokens numbered from `first`.
pub async fn seed_links(
    db: &DatabaseConnection,
    first: usize,
    count: usize,
    status: Option<SessionStatus>,
    at: chrono::DateTime<Utc>,
) {
    let seeds: Vec<Seed> = (0..count as i64)
        .map(|n| Seed {
            teacher_id: 1 + (n * 7919) % TEACHERS,
            student_id: 1 + (n * 104_729) % STUDENTS,
            at,
            status,
            duration_seconds: None,
        })
        .collect();
    insert_seeds(db, &seeds, first).await;
}

/// The tracking token `insert_seeds` gave seed number `n`.
pub fn seed_token(n: usize) -> String {
    format!("seed{n:0>28}")
}

/// The `p` quantile (0 to 1) of sorted samples, in milliseconds.
pub fn percentile(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i].as_secs_f64() * 1000.0
}

/// Resident memory of a process, in MiB.
pub fn rss_mib(pid: u32) -> f64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|status| {
            let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
            line.split_whitespace().nth(1)?.parse::<f64>().ok()
        })
        .map_or(0.0, |kib| kib / 1024.0)
}

/// p50 and p95 in milliseconds of `runs` admin GraphQL requests, after 3 warm-ups.
pub async fn time_graphql(api: &Api, query: &str, variables: &Value, runs: usize) -> (f64, f64) {
    let mut samples = Vec::with_capacity(runs);
    for run in 0..runs + 3 {
        let started = Instant::now();
        let response = api
            .graphql_as(Some(ADMIN_TOKEN), query, variables.clone())
            .await;
        let took = started.elapsed();
        assert!(response.get("errors").is_none(), "{response}");
        if run >= 3 {
            samples.push(took);
        }
    }
    samples.sort();
    (percentile(&samples, 0.5), percentile(&samples, 0.95))
}

/// What a benchmark run measures, from its command line (`cargo bench … -- <flags>`):
/// `--sessions N` (the history's size), `--seconds S` (each measurement's length),
/// `--databases sqlite,postgres,mysql`, `--replicas` (the hot-path benchmark measures several
/// servers on one database instead), and `--smoke`: tiny sizes, every step run once so the
/// benchmark cannot rot, no figure to read (what `scripts/test.sh` runs).
#[derive(Clone, Debug)]
pub struct BenchArgs {
    pub sessions: usize,
    pub seconds: f64,
    pub databases: Vec<Backend>,
    pub replicas: bool,
    pub smoke: bool,
}

impl BenchArgs {
    /// Parses the process's arguments; `cargo bench`'s own `--bench` is skipped. Exits with a
    /// usage message on anything else.
    pub fn parse(name: &str) -> Self {
        let mut args = Self {
            sessions: 1_000_000,
            seconds: 5.0,
            databases: vec![Backend::Sqlite, Backend::Postgres, Backend::MySql],
            replicas: false,
            smoke: false,
        };
        let usage = || -> ! {
            eprintln!(
                "usage: cargo bench -p zoomtrack-tests --bench {name} -- [--sessions N] \
                 [--seconds S] [--databases sqlite,postgres,mysql] [--replicas] [--smoke]"
            );
            std::process::exit(2)
        };
        let mut sessions = None;
        let mut seconds = None;
        let mut given = std::env::args().skip(1);
        while let Some(arg) = given.next() {
            match arg.as_str() {
                "--bench" => {}
                "--smoke" => args.smoke = true,
                "--replicas" => args.replicas = true,
                "--sessions" => {
                    sessions = given
                        .next()
                        .and_then(|v| v.parse().ok())
                        .or_else(|| usage())
                }
                "--seconds" => {
                    seconds = given
                        .next()
                        .and_then(|v| v.parse().ok())
                        .or_else(|| usage())
                }
                "--databases" => {
                    let list = given.next().unwrap_or_else(|| usage());
                    args.databases = list
                        .split(',')
                        .map(|name| match name.trim() {
                            "sqlite" => Backend::Sqlite,
                            "postgres" | "postgresql" => Backend::Postgres,
                            "mysql" | "mariadb" => Backend::MySql,
                            _ => usage(),
                        })
                        .collect();
                }
                _ => usage(),
            }
        }
        if args.smoke {
            args.sessions = 2_000;
            args.seconds = 0.3;
        }
        args.sessions = sessions.unwrap_or(args.sessions);
        args.seconds = seconds.unwrap_or(args.seconds);
        args
    }

    /// A database this run cannot reach: skipped with a message, except in a smoke run under
    /// `TEST_REQUIRE_ALL_DATABASES`, which fails instead.
    pub fn unreachable(&self, backend: Backend) {
        let why = format!(
            "{backend:?}: skipped (its TEST_*_URL is not set; scripts/services.sh sets them)"
        );
        assert!(
            std::env::var_os("TEST_REQUIRE_ALL_DATABASES").is_none(),
            "{why}, and TEST_REQUIRE_ALL_DATABASES is set"
        );
        println!("\n{why}");
    }
}
