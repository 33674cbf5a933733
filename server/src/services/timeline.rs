//! A session's timeline, from what is stored: the link issued, its Telegram message, the
//! click, the tracking page's visibility changes and silences, Zoom's joins and leaves, the end
//! and how it was decided, and each correction.

use chrono::{DateTime, Utc};
use entity::{
    session_correction,
    session_mark::{self, MarkKind},
    zoom_link::{self, EndReason, SessionStatus},
    zoom_participation::{self, LeftBy},
};
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder};

use super::Result;
use crate::domain::{names::end_reason_name, time};

/// What happened.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mark {
    Issued,
    MessageSent,
    Opened,
    JoinedZoom,
    LeftZoom,
    MeetingEnded,
    /// The last sign of the student (a heartbeat, a click, Zoom) while the session runs.
    LastActivity,
    PageHidden,
    PageVisible,
    /// The visible page fell silent (the detail says until when).
    Away,
    Ended,
    TimedOut,
    Corrected,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    pub at: DateTime<Utc>,
    pub mark: Mark,
    /// Who or what, in words: the participant's name, how the end was decided, the reason.
    pub detail: Option<String>,
}

/// The timeline of `link`, oldest first (equal times in the order things happen).
pub async fn timeline(db: &impl ConnectionTrait, link: &zoom_link::Model) -> Result<Vec<Entry>> {
    let entry = |at, mark, detail: Option<String>| Entry {
        at: time::from_db(at),
        mark,
        detail,
    };
    let mut entries = vec![entry(link.created_at, Mark::Issued, None)];
    if let Some(message) = super::notifications::get(db, link.id)
        .await?
        .and_then(|n| n.sent_at)
    {
        entries.push(entry(message, Mark::MessageSent, None));
    }
    if let Some(at) = link.clicked_at {
        entries.push(entry(at, Mark::Opened, None));
    }
    // Where several servers answered the page, each may have seen the same change: shown once.
    let mut shown: Option<MarkKind> = None;
    for mark in session_mark::Entity::find()
        .filter(session_mark::Column::LinkId.eq(link.id))
        .order_by_asc(session_mark::Column::At)
        .order_by_asc(session_mark::Column::Id)
        .all(db)
        .await?
    {
        if mark.kind != MarkKind::Away {
            if shown == Some(mark.kind) {
                continue;
            }
            shown = Some(mark.kind);
        }
        let (kind, detail) = match mark.kind {
            MarkKind::Hidden => (Mark::PageHidden, None),
            MarkKind::Visible => (Mark::PageVisible, None),
            MarkKind::Away => (
                Mark::Away,
                mark.until.map(|until| {
                    format!(
                        "back at {} after {} s",
                        time::from_db(until).to_rfc3339(),
                        (until - mark.at).num_seconds()
                    )
                }),
            ),
        };
        entries.push(entry(mark.at, kind, detail));
    }
    for point in zoom_participation::Entity::find()
        .filter(zoom_participation::Column::LinkId.eq(link.id))
        .order_by_asc(zoom_participation::Column::Id)
        .all(db)
        .await?
    {
        let name = Some(point.participant_name.clone()).filter(|n| !n.is_empty());
        if let Some(at) = point.joined_at {
            entries.push(entry(at, Mark::JoinedZoom, name.clone()));
        }
        if let Some(at) = point.left_at {
            let mark = match point.left_by {
                Some(LeftBy::MeetingEnded) => Mark::MeetingEnded,
                _ => Mark::LeftZoom,
            };
            entries.push(entry(at, mark, name));
        }
    }
    let corrections = session_correction::Entity::find()
        .filter(session_correction::Column::LinkId.eq(link.id))
        .order_by_asc(session_correction::Column::Id)
        .all(db)
        .await?;
    // The end as measured: the session's own, or the one kept by its first correction.
    let measured = match corrections.first() {
        Some(first) => first
            .measured_ended_at
            .map(|at| (at, first.measured_status, first.measured_end_reason)),
        None => link
            .session_ended_at
            .map(|at| (at, link.session_status, link.session_end_reason)),
    };
    match measured {
        Some((at, status, reason)) => {
            let mark = match status {
                Some(SessionStatus::Timeout) => Mark::TimedOut,
                _ => Mark::Ended,
            };
            let how = reason.map(|r| match r {
                EndReason::TimedOut => "no activity: ended at the last sign".to_owned(),
                other => end_reason_name(other).replace('_', " "),
            });
            entries.push(entry(at, mark, how));
        }
        None if link.session_status == Some(SessionStatus::Active) => {
            if let Some(at) = link.last_activity_at {
                entries.push(entry(at, Mark::LastActivity, None));
            }
        }
        None => {}
    }
    for c in &corrections {
        entries.push(Entry {
            at: time::from_db(c.corrected_at),
            mark: Mark::Corrected,
            detail: Some(format!(
                "ended at {} ({} min), by {}: {}",
                time::from_db(c.ended_at).to_rfc3339(),
                time::minutes(c.duration_seconds),
                c.corrected_by,
                c.reason
            )),
        });
    }
    // Stable: equal times keep the order above.
    entries.sort_by_key(|e| e.at);
    Ok(entries)
}
