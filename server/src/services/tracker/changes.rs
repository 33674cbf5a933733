//! The durable changes of one session, decided and written in the writer's transaction: a
//! click and an end. Each is a conditional update decided on the session as a reader saw it;
//! when a concurrent change makes it miss, the session is read again and decided anew.

use chrono::{DateTime, NaiveDateTime, Utc};
use entity::zoom_link::{self, EndReason, SessionStatus};
use sea_orm::{
    ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, UpdateMany, sea_query::Expr,
};

use super::is_stale;
use crate::{
    domain::{LinkId, SessionRules, time, token},
    services::{Result, ServiceError, events::EventKind, links},
};

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
    /// The tab had just been closed (a reload): the session is active again, its start
    /// unchanged. A session Zoom ended is not reopened by the page.
    Reopened,
    /// The session is over; the click changes nothing.
    AlreadyOver(SessionStatus),
}

fn col_time(at: DateTime<Utc>) -> Expr {
    Expr::value(time::to_db(at))
}

pub(super) fn recorded_end(link: &zoom_link::Model) -> Option<SessionEnd> {
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

/// A live event a committed change owes subscribers.
pub(super) type Announcement = (EventKind, zoom_link::Model);

/// `link` as it is once `beat`, answered from memory, is written (an active session's last
/// activity only moves forward).
pub(super) fn with_beat(link: &mut zoom_link::Model, beat: DateTime<Utc>) {
    if link.session_status == Some(SessionStatus::Active) {
        let beat = time::to_db(beat);
        link.last_activity_at = Some(link.last_activity_at.map_or(beat, |last| last.max(beat)));
    }
}

/// Runs a conditional update of one session and returns the session as it left it, or `None`
/// when its condition no longer held (another change came first).
async fn update_one(
    db: &impl ConnectionTrait,
    id: LinkId,
    update: UpdateMany<zoom_link::Entity>,
) -> Result<Option<zoom_link::Model>> {
    if db.support_returning() {
        return Ok(update.exec_with_returning(db).await?.into_iter().next());
    }
    if update.exec(db).await?.rows_affected == 1 {
        return Ok(Some(links::by_id(db, id).await?));
    }
    Ok(None)
}

/// A click, decided on `link` (as a reader saw it) and written on `db`, in the writer's
/// transaction. A concurrent change between the read and the write makes the conditional
/// update miss: then `db` reads the session again and decides anew.
pub(super) async fn click_on(
    db: &impl ConnectionTrait,
    rules: SessionRules,
    mut link: zoom_link::Model,
    now: DateTime<Utc>,
    events: &mut Vec<Announcement>,
) -> Result<(Click, zoom_link::Model)> {
    for attempt in 0..3 {
        if attempt > 0 {
            link = links::by_id(db, link.id).await?;
        }
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
                    end_on(db, rules, link.clone(), now, events).await?;
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
            // A reload right after the tab closed. Zoom's own end stands: only Zoom's rejoin
            // reopens it.
            Some(SessionStatus::Ended)
                if !matches!(
                    link.session_end_reason,
                    Some(EndReason::LeftZoom | EndReason::MeetingEnded)
                ) && link
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
        if let Some(link) = update_one(db, link.id, update).await? {
            let kind = match outcome {
                Click::Started => EventKind::Started,
                _ => EventKind::Resumed,
            };
            events.push((kind, link.clone()));
            return Ok((outcome, link));
        }
    }
    Err(ServiceError::Internal(
        "click: the session kept changing under concurrent updates".into(),
    ))
}

/// Ends an active session, in the writer's transaction `db`: now, or at its last activity
/// when it had gone stale. When another transition wins the race, returns what it recorded.
pub(super) async fn end_on(
    db: &impl ConnectionTrait,
    rules: SessionRules,
    mut link: zoom_link::Model,
    now: DateTime<Utc>,
    events: &mut Vec<Announcement>,
) -> Result<SessionEnd> {
    for attempt in 0..3 {
        if attempt > 0 {
            link = links::by_id(db, link.id).await?;
        }
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
        if let Some(link) = update_one(db, link.id, update).await? {
            let kind = match status {
                SessionStatus::Timeout => EventKind::TimedOut,
                _ => EventKind::Ended,
            };
            events.push((kind, link));
            return Ok(end);
        }
    }
    Err(ServiceError::Internal(
        "end: the session kept changing under concurrent updates".into(),
    ))
}
