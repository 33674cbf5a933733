//! Click, heartbeat and end of one session.

use chrono::{DateTime, Utc};
use entity::zoom_link::{self, SessionStatus};

use super::{
    Tracker,
    changes::{Announcement, Click, SessionEnd, recorded_end, with_beat},
    commit::{Change, Done},
    is_stale,
};
use crate::{
    domain::{LinkId, TrackingToken, time},
    services::{Result, ServiceError, events::EventKind, view},
};

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
        // The first read is a reader's: a token nobody issued never reaches the writer.
        let link = self.lookups.by_token(token).await?;
        // Its next beat reads what this click recorded.
        self.beats.forget(token.as_str());
        let written = self.commits.write(Change::Click(link.id), now).await?;
        self.announce_all(written.events, now).await;
        match written.done {
            Done::Click(click, link) => Ok((click, *link)),
            Done::End(_) => Err(ServiceError::Internal("click: answered as an end".into())),
        }
    }

    /// The student is still there. Only an active, not yet stale session accepts it. A session this
    /// process knows to be active is answered from memory and written by the next flush (see
    /// [`Heartbeats`]); any other asks the database, in a reader's lookup batched with the
    /// others waiting (on SQLite, beside the writer: after a restart every session asks once).
    /// `visible`: whether the page said it is in the front (our tracking page says; the spec's
    /// clients do not).
    pub async fn heartbeat(
        &self,
        token: &TrackingToken,
        visible: Option<bool>,
        now: DateTime<Utc>,
    ) -> Result<()> {
        let beats = &self.beats;
        let listened = self.events.listened();
        let (accepted, read) = match beats.accept(token.as_str(), (visible, now), listened) {
            Some(accepted) => (accepted, None),
            None => {
                let mark = beats.mark();
                let link = self.lookups.by_token(token).await?;
                match link.session_status {
                    Some(SessionStatus::Active) if is_stale(&link, self.rules, now) => {
                        beats.forget(token.as_str());
                        let end = self.end_active(link.id, now).await?;
                        return Err(ServiceError::SessionNotActive(Some(end.status)));
                    }
                    Some(SessionStatus::Active) => {
                        let last = link.last_activity_at.map_or(now, time::from_db);
                        let accepted = beats.record(
                            token.as_str(),
                            (link.id, last),
                            (visible, now),
                            mark,
                            listened,
                        );
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
                None => self.lookups.by_token(token).await?,
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
        // A reader's view: a token nobody issued never reaches the writer, and the end itself is
        // decided again on the session as the writer's transaction holds it.
        let mut link = self.lookups.by_token(token).await?;
        if link.session_status.is_none() {
            return Err(ServiceError::SessionNotActive(None));
        }
        if let Some(end) = recorded_end(&link) {
            return Ok(EndOutcome::Ended(end));
        }
        if link.zoom_in_meeting {
            return Ok(EndOutcome::InMeeting);
        }
        // A beat answered here and not yet written counts as the session's last activity.
        if let Some(beat) = self.beats.latest(link.id) {
            with_beat(&mut link, beat);
        }
        if let (Some(sender), Some(current)) = (visit, link.visit_id.as_deref())
            && sender != current
            && !is_stale(&link, self.rules, now)
        {
            return Ok(EndOutcome::Superseded);
        }
        let end = self.end_active(link.id, now).await?;
        self.beats.forget(token.as_str());
        Ok(EndOutcome::Ended(end))
    }

    /// Ends an active session; when another transition came first, returns what it recorded.
    async fn end_active(&self, id: LinkId, now: DateTime<Utc>) -> Result<SessionEnd> {
        let written = self.commits.write(Change::End(id), now).await?;
        self.announce_all(written.events, now).await;
        match written.done {
            Done::End(end) => Ok(end),
            Done::Click(..) => Err(ServiceError::Internal("end: answered as a click".into())),
        }
    }

    async fn announce_all(&self, events: Vec<Announcement>, now: DateTime<Utc>) {
        for (kind, link) in events {
            self.announce(kind, vec![link], now).await;
        }
    }
}
