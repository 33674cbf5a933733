//! Read-path benchmark: statistics and session pages over many sessions, through the real
//! HTTP + GraphQL stack. Prints one Markdown table per database and the query plans.
//!
//! `cargo bench -p zoomtrack-tests --bench read_path` (SQLite; also PostgreSQL when
//! `TEST_POSTGRES_URL` is set). `BENCH_SESSIONS` sets the number of sessions (default 1,000,000).

use std::time::Instant;

use chrono::Utc;
use entity::zoom_link::SessionStatus;
use sea_orm::{ConnectionTrait, DbBackend, Statement};
use serde_json::{Value, json};
use zoomtrack_server::{
    domain::Caller,
    services::reports::{self, FilterParts},
};
use zoomtrack_tests::{
    ADMIN_TOKEN, Backend, TestApp, TestDb,
    bench::{rss_mib, seed_school, time_graphql},
};

const RUNS: usize = 30;

async fn bench(backend: Backend, sessions: usize) {
    let Some(db) = TestDb::create(backend).await.expect("a bench database") else {
        println!("\n{backend:?}: skipped (TEST_POSTGRES_URL not set)");
        return;
    };
    let app = TestApp::spawn(&db, &["--rate-limits", "off"]).await;
    let seeding = Instant::now();
    seed_school(&app.db, sessions).await;
    let seeded = seeding.elapsed();

    let today = Utc::now().date_naive();
    let week = (today - chrono::Days::new(6)).to_string();
    let month = (today - chrono::Days::new(29)).to_string();
    let today = today.to_string();
    let stats = "query($f: SessionFilter) { sessionStats(filter: $f) { totalSessions activeSessions totalDurationMinutes avgDurationMinutes neverClickedLinks } }";
    let teachers = "query($f: SessionFilter) { teacherStats(filter: $f) { teacher { name } sessions timeoutRate } }";
    let daily =
        "query($f: SessionFilter) { dailyStats(filter: $f) { day sessions durationMinutes } }";
    let page = "query($f: SessionFilter) { sessions(filter: $f, first: 50) { edges { node { id teacher { name } student { name } durationMinutes } } } }";
    let cases: Vec<(&str, &str, Value)> = vec![
        (
            "floor: `me` (GraphQL round trip, no table)",
            "{ me { role } }",
            json!({}),
        ),
        ("sessionStats, all time", stats, json!({})),
        (
            "sessionStats, last 7 days",
            stats,
            json!({ "f": { "from": week, "to": today } }),
        ),
        (
            "sessionStats, last 30 days, one teacher",
            stats,
            json!({ "f": { "from": month, "to": today, "teacherId": "7" } }),
        ),
        (
            "teacherStats, last 30 days",
            teachers,
            json!({ "f": { "from": month, "to": today } }),
        ),
        ("teacherStats, all time", teachers, json!({})),
        (
            "dailyStats, last 30 days",
            daily,
            json!({ "f": { "from": month, "to": today } }),
        ),
        (
            "sessions page (50), last 7 days",
            page,
            json!({ "f": { "from": week, "to": today } }),
        ),
        (
            "sessions page (50), 30 days, ended, search",
            page,
            json!({ "f": { "from": month, "to": today, "status": ["ENDED"], "search": "teacher 01" } }),
        ),
    ];
    println!(
        "\n### {backend:?}: {sessions} sessions (seeded in {:.0} s)\n",
        seeded.as_secs_f64()
    );
    println!("| query | p50 ms | p95 ms | p50 / floor |");
    println!("|---|---:|---:|---:|");
    let mut floor = None;
    for (name, query, variables) in cases {
        let (p50, p95) = time_graphql(&app, query, &variables, RUNS).await;
        let base = *floor.get_or_insert(p50);
        println!("| {name} | {p50:.1} | {p95:.1} | {:.1}× |", p50 / base);
    }

    csv_export(&app).await;

    let today = Utc::now().date_naive();
    let plans = [
        ("the last 7 days of one teacher", Some("7"), vec![], None, 6),
        (
            "30 days, ended, search",
            None,
            vec![Some(SessionStatus::Ended)],
            Some("teacher 01"),
            29,
        ),
    ];
    for (title, teacher_id, statuses, search, days) in plans {
        println!("\nQuery plans ({backend:?}), {title}:\n");
        let filter = reports::parse_filter(
            FilterParts {
                teacher_id,
                student_id: None,
                statuses,
                from: Some(today - chrono::Days::new(days)),
                to: Some(today),
                time_zone: None,
                search,
            },
            Caller::Admin,
            Utc::now(),
        )
        .expect("filter");
        print_plans(&app, &filter).await;
    }
    app.stop().await;
}

/// Streams the whole export and watches memory while it runs.
async fn csv_export(app: &TestApp) {
    let before = rss_mib(std::process::id());
    let started = Instant::now();
    let mut response = app
        .client
        .get(app.url("/api/admin/sessions.csv"))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .expect("export");
    let (mut bytes, mut rows, mut peak) = (0usize, 0usize, before);
    let mut chunks = 0usize;
    while let Some(chunk) = response.chunk().await.expect("a chunk") {
        bytes += chunk.len();
        rows += chunk.iter().filter(|b| **b == b'\n').count();
        chunks += 1;
        if chunks.is_multiple_of(64) {
            peak = peak.max(rss_mib(std::process::id()));
        }
    }
    let took = started.elapsed().as_secs_f64();
    println!(
        "\nCSV export of every session: {} rows, {:.0} MiB in {took:.1} s ({:.0} rows/s); \
         resident memory {before:.0} MiB before, at most {:.0} MiB more while streaming.",
        rows - 1,
        bytes as f64 / 1_048_576.0,
        (rows - 1) as f64 / took,
        peak - before,
    );
}

async fn print_plans(app: &TestApp, filter: &reports::SessionFilter) {
    let db_backend = app.db.get_database_backend();
    for (query, statement) in reports::statements(filter, db_backend) {
        let explain = Statement {
            sql: format!(
                "EXPLAIN {}{}",
                if db_backend == DbBackend::Sqlite {
                    "QUERY PLAN "
                } else {
                    ""
                },
                statement.sql
            ),
            ..statement
        };
        println!("`{query}`:\n```");
        for row in app.db.query_all_raw(explain).await.expect("explain") {
            let line = row
                .try_get::<String>("", "detail")
                .or_else(|_| row.try_get::<String>("", "QUERY PLAN"))
                .unwrap_or_default();
            println!("{line}");
        }
        println!("```");
    }
}

#[tokio::main]
async fn main() {
    // `cargo bench` passes `--bench`; any other argument is a filter this harness ignores.
    let sessions = std::env::var("BENCH_SESSIONS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    println!("## Read path: GraphQL over HTTP, {RUNS} runs each after 3 warm-ups");
    bench(Backend::Sqlite, sessions).await;
    bench(Backend::Postgres, sessions).await;
}
