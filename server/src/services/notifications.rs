//! The Telegram message of each link, as stored: created with the link, claimed attempt by
//! attempt, answered once.
//!
//! Every attempt is one conditional `UPDATE … WHERE status = 'pending'` that counts it before
//! the request goes out, so two delivery jobs (two replicas, or a job and a resend) never send
//! one message twice. An attempt whose answer was never recorded (the server stopped mid-way)
//! is not repeated: it may have been delivered, so it is marked failed for a person to resend.

use chrono::{DateTime, Duration, NaiveDateTime, Utc};
use entity::telegram_notification::{self as notification, NotificationStatus as Status};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, EntityTrait, QueryFilter,
    QueryOrder, QuerySelect, Set, UpdateMany,
    sea_query::{Expr, ExprTrait},
};

use entity::zoom_link;
use tokio::sync::Notify;

use super::{Result, ServiceError};
use crate::{
    domain::{Caller, LinkId, time, token},
    telemetry,
};

/// What the API needs of the delivery job: whether it runs, and a way to wake it for new work.
#[derive(Debug, Default)]
pub struct Notifier {
    enabled: bool,
    wake: Notify,
}

impl Notifier {
    pub fn new(enabled: bool) -> Self {
        Self {
            enabled,
            wake: Notify::new(),
        }
    }

    pub fn enabled(&self) -> bool {
        self.enabled
    }

    /// A message was queued: look at the queue now rather than at the next poll.
    pub fn wake(&self) {
        self.wake.notify_one();
    }

    /// Waits until [`Self::wake`] is called (the delivery job, between its rounds).
    pub async fn woken(&self) {
        self.wake.notified().await;
    }
}

/// What is kept of an error text.
const MAX_ERROR_LEN: usize = 480;

/// The reason recorded for an attempt that was made but never answered.
pub const UNKNOWN_OUTCOME: &str = "the server stopped while Telegram was being asked, so it is \
    not known whether the message arrived; it is not sent again by itself: resend it if the \
    student did not get it";

/// The answer to one attempt.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    Sent {
        message_id: i64,
    },
    /// Try again at `retry_at`.
    Retry {
        error: String,
        retry_at: DateTime<Utc>,
    },
    Failed {
        error: String,
    },
}

fn at(t: DateTime<Utc>) -> Expr {
    Expr::value(time::to_db(t))
}

fn truncated(error: &str) -> String {
    match error.char_indices().nth(MAX_ERROR_LEN) {
        Some((end, _)) => format!("{}…", &error[..end]),
        None => error.to_owned(),
    }
}

/// The row of a new link: due now, or `disabled` when notifications are off.
pub async fn create(
    db: &impl ConnectionTrait,
    link_id: LinkId,
    enabled: bool,
    now: DateTime<Utc>,
) -> Result<()> {
    notification::ActiveModel {
        link_id: Set(link_id),
        status: Set(if enabled {
            Status::Pending
        } else {
            Status::Disabled
        }),
        attempts: Set(0),
        last_error: Set(None),
        due_at: Set(enabled.then(|| time::to_db(now))),
        sent_at: Set(None),
        message_id: Set(None),
        updated_at: Set(time::to_db(now)),
        claim_id: Set(None),
    }
    .insert(db)
    .await?;
    Ok(())
}

pub async fn get(
    db: &impl ConnectionTrait,
    link_id: LinkId,
) -> Result<Option<notification::Model>> {
    Ok(super::unique(notification::Entity::find_by_id(link_id), db).await?)
}

/// Links whose next attempt is due, oldest first.
pub async fn due(db: &impl ConnectionTrait, now: DateTime<Utc>, limit: u64) -> Result<Vec<LinkId>> {
    Ok(notification::Entity::find()
        .select_only()
        .column(notification::Column::LinkId)
        .filter(notification::Column::Status.eq(Status::Pending))
        .filter(notification::Column::DueAt.lte(time::to_db(now)))
        .order_by_asc(notification::Column::DueAt)
        .limit(limit)
        .into_tuple()
        .all(db)
        .await?)
}

/// When the job next has something to do: an attempt falls due, or an in-flight attempt's
/// lease runs out.
pub async fn next_due(db: &impl ConnectionTrait) -> Result<Option<DateTime<Utc>>> {
    let at: Option<Option<NaiveDateTime>> = notification::Entity::find()
        .select_only()
        .column(notification::Column::DueAt)
        .filter(notification::Column::Status.is_in([Status::Pending, Status::Sending]))
        .filter(notification::Column::DueAt.is_not_null())
        .order_by_asc(notification::Column::DueAt)
        .into_tuple()
        .one(db)
        .await?;
    Ok(at.flatten().map(time::from_db))
}

/// One attempt in flight: its number, and the claim only its own answer may be recorded under
/// (a resend starts counting again, so numbers repeat; claims never do).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Claim {
    pub attempt: i32,
    pub id: String,
}

/// Takes the next attempt of a due notification: counted and marked in flight until `lease`
/// from now. `None` when it is not due or another job took it.
pub async fn claim(
    db: &impl ConnectionTrait,
    link_id: LinkId,
    lease: Duration,
    now: DateTime<Utc>,
) -> Result<Option<Claim>> {
    let id = token::new_visit_id().map_err(|e| ServiceError::Internal(e.to_string()))?;
    let claimed = notification::Entity::update_many()
        .col_expr(notification::Column::ClaimId, Expr::value(id.clone()))
        .col_expr(notification::Column::Status, Expr::value(Status::Sending))
        .col_expr(
            notification::Column::Attempts,
            Expr::col(notification::Column::Attempts).add(1),
        )
        .col_expr(notification::Column::DueAt, at(now + lease))
        .col_expr(notification::Column::UpdatedAt, at(now))
        .filter(notification::Column::LinkId.eq(link_id))
        .filter(notification::Column::Status.eq(Status::Pending))
        .filter(notification::Column::DueAt.lte(time::to_db(now)))
        .exec(db)
        .await?;
    if claimed.rows_affected != 1 {
        return Ok(None);
    }
    Ok(get(db, link_id)
        .await?
        .filter(|n| n.claim_id.as_deref() == Some(id.as_str()))
        .map(|n| Claim {
            attempt: n.attempts,
            id,
        }))
}

/// Records Telegram's answer to the attempt of `claim`. `false` when that attempt is no longer
/// the one in flight (its lease ran out and it was marked failed meanwhile, or the message was
/// resent since).
pub async fn record(
    db: &impl ConnectionTrait,
    link_id: LinkId,
    claim: &Claim,
    outcome: &Outcome,
    now: DateTime<Utc>,
) -> Result<bool> {
    let update = notification::Entity::update_many()
        .col_expr(notification::Column::UpdatedAt, at(now))
        .filter(notification::Column::LinkId.eq(link_id))
        .filter(notification::Column::ClaimId.eq(claim.id.as_str()));
    let update = match outcome {
        // The answer outranks a lease that ran out: a message that arrived is `sent`.
        Outcome::Sent { message_id } => update
            .filter(notification::Column::Status.is_in([Status::Sending, Status::Failed]))
            .col_expr(notification::Column::Status, Expr::value(Status::Sent))
            .col_expr(notification::Column::SentAt, at(now))
            .col_expr(notification::Column::MessageId, Expr::value(*message_id))
            .col_expr(
                notification::Column::DueAt,
                Expr::value(None::<NaiveDateTime>),
            )
            .col_expr(notification::Column::LastError, Expr::value(None::<String>)),
        Outcome::Retry { error, retry_at } => update
            .filter(notification::Column::Status.eq(Status::Sending))
            .col_expr(notification::Column::Status, Expr::value(Status::Pending))
            .col_expr(notification::Column::DueAt, at(*retry_at))
            .col_expr(
                notification::Column::LastError,
                Expr::value(truncated(error)),
            ),
        Outcome::Failed { error } => failed(
            update.filter(notification::Column::Status.eq(Status::Sending)),
            error,
        ),
    };
    let recorded = update.exec(db).await?.rows_affected == 1;
    if recorded && matches!(outcome, Outcome::Failed { .. }) {
        telemetry::delivery_failed(1);
    }
    Ok(recorded)
}

/// Sets an update to mark its rows failed for `error`.
fn failed(
    update: UpdateMany<notification::Entity>,
    error: &str,
) -> UpdateMany<notification::Entity> {
    update
        .col_expr(notification::Column::Status, Expr::value(Status::Failed))
        .col_expr(
            notification::Column::DueAt,
            Expr::value(None::<NaiveDateTime>),
        )
        .col_expr(
            notification::Column::LastError,
            Expr::value(truncated(error)),
        )
}

/// Marks attempts whose lease ran out without an answer as failed, never to be repeated by
/// themselves. Returns how many.
pub async fn give_up_lost(db: &impl ConnectionTrait, now: DateTime<Utc>) -> Result<u64> {
    let lost = failed(notification::Entity::update_many(), UNKNOWN_OUTCOME)
        .col_expr(notification::Column::UpdatedAt, at(now))
        .filter(notification::Column::Status.eq(Status::Sending))
        .filter(notification::Column::DueAt.lte(time::to_db(now)))
        .exec(db)
        .await?
        .rows_affected;
    telemetry::delivery_failed(lost);
    Ok(lost)
}

/// Queues a link's message again: the one way a second message goes out. A teacher for their
/// own links (another teacher's link is not found), an admin for any.
pub async fn resend(
    db: &impl ConnectionTrait,
    caller: Caller,
    link: &zoom_link::Model,
    enabled: bool,
    cooldown: Duration,
    now: DateTime<Utc>,
) -> Result<()> {
    let link_id = link.id;
    if let Caller::Teacher(own) = caller
        && own != link.teacher_id
    {
        return Err(ServiceError::NotFound("zoom link"));
    }
    if !enabled {
        return Err(ServiceError::BadInput(
            "Telegram notifications are off: the server has no TELEGRAM_BOT_TOKEN".into(),
        ));
    }
    let Some(current) = get(db, link_id).await? else {
        // Issued before notifications were kept: start its record now.
        return create(db, link_id, true, now).await;
    };
    // A message that reached the student is not sent again before the cooldown: a resend
    // cannot flood a student's chat. One that never arrived may be resent at once.
    if let Some(wait) = current
        .sent_at
        .map(|sent| time::from_db(sent) + cooldown - now)
        .filter(|wait| *wait > Duration::zero())
    {
        return Err(ServiceError::BadInput(format!(
            "this link's message reached the student less than {} s ago: resend it in {} s \
             (TELEGRAM_RESEND_COOLDOWN)",
            cooldown.num_seconds(),
            std::cmp::max(wait.num_seconds(), 1)
        )));
    }
    let queued = notification::Entity::update_many()
        .col_expr(notification::Column::Status, Expr::value(Status::Pending))
        .col_expr(notification::Column::Attempts, Expr::value(0))
        .col_expr(notification::Column::ClaimId, Expr::value(None::<String>))
        .col_expr(notification::Column::DueAt, at(now))
        .col_expr(notification::Column::LastError, Expr::value(None::<String>))
        .col_expr(notification::Column::UpdatedAt, at(now))
        .filter(notification::Column::LinkId.eq(link_id))
        .filter(notification::Column::Status.ne(Status::Sending))
        // A delivery recorded since the check above still holds the cooldown.
        .filter(
            Condition::any()
                .add(notification::Column::SentAt.is_null())
                .add(notification::Column::SentAt.lte(time::to_db(now - cooldown))),
        )
        .exec(db)
        .await?;
    if queued.rows_affected == 1 {
        Ok(())
    } else {
        Err(ServiceError::BadInput(
            "this link's message is being sent right now; try again when it has finished".into(),
        ))
    }
}
