//! Click, heartbeat and end of one session.

use chrono::{DateTime, NaiveDateTime, Utc};
use entity::zoom_link::{self, EndReason, SessionStatus};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, sea_query::Expr};

use super::{Tracker, is_stale};
use crate::{
    domain::{TrackingToken, time, token},
    services::{Result, ServiceError, events::EventKind, links, view},
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

impl Tracker {
    /// Records a click on a tracking link; see [`Click`] for what a second click does. Returns the
    /// link, with the new page load's visit id while the session is tracked.
    pub async fn click(
        &self,
        token: &TrackingToken,
        now: DateTime<Utc>,
    ) -> Result<(Click, zoom_link::Model)> {
        let (db, rules) = (&self.db, self.rules);
        // Decide on the session's latest activity, then let its next beat read what this recorded.
        self.beats.flush_session(db, token.as_str()).await?;
        self.beats.forget(token.as_str());
        // The first read is a reader's: a token nobody issued never reaches the writer. A
        // concurrent click or end can change the state between read and write: then the writer
        // reads again.
        let mut link = links::by_token(&self.read, token).await?;
        for attempt in 0..3 {
            if attempt > 0 {
                link = links::by_token(db, token).await?;
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
                        self.end_active(&link, now).await?;
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
            if update.exec(db).await?.rows_affected == 1 {
                let link = links::by_token(db, token).await?;
                let kind = match outcome {
                    Click::Started => EventKind::Started,
                    _ => EventKind::Resumed,
                };
                self.announce(kind, vec![link.clone()], now).await;
                return Ok((outcome, link));
            }
        }
        Err(ServiceError::Internal(
            "click: the session kept changing under concurrent updates".into(),
        ))
    }

    /// The student is still there. Only an active, not yet stale session accepts it. A session this
    /// process knows to be active is answered from memory and written by the next flush (see
    /// [`Heartbeats`]); any other asks the database, reading from `read` (on SQLite, beside the
    /// writer: after a restart every session asks once).
    pub async fn heartbeat(&self, token: &TrackingToken, now: DateTime<Utc>) -> Result<()> {
        let beats = &self.beats;
        let listened = self.events.listened();
        let (accepted, read) = match beats.accept(token.as_str(), now, listened) {
            Some(accepted) => (accepted, None),
            None => {
                let mark = beats.mark();
                let link = links::by_token(&self.read, token).await?;
                match link.session_status {
                    Some(SessionStatus::Active) if is_stale(&link, self.rules, now) => {
                        beats.forget(token.as_str());
                        let end = self.end_active(&link, now).await?;
                        return Err(ServiceError::SessionNotActive(Some(end.status)));
                    }
                    Some(SessionStatus::Active) => {
                        let last = link.last_activity_at.map_or(now, time::from_db);
                        let accepted =
                            beats.record(token.as_str(), link.id, last, now, mark, listened);
                        (accepted, Some(link))
                    }
                    other => {
                        beats.forget(token.as_str());
                        return Err(ServiceError::SessionNotActive(other));
                    }
                }
            }
        };
        if accepted.announce {
            self.announce_beat(token, read, now).await;
        }
        Ok(())
    }

    /// Publishes a live heartbeat of the session, as `read` showed it when the beat had to ask
    /// the database (else read now). A failed read is logged: the beat itself is answered.
    async fn announce_beat(
        &self,
        token: &TrackingToken,
        read: Option<zoom_link::Model>,
        now: DateTime<Utc>,
    ) {
        let session = async {
            let mut link = match read {
                Some(link) => link,
                None => links::by_token(&self.read, token).await?,
            };
            // The beat is not written yet: show it as the flush will record it.
            let last = link
                .last_activity_at
                .map_or(now, |last| time::from_db(last).max(now));
            link.last_activity_at = Some(time::to_db(last));
            view::view(&self.read, link).await
        };
        match session.await {
            Ok(session) => self
                .events
                .publish(EventKind::Heartbeat, vec![session], now),
            Err(err) => tracing::error!(error = %err, "a live heartbeat was lost"),
        }
    }

    /// The tracking page closed. Ends an active session now, or at its last activity when it had
    /// already gone stale; a session already over returns what was recorded. `visit` is the page
    /// load sending it, when known.
    pub async fn end(
        &self,
        token: &TrackingToken,
        visit: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<EndOutcome> {
        self.beats.flush_session(&self.db, token.as_str()).await?;
        // A reader's view: a token nobody issued never reaches the writer, and the end itself is
        // a conditional write that reads back what won.
        let link = links::by_token(&self.read, token).await?;
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
            && !is_stale(&link, self.rules, now)
        {
            return Ok(EndOutcome::Superseded);
        }
        let end = self.end_active(&link, now).await?;
        self.beats.forget(token.as_str());
        Ok(EndOutcome::Ended(end))
    }

    /// Ends an active session; when another transition wins the race, returns what it recorded.
    async fn end_active(&self, link: &zoom_link::Model, now: DateTime<Utc>) -> Result<SessionEnd> {
        let db = &self.db;
        let mut link = link.clone();
        for _ in 0..3 {
            let Some(clicked_at) = link.clicked_at.map(time::from_db) else {
                return Err(ServiceError::SessionNotActive(None));
            };
            if let Some(end) = recorded_end(&link) {
                return Ok(end);
            }
            let stale = is_stale(&link, self.rules, now);
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
                self.announce(kind, vec![link], now).await;
                return Ok(end);
            }
        }
        Err(ServiceError::Internal(
            "end: the session kept changing under concurrent updates".into(),
        ))
    }
}
