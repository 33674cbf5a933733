//! The auto-timeout sweep.

use chrono::{DateTime, Utc};
use entity::zoom_link::{self, EndReason, SessionStatus};
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, DbBackend, EntityTrait, IsolationLevel, Iterable,
    QueryFilter, QueryOrder, QuerySelect, QueryTrait, Statement, TransactionTrait,
    sea_query::{Expr, Query, UpdateStatement},
};

use super::{Tracker, beats};
use crate::{
    domain::{LinkId, time},
    services::{
        Result,
        events::{EventKind, table},
        retried,
    },
};

/// Sessions one sweep statement ends at most: a long sweep leaves the writer to others between
/// its statements.
const SWEEP_CHUNK: u64 = 5000;

/// The sessions one sweep statement ended: read back for subscribers, or only counted.
enum Ended {
    Read(Vec<zoom_link::Model>),
    Counted(u64),
}

/// The PostgreSQL statement that ends the sessions `update` ends, appends their events'
/// rows, and returns them (the session's columns in the entity's order).
fn postgres_timeouts(mut update: UpdateStatement, origin: i64, now: DateTime<Utc>) -> Statement {
    update.returning(Query::returning().columns(zoom_link::Column::iter()));
    let built = DbBackend::Postgres.build(&update);
    let mut values = built.values.map(|values| values.0).unwrap_or_default();
    let append =
        table::postgres_append_from("ended", EventKind::TimedOut, origin, now, &mut values);
    Statement::from_sql_and_values(
        DbBackend::Postgres,
        format!(
            "WITH ended AS ({}), recorded AS ({append}) SELECT * FROM ended",
            built.sql
        ),
        values,
    )
}

impl Tracker {
    /// One auto-timeout sweep at `now`: every active session idle for longer than the session
    /// timeout ends at its last activity. Pending heartbeats are written first, so a session
    /// that beat is never ended. Set-based statements of [`SWEEP_CHUNK`] sessions; returns how
    /// many sessions it ended.
    pub async fn sweep(&self, now: DateTime<Utc>) -> Result<u64> {
        let (db, events, beats) = (&self.db, &self.events, &self.beats);
        beats.flush(db).await?;
        let backend = db.get_database_backend();
        let seconds = match backend {
            DbBackend::Postgres => {
                "CAST(EXTRACT(EPOCH FROM (last_activity_at - clicked_at)) AS BIGINT)"
            }
            DbBackend::MySql => "TIMESTAMPDIFF(SECOND, clicked_at, last_activity_at)",
            _ => "(unixepoch(last_activity_at) - unixepoch(clicked_at))",
        };
        // Never negative, even if replicas' clocks disagree.
        let seconds = match backend {
            DbBackend::Sqlite => format!("MAX({seconds}, 0)"),
            _ => format!("GREATEST({seconds}, 0)"),
        };
        let minutes = match backend {
            DbBackend::MySql => format!("({seconds} + 30) DIV 60"),
            _ => format!("({seconds} + 30) / 60"),
        };
        let cutoff = time::to_db(self.rules.stale_before(now, false));
        // Zoom reports the student in the meeting: only a day more of silence ends it.
        let not_in_meeting = || {
            Condition::any()
                .add(zoom_link::Column::ZoomInMeeting.eq(false))
                .add(
                    zoom_link::Column::LastActivityAt
                        .lt(time::to_db(self.rules.stale_before(now, true))),
                )
        };
        let stale = |lock: bool| {
            let mut select = zoom_link::Entity::find()
                .select_only()
                .columns([zoom_link::Column::Id, zoom_link::Column::TrackingToken])
                .filter(zoom_link::Column::SessionStatus.eq(SessionStatus::Active))
                .filter(zoom_link::Column::LastActivityAt.lt(cutoff))
                .filter(not_in_meeting())
                // In the order of the index on (status, last activity): the scan stops at the
                // chunk's last session. Unordered, PostgreSQL's planner, which takes most
                // active sessions for stale, reads the whole table instead.
                .order_by_asc(zoom_link::Column::LastActivityAt)
                .limit(SWEEP_CHUNK);
            if lock {
                select = select.lock_exclusive();
            }
            select.into_tuple::<(LinkId, String)>()
        };
        let split = |found: Vec<(LinkId, String)>| -> (Vec<LinkId>, Vec<String>) {
            found.into_iter().unzip()
        };
        let update = |ids: Vec<LinkId>| {
            zoom_link::Entity::update_many()
                .col_expr(
                    zoom_link::Column::SessionStatus,
                    Expr::value(SessionStatus::Timeout),
                )
                .col_expr(
                    zoom_link::Column::SessionEndReason,
                    Expr::value(EndReason::TimedOut),
                )
                .col_expr(
                    zoom_link::Column::SessionEndedAt,
                    Expr::col(zoom_link::Column::LastActivityAt),
                )
                .col_expr(
                    zoom_link::Column::SessionDurationSeconds,
                    Expr::cust(seconds.clone()),
                )
                .col_expr(
                    zoom_link::Column::SessionDurationMinutes,
                    Expr::cust(minutes.clone()),
                )
                .filter(zoom_link::Column::Id.is_in(ids))
                .filter(zoom_link::Column::SessionStatus.eq(SessionStatus::Active))
                .filter(zoom_link::Column::LastActivityAt.lt(cutoff))
                .filter(not_in_meeting())
        };
        let mut total = 0;
        loop {
            // Subscribers want to know which sessions ended: read them back in the same statement,
            // or on MySQL (no UPDATE … RETURNING) re-read them in the transaction. Servers
            // sharing the database learn of them from the events table: its rows are written
            // in the same statement (PostgreSQL) or transaction (MySQL).
            let listened = events.listened();
            // A chunk is one statement, or one transaction on MySQL: when a deadlock with a
            // click's or an end's transaction ends it, nothing of it stays and it runs again.
            let (stale, update, split) = (&stale, &update, &split);
            let (tokens, ended) = retried(|| async move {
                Ok(match backend {
                    DbBackend::MySql => {
                        // Locked as read: the transaction ends exactly the sessions it read.
                        // Read committed, as the group commit: repeatable read would also lock
                        // the gaps of the index around them, which clicks and beats write into.
                        let txn = db
                            .begin_with_config(Some(IsolationLevel::ReadCommitted), None)
                            .await?;
                        let (ids, tokens) = split(stale(true).all(&txn).await?);
                        let count = update(ids.clone()).exec(&txn).await?.rows_affected;
                        let timed_out: Vec<_> = ids
                            .iter()
                            .map(|id| (EventKind::TimedOut, *id, now))
                            .collect();
                        table::append(&txn, events.origin, &timed_out).await?;
                        let ended = if listened {
                            Ended::Read(
                                zoom_link::Entity::find()
                                    .filter(zoom_link::Column::Id.is_in(ids))
                                    .filter(
                                        zoom_link::Column::SessionStatus.eq(SessionStatus::Timeout),
                                    )
                                    .all(&txn)
                                    .await?,
                            )
                        } else {
                            Ended::Counted(count)
                        };
                        txn.commit().await?;
                        (tokens, ended)
                    }
                    DbBackend::Postgres => {
                        let (ids, tokens) = split(stale(false).all(db).await?);
                        let ended = postgres_timeouts(update(ids).into_query(), events.origin, now);
                        let rows = db.query_all_raw(ended).await?;
                        let ended = rows
                            .iter()
                            .map(zoom_link::Model::from_row)
                            .collect::<std::result::Result<Vec<_>, _>>()?;
                        (tokens, Ended::Read(ended))
                    }
                    _ => {
                        let (ids, tokens) = split(stale(false).all(db).await?);
                        let ended = if listened {
                            Ended::Read(update(ids).exec_with_returning(db).await?)
                        } else {
                            let update = beats::by_rowid(db, &update(ids).into_query());
                            Ended::Counted(db.execute_raw(update).await?.rows_affected())
                        };
                        (tokens, ended)
                    }
                })
            })
            .await?;
            beats.forget_tokens(&tokens);
            let ended = match ended {
                Ended::Read(rows) => {
                    let count = rows.len() as u64;
                    self.announce(EventKind::TimedOut, rows, now).await;
                    count
                }
                Ended::Counted(count) => count,
            };
            let found = tokens.len() as u64;
            total += ended;
            if found < SWEEP_CHUNK {
                return Ok(total);
            }
        }
    }
}
