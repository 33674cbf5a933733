//! Issuing Zoom links with their tracking token.

use chrono::{DateTime, Utc};
use entity::zoom_link;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, Set,
    TransactionSession, TransactionTrait,
};

use super::{Result, ServiceError, notifications, people};
use crate::domain::{
    Caller, LinkId, StudentId, TeacherId, TrackingToken, ZoomUrl, attendance::Thresholds, time,
};

pub struct IssueLink {
    pub teacher_id: TeacherId,
    pub student_id: StudentId,
    pub zoom_url: ZoomUrl,
    /// The planned lesson, judged by the rules in force now.
    pub plan: Option<Thresholds>,
}

/// A teacher issues links for themselves; an admin for any teacher. The link and its
/// notification record are stored together; the message itself goes out in the background.
pub async fn issue<C: ConnectionTrait + TransactionTrait>(
    db: &C,
    caller: Caller,
    input: IssueLink,
    notify: bool,
    now: DateTime<Utc>,
) -> Result<zoom_link::Model> {
    if let Caller::Teacher(own) = caller {
        if own != input.teacher_id {
            return Err(ServiceError::Forbidden(
                "a teacher credential can issue links only for its own teacher",
            ));
        }
        if !teaches(db, own, input.student_id).await? {
            return Err(ServiceError::Forbidden(
                "a teacher credential issues links only for its own students (those it already \
                 has a link with): an admin issues a teacher's first link for a student",
            ));
        }
    }
    // Checked before the transaction, so that it starts with a write: SQLite cannot upgrade
    // a reading transaction while another connection writes. (The foreign keys still hold.)
    people::teacher(db, input.teacher_id).await?;
    people::student(db, input.student_id).await?;
    let token = TrackingToken::generate()?;
    let txn = db.begin().await?;
    let link = zoom_link::ActiveModel {
        tracking_token: Set(token.as_str().to_owned()),
        teacher_id: Set(input.teacher_id),
        student_id: Set(input.student_id),
        zoom_url: Set(input.zoom_url.as_str().to_owned()),
        zoom_meeting_id: Set(Some(input.zoom_url.meeting_id().unwrap_or_default())),
        created_at: Set(time::to_db(now)),
        planned_start: Set(input.plan.map(|p| p.start)),
        planned_minutes: Set(input.plan.map(|p| p.minutes)),
        late_after: Set(input.plan.map(|p| p.late_after)),
        no_show_after: Set(input.plan.map(|p| p.no_show_after)),
        short_below_seconds: Set(input.plan.map(|p| p.short_below_seconds)),
        ..Default::default()
    }
    .insert(&txn)
    .await?;
    notifications::create(&txn, link.id, notify, now).await?;
    txn.commit().await?;
    Ok(link)
}

pub async fn by_token(
    db: &impl ConnectionTrait,
    token: &TrackingToken,
) -> Result<zoom_link::Model> {
    super::unique(
        zoom_link::Entity::find().filter(zoom_link::Column::TrackingToken.eq(token.as_str())),
        db,
    )
    .await?
    .ok_or(ServiceError::NotFound("tracking token"))
}

pub async fn by_id(db: &impl ConnectionTrait, id: LinkId) -> Result<zoom_link::Model> {
    super::unique(zoom_link::Entity::find_by_id(id), db)
        .await?
        .ok_or(ServiceError::NotFound("zoom link"))
}

/// Whether `teacher` already has a link with `student`: the students a teacher credential may
/// issue links for.
async fn teaches(
    db: &impl ConnectionTrait,
    teacher: TeacherId,
    student: StudentId,
) -> Result<bool> {
    Ok(zoom_link::Entity::find()
        .filter(zoom_link::Column::TeacherId.eq(teacher))
        .filter(zoom_link::Column::StudentId.eq(student))
        .one(db)
        .await?
        .is_some())
}
