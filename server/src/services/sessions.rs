//! The session life cycle: click, heartbeat, end, timeout.
//!
//! Every transition out of `active` is one conditional `UPDATE … WHERE session_status =
//! 'active'`, so of an end-session, a sweep and (later) a webhook racing on one session exactly
//! one takes effect; the others read back what it recorded.

use chrono::{DateTime, Duration, NaiveDateTime, Utc};
use entity::zoom_link::{self, EndReason, SessionStatus};
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, DbBackend, EntityTrait, QueryFilter, QuerySelect,
    TransactionSession, TransactionTrait, sea_query::Expr,
};

use super::{Result, ServiceError, beats::Heartbeats, links, zoom};
use crate::domain::{TrackingToken, time, token};
use crate::events::{EventBus, EventKind};

/// The timing rules a session is judged by.
#[derive(Clone, Copy, Debug)]
pub struct SessionRules {
    /// No activity for this long ends a session at its last activity.
    pub timeout: Duration,
    /// A session closed this recently is picked up again by a new click (a reload, a tab
    /// reopened) instead of staying ended.
    pub resume_window: Duration,
}

/// A session's recorded end.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SessionEnd {
    pub status: SessionStatus,
    pub reason: EndReason,
    pub ended_at: DateTime<Utc>,
    pub duration_seconds: i64,
    pub duration_minutes: i32,
}

/// What a click on a tracking link did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Click {
    /// The first click: the session starts now.
    Started,
    /// The session was active: it goes on, its start unchanged.
    Resumed,
    /// The session had just been closed (a reload): it is active again, its start unchanged.
    Reopened,
    /// The session is over; the click changes nothing.
    AlreadyOver(SessionStatus),
}

fn col_time(at: DateTime<Utc>) -> Expr {
    Expr::value(time::to_db(at))
}

fn recorded_end(link: &zoom_link::Model) -> Option<SessionEnd> {
    let status = link.session_status?;
    if status == SessionStatus::Active {
        return None;
    }
    let ended_at = time::from_db(link.session_ended_at?);
    let duration_seconds = link.session_duration_seconds.unwrap_or_else(|| {
        link.clicked_at
            .map(|start| (link.session_ended_at.unwrap_or(start) - start).num_seconds())
            .unwrap_or(0)
    });
    Some(SessionEnd {
        status,
        reason: link.session_end_reason.unwrap_or(match status {
            SessionStatus::Timeout => EndReason::TimedOut,
            _ => EndReason::TabClosed,
        }),
        ended_at,
        duration_seconds,
        duration_minutes: link
            .session_duration_minutes
            .unwrap_or_else(|| time::whole_minutes(duration_seconds)),
    })
}

/// Records a click on a tracking link; see [`Click`] for what a second click does. Returns the
/// link and, while the session is tracked, the new page load's visit id.
pub async fn click(
    db: &impl ConnectionTrait,
    events: &EventBus,
    beats: &Heartbeats,
    token: &TrackingToken,
    rules: SessionRules,
    now: DateTime<Utc>,
) -> Result<(Click, zoom_link::Model)> {
    // Decide on the session's latest activity, then let its next beat read what this recorded.
    beats.flush_session(db, token.as_str()).await?;
    beats.forget(token.as_str());
    // A concurrent click or end can change the state between read and write: then read again.
    for _ in 0..3 {
        let link = links::by_token(db, token).await?;
        let visit = Expr::value(token::new_visit_id()?);
        let update = zoom_link::Entity::update_many()
            .filter(zoom_link::Column::Id.eq(link.id))
            .col_expr(zoom_link::Column::VisitId, visit);
        let (outcome, update) = match link.session_status {
            None => (
                Click::Started,
                update
                    .col_expr(zoom_link::Column::ClickedAt, col_time(now))
                    .col_expr(zoom_link::Column::LastActivityAt, col_time(now))
                    .col_expr(
                        zoom_link::Column::SessionStatus,
                        Expr::value(SessionStatus::Active),
                    )
                    .filter(zoom_link::Column::SessionStatus.is_null()),
            ),
            Some(SessionStatus::Active) => {
                if is_stale(&link, rules, now) {
                    end_active(db, events, &link, rules, now).await?;
                    continue;
                }
                // A heartbeat stamped later than `now` may have landed: keep its time.
                let at = link
                    .last_activity_at
                    .map(time::from_db)
                    .map_or(now, |last| last.max(now));
                (
                    Click::Resumed,
                    update
                        .col_expr(zoom_link::Column::LastActivityAt, col_time(at))
                        .filter(zoom_link::Column::SessionStatus.eq(SessionStatus::Active))
                        .filter(zoom_link::Column::LastActivityAt.eq(link.last_activity_at)),
                )
            }
            Some(SessionStatus::Ended)
                if link
                    .session_ended_at
                    .is_some_and(|end| time::from_db(end) >= now - rules.resume_window) =>
            {
                (
                    Click::Reopened,
                    update
                        .col_expr(
                            zoom_link::Column::SessionStatus,
                            Expr::value(SessionStatus::Active),
                        )
                        .col_expr(
                            zoom_link::Column::SessionEndedAt,
                            Expr::value(None::<NaiveDateTime>),
                        )
                        .col_expr(
                            zoom_link::Column::SessionEndReason,
                            Expr::value(None::<EndReason>),
                        )
                        .col_expr(
                            zoom_link::Column::SessionDurationMinutes,
                            Expr::value(None::<i32>),
                        )
                        .col_expr(
                            zoom_link::Column::SessionDurationSeconds,
                            Expr::value(None::<i64>),
                        )
                        .col_expr(zoom_link::Column::LastActivityAt, col_time(now))
                        .filter(zoom_link::Column::SessionStatus.eq(SessionStatus::Ended))
                        .filter(zoom_link::Column::SessionEndedAt.eq(link.session_ended_at)),
                )
            }
            Some(status) => return Ok((Click::AlreadyOver(status), link)),
        };
        if update.exec(db).await?.rows_affected == 1 {
            let link = links::by_token(db, token).await?;
            let kind = match outcome {
                Click::Started => EventKind::Started,
                _ => EventKind::Resumed,
            };
            events.publish(db, kind, vec![link.clone()], now).await;
            return Ok((outcome, link));
        }
    }
    Err(ServiceError::Internal(
        "click: the session kept changing under concurrent updates".into(),
    ))
}

/// Silent for longer than the timeout. A session Zoom reports in the meeting is not, unless it
/// has been silent for a day longer (Zoom's leave was lost).
fn is_stale(link: &zoom_link::Model, rules: SessionRules, now: DateTime<Utc>) -> bool {
    let timeout = if link.zoom_in_meeting {
        rules.timeout + zoom::LONGEST_MEETING
    } else {
        rules.timeout
    };
    link.last_activity_at
        .is_none_or(|last| time::from_db(last) < now - timeout)
}

/// The student is still there. Only an active, not yet stale session accepts it. A session this
/// process knows to be active is answered from memory and written by the next flush (see
/// [`Heartbeats`]); any other asks the database, reading from `read` (on SQLite, beside the
/// writer: after a restart every session asks once).
pub async fn heartbeat(
    db: &impl ConnectionTrait,
    read: &impl ConnectionTrait,
    events: &EventBus,
    beats: &Heartbeats,
    token: &TrackingToken,
    rules: SessionRules,
    now: DateTime<Utc>,
) -> Result<()> {
    if !beats.accept(token.as_str(), now, rules.timeout) {
        let mark = beats.mark();
        let link = links::by_token(read, token).await?;
        match link.session_status {
            Some(SessionStatus::Active) if is_stale(&link, rules, now) => {
                beats.forget(token.as_str());
                let end = end_active(db, events, &link, rules, now).await?;
                return Err(ServiceError::SessionNotActive(Some(end.status)));
            }
            Some(SessionStatus::Active) => {
                let last = link.last_activity_at.map_or(now, time::from_db);
                beats.record(token.as_str(), link.id, last, now, mark);
            }
            other => {
                beats.forget(token.as_str());
                return Err(ServiceError::SessionNotActive(other));
            }
        }
    }
    if events.beat_due(token.as_str(), now) {
        match links::by_token(read, token).await {
            Ok(mut link) => {
                // The beat is not written yet: show it as the flush will record it.
                let last = link
                    .last_activity_at
                    .map_or(now, |last| time::from_db(last).max(now));
                link.last_activity_at = Some(time::to_db(last));
                events
                    .publish(db, EventKind::Heartbeat, vec![link], now)
                    .await
            }
            Err(err) => tracing::error!(error = %err, "a live heartbeat was lost"),
        }
    }
    Ok(())
}

/// What an end-session did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EndOutcome {
    /// The session is over (now, or it already was): its recorded end.
    Ended(SessionEnd),
    /// The end came from a page load that a newer one (a reload, another tab) has replaced:
    /// the session goes on.
    Superseded,
    /// Zoom reports the student in the meeting: the session goes on until Zoom says they left.
    InMeeting,
}

/// The tracking page closed. Ends an active session now, or at its last activity when it had
/// already gone stale; a session already over returns what was recorded. `visit` is the page
/// load sending it, when known.
pub async fn end(
    db: &impl ConnectionTrait,
    events: &EventBus,
    beats: &Heartbeats,
    token: &TrackingToken,
    visit: Option<&str>,
    rules: SessionRules,
    now: DateTime<Utc>,
) -> Result<EndOutcome> {
    beats.flush_session(db, token.as_str()).await?;
    let link = links::by_token(db, token).await?;
    if link.session_status.is_none() {
        return Err(ServiceError::SessionNotActive(None));
    }
    if let Some(end) = recorded_end(&link) {
        return Ok(EndOutcome::Ended(end));
    }
    if link.zoom_in_meeting {
        return Ok(EndOutcome::InMeeting);
    }
    if let (Some(sender), Some(current)) = (visit, link.visit_id.as_deref())
        && sender != current
        && !is_stale(&link, rules, now)
    {
        return Ok(EndOutcome::Superseded);
    }
    let end = end_active(db, events, &link, rules, now).await?;
    beats.forget(token.as_str());
    Ok(EndOutcome::Ended(end))
}

/// Ends an active session; when another transition wins the race, returns what it recorded.
async fn end_active(
    db: &impl ConnectionTrait,
    events: &EventBus,
    link: &zoom_link::Model,
    rules: SessionRules,
    now: DateTime<Utc>,
) -> Result<SessionEnd> {
    let mut link = link.clone();
    for _ in 0..3 {
        let Some(clicked_at) = link.clicked_at.map(time::from_db) else {
            return Err(ServiceError::SessionNotActive(None));
        };
        if let Some(end) = recorded_end(&link) {
            return Ok(end);
        }
        let stale = is_stale(&link, rules, now);
        let (status, reason, ended_at) = match link.last_activity_at.map(time::from_db) {
            Some(last) if stale => (SessionStatus::Timeout, EndReason::TimedOut, last),
            _ => (SessionStatus::Ended, EndReason::TabClosed, now),
        };
        let duration_seconds = (ended_at - clicked_at).num_seconds().max(0);
        let end = SessionEnd {
            status,
            reason,
            ended_at,
            duration_seconds,
            duration_minutes: time::whole_minutes(duration_seconds),
        };
        let mut update = zoom_link::Entity::update_many()
            .col_expr(zoom_link::Column::SessionStatus, Expr::value(status))
            .col_expr(zoom_link::Column::SessionEndReason, Expr::value(reason))
            .col_expr(zoom_link::Column::SessionEndedAt, col_time(ended_at))
            .col_expr(
                zoom_link::Column::SessionDurationSeconds,
                Expr::value(duration_seconds),
            )
            .col_expr(
                zoom_link::Column::SessionDurationMinutes,
                Expr::value(end.duration_minutes),
            )
            .filter(zoom_link::Column::Id.eq(link.id))
            .filter(zoom_link::Column::SessionStatus.eq(SessionStatus::Active));
        if stale {
            // A heartbeat landing meanwhile makes the session live again: then re-decide.
            update = update.filter(zoom_link::Column::LastActivityAt.eq(link.last_activity_at));
        }
        let done = update.exec(db).await?.rows_affected == 1;
        link = zoom_link::Entity::find_by_id(link.id)
            .one(db)
            .await?
            .ok_or(ServiceError::NotFound("session"))?;
        if done {
            let kind = match status {
                SessionStatus::Timeout => EventKind::TimedOut,
                _ => EventKind::Ended,
            };
            events.publish(db, kind, vec![link], now).await;
            return Ok(end);
        }
    }
    Err(ServiceError::Internal(
        "end: the session kept changing under concurrent updates".into(),
    ))
}

/// Sessions one sweep statement ends at most: a long sweep leaves the writer to others between
/// its statements.
const SWEEP_CHUNK: u64 = 5000;

/// The sessions one sweep statement ended: read back for subscribers, or only counted.
enum Ended {
    Read(Vec<zoom_link::Model>),
    Counted(u64),
}

/// One auto-timeout sweep: every active session idle for longer than `timeout` ends at its
/// last activity. Pending heartbeats are written first, so a session that beat is never ended.
/// Set-based statements of [`SWEEP_CHUNK`] sessions; returns how many sessions it ended.
pub async fn sweep<C: ConnectionTrait + TransactionTrait>(
    db: &C,
    events: &EventBus,
    beats: &Heartbeats,
    timeout: Duration,
    now: DateTime<Utc>,
) -> Result<u64> {
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
    let cutoff = time::to_db(now - timeout);
    // Zoom reports the student in the meeting: only a day more of silence ends it.
    let not_in_meeting = || {
        Condition::any()
            .add(zoom_link::Column::ZoomInMeeting.eq(false))
            .add(
                zoom_link::Column::LastActivityAt
                    .lt(time::to_db(now - timeout - zoom::LONGEST_MEETING)),
            )
    };
    let stale = |lock: bool| {
        let mut select = zoom_link::Entity::find()
            .select_only()
            .columns([zoom_link::Column::Id, zoom_link::Column::TrackingToken])
            .filter(zoom_link::Column::SessionStatus.eq(SessionStatus::Active))
            .filter(zoom_link::Column::LastActivityAt.lt(cutoff))
            .filter(not_in_meeting())
            .limit(SWEEP_CHUNK);
        if lock {
            select = select.lock_exclusive();
        }
        select.into_tuple::<(i64, String)>()
    };
    let split =
        |found: Vec<(i64, String)>| -> (Vec<i64>, Vec<String>) { found.into_iter().unzip() };
    let update = |ids: Vec<i64>| {
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
        // or on MySQL (no UPDATE … RETURNING) lock and re-read them in one transaction.
        let listened = events.listened();
        let (tokens, ended) = if listened && backend == DbBackend::MySql {
            let txn = db.begin().await?;
            let (ids, tokens) = split(stale(true).all(&txn).await?);
            update(ids.clone()).exec(&txn).await?;
            let ended = zoom_link::Entity::find()
                .filter(zoom_link::Column::Id.is_in(ids))
                .filter(zoom_link::Column::SessionStatus.eq(SessionStatus::Timeout))
                .all(&txn)
                .await?;
            txn.commit().await?;
            (tokens, Ended::Read(ended))
        } else {
            let (ids, tokens) = split(stale(false).all(db).await?);
            let ended = if listened {
                Ended::Read(update(ids).exec_with_returning(db).await?)
            } else {
                Ended::Counted(update(ids).exec(db).await?.rows_affected)
            };
            (tokens, ended)
        };
        beats.forget_tokens(&tokens);
        let ended = match ended {
            Ended::Read(rows) => {
                let count = rows.len() as u64;
                events.publish(db, EventKind::TimedOut, rows, now).await;
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
