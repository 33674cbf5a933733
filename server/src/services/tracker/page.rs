//! What the tracking page tells besides the heartbeats: whether it is in front, and the
//! silences of a visible page (the student was away). Seen by the heartbeat buffer, written
//! with its flush: a silence is first checked against every server's beats.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Duration, NaiveDateTime, Utc};
use entity::{
    session_mark::{self, MarkKind},
    zoom_link,
};
use sea_orm::{
    ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QuerySelect, Set, TransactionSession,
    TransactionTrait,
    sea_query::{Expr, ExprTrait},
};

use crate::{
    domain::{LinkId, time},
    services::Result,
};

/// Rows per statement.
const CHUNK: usize = 1000;

/// A moment only the tracking page knows, not yet written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PageMark {
    pub link: LinkId,
    pub kind: MarkKind,
    pub at: DateTime<Utc>,
    /// An interruption's end: the beat after the silence.
    pub until: Option<DateTime<Utc>>,
}

/// What a beat at `now` tells of the page, beside the previous beat seen here (`before`, with
/// the session's last activity `last`): a silence of the visible page longer than `away_after`
/// (an interruption from `last` to `now`), and a change of its visibility.
pub(super) fn page_marks(
    link: LinkId,
    (before, last): (Option<bool>, DateTime<Utc>),
    (visible, now): (Option<bool>, DateTime<Utc>),
    away_after: Duration,
) -> Vec<PageMark> {
    let mut marks = Vec::new();
    if before == Some(true) && now - last > away_after {
        marks.push(PageMark {
            link,
            kind: MarkKind::Away,
            at: last,
            until: Some(now),
        });
    }
    if let (Some(before), Some(visible)) = (before, visible)
        && before != visible
    {
        let kind = if visible {
            MarkKind::Visible
        } else {
            MarkKind::Hidden
        };
        marks.push(PageMark {
            link,
            kind,
            at: now,
            until: None,
        });
    }
    marks
}

/// The marks that stand once every server's beats are counted: a silence seen here may have
/// been broken by beats another server answered (the session's last activity moved past the
/// silence's start); it starts at the session's last activity then, and is no silence when
/// what is left is not longer than `away_after`. Reads the sessions of the silences only.
pub(super) async fn confirmed(
    db: &impl ConnectionTrait,
    marks: Vec<PageMark>,
    away_after: Duration,
) -> Result<Vec<PageMark>> {
    let away: Vec<LinkId> = marks
        .iter()
        .filter(|m| m.kind == MarkKind::Away)
        .map(|m| m.link)
        .collect();
    if away.is_empty() {
        return Ok(marks);
    }
    let mut last: HashMap<LinkId, Option<NaiveDateTime>> = HashMap::new();
    for chunk in away.chunks(CHUNK) {
        let rows: Vec<(LinkId, Option<NaiveDateTime>)> = zoom_link::Entity::find()
            .select_only()
            .columns([zoom_link::Column::Id, zoom_link::Column::LastActivityAt])
            .filter(zoom_link::Column::Id.is_in(chunk.iter().copied()))
            .into_tuple()
            .all(db)
            .await?;
        last.extend(rows);
    }
    Ok(marks
        .into_iter()
        .filter_map(|mark| {
            if mark.kind != MarkKind::Away {
                return Some(mark);
            }
            let seen =
                (*last.get(&mark.link)?).map_or(mark.at, |at| Ord::max(time::from_db(at), mark.at));
            let until = mark.until?;
            (until - seen > away_after).then_some(PageMark { at: seen, ..mark })
        })
        .collect())
}

/// Stores the page's marks, and counts each interruption on its session, in one transaction
/// (sessions in id order, as every writer locks them): unless Zoom spoke for the session
/// (Zoom's own leave and rejoin count there) or an admin corrected it.
pub(super) async fn write_marks<C: ConnectionTrait + TransactionTrait>(
    db: &C,
    marks: &[PageMark],
) -> Result<()> {
    if marks.is_empty() {
        return Ok(());
    }
    let txn = db.begin().await?;
    for chunk in marks.chunks(CHUNK) {
        session_mark::Entity::insert_many(chunk.iter().map(|mark| session_mark::ActiveModel {
            link_id: Set(mark.link),
            at: Set(time::to_db(mark.at)),
            kind: Set(mark.kind),
            until: Set(mark.until.map(time::to_db)),
            ..Default::default()
        }))
        .exec_without_returning(&txn)
        .await?;
    }
    let mut away: BTreeMap<LinkId, (i32, i64)> = BTreeMap::new();
    for mark in marks.iter().filter(|m| m.kind == MarkKind::Away) {
        let seconds = mark
            .until
            .map_or(0, |until| (until - mark.at).num_seconds());
        let total = away.entry(mark.link).or_default();
        *total = (total.0 + 1, total.1 + seconds);
    }
    use zoom_link::Column;
    for (id, (count, seconds)) in away {
        zoom_link::Entity::update_many()
            .col_expr(
                Column::Interruptions,
                Expr::col(Column::Interruptions).add(count),
            )
            .col_expr(
                Column::InterruptedSeconds,
                Expr::col(Column::InterruptedSeconds).add(seconds),
            )
            .filter(Column::Id.eq(id))
            .filter(Column::ZoomJoinedAt.is_null())
            .filter(Column::CorrectedAt.is_null())
            .exec(&txn)
            .await?;
    }
    txn.commit().await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(seconds: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000 + seconds, 0).unwrap()
    }

    #[test]
    fn a_silence_of_the_visible_page_is_an_interruption_and_a_hidden_one_is_not() {
        let (id, away_after) = (LinkId(3), Duration::seconds(60));
        // The beats a page sends: (visible, at); each judged against the one before.
        let beats = [
            (Some(true), 0),
            (Some(true), 30),
            (Some(true), 90),
            (Some(true), 151),
            (Some(false), 160),
            (Some(false), 400),
            (Some(true), 401),
            (None, 402),
            (None, 550),
        ];
        let marks: Vec<PageMark> = beats
            .windows(2)
            .flat_map(|pair| {
                let ((before, last), (visible, now)) = (pair[0], pair[1]);
                page_marks(id, (before, at(last)), (visible, at(now)), away_after)
            })
            .collect();
        let mark = |kind, at, until| PageMark {
            link: id,
            kind,
            at,
            until,
        };
        // Two missed beats are not yet away, a third is; hidden (in Zoom) never is; a beat
        // that does not say keeps nothing known.
        assert_eq!(
            marks,
            [
                mark(MarkKind::Away, at(90), Some(at(151))),
                mark(MarkKind::Hidden, at(160), None),
                mark(MarkKind::Visible, at(401), None),
            ]
        );
    }
}
