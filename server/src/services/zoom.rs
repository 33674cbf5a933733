//! Zoom's own account of a lesson, from its webhooks: when the student joined and left the
//! meeting. It outranks the tracking page: once Zoom has spoken about a session, its join and
//! leave times decide the session's end and length.
//!
//! - A join is matched to a link of the same meeting (the id in the link's Zoom URL) whose
//!   click is closest in time, the student's name breaking ties; later events of the same
//!   participant (same Zoom identity, or same name after a reconnect) within a few hours follow
//!   that match.
//! - Every join and leave is kept, one row each. Whenever a session is decided they are paired in
//!   time order, whatever order they arrived in: a dropped connection is two times in the
//!   meeting, the time actually in it is known beside the wall length from first join to last
//!   leave, and a late leave never closes a later join.
//! - An event already applied changes nothing. Events of one meeting are applied one at a time
//!   (the meeting's links are locked), so concurrent deliveries cannot interleave.

use std::collections::HashMap;

use chrono::{DateTime, Duration, NaiveDateTime, Utc};
use entity::{
    student,
    zoom_link::{self, EndReason, SessionStatus},
    zoom_participation::{self, LeftBy},
    zoom_webhook_event,
};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, EntityTrait, QueryFilter,
    QueryOrder, QuerySelect, Set, SqlErr, TransactionTrait, sea_query::Expr,
};
use sha2::{Digest, Sha256};

use super::{
    Result,
    events::{EventKind, table},
    tracker::Tracker,
};
use crate::domain::{LinkId, ZoomUrl, rules::LONGEST_MEETING, time};

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
    /// The sessions it concerns (possibly none: a meeting that ended with no tracked student).
    Sessions(Vec<LinkId>),
    /// No tracked session matches this participant; a repeat of it is tried again.
    Unmatched,
    /// The same event was applied before.
    Duplicate,
    /// Its time is more than [`EVENT_WINDOW`] away from now: not a lesson being tracked.
    OutOfRange,
}

/// Clicks this long before a join, or this long after it, can be the join's link.
const CLICK_BEFORE_JOIN: Duration = Duration::hours(3);
const CLICK_AFTER_JOIN: Duration = Duration::minutes(15);
/// Candidates this close in time to the best one are told apart by the student's name.
const SAME_TIME: Duration = Duration::minutes(2);
/// A participant's later events follow their match for this long (a recurring meeting keeps
/// its id, so next week's lesson is matched afresh).
const FOLLOW: Duration = Duration::hours(6);
/// Events further than this from the server's clock are not taken.
pub const EVENT_WINDOW: Duration = Duration::hours(24);

/// Longer identities and names are cut (identities hashed) to fit their columns.
const KEY_LENGTH: usize = 128;
const NAME_LENGTH: usize = 200;

impl ZoomEvent {
    fn name(&self) -> &'static str {
        match self {
            Self::Joined { .. } => "meeting.participant_joined",
            Self::Left { .. } => "meeting.participant_left",
            Self::MeetingEnded { .. } => "meeting.ended",
        }
    }

    fn meeting_id(&self) -> &str {
        match self {
            Self::Joined { meeting_id, .. }
            | Self::Left { meeting_id, .. }
            | Self::MeetingEnded { meeting_id, .. } => meeting_id,
        }
    }

    fn at(&self) -> DateTime<Utc> {
        match self {
            Self::Joined { at, .. } | Self::Left { at, .. } | Self::MeetingEnded { at, .. } => *at,
        }
    }

    /// What identifies the event whichever delivery carries it.
    fn key(&self) -> String {
        let identity = match self {
            Self::Joined { participant, .. } | Self::Left { participant, .. } => {
                participant.key.clone()
            }
            Self::MeetingEnded { instance, .. } => instance.clone(),
        };
        hex::encode(Sha256::digest(format!(
            "{}|{}|{identity}|{}",
            self.name(),
            self.meeting_id(),
            self.at().timestamp()
        )))
    }
}

impl Participant {
    /// The identity as stored: hashed when longer than its column.
    fn stored_key(&self) -> String {
        if self.key.len() <= KEY_LENGTH {
            self.key.clone()
        } else {
            hex::encode(Sha256::digest(&self.key))
        }
    }

    fn stored_name(&self) -> String {
        self.name.chars().take(NAME_LENGTH).collect()
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

/// Locks the meeting's links that an event at `at` can touch, so that the events of one
/// meeting apply one at a time (SQLite has one writer anyway).
async fn lock_meeting(
    db: &impl ConnectionTrait,
    meeting_id: &str,
    at: DateTime<Utc>,
) -> Result<()> {
    let reach = LONGEST_MEETING + FOLLOW;
    zoom_link::Entity::find()
        .select_only()
        .column(zoom_link::Column::Id)
        .filter(zoom_link::Column::ZoomMeetingId.eq(meeting_id))
        .filter(zoom_link::Column::ClickedAt.gte(time::to_db(at - reach)))
        .filter(zoom_link::Column::ClickedAt.lte(time::to_db(at + reach)))
        .order_by_asc(zoom_link::Column::Id)
        .lock_exclusive()
        .into_tuple::<LinkId>()
        .all(db)
        .await?;
    Ok(())
}

/// The link this participant's events belong to: the one they (same identity, or same name
/// after a reconnect) were matched to within [`FOLLOW`], else the meeting's link clicked
/// closest to `at` that no one else joined, the student's name breaking near ties.
async fn match_link(
    db: &impl ConnectionTrait,
    meeting_id: &str,
    participant: &Participant,
    at: DateTime<Utc>,
) -> Result<Option<zoom_link::Model>> {
    let (from, to) = (time::to_db(at - FOLLOW), time::to_db(at + FOLLOW));
    let mut same = Condition::any()
        .add(zoom_participation::Column::ParticipantKey.eq(participant.stored_key()));
    if !participant.name.trim().is_empty() {
        same = same.add(zoom_participation::Column::ParticipantName.eq(participant.stored_name()));
    }
    let earlier = zoom_participation::Entity::find()
        .find_also_related(zoom_link::Entity)
        .filter(zoom_link::Column::ZoomMeetingId.eq(meeting_id))
        .filter(same)
        .filter(
            Condition::any()
                .add(zoom_participation::Column::JoinedAt.between(from, to))
                .add(zoom_participation::Column::LeftAt.between(from, to)),
        )
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
    // Taken when someone joined it (a leave alone may be the previous lesson's).
    let taken: Vec<LinkId> = zoom_participation::Entity::find()
        .select_only()
        .column(zoom_participation::Column::LinkId)
        .filter(
            zoom_participation::Column::LinkId.is_in(candidates.iter().map(|(link, _)| link.id)),
        )
        .filter(zoom_participation::Column::JoinedAt.is_not_null())
        .into_tuple()
        .all(db)
        .await?;
    let free: Vec<_> = candidates
        .into_iter()
        .filter(|(link, _)| !taken.contains(&link.id))
        .map(|(link, student)| {
            let distance = link
                .clicked_at
                .map_or(Duration::MAX, |click| (time::from_db(click) - at).abs());
            let named = student.is_some_and(|s| names_match(&s.name, &participant.name));
            (distance, named, link)
        })
        .collect();
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
        let links: Vec<(LinkId, String)> = zoom_link::Entity::find()
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
        let mut by_meeting: HashMap<String, Vec<LinkId>> = HashMap::new();
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

impl Tracker {
    /// Applies one event, once: a repeat of an event already applied changes nothing.
    pub async fn apply_zoom(&self, event: ZoomEvent, now: DateTime<Utc>) -> Result<Applied> {
        let db = &self.db;
        if (event.at() - now).abs() > EVENT_WINDOW {
            return Ok(Applied::OutOfRange);
        }
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
        lock_meeting(&txn, event.meeting_id(), event.at()).await?;
        let links = match &event {
            ZoomEvent::Joined {
                meeting_id,
                participant,
                at,
            }
            | ZoomEvent::Left {
                meeting_id,
                participant,
                at,
            } => {
                let Some(link) = match_link(&txn, meeting_id, participant, *at).await? else {
                    // Not recorded as applied: a repeat (once the link is known) is tried again.
                    txn.rollback().await?;
                    return Ok(Applied::Unmatched);
                };
                let (joined_at, left_at, left_by) = match event {
                    ZoomEvent::Joined { .. } => (Some(time::to_db(*at)), None, None),
                    _ => (None, Some(time::to_db(*at)), Some(LeftBy::LeftZoom)),
                };
                record(&txn, link.id, participant, joined_at, left_at, left_by).await?;
                vec![link.id]
            }
            ZoomEvent::MeetingEnded { meeting_id, at, .. } => {
                meeting_ended(&txn, meeting_id, *at).await?
            }
        };
        let mut changed = Vec::new();
        for &id in &links {
            if let Some(change) = decide(&txn, id).await? {
                changed.push(change);
            }
        }
        let events: Vec<_> = changed
            .iter()
            .map(|(kind, link)| (*kind, link.id, now))
            .collect();
        table::append(&txn, self.events.origin, &events).await?;
        txn.commit().await?;
        for (kind, link) in changed {
            self.beats.forget(&link.tracking_token);
            self.announce(kind, vec![link], now).await;
        }
        Ok(Applied::Sessions(links))
    }
}

async fn record(
    db: &impl ConnectionTrait,
    link_id: LinkId,
    participant: &Participant,
    joined_at: Option<NaiveDateTime>,
    left_at: Option<NaiveDateTime>,
    left_by: Option<LeftBy>,
) -> Result<()> {
    zoom_participation::ActiveModel {
        link_id: Set(link_id),
        participant_key: Set(participant.stored_key()),
        participant_name: Set(participant.stored_name()),
        joined_at: Set(joined_at),
        left_at: Set(left_at),
        left_by: Set(left_by),
        ..Default::default()
    }
    .insert(db)
    .await?;
    Ok(())
}

/// The meeting ended: everyone who joined it in the day before and had not left leaves then.
/// Returns the links it concerns.
async fn meeting_ended(
    db: &impl ConnectionTrait,
    meeting_id: &str,
    at: DateTime<Utc>,
) -> Result<Vec<LinkId>> {
    let joins = zoom_participation::Entity::find()
        .inner_join(zoom_link::Entity)
        .filter(zoom_link::Column::ZoomMeetingId.eq(meeting_id))
        .filter(
            zoom_participation::Column::JoinedAt
                .between(time::to_db(at - LONGEST_MEETING), time::to_db(at)),
        )
        .all(db)
        .await?;
    let mut participants: HashMap<(LinkId, String), String> = HashMap::new();
    for join in joins {
        participants.insert((join.link_id, join.participant_key), join.participant_name);
    }
    let mut links = Vec::new();
    for ((link_id, key), name) in participants {
        let participant = Participant { key, name };
        record(
            db,
            link_id,
            &participant,
            None,
            Some(time::to_db(at)),
            Some(LeftBy::MeetingEnded),
        )
        .await?;
        links.push(link_id);
    }
    links.sort_unstable();
    links.dedup();
    Ok(links)
}

/// A time in the meeting.
struct Stay {
    joined: NaiveDateTime,
    left: Option<(NaiveDateTime, LeftBy)>,
}

/// One participant's joins and leaves paired in time order: each join is closed by the first
/// leave after it; a leave with no join before it waits for one, a second join while in the
/// meeting changes nothing.
fn stays(mut points: Vec<&zoom_participation::Model>) -> Vec<Stay> {
    // At equal times the join comes first: a zero-length stay, not a leave before a join.
    points.sort_by_key(|p| (p.joined_at.or(p.left_at), p.joined_at.is_none(), p.id));
    let mut stays: Vec<Stay> = Vec::new();
    for point in points {
        match (point.joined_at, point.left_at) {
            (Some(joined), _) => {
                if stays.last().is_none_or(|stay| stay.left.is_some()) {
                    stays.push(Stay { joined, left: None });
                }
            }
            (None, Some(left)) => {
                if let Some(stay) = stays.last_mut().filter(|stay| stay.left.is_none()) {
                    stay.left = Some((left, point.left_by.unwrap_or(LeftBy::LeftZoom)));
                }
            }
            (None, None) => {}
        }
    }
    stays
}

/// The times the student was out of the meeting between two stays (a leave, then a rejoin,
/// under any of their identities), and how long in all.
fn rejoins(stays: &[Stay]) -> (i32, i64) {
    let mut by_join: Vec<&Stay> = stays.iter().collect();
    by_join.sort_by_key(|stay| stay.joined);
    let (mut count, mut seconds) = (0, 0);
    // Until when the stays so far kept the student in the meeting; `None`: still in it.
    let mut covered: Option<NaiveDateTime> = None;
    for (n, stay) in by_join.iter().enumerate() {
        if n > 0 {
            match covered {
                Some(until) if stay.joined > until => {
                    count += 1;
                    seconds += (stay.joined - until).num_seconds();
                }
                None => break,
                _ => {}
            }
        }
        covered = match (covered, stay.left) {
            (_, None) => None,
            (Some(until), Some((left, _))) if n > 0 => Some(until.max(left)),
            (_, Some((left, _))) => Some(left),
        };
    }
    (count, seconds)
}

/// Decides a session from its joins and leaves: active while the student is in the meeting,
/// else ended at the last leave. Returns the session when its state changed, with the event to
/// publish.
async fn decide(
    db: &impl ConnectionTrait,
    link_id: LinkId,
) -> Result<Option<(EventKind, zoom_link::Model)>> {
    // Locked (the meeting's links already are): a correction waits for this decision to commit,
    // and this decision never overwrites a correction that committed first.
    let Some(link) =
        super::unique(zoom_link::Entity::find_by_id(link_id).lock_exclusive(), db).await?
    else {
        return Ok(None);
    };
    if link.corrected_at.is_some() {
        // An admin's correction stands: the joins and leaves are kept, and decide nothing.
        return Ok(None);
    }
    let points = zoom_participation::Entity::find()
        .filter(zoom_participation::Column::LinkId.eq(link_id))
        .all(db)
        .await?;
    let mut by_participant: HashMap<&str, Vec<&zoom_participation::Model>> = HashMap::new();
    for point in &points {
        by_participant
            .entry(&point.participant_key)
            .or_default()
            .push(point);
    }
    let all: Vec<Stay> = by_participant.into_values().flat_map(stays).collect();
    let Some(first_join) = all.iter().map(|stay| stay.joined).min() else {
        // Only leaves whose joins have not arrived yet: nothing to decide on.
        return Ok(None);
    };
    let in_meeting: i64 = all
        .iter()
        .filter_map(|stay| Some((stay.left?.0 - stay.joined).num_seconds().max(0)))
        .sum();
    let (interruptions, interrupted) = rejoins(&all);
    let mut update = zoom_link::ActiveModel {
        id: Set(link_id),
        zoom_joined_at: Set(Some(first_join)),
        in_meeting_seconds: Set(Some(in_meeting)),
        interruptions: Set(interruptions),
        interrupted_seconds: Set(interrupted),
        clicked_at: Set(Some(link.clicked_at.unwrap_or(first_join))),
        ..Default::default()
    };
    let open = all.iter().any(|stay| stay.left.is_none());
    update.zoom_in_meeting = Set(open);
    if open {
        let latest_join = all.iter().map(|stay| stay.joined).max();
        update.session_status = Set(Some(SessionStatus::Active));
        update.session_ended_at = Set(None);
        update.session_end_reason = Set(None);
        update.session_duration_seconds = Set(None);
        update.session_duration_minutes = Set(None);
        update.last_activity_at = Set(link.last_activity_at.max(latest_join));
    } else {
        let Some((ended_at, by)) = all
            .iter()
            .filter_map(|stay| stay.left)
            .max_by_key(|(at, _)| *at)
        else {
            return Ok(None);
        };
        let seconds = (ended_at - first_join).num_seconds().max(0);
        update.session_status = Set(Some(SessionStatus::Ended));
        update.session_ended_at = Set(Some(ended_at));
        update.session_end_reason = Set(Some(match by {
            LeftBy::MeetingEnded => EndReason::MeetingEnded,
            LeftBy::LeftZoom => EndReason::LeftZoom,
        }));
        update.session_duration_seconds = Set(Some(seconds));
        update.session_duration_minutes = Set(Some(time::whole_minutes(seconds)));
    }
    let updated = update.update(db).await?;
    if updated == link {
        return Ok(None);
    }
    let kind = match (link.session_status, updated.session_status) {
        (_, Some(SessionStatus::Active)) if link.session_status != Some(SessionStatus::Active) => {
            EventKind::Resumed
        }
        (_, Some(SessionStatus::Active)) => EventKind::Heartbeat,
        _ => EventKind::Ended,
    };
    Ok(Some((kind, updated)))
}
