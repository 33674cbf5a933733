//! The durable changes of a session, a click and an end: decided on the session as the
//! writer's transaction holds it, and written for a whole batch of sessions at once.
//!
//! [`Statements::lock`] reads the batch's sessions in the transaction (locking them on
//! PostgreSQL and MySQL; SQLite's one writer excludes every other), [`click`] and [`end`] decide
//! on those rows and change them in memory, and [`Statements::store`] writes the changed rows
//! back in a few statements.
//! Nothing can change a locked row between its read and its write, so a decision never
//! misses and is never taken twice.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use entity::zoom_link::{self, EndReason, SessionStatus};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DbBackend, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
    QueryTrait, Statement, Value,
    sea_query::{CaseStatement, Expr},
};

use super::{is_stale, padded, shapes::Shapes};
use crate::{
    domain::{LinkId, SessionRules, time},
    services::{Result, ServiceError, events::EventKind},
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

/// A click on `link` at `now`, by the page load `visit`: changes `link` as the click leaves it
/// and pushes the events it owes. See [`Click`].
pub(super) fn click(
    rules: SessionRules,
    link: &mut zoom_link::Model,
    now: DateTime<Utc>,
    visit: String,
    events: &mut Vec<Announcement>,
) -> Result<Click> {
    let at = time::to_db(now);
    let outcome = match link.session_status {
        None => {
            link.clicked_at = Some(at);
            link.last_activity_at = Some(at);
            link.session_status = Some(SessionStatus::Active);
            Click::Started
        }
        Some(SessionStatus::Active) if is_stale(link, rules, now) => {
            // Its silence ended it before this click: the click finds it over.
            return Ok(Click::AlreadyOver(end(rules, link, now, events)?.status));
        }
        Some(SessionStatus::Active) => {
            // A heartbeat stamped later than `now` may have landed: keep its time.
            link.last_activity_at = Some(link.last_activity_at.map_or(at, |last| last.max(at)));
            Click::Resumed
        }
        // A reload right after the tab closed. Zoom's own end stands: only Zoom's rejoin
        // reopens it. An admin's correction stands for good.
        Some(SessionStatus::Ended)
            if link.corrected_at.is_none()
                && !matches!(
                    link.session_end_reason,
                    Some(EndReason::LeftZoom | EndReason::MeetingEnded)
                )
                && link
                    .session_ended_at
                    .is_some_and(|end| time::from_db(end) >= now - rules.resume_window) =>
        {
            link.session_status = Some(SessionStatus::Active);
            link.session_ended_at = None;
            link.session_end_reason = None;
            link.session_duration_minutes = None;
            link.session_duration_seconds = None;
            link.last_activity_at = Some(at);
            Click::Reopened
        }
        Some(status) => return Ok(Click::AlreadyOver(status)),
    };
    link.visit_id = Some(visit);
    let kind = match outcome {
        Click::Started => EventKind::Started,
        _ => EventKind::Resumed,
    };
    events.push((kind, link.clone()));
    Ok(outcome)
}

/// Ends `link` at `now`, or at its last activity when it had gone stale, and pushes the event
/// it owes; a session already over keeps what was recorded.
pub(super) fn end(
    rules: SessionRules,
    link: &mut zoom_link::Model,
    now: DateTime<Utc>,
    events: &mut Vec<Announcement>,
) -> Result<SessionEnd> {
    let Some(clicked_at) = link.clicked_at.map(time::from_db) else {
        return Err(ServiceError::SessionNotActive(None));
    };
    if let Some(end) = recorded_end(link) {
        return Ok(end);
    }
    let (status, reason, ended_at) = match link.last_activity_at.map(time::from_db) {
        Some(last) if is_stale(link, rules, now) => {
            (SessionStatus::Timeout, EndReason::TimedOut, last)
        }
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
    link.session_status = Some(status);
    link.session_end_reason = Some(reason);
    link.session_ended_at = Some(time::to_db(ended_at));
    link.session_duration_seconds = Some(duration_seconds);
    link.session_duration_minutes = Some(end.duration_minutes);
    let kind = match status {
        SessionStatus::Timeout => EventKind::TimedOut,
        _ => EventKind::Ended,
    };
    events.push((kind, link.clone()));
    Ok(end)
}

/// Sessions one statement reads or writes at most.
const LOCK_BATCH: usize = 256;
/// Sessions one write statement changes at most: each column's `CASE` is searched row by row.
const STORE_BATCH: usize = 32;

/// A stored column and its value in a session.
type Stored = (zoom_link::Column, fn(&zoom_link::Model) -> Value);

/// The session columns a click or an end changes, written back by [`Statements::store`].
const STORED: [Stored; 8] = {
    use zoom_link::Column;
    [
        (Column::VisitId, |row| row.visit_id.clone().into()),
        (Column::ClickedAt, |row| row.clicked_at.into()),
        (Column::LastActivityAt, |row| row.last_activity_at.into()),
        (Column::SessionStatus, |row| row.session_status.into()),
        (Column::SessionEndedAt, |row| row.session_ended_at.into()),
        (Column::SessionEndReason, |row| {
            row.session_end_reason.into()
        }),
        (Column::SessionDurationSeconds, |row| {
            row.session_duration_seconds.into()
        }),
        (Column::SessionDurationMinutes, |row| {
            row.session_duration_minutes.into()
        }),
    ]
};

/// The writer's statements over a batch's sessions, each built once per shape.
pub(super) struct Statements {
    lock: Shapes,
    store: Shapes,
    /// This server in the events table.
    pub origin: i64,
}

impl Statements {
    pub fn new(backend: DbBackend, origin: i64) -> Self {
        Self {
            origin,
            lock: Shapes::new(backend, |backend, len| {
                locking(backend, vec![LinkId(0); len])
            }),
            store: Shapes::new(backend, |backend, len| {
                let row = placeholder();
                storing(backend, &vec![&row; len])
            }),
        }
    }

    /// Reads the sessions `ids` in the writer's transaction `db`, locked against every other
    /// writer until it ends.
    pub async fn lock(
        &self,
        db: &impl ConnectionTrait,
        ids: impl IntoIterator<Item = LinkId>,
    ) -> Result<HashMap<LinkId, zoom_link::Model>> {
        let mut ids: Vec<LinkId> = ids.into_iter().collect();
        ids.sort_unstable();
        ids.dedup();
        let mut rows = HashMap::with_capacity(ids.len());
        for chunk in ids.chunks(LOCK_BATCH) {
            let ids = padded(chunk.to_vec());
            let statement = self
                .lock
                .bind(ids.len(), ids.into_iter().map(Value::from).collect());
            for row in db.query_all_raw(statement).await? {
                let row = zoom_link::Model::from_row(&row)?;
                rows.insert(row.id, row);
            }
        }
        Ok(rows)
    }

    /// Writes the session columns a click or an end changes, for every row of `changed`, in
    /// the transaction that [`Self::lock`]ed them.
    pub async fn store(
        &self,
        db: &impl ConnectionTrait,
        changed: &[zoom_link::Model],
    ) -> Result<()> {
        for chunk in changed.chunks(STORE_BATCH) {
            let rows = padded(chunk.iter().collect::<Vec<_>>());
            db.execute_raw(self.store.bind(rows.len(), stored_values(&rows)))
                .await?;
        }
        Ok(())
    }
}

/// `SELECT … WHERE id IN (…) ORDER BY id`, `FOR UPDATE` but on SQLite: every batch locks its
/// sessions in the order of their ids. (A batch's pending beats are written before, in any
/// order: a deadlock there fails the batch, whose changes are then written one by one.)
fn locking(backend: DbBackend, ids: Vec<LinkId>) -> Statement {
    let mut select = zoom_link::Entity::find()
        .filter(zoom_link::Column::Id.is_in(ids))
        .order_by_asc(zoom_link::Column::Id);
    if backend != DbBackend::Sqlite {
        select = select.lock_exclusive();
    }
    select.build(backend)
}

/// `UPDATE … SET column = CASE WHEN id = … THEN … ELSE column END, … WHERE id IN (…)`.
fn storing(backend: DbBackend, rows: &[&zoom_link::Model]) -> Statement {
    use zoom_link::Column;
    STORED
        .iter()
        .fold(
            zoom_link::Entity::update_many()
                .filter(Column::Id.is_in(rows.iter().map(|row| row.id))),
            |update, (col, value)| {
                let case = rows.iter().fold(CaseStatement::new(), |case, row| {
                    case.case(Column::Id.eq(row.id), Expr::value(value(row)))
                });
                update.col_expr(*col, Into::<Expr>::into(case.finally(Expr::col(*col))))
            },
        )
        .build(backend)
}

/// The values [`storing`] binds, in its order: each column's `WHEN` id and `THEN` value for
/// every row, then the ids of the `WHERE`.
fn stored_values(rows: &[&zoom_link::Model]) -> Vec<Value> {
    let mut values = Vec::with_capacity(rows.len() * (2 * STORED.len() + 1));
    for (_, value) in &STORED {
        for row in rows {
            values.push(row.id.into());
            values.push(value(row));
        }
    }
    values.extend(rows.iter().map(|row| Value::from(row.id)));
    values
}

/// A session to build the statements' SQL with: only its values' types matter.
fn placeholder() -> zoom_link::Model {
    zoom_link::Model::issued(
        LinkId(0),
        String::new(),
        (entity::TeacherId(0), entity::StudentId(0)),
        String::new(),
        Default::default(),
    )
}

#[cfg(test)]
mod tests {
    use chrono::Duration;
    use entity::{LinkId, StudentId, TeacherId};

    use super::*;

    fn at(seconds: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000 + seconds, 0).unwrap()
    }

    fn rules() -> SessionRules {
        SessionRules::new(Duration::minutes(5), Duration::seconds(30))
    }

    fn link() -> zoom_link::Model {
        zoom_link::Model::issued(
            LinkId(7),
            "token".into(),
            (TeacherId(1), StudentId(2)),
            "https://zoom.us/j/1".into(),
            time::to_db(at(0)),
        )
    }

    fn kinds(events: &[Announcement]) -> Vec<EventKind> {
        events.iter().map(|(kind, _)| *kind).collect()
    }

    #[test]
    fn a_first_click_starts_and_a_second_resumes_in_one_batch() {
        let (mut link, mut events) = (link(), Vec::new());
        let first = click(rules(), &mut link, at(10), "a".into(), &mut events).unwrap();
        let second = click(rules(), &mut link, at(12), "b".into(), &mut events).unwrap();
        assert_eq!((first, second), (Click::Started, Click::Resumed));
        assert_eq!(link.clicked_at, Some(time::to_db(at(10))));
        assert_eq!(link.last_activity_at, Some(time::to_db(at(12))));
        assert_eq!(link.visit_id.as_deref(), Some("b"));
        assert_eq!(kinds(&events), [EventKind::Started, EventKind::Resumed]);
    }

    #[test]
    fn a_click_keeps_a_later_heartbeat_and_an_end_counts_from_the_first_click() {
        let (mut link, mut events) = (link(), Vec::new());
        click(rules(), &mut link, at(0), "a".into(), &mut events).unwrap();
        link.last_activity_at = Some(time::to_db(at(100)));
        click(rules(), &mut link, at(90), "b".into(), &mut events).unwrap();
        assert_eq!(link.last_activity_at, Some(time::to_db(at(100))));
        let ended = end(rules(), &mut link, at(150), &mut events).unwrap();
        assert_eq!(
            (ended.status, ended.reason, ended.duration_seconds),
            (SessionStatus::Ended, EndReason::TabClosed, 150)
        );
        // A second end in the same batch reports the first one and owes no event.
        let again = end(rules(), &mut link, at(160), &mut events).unwrap();
        assert_eq!(again, ended);
        assert_eq!(events.len(), 3);
    }

    #[test]
    fn a_click_on_a_silent_session_times_it_out_at_its_last_activity() {
        let (mut link, mut events) = (link(), Vec::new());
        click(rules(), &mut link, at(0), "a".into(), &mut events).unwrap();
        let late = click(rules(), &mut link, at(60 * 60), "b".into(), &mut events).unwrap();
        assert_eq!(late, Click::AlreadyOver(SessionStatus::Timeout));
        assert_eq!(link.session_ended_at, Some(time::to_db(at(0))));
        assert_eq!(link.visit_id.as_deref(), Some("a"));
        assert_eq!(kinds(&events), [EventKind::Started, EventKind::TimedOut]);
    }

    #[test]
    fn a_reload_reopens_a_closed_tab_but_never_zoom_s_end() {
        let (mut link, mut events) = (link(), Vec::new());
        click(rules(), &mut link, at(0), "a".into(), &mut events).unwrap();
        end(rules(), &mut link, at(300), &mut events).unwrap();
        let reload = click(rules(), &mut link, at(310), "b".into(), &mut events).unwrap();
        assert_eq!(reload, Click::Reopened);
        assert_eq!(link.session_status, Some(SessionStatus::Active));
        assert_eq!(
            (link.session_ended_at, link.session_duration_seconds),
            (None, None)
        );
        assert_eq!(link.clicked_at, Some(time::to_db(at(0))));

        link.session_status = Some(SessionStatus::Ended);
        link.session_end_reason = Some(EndReason::LeftZoom);
        link.session_ended_at = Some(time::to_db(at(320)));
        let before = link.clone();
        let after_zoom = click(rules(), &mut link, at(325), "c".into(), &mut events).unwrap();
        assert_eq!(after_zoom, Click::AlreadyOver(SessionStatus::Ended));
        assert_eq!(link, before, "a click after Zoom's end changes nothing");
    }

    #[test]
    fn an_end_of_a_link_never_opened_is_refused_and_changes_nothing() {
        let (mut link, mut events) = (link(), Vec::new());
        let refused = end(rules(), &mut link, at(10), &mut events);
        assert!(matches!(refused, Err(ServiceError::SessionNotActive(None))));
        assert_eq!(link, self::link());
        assert!(events.is_empty());
    }

    #[test]
    fn padding_repeats_the_last_value_up_to_a_power_of_two() {
        assert_eq!(padded(vec![1, 2, 3]), [1, 2, 3, 3]);
        assert_eq!(padded(vec![1, 2, 3, 4]), [1, 2, 3, 4]);
        assert_eq!(padded(vec![5]), [5]);
        assert!(padded(Vec::<i32>::new()).is_empty());
    }

    #[test]
    fn the_write_back_binds_its_values_as_the_builder_does() {
        let mut ended = link();
        let mut events = Vec::new();
        click(rules(), &mut ended, at(0), "a".into(), &mut events).unwrap();
        end(rules(), &mut ended, at(90), &mut events).unwrap();
        let fresh = zoom_link::Model {
            id: LinkId(8),
            ..link()
        };
        let rows = [&ended, &fresh];
        for backend in [DbBackend::Sqlite, DbBackend::Postgres, DbBackend::MySql] {
            let built = storing(backend, &rows);
            let shaped = Statements::new(backend, 0)
                .store
                .bind(2, stored_values(&rows));
            assert_eq!(shaped.sql, built.sql, "{backend:?}");
            assert_eq!(shaped.values, built.values, "{backend:?}");
            let lock = Statements::new(backend, 0)
                .lock
                .bind(2, vec![LinkId(7).into(); 2]);
            assert_eq!(lock.sql, locking(backend, vec![LinkId(7); 2]).sql);
        }
    }
}
