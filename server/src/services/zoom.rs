//! Zoom's own account of a lesson, from its webhooks: when the student joined and left the
//! meeting. It outranks the tracking page: once Zoom has spoken about a session, its join and
//! leave times decide the session's start, end and length.
//!
//! - A join is matched to a link of the same meeting (the id in the link's Zoom URL) whose
//!   click is closest in time, the student's name breaking ties; later events of the same
//!   participant follow that match.
//! - Every join and leave is kept (a dropped connection is two intervals), so the time actually
//!   in the meeting is known beside the wall length from first join to last leave.
//! - Deliveries repeat and arrive out of order: an event already applied changes nothing, a
//!   leave is applied to the interval it closes, and a session with an open interval is active
//!   whatever arrived before.

use std::collections::HashMap;

use chrono::{DateTime, Duration, Utc};
use entity::{
    student,
    zoom_link::{self, EndReason, SessionStatus},
    zoom_participation::{self, LeftBy},
    zoom_webhook_event,
};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, Set, SqlErr, TransactionSession, TransactionTrait, sea_query::Expr,
};
use sha2::{Digest, Sha256};

use super::{Result, beats::Heartbeats};
use crate::domain::{ZoomUrl, time};
use crate::events::{EventBus, EventKind};

/// A participant of a meeting, as Zoom names them.
#[derive(Clone, Debug)]
pub struct Participant {
    /// Stable within the meeting: the participant UUID, else the user id, else the name.
    pub key: String,
    pub name: String,
}

/// The events this product acts on.
#[derive(Clone, Debug)]
pub enum ZoomEvent {
    Joined {
        meeting_id: String,
        participant: Participant,
        at: DateTime<Utc>,
    },
    Left {
        meeting_id: String,
        participant: Participant,
        at: DateTime<Utc>,
    },
    MeetingEnded {
        meeting_id: String,
        /// The meeting instance: a recurring meeting keeps its id.
        instance: String,
        at: DateTime<Utc>,
    },
}

/// What applying an event did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Applied {
    /// The sessions it changed (possibly none: a meeting that ended with no tracked student).
    Sessions(Vec<i64>),
    /// No tracked session matches this participant.
    Unmatched,
    /// The same event was applied before.
    Duplicate,
}

/// Clicks this long before a join, or this long after it, can be the join's link.
const CLICK_BEFORE_JOIN: Duration = Duration::hours(3);
const CLICK_AFTER_JOIN: Duration = Duration::minutes(15);
/// Candidates this close in time to the best one are told apart by the student's name.
const SAME_TIME: Duration = Duration::minutes(2);

impl ZoomEvent {
    fn name(&self) -> &'static str {
        match self {
            Self::Joined { .. } => "meeting.participant_joined",
            Self::Left { .. } => "meeting.participant_left",
            Self::MeetingEnded { .. } => "meeting.ended",
        }
    }

    /// What identifies the event whichever delivery carries it.
    fn key(&self) -> String {
        let identity = match self {
            Self::Joined {
                meeting_id,
                participant,
                at,
            }
            | Self::Left {
                meeting_id,
                participant,
                at,
            } => format!("{meeting_id}|{}|{}", participant.key, at.timestamp()),
            Self::MeetingEnded {
                meeting_id,
                instance,
                at,
            } => format!("{meeting_id}|{instance}|{}", at.timestamp()),
        };
        hex::encode(Sha256::digest(format!("{}|{identity}", self.name())))
    }
}

fn names_match(a: &str, b: &str) -> bool {
    let words = |s: &str| {
        s.split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
            .to_lowercase()
    };
    !a.trim().is_empty() && words(a) == words(b)
}

/// The link this participant's events belong to: the one they were matched to before, else the
/// meeting's link clicked closest to `at`, the student's name breaking near ties.
async fn match_link(
    db: &impl ConnectionTrait,
    meeting_id: &str,
    participant: &Participant,
    at: DateTime<Utc>,
) -> Result<Option<zoom_link::Model>> {
    let earlier = zoom_participation::Entity::find()
        .find_also_related(zoom_link::Entity)
        .filter(zoom_participation::Column::ParticipantKey.eq(&participant.key))
        .filter(zoom_link::Column::ZoomMeetingId.eq(meeting_id))
        .order_by_desc(zoom_participation::Column::Id)
        .one(db)
        .await?;
    if let Some((_, Some(link))) = earlier {
        return Ok(Some(link));
    }
    let candidates = zoom_link::Entity::find()
        .find_also_related(student::Entity)
        .filter(zoom_link::Column::ZoomMeetingId.eq(meeting_id))
        .filter(zoom_link::Column::ClickedAt.gte(time::to_db(at - CLICK_BEFORE_JOIN)))
        .filter(zoom_link::Column::ClickedAt.lte(time::to_db(at + CLICK_AFTER_JOIN)))
        .limit(500)
        .all(db)
        .await?;
    let mut free = Vec::new();
    for (link, student) in candidates {
        let taken = zoom_participation::Entity::find()
            .filter(zoom_participation::Column::LinkId.eq(link.id))
            .one(db)
            .await?
            .is_some();
        if !taken {
            let distance = link
                .clicked_at
                .map_or(Duration::MAX, |click| (time::from_db(click) - at).abs());
            let named = student.is_some_and(|s| names_match(&s.name, &participant.name));
            free.push((distance, named, link));
        }
    }
    let Some(best) = free.iter().map(|(distance, _, _)| *distance).min() else {
        return Ok(None);
    };
    Ok(free
        .into_iter()
        .filter(|(distance, _, _)| *distance <= best + SAME_TIME)
        .min_by_key(|(distance, named, _)| (!named, *distance))
        .map(|(_, _, link)| link))
}

/// Links issued before meeting ids were stored get theirs, so that webhooks find them too
/// (empty when the URL names no meeting). Returns how many links it filled.
pub async fn fill_meeting_ids(db: &impl ConnectionTrait) -> Result<u64> {
    let mut filled = 0;
    loop {
        let links: Vec<(i64, String)> = zoom_link::Entity::find()
            .select_only()
            .columns([zoom_link::Column::Id, zoom_link::Column::ZoomUrl])
            .filter(zoom_link::Column::ZoomMeetingId.is_null())
            .limit(1000)
            .into_tuple()
            .all(db)
            .await?;
        if links.is_empty() {
            return Ok(filled);
        }
        let mut by_meeting: HashMap<String, Vec<i64>> = HashMap::new();
        for (id, url) in links {
            let meeting = ZoomUrl::parse(&url)
                .ok()
                .and_then(|url| url.meeting_id())
                .unwrap_or_default();
            by_meeting.entry(meeting).or_default().push(id);
        }
        for (meeting, ids) in by_meeting {
            filled += zoom_link::Entity::update_many()
                .col_expr(zoom_link::Column::ZoomMeetingId, Expr::value(meeting))
                .filter(zoom_link::Column::Id.is_in(ids))
                .filter(zoom_link::Column::ZoomMeetingId.is_null())
                .exec(db)
                .await?
                .rows_affected;
        }
    }
}

/// Applies one event, once: a repeat of an event already applied changes nothing.
pub async fn apply<C: ConnectionTrait + TransactionTrait>(
    db: &C,
    events: &EventBus,
    beats: &Heartbeats,
    event: ZoomEvent,
    now: DateTime<Utc>,
) -> Result<Applied> {
    let txn = db.begin().await?;
    let recorded = zoom_webhook_event::Entity::insert(zoom_webhook_event::ActiveModel {
        event_key: Set(event.key()),
        event: Set(event.name().to_owned()),
        received_at: Set(time::to_db(now)),
    })
    .exec_without_returning(&txn)
    .await;
    match recorded {
        Ok(_) => {}
        // Applied before (or right now, by a concurrent delivery of the same event).
        Err(err) if matches!(err.sql_err(), Some(SqlErr::UniqueConstraintViolation(_))) => {
            txn.rollback().await?;
            return Ok(Applied::Duplicate);
        }
        Err(err) => return Err(err.into()),
    }
    let links = match &event {
        ZoomEvent::Joined {
            meeting_id,
            participant,
            at,
        } => match match_link(&txn, meeting_id, participant, *at).await? {
            Some(link) => {
                joined(&txn, link.id, &participant.key, *at).await?;
                vec![link.id]
            }
            None => Vec::new(),
        },
        ZoomEvent::Left {
            meeting_id,
            participant,
            at,
        } => match match_link(&txn, meeting_id, participant, *at).await? {
            Some(link) => {
                left(&txn, link.id, &participant.key, *at, LeftBy::LeftZoom).await?;
                vec![link.id]
            }
            None => Vec::new(),
        },
        ZoomEvent::MeetingEnded { meeting_id, at, .. } => {
            meeting_ended(&txn, meeting_id, *at).await?
        }
    };
    if links.is_empty() && !matches!(event, ZoomEvent::MeetingEnded { .. }) {
        txn.commit().await?;
        return Ok(Applied::Unmatched);
    }
    let mut changed = Vec::new();
    for &id in &links {
        if let Some(change) = decide(&txn, id).await? {
            changed.push(change);
        }
    }
    txn.commit().await?;
    for (kind, link) in changed {
        beats.forget(&link.tracking_token);
        events.publish(db, kind, vec![link], now).await;
    }
    Ok(Applied::Sessions(links))
}

async fn intervals(
    db: &impl ConnectionTrait,
    link_id: i64,
    key: &str,
) -> Result<Vec<zoom_participation::Model>> {
    Ok(zoom_participation::Entity::find()
        .filter(zoom_participation::Column::LinkId.eq(link_id))
        .filter(zoom_participation::Column::ParticipantKey.eq(key))
        .all(db)
        .await?)
}

/// A join opens an interval, or completes the one its leave already closed.
async fn joined(
    db: &impl ConnectionTrait,
    link_id: i64,
    key: &str,
    at: DateTime<Utc>,
) -> Result<()> {
    let at = time::to_db(at);
    let waiting = intervals(db, link_id, key)
        .await?
        .into_iter()
        .filter(|i| i.joined_at.is_none() && i.left_at.is_some_and(|left| left >= at))
        .min_by_key(|i| i.left_at);
    match waiting {
        Some(interval) => {
            let mut interval: zoom_participation::ActiveModel = interval.into();
            interval.joined_at = Set(Some(at));
            interval.update(db).await?;
        }
        None => {
            zoom_participation::ActiveModel {
                link_id: Set(link_id),
                participant_key: Set(key.to_owned()),
                joined_at: Set(Some(at)),
                left_at: Set(None),
                left_by: Set(None),
                ..Default::default()
            }
            .insert(db)
            .await?;
        }
    }
    Ok(())
}

/// A leave closes the latest open interval that began before it; one that arrives before its
/// join is kept until the join comes.
async fn left(
    db: &impl ConnectionTrait,
    link_id: i64,
    key: &str,
    at: DateTime<Utc>,
    by: LeftBy,
) -> Result<()> {
    let at = time::to_db(at);
    let open = intervals(db, link_id, key)
        .await?
        .into_iter()
        .filter(|i| i.left_at.is_none() && i.joined_at.is_some_and(|joined| joined <= at))
        .max_by_key(|i| i.joined_at);
    match open {
        Some(interval) => {
            let mut interval: zoom_participation::ActiveModel = interval.into();
            interval.left_at = Set(Some(at));
            interval.left_by = Set(Some(by));
            interval.update(db).await?;
        }
        None => {
            zoom_participation::ActiveModel {
                link_id: Set(link_id),
                participant_key: Set(key.to_owned()),
                joined_at: Set(None),
                left_at: Set(Some(at)),
                left_by: Set(Some(by)),
                ..Default::default()
            }
            .insert(db)
            .await?;
        }
    }
    Ok(())
}

/// The meeting ended: everyone still in it left then. Returns the links it closed.
async fn meeting_ended(
    db: &impl ConnectionTrait,
    meeting_id: &str,
    at: DateTime<Utc>,
) -> Result<Vec<i64>> {
    let open = zoom_participation::Entity::find()
        .inner_join(zoom_link::Entity)
        .filter(zoom_link::Column::ZoomMeetingId.eq(meeting_id))
        .filter(zoom_participation::Column::LeftAt.is_null())
        .filter(zoom_participation::Column::JoinedAt.lte(time::to_db(at)))
        .all(db)
        .await?;
    let mut links = Vec::new();
    for interval in open {
        links.push(interval.link_id);
        let mut interval: zoom_participation::ActiveModel = interval.into();
        interval.left_at = Set(Some(time::to_db(at)));
        interval.left_by = Set(Some(LeftBy::MeetingEnded));
        interval.update(db).await?;
    }
    links.sort_unstable();
    links.dedup();
    Ok(links)
}

/// Decides a session from its Zoom intervals: active while one is open, else ended at the last
/// leave. Returns the session when its state changed, with the event to publish.
async fn decide(
    db: &impl ConnectionTrait,
    link_id: i64,
) -> Result<Option<(EventKind, zoom_link::Model)>> {
    let Some(link) = zoom_link::Entity::find_by_id(link_id).one(db).await? else {
        return Ok(None);
    };
    let all = zoom_participation::Entity::find()
        .filter(zoom_participation::Column::LinkId.eq(link_id))
        .all(db)
        .await?;
    let Some(first_join) = all.iter().filter_map(|i| i.joined_at).min() else {
        // Only a leave whose join has not arrived yet: nothing to decide on.
        return Ok(None);
    };
    let in_meeting: i64 = all
        .iter()
        .filter_map(|i| Some((i.left_at? - i.joined_at?).num_seconds().max(0)))
        .sum();
    let open = all
        .iter()
        .any(|i| i.joined_at.is_some() && i.left_at.is_none());
    let mut update = zoom_link::ActiveModel {
        id: Set(link_id),
        zoom_joined_at: Set(Some(first_join)),
        in_meeting_seconds: Set(Some(in_meeting)),
        ..Default::default()
    };
    let kind = if open {
        let latest_join = all.iter().filter_map(|i| i.joined_at).max();
        update.session_status = Set(Some(SessionStatus::Active));
        update.session_ended_at = Set(None);
        update.session_end_reason = Set(None);
        update.session_duration_seconds = Set(None);
        update.session_duration_minutes = Set(None);
        update.last_activity_at = Set(link.last_activity_at.max(latest_join));
        if link.clicked_at.is_none() {
            update.clicked_at = Set(Some(first_join));
        }
        (link.session_status != Some(SessionStatus::Active)).then_some(EventKind::Resumed)
    } else {
        let Some(last) = all
            .iter()
            .filter(|i| i.joined_at.is_some())
            .filter_map(|i| Some((i.left_at?, i.left_by)))
            .max_by_key(|(at, _)| *at)
        else {
            return Ok(None);
        };
        let (ended_at, by) = last;
        let seconds = (ended_at - first_join).num_seconds().max(0);
        update.session_status = Set(Some(SessionStatus::Ended));
        update.session_ended_at = Set(Some(ended_at));
        update.session_end_reason = Set(Some(match by {
            Some(LeftBy::MeetingEnded) => EndReason::MeetingEnded,
            _ => EndReason::LeftZoom,
        }));
        update.session_duration_seconds = Set(Some(seconds));
        update.session_duration_minutes = Set(Some(time::whole_minutes(seconds)));
        if link.clicked_at.is_none() {
            update.clicked_at = Set(Some(first_join));
        }
        Some(EventKind::Ended)
    };
    let link = update.update(db).await?;
    Ok(kind.map(|kind| (kind, link)))
}
