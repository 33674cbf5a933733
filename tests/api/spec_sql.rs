//! The spec's three SQL queries ("Database Queries") run verbatim on MySQL/MariaDB after our
//! migrations.

use sea_orm::{ConnectionTrait, Statement};
use zoomtrack_tests::{Backend, TestApp, TestDb, run_on};

const FIND_ACTIVE: &str = "SELECT * FROM wpos_zoom_links
WHERE session_status = 'active'
AND clicked_at IS NOT NULL";

const FIND_INACTIVE: &str = "SELECT * FROM wpos_zoom_links
WHERE session_status = 'active'
AND clicked_at IS NOT NULL
AND last_activity_at < DATE_SUB(NOW(), INTERVAL 2 HOUR)";

const STATISTICS: &str = "SELECT
  COUNT(*) as total_sessions,
  SUM(CASE WHEN session_status = 'active' THEN 1 ELSE 0 END) as active_sessions,
  SUM(CASE WHEN session_status = 'ended' THEN 1 ELSE 0 END) as ended_sessions,
  SUM(CASE WHEN session_status = 'timeout' THEN 1 ELSE 0 END) as timeout_sessions,
  AVG(session_duration_minutes) as avg_duration
FROM wpos_zoom_links";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_spec_queries_run_verbatim_on_mysql() {
    run_on(Backend::MySql, spec_queries).await
}

async fn spec_queries(db: TestDb) {
    let app = TestApp::spawn(&db, &[]).await;
    // Our connections run in UTC (sqlx sets `time_zone = '+00:00'`), like the stored times.
    let active = app.issue_link().await;
    let idle = app.issue_link().await;
    let ended = app.issue_link().await;
    let _pending = app.issue_link().await;
    for link in [&active, &idle, &ended] {
        app.track(&link.token).await;
    }
    app.backdate(&idle.id, 3 * 3600 + 24 * 3600).await;
    app.backdate(&ended.id, 40 * 60).await;
    app.end_session(&ended.token).await;

    let rows = |sql: &'static str| {
        let db = app.db.clone();
        async move {
            db.query_all_raw(Statement::from_string(db.get_database_backend(), sql))
                .await
                .expect(sql)
        }
    };
    assert_eq!(
        rows(FIND_ACTIVE).await.len(),
        2,
        "active and idle, not the pending link"
    );
    let inactive = rows(FIND_INACTIVE).await;
    assert_eq!(inactive.len(), 1);
    assert_eq!(
        inactive[0].try_get::<i64>("", "id").unwrap().to_string(),
        idle.id
    );
    let stats = rows(STATISTICS).await;
    assert_eq!(stats[0].try_get::<i64>("", "total_sessions").unwrap(), 4);
    // The same verbatim query as a subquery, to read its DECIMAL sums as integers.
    let wrapped: &'static str = Box::leak(
        format!(
            "SELECT CAST(active_sessions AS SIGNED) AS a, CAST(ended_sessions AS SIGNED) AS e, \
             CAST(timeout_sessions AS SIGNED) AS t, CAST(ROUND(avg_duration) AS SIGNED) AS avg \
             FROM ({STATISTICS}) AS spec"
        )
        .into_boxed_str(),
    );
    let counts = &rows(wrapped).await[0];
    let get = |col: &str| counts.try_get::<Option<i64>>("", col).unwrap();
    assert_eq!(
        (get("a"), get("e"), get("t"), get("avg")),
        (Some(2), Some(1), Some(0), Some(40))
    );
    app.stop().await;
}
