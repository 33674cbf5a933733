//! Live session events for subscribers (the dashboard, integrators).
//!
//! The tracker publishes after its statement has committed, with the session as it read it
//! back: publishing never queries the database. Servers sharing a database also append each
//! event to the events table ([`table`]) with the change, and pass on the others' events. A broadcast channel decouples publishers from
//! subscribers: a slow subscriber never slows the tracking endpoints or other subscribers; one
//! that falls too far behind lags (its `sessionEvents` stream then ends). The tracker reads
//! sessions for events only while somebody listens.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use tokio::sync::{Semaphore, broadcast};

use super::view::SessionView;

pub mod table;

/// How many events a subscriber may fall behind before it lags.
const CAPACITY: usize = 4096;
/// Live statistics recounting at the same time, at most.
const RECOUNTS: usize = 4;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventKind {
    Started,
    /// A second click continued the session, or reopened it after a reload.
    Resumed,
    Heartbeat,
    Ended,
    TimedOut,
}

#[derive(Clone, Debug)]
pub struct SessionEvent {
    pub kind: EventKind,
    pub at: DateTime<Utc>,
    pub session: SessionView,
}

pub struct EventBus {
    sender: broadcast::Sender<Arc<SessionEvent>>,
    /// This server's name in the events table: it passes on the events of other origins.
    pub origin: i64,
    /// Live statistics recount on changes; this bounds how many recount at once, so
    /// subscribers never take the connection pool from the tracking endpoints.
    pub recounts: Semaphore,
}

impl Default for EventBus {
    fn default() -> Self {
        Self {
            sender: broadcast::channel(CAPACITY).0,
            origin: table::new_origin(),
            recounts: Semaphore::new(RECOUNTS),
        }
    }
}

impl EventBus {
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<SessionEvent>> {
        self.sender.subscribe()
    }

    pub fn listened(&self) -> bool {
        self.sender.receiver_count() > 0
    }

    /// Live-event subscriptions open on this server.
    pub fn subscribers(&self) -> usize {
        self.sender.receiver_count()
    }

    /// Publishes a state change of `sessions`, if anybody listens.
    pub fn publish(&self, kind: EventKind, sessions: Vec<SessionView>, at: DateTime<Utc>) {
        if !self.listened() {
            return;
        }
        for session in sessions {
            // Sending fails only when the last subscriber just left: nothing to do.
            let _ = self
                .sender
                .send(Arc::new(SessionEvent { kind, at, session }));
        }
    }
}

#[cfg(test)]
mod tests {
    use entity::{LinkId, StudentId, TeacherId, student, teacher, zoom_link};

    use super::*;

    fn view(id: i64) -> SessionView {
        let at = DateTime::from_timestamp(1_800_000_000, 0)
            .unwrap()
            .naive_utc();
        SessionView {
            link: zoom_link::Model {
                clicked_at: Some(at),
                session_status: Some(zoom_link::SessionStatus::Active),
                last_activity_at: Some(at),
                ..zoom_link::Model::issued(
                    LinkId(id),
                    format!("token-{id}"),
                    (TeacherId(1), StudentId(2)),
                    "https://zoom.us/j/1".into(),
                    at,
                )
            },
            teacher: teacher::Model {
                id: TeacherId(1),
                name: "Anna".into(),
                telegram_chat_id: "1".into(),
                created_at: at,
            },
            student: student::Model {
                id: StudentId(2),
                name: "Boris".into(),
                telegram_chat_id: "2".into(),
                created_at: at,
            },
        }
    }

    #[test]
    fn events_reach_every_subscriber_in_order() {
        let bus = EventBus::default();
        assert!(!bus.listened());
        let (mut a, mut b) = (bus.subscribe(), bus.subscribe());
        assert!(bus.listened());
        let at = Utc::now();
        bus.publish(EventKind::Started, vec![view(1), view(2)], at);
        bus.publish(EventKind::Ended, vec![view(1)], at);
        for receiver in [&mut a, &mut b] {
            let got: Vec<_> = std::iter::from_fn(|| receiver.try_recv().ok())
                .map(|e| (e.kind, e.session.link.id))
                .collect();
            assert_eq!(
                got,
                [
                    (EventKind::Started, LinkId(1)),
                    (EventKind::Started, LinkId(2)),
                    (EventKind::Ended, LinkId(1))
                ]
            );
        }
    }

    #[test]
    fn a_subscriber_that_falls_behind_lags_and_others_do_not_wait() {
        let bus = EventBus::default();
        let mut slow = bus.subscribe();
        let sessions = (0..CAPACITY as i64 + 10).map(view).collect();
        bus.publish(EventKind::Heartbeat, sessions, Utc::now());
        assert!(matches!(
            slow.try_recv(),
            Err(broadcast::error::TryRecvError::Lagged(10))
        ));
        let mut late = bus.subscribe();
        bus.publish(EventKind::Ended, vec![view(1)], Utc::now());
        assert_eq!(late.try_recv().unwrap().kind, EventKind::Ended);
    }
}
