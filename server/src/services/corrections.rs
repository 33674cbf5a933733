//! Admins' corrections of a session's end, with an audit trail.
//!
//! A correction sets the session's end and so its duration: every report, export and payroll
//! reads the corrected values from the session's own columns, and each correction is a row of
//! `session_corrections` with its reason, who made it, and the values measured before the
//! first one. A corrected session is marked (`corrected_at`): a click never reopens it, Zoom's
//! later joins and leaves are recorded but decide nothing, and as it is no longer active,
//! neither an end nor the sweep changes it.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use entity::{
    session_correction,
    zoom_link::{self, SessionStatus},
};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, Set, TransactionTrait,
};

use super::{
    Result, ServiceError,
    auth::Credential,
    events::{EventKind, table},
    tracker::Tracker,
};
use crate::domain::{
    Caller, LinkId, TeacherId, attendance::lesson_start, rules::LONGEST_MEETING, time,
};

/// The longest reason kept.
pub const MAX_REASON: usize = 500;

/// A correction as asked for.
pub struct Correction {
    pub link_id: LinkId,
    pub ended_at: DateTime<Utc>,
    pub reason: String,
}

/// Who made a correction, as the audit trail names them.
pub fn corrected_by(credential: &Credential) -> String {
    match credential.key {
        Some(key) => format!("admin key {key}"),
        None => "admin token".to_owned(),
    }
}

impl Tracker {
    /// Sets a session's end (admins only). The end must fall between its start and `now`.
    pub async fn correct(
        &self,
        credential: &Credential,
        correction: Correction,
        now: DateTime<Utc>,
    ) -> Result<(zoom_link::Model, session_correction::Model)> {
        super::auth::require_admin(credential.caller)?;
        let reason = correction.reason.trim();
        if reason.is_empty() {
            return Err(ServiceError::BadInput(
                "a correction needs a reason: say why the measured end is wrong".into(),
            ));
        }
        if reason.chars().count() > MAX_REASON {
            return Err(ServiceError::BadInput(format!(
                "reason is at most {MAX_REASON} characters"
            )));
        }
        let ended_at = time::truncate(correction.ended_at);
        if ended_at > now {
            return Err(ServiceError::BadInput(
                "endedAt is in the future: a correction sets an end that happened".into(),
            ));
        }
        let txn = self.db.begin().await?;
        let link = zoom_link::Entity::find_by_id(correction.link_id)
            .lock_exclusive()
            .one(&txn)
            .await?
            .ok_or(ServiceError::NotFound("session"))?;
        // Measured from where the duration is measured: Zoom's first join where Zoom spoke.
        let Some(started) = lesson_start(&link).map(time::from_db) else {
            return Err(ServiceError::BadInput(
                "the link was never opened: there is no session to correct".into(),
            ));
        };
        if ended_at < started {
            return Err(ServiceError::BadInput(format!(
                "endedAt is before the session started ({})",
                started.to_rfc3339()
            )));
        }
        if ended_at - started > LONGEST_MEETING {
            return Err(ServiceError::BadInput(format!(
                "endedAt is more than a day after the session started ({}): check the date",
                started.to_rfc3339()
            )));
        }
        // The values measured before the first correction stay with every later one.
        let first = if link.corrected_at.is_some() {
            session_correction::Entity::find()
                .filter(session_correction::Column::LinkId.eq(link.id))
                .order_by_asc(session_correction::Column::Id)
                .limit(1)
                .all(&txn)
                .await?
                .pop()
        } else {
            None
        };
        let measured = match &first {
            Some(first) => (
                first.measured_status,
                first.measured_ended_at,
                first.measured_duration_seconds,
                first.measured_end_reason,
            ),
            None => (
                link.session_status,
                link.session_ended_at,
                link.session_duration_seconds,
                link.session_end_reason,
            ),
        };
        let seconds = (ended_at - started).num_seconds();
        let status = match link.session_status {
            Some(SessionStatus::Timeout) => SessionStatus::Timeout,
            _ => SessionStatus::Ended,
        };
        let mut update: zoom_link::ActiveModel = link.clone().into();
        update.session_status = Set(Some(status));
        update.session_ended_at = Set(Some(time::to_db(ended_at)));
        update.session_duration_seconds = Set(Some(seconds));
        update.session_duration_minutes = Set(Some(time::whole_minutes(seconds)));
        update.corrected_at = Set(Some(time::to_db(now)));
        let updated = update.update(&txn).await?;
        let record = session_correction::ActiveModel {
            link_id: Set(link.id),
            ended_at: Set(time::to_db(ended_at)),
            duration_seconds: Set(seconds),
            reason: Set(reason.to_owned()),
            corrected_by: Set(corrected_by(credential)),
            corrected_at: Set(time::to_db(now)),
            measured_status: Set(measured.0),
            measured_ended_at: Set(measured.1),
            measured_duration_seconds: Set(measured.2),
            measured_end_reason: Set(measured.3),
            ..Default::default()
        }
        .insert(&txn)
        .await?;
        table::append(
            &txn,
            self.events.origin,
            &[(EventKind::Ended, link.id, now)],
        )
        .await?;
        txn.commit().await?;
        self.beats.forget(&updated.tracking_token);
        self.announce(EventKind::Ended, vec![updated.clone()], now)
            .await;
        Ok((updated, record))
    }
}

/// The latest correction of each of `links` that has one.
pub async fn latest(
    db: &impl ConnectionTrait,
    links: &[&zoom_link::Model],
) -> Result<HashMap<LinkId, session_correction::Model>> {
    let corrected: Vec<LinkId> = links
        .iter()
        .filter(|link| link.corrected_at.is_some())
        .map(|link| link.id)
        .collect();
    if corrected.is_empty() {
        return Ok(HashMap::new());
    }
    let mut out = HashMap::new();
    for row in session_correction::Entity::find()
        .filter(session_correction::Column::LinkId.is_in(corrected))
        .order_by_asc(session_correction::Column::Id)
        .all(db)
        .await?
    {
        out.insert(row.link_id, row);
    }
    Ok(out)
}

/// A session's latest correction, if any.
pub async fn latest_of(
    db: &impl ConnectionTrait,
    link: LinkId,
) -> Result<Option<session_correction::Model>> {
    Ok(session_correction::Entity::find()
        .filter(session_correction::Column::LinkId.eq(link))
        .order_by_desc(session_correction::Column::Id)
        .limit(1)
        .all(db)
        .await?
        .pop())
}

/// Corrections, newest first, after the one with id `after`; a teacher reads those of its own
/// sessions.
pub async fn list(
    db: &impl ConnectionTrait,
    caller: Caller,
    teacher: Option<TeacherId>,
    first: u64,
    after: Option<i64>,
) -> Result<(Vec<session_correction::Model>, bool)> {
    let teacher = match caller {
        Caller::Admin => teacher,
        Caller::Teacher(own) if teacher.is_none_or(|id| id == own) => Some(own),
        Caller::Teacher(_) => {
            return Err(ServiceError::Forbidden(
                "a teacher credential reads only its own sessions",
            ));
        }
    };
    let mut select = session_correction::Entity::find()
        .order_by_desc(session_correction::Column::Id)
        .limit(first + 1);
    if let Some(after) = after {
        select = select.filter(session_correction::Column::Id.lt(after));
    }
    if let Some(teacher) = teacher {
        select = select
            .inner_join(zoom_link::Entity)
            .filter(zoom_link::Column::TeacherId.eq(teacher));
    }
    let mut rows = select.all(db).await?;
    let more = rows.len() as u64 > first;
    rows.truncate(first as usize);
    Ok((rows, more))
}
