//! Read-path benchmark: statistics and session pages over many sessions, through the real
//! HTTP + GraphQL stack. Prints one Markdown table per database and the query plans.
//!
//! `scripts/bench.sh` runs it after the hot paths, or `cargo bench -p zoomtrack-tests --bench
//! read_path -- [--sessions N] [--databases sqlite,postgres,mysql] [--smoke]` (PostgreSQL and
//! MySQL when `TEST_POSTGRES_URL` and `TEST_MYSQL_URL` are set).

use std::time::Instant;

use chrono::Utc;
use entity::zoom_link::SessionStatus;
use sea_orm::{ConnectionTrait, DbBackend, Statement};
use serde_json::{Value, json};
use zoomtrack_server::{
    domain::Caller,
    services::reports::{self, FilterParts, Listing},
};
use zoomtrack_tests::{
    ADMIN_TOKEN, Backend, TestApp, TestDb,
    bench::{BenchArgs, rss_mib, seed_school, time_graphql},
};

async fn bench(backend: Backend, args: &BenchArgs) {
    let Some(db) = TestDb::create(backend).await.expect("a bench database") else {
        args.unreachable(backend);
        return;
    };
    let (sessions, runs) = (args.sessions, if args.smoke { 2 } else { 30 });
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
        let (p50, p95) = time_graphql(&app, query, &variables, runs).await;
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
                listing: Listing::Sessions,
                attendance: Vec::new(),
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
            let text = |column: &str| {
                row.try_get::<Option<String>>("", column)
                    .ok()
                    .flatten()
                    .unwrap_or_default()
            };
            let line = match db_backend {
                DbBackend::Sqlite => text("detail"),
                DbBackend::Postgres => text("QUERY PLAN"),
                _ => format!(
                    "{} {}: key {}, {}",
                    text("table"),
                    text("type"),
                    text("key"),
                    text("Extra")
                ),
            };
            println!("{line}");
        }
        println!("```");
    }
}

#[tokio::main]
async fn main() {
    let args = BenchArgs::parse("read_path");
    println!("## Read path: GraphQL over HTTP, each query timed after 3 warm-ups");
    for &backend in &args.databases {
        bench(backend, &args).await;
    }
}
