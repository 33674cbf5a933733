//! Folding the totals' changes (PostgreSQL and MySQL).
//!
//! There the triggers append each change to `session_total_changes` (see the migration
//! `m20261203_000009_session_totals_everywhere`); readers add those rows to `session_totals`
//! and `session_month_totals`, so folding changes no answer, it only keeps the rows read few.
//! A fold moves each change into the day's and the month's totals in one transaction. The
//! flush job folds every round. SQLite's triggers update the totals themselves: nothing to
//! fold.

use std::collections::HashMap;

use chrono::{Datelike, NaiveDate};
use sea_orm::{
    ConnectionTrait, DbBackend, FromQueryResult, IsolationLevel, Statement, TransactionSession,
    TransactionTrait, Value,
};

use super::Result;

/// Changes one MySQL transaction moves at most (PostgreSQL moves all in one statement).
const FOLD_CHUNK: u64 = 10_000;

/// Moves the changes into the totals; returns how many changes it moved.
pub async fn fold<C: ConnectionTrait + TransactionTrait>(db: &C) -> Result<u64> {
    match db.get_database_backend() {
        DbBackend::Postgres => fold_postgres(db).await,
        DbBackend::MySql => {
            let mut moved = 0;
            loop {
                let chunk = fold_mysql(db).await?;
                moved += chunk;
                if chunk < FOLD_CHUNK {
                    return Ok(moved);
                }
            }
        }
        _ => Ok(0),
    }
}

/// One statement: what it deletes is what it adds, and a change not committed yet is not seen
/// by either.
async fn fold_postgres(db: &impl ConnectionTrait) -> Result<u64> {
    let moved = db
        .query_one_raw(Statement::from_string(
            DbBackend::Postgres,
            "WITH moved AS (
                DELETE FROM session_total_changes
                RETURNING day, teacher_id, session_status, sessions, duration_seconds
            ), summed AS (
                SELECT day, teacher_id, session_status, SUM(sessions) AS sessions,
                       SUM(duration_seconds) AS duration_seconds, COUNT(*) AS changes
                FROM moved GROUP BY 1, 2, 3
            ), added AS (
                INSERT INTO session_totals
                    (day, teacher_id, session_status, sessions, duration_seconds)
                SELECT day, teacher_id, session_status, sessions, duration_seconds
                FROM summed ORDER BY 1, 2, 3
                ON CONFLICT (day, teacher_id, session_status) DO UPDATE SET
                    sessions = session_totals.sessions + EXCLUDED.sessions,
                    duration_seconds = session_totals.duration_seconds + EXCLUDED.duration_seconds
            ), added_to_months AS (
                INSERT INTO session_month_totals
                    (month, teacher_id, session_status, sessions, duration_seconds)
                SELECT CAST(date_trunc('month', CAST(day AS TIMESTAMP)) AS DATE), teacher_id,
                       session_status,
                       SUM(sessions), SUM(duration_seconds)
                FROM summed GROUP BY 1, 2, 3 ORDER BY 1, 2, 3
                ON CONFLICT (month, teacher_id, session_status) DO UPDATE SET
                    sessions = session_month_totals.sessions + EXCLUDED.sessions,
                    duration_seconds =
                        session_month_totals.duration_seconds + EXCLUDED.duration_seconds
            )
            SELECT CAST(COALESCE(SUM(changes), 0) AS BIGINT) FROM summed",
        ))
        .await?;
    let moved = match moved {
        Some(row) => row.try_get_by_index::<i64>(0)?,
        None => 0,
    };
    Ok(moved.max(0) as u64)
}

#[derive(FromQueryResult)]
struct ChangeRow {
    id: i64,
    day: NaiveDate,
    teacher_id: i64,
    session_status: String,
    sessions: i64,
    duration_seconds: i64,
}

/// MySQL has no `DELETE … RETURNING`: the changes are read with a locking read, summed, and
/// deleted by id, in one transaction, so the rows added are exactly the rows deleted. A change
/// still being committed is skipped (`SKIP LOCKED`, MySQL 8 and MariaDB 10.6): the next fold
/// takes it, and the flush job never waits for another transaction. Read committed: no gap
/// lock holds up the next changes.
async fn fold_mysql<C: ConnectionTrait + TransactionTrait>(db: &C) -> Result<u64> {
    let txn = db
        .begin_with_config(Some(IsolationLevel::ReadCommitted), None)
        .await?;
    let backend = DbBackend::MySql;
    let rows = ChangeRow::find_by_statement(Statement::from_string(
        backend,
        format!(
            "SELECT id, day, teacher_id, session_status, sessions, duration_seconds \
             FROM session_total_changes ORDER BY id LIMIT {FOLD_CHUNK} FOR UPDATE SKIP LOCKED"
        ),
    ))
    .all(&txn)
    .await?;
    if rows.is_empty() {
        return Ok(0);
    }
    let mut days: Sums = HashMap::new();
    let mut months: Sums = HashMap::new();
    for row in &rows {
        let month = row.day.with_day(1).unwrap_or(row.day);
        for (sums, at) in [(&mut days, row.day), (&mut months, month)] {
            let sum = sums
                .entry((at, row.teacher_id, row.session_status.clone()))
                .or_default();
            sum.0 += row.sessions;
            sum.1 += row.duration_seconds;
        }
    }
    add_mysql(&txn, "session_totals", "day", days).await?;
    add_mysql(&txn, "session_month_totals", "month", months).await?;
    let ids: Vec<Value> = rows.iter().map(|row| Value::from(row.id)).collect();
    for chunk in ids.chunks(1000) {
        let marks = vec!["?"; chunk.len()].join(", ");
        txn.execute_raw(Statement::from_sql_and_values(
            backend,
            format!("DELETE FROM session_total_changes WHERE id IN ({marks})"),
            chunk.to_vec(),
        ))
        .await?;
    }
    txn.commit().await?;
    Ok(rows.len() as u64)
}

/// Sessions and seconds per (day or month, teacher, status).
type Sums = HashMap<(NaiveDate, i64, String), (i64, i64)>;

/// Adds `sums` to the totals in `table`, keyed by its date column `at`, in key order (so two
/// folds lock rows in the same order).
async fn add_mysql(txn: &impl ConnectionTrait, table: &str, at: &str, sums: Sums) -> Result<()> {
    let mut keys: Vec<_> = sums.into_iter().collect();
    keys.sort_by(|a, b| a.0.cmp(&b.0));
    for chunk in keys.chunks(1000) {
        let mut values = Vec::with_capacity(chunk.len() * 5);
        for ((day, teacher, status), (sessions, seconds)) in chunk {
            values.extend([
                Value::from(*day),
                Value::from(*teacher),
                Value::from(status.clone()),
                Value::from(*sessions),
                Value::from(*seconds),
            ]);
        }
        let rows = vec!["(?, ?, ?, ?, ?)"; chunk.len()].join(", ");
        txn.execute_raw(Statement::from_sql_and_values(
            DbBackend::MySql,
            format!(
                "INSERT INTO {table} \
                 ({at}, teacher_id, session_status, sessions, duration_seconds) VALUES {rows} \
                 ON DUPLICATE KEY UPDATE sessions = sessions + VALUES(sessions), \
                 duration_seconds = duration_seconds + VALUES(duration_seconds)"
            ),
            values,
        ))
        .await?;
    }
    Ok(())
}
