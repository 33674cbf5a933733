//! Every filter combination the dashboard uses is served by an index on SQLite.

use chrono::{NaiveDate, Utc};
use sea_orm::{ConnectionTrait, DbBackend, Statement};
use zoomtrack_server::{
    domain::Caller,
    services::reports::{self, FilterParts, Listing},
};
use zoomtrack_tests::{Backend, TestApp, TestDb, run_on};

/// The dashboard always reads a date range; these are the filters it adds to it.
pub fn dashboard_filters(
    teacher: &str,
    student: &str,
) -> Vec<(&'static str, reports::SessionFilter)> {
    let today = Utc::now().date_naive();
    let week_ago = today - chrono::Days::new(6);
    let parts =
        |teacher_id, student_id, statuses: Vec<_>, search, from: Option<NaiveDate>| FilterParts {
            listing: Listing::Sessions,
            attendance: Vec::new(),
            teacher_id,
            student_id,
            statuses,
            from,
            to: from.map(|_| today),
            time_zone: Some("Europe/Berlin"),
            search,
        };
    use entity::zoom_link::SessionStatus::*;
    [
        (
            "nothing (first page only)",
            parts(None, None, vec![], None, None),
        ),
        ("days", parts(None, None, vec![], None, Some(week_ago))),
        (
            "days + teacher",
            parts(Some(teacher), None, vec![], None, Some(week_ago)),
        ),
        (
            "days + student",
            parts(None, Some(student), vec![], None, Some(week_ago)),
        ),
        (
            "days + status",
            parts(None, None, vec![Some(Active)], None, Some(week_ago)),
        ),
        (
            "days + statuses",
            parts(
                None,
                None,
                vec![Some(Ended), Some(Timeout)],
                None,
                Some(week_ago),
            ),
        ),
        (
            "days + search",
            parts(None, None, vec![], Some("ann"), Some(week_ago)),
        ),
        (
            "days + teacher + status",
            parts(
                Some(teacher),
                None,
                vec![Some(Active)],
                None,
                Some(week_ago),
            ),
        ),
        (
            "days + student + status",
            parts(None, Some(student), vec![Some(Ended)], None, Some(week_ago)),
        ),
    ]
    .into_iter()
    .map(|(name, parts)| {
        (
            name,
            reports::parse_filter(parts, Caller::Admin, Utc::now()).expect("a valid filter"),
        )
    })
    .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dashboard_filters_use_indexes_on_sqlite() {
    run_on(Backend::Sqlite, check_plans).await
}

async fn check_plans(db: TestDb) {
    let app = TestApp::spawn(&db, &[]).await;
    let teacher = app.create_teacher("Anna").await;
    let student = app.create_student("Bob").await;
    for (name, filter) in dashboard_filters(&teacher, &student) {
        for (query, statement) in reports::statements(&filter, DbBackend::Sqlite) {
            if name.starts_with("nothing") && query != "sessions" {
                continue;
            }
            let explain = Statement {
                sql: format!("EXPLAIN QUERY PLAN {}", statement.sql),
                ..statement
            };
            let plan: Vec<String> = app
                .db
                .query_all_raw(explain)
                .await
                .unwrap()
                .iter()
                .map(|row| row.try_get::<String>("", "detail").unwrap())
                .collect();
            // A date range must be a SEARCH (an index range); the first page with no filter may
            // walk the start index from the newest end, as it stops after one page.
            let ok = |step: &String| {
                !step.contains("wpos_zoom_links")
                    || step.starts_with("SEARCH")
                    || (name.starts_with("nothing") && step.contains("USING INDEX"))
            };
            assert!(
                plan.iter().all(ok),
                "{query} with {name}:\n{}",
                plan.join("\n")
            );
        }
    }
    app.stop().await;
}
