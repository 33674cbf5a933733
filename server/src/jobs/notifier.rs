//! The delivery job: sends each link's Telegram message in the background, attempt by attempt,
//! and picks up where it left off after a restart (the queue is the database).

use std::{sync::Arc, time::Duration};

use chrono::{DateTime, SubsecRound, Utc};
use sea_orm::DatabaseConnection;
use tokio::{
    sync::{Notify, watch},
    task::JoinSet,
};

use crate::{
    domain::time,
    services::{
        links,
        notifications::{self, Outcome},
        reports,
    },
    startup::Settings,
    telegram::{BotApi, Failure, Lesson, is_public},
};

/// Attempts made in quick succession, with exponential backoff, before the next round waits
/// the retry interval.
pub const ATTEMPTS_PER_ROUND: i32 = 3;
/// Messages in flight at once.
const MAX_IN_FLIGHT: usize = 16;
/// The longest the job sleeps without looking at the queue (work from other replicas).
const IDLE_POLL: Duration = Duration::from_secs(30);

/// What the API needs of the job: whether it runs, and a way to wake it for new work.
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
}

/// When attempts are repeated.
#[derive(Clone, Copy, Debug)]
pub struct RetryPolicy {
    /// The wait after a round's first failed attempt; it doubles within the round.
    pub backoff: Duration,
    /// The wait between rounds.
    pub round_interval: Duration,
    /// After this many attempts the message is marked failed.
    pub max_attempts: u32,
}

impl RetryPolicy {
    /// The wait after failed attempt number `attempt` (from 1), at least what Telegram `asked`
    /// for; `None` when no attempt is left.
    pub fn delay_after(&self, attempt: i32, asked: Option<Duration>) -> Option<Duration> {
        if attempt >= self.max_attempts as i32 {
            return None;
        }
        let in_round = attempt.rem_euclid(ATTEMPTS_PER_ROUND);
        let base = if in_round == 0 {
            self.round_interval
        } else {
            self.backoff * 2u32.pow(in_round as u32 - 1)
        };
        Some(asked.map_or(base, |asked| asked.max(base)))
    }
}

/// Everything one delivery needs.
struct Courier {
    db: DatabaseConnection,
    bot: BotApi,
    settings: Arc<Settings>,
    policy: RetryPolicy,
    public: bool,
}

pub async fn run(
    db: DatabaseConnection,
    bot: BotApi,
    settings: Arc<Settings>,
    policy: RetryPolicy,
    notifier: Arc<Notifier>,
    mut stop: watch::Receiver<bool>,
) {
    let public = is_public(&settings.public_base_url);
    // An attempt still unanswered after this long belonged to a server that went away.
    let lease = chrono::Duration::from_std(bot.timeout() * 2 + Duration::from_secs(5))
        .unwrap_or(chrono::Duration::MAX);
    let courier = Arc::new(Courier {
        db,
        bot,
        settings,
        policy,
        public,
    });
    let mut in_flight = JoinSet::new();
    loop {
        let now = time::now();
        match notifications::give_up_lost(&courier.db, now).await {
            Ok(0) => {}
            Ok(lost) => tracing::warn!(
                lost,
                "Telegram messages whose attempt was never answered are marked failed"
            ),
            Err(err) => tracing::error!(error = %err, cause = ?err, "notification queue"),
        }
        let room = MAX_IN_FLIGHT - in_flight.len();
        if room > 0 {
            match claim_due(&courier.db, now, room, lease).await {
                Ok(claimed) => {
                    for (link_id, attempt) in claimed {
                        let courier = courier.clone();
                        in_flight.spawn(async move { courier.deliver(link_id, attempt).await });
                    }
                }
                Err(err) => tracing::error!(error = %err, cause = ?err, "notification queue"),
            }
        }
        let wait = match notifications::next_due(&courier.db).await {
            Ok(Some(due)) => until(due).min(IDLE_POLL),
            Ok(None) => IDLE_POLL,
            Err(err) => {
                tracing::error!(error = %err, cause = ?err, "notification queue");
                IDLE_POLL
            }
        };
        let full = in_flight.len() >= MAX_IN_FLIGHT;
        tokio::select! {
            _ = notifier.wake.notified() => {}
            _ = tokio::time::sleep(wait), if !full => {}
            Some(_) = in_flight.join_next(), if !in_flight.is_empty() => {}
            _ = stop.changed() => break,
        }
    }
    // Attempts in flight finish (each is bounded by the request timeout) and are recorded.
    while in_flight.join_next().await.is_some() {}
}

async fn claim_due(
    db: &DatabaseConnection,
    now: DateTime<Utc>,
    room: usize,
    lease: chrono::Duration,
) -> crate::services::Result<Vec<(i64, i32)>> {
    let mut claimed = Vec::new();
    for link_id in notifications::due(db, now, room as u64).await? {
        if let Some(attempt) = notifications::claim(db, link_id, lease, now).await? {
            claimed.push((link_id, attempt));
        }
    }
    Ok(claimed)
}

/// How long until `at`, measured on the precise clock (stored times are whole seconds).
fn until(at: DateTime<Utc>) -> Duration {
    (at - Utc::now()).to_std().unwrap_or(Duration::ZERO)
}

/// `delay` after `now`, rounded up to the whole second stored times have: never earlier.
fn after(now: DateTime<Utc>, delay: Duration) -> DateTime<Utc> {
    let delay = chrono::Duration::from_std(delay).unwrap_or(chrono::Duration::MAX);
    let at = now
        .checked_add_signed(delay)
        .unwrap_or(DateTime::<Utc>::MAX_UTC);
    let whole = at.trunc_subsecs(0);
    if whole < at {
        whole + chrono::Duration::seconds(1)
    } else {
        whole
    }
}

impl Courier {
    async fn deliver(&self, link_id: i64, attempt: i32) {
        let outcome = match self.send(link_id).await {
            Ok(message_id) => {
                tracing::info!(link_id, attempt, message_id, "Telegram message sent");
                Outcome::Sent { message_id }
            }
            Err(Failure::Retry {
                reason,
                after: asked,
            }) => match self.policy.delay_after(attempt, asked) {
                Some(delay) => {
                    tracing::warn!(
                        link_id,
                        attempt,
                        error = %reason,
                        retry_in = %humantime::format_duration(delay),
                        "Telegram message not sent; it will be tried again"
                    );
                    Outcome::Retry {
                        error: reason,
                        retry_at: after(Utc::now(), delay),
                    }
                }
                None => {
                    let error = format!("gave up after {attempt} attempts: {reason}");
                    tracing::warn!(link_id, attempt, %error, "Telegram message failed");
                    Outcome::Failed { error }
                }
            },
            Err(Failure::Final(error)) => {
                tracing::warn!(link_id, attempt, %error, "Telegram message failed");
                Outcome::Failed { error }
            }
        };
        self.record(link_id, attempt, &outcome).await;
    }

    /// One attempt: the message as it reads now, sent once.
    async fn send(&self, link_id: i64) -> Result<i64, Failure> {
        let view = async {
            let link = links::by_id(&self.db, link_id).await?;
            reports::view(&self.db, link).await
        }
        .await
        .map_err(|err| {
            tracing::error!(link_id, error = %err, cause = ?err, "loading a link to notify");
            Failure::Retry {
                reason: "the link could not be read from the database".into(),
                after: None,
            }
        })?;
        let tracking_url = self.settings.tracking_url(&view.link.tracking_token);
        let message = Lesson {
            teacher: &view.teacher.name,
            student: &view.student.name,
            chat_id: &view.student.telegram_chat_id,
            zoom_url: &view.link.zoom_url,
            tracking_url: &tracking_url,
        }
        .message(self.public);
        self.bot.send(&message).await
    }

    /// Stores the answer; a database hiccup is retried, since Telegram will not be asked again.
    async fn record(&self, link_id: i64, attempt: i32, outcome: &Outcome) {
        for wait in [1, 2, 4] {
            match notifications::record(&self.db, link_id, attempt, outcome, time::now()).await {
                Ok(true) => return,
                Ok(false) => {
                    tracing::warn!(
                        link_id,
                        attempt,
                        "the attempt was given up before its answer came; answer not recorded"
                    );
                    return;
                }
                Err(err) => {
                    tracing::error!(link_id, error = %err, cause = ?err, "recording Telegram's answer");
                    tokio::time::sleep(Duration::from_secs(wait)).await;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn three_quick_attempts_per_round_then_the_interval_until_the_cap() {
        let policy = RetryPolicy {
            backoff: Duration::from_secs(1),
            round_interval: Duration::from_secs(600),
            max_attempts: 7,
        };
        let waits: Vec<_> = (1..=7)
            .map(|n| policy.delay_after(n, None).map(|d| d.as_secs()))
            .collect();
        assert_eq!(
            waits,
            [
                Some(1),
                Some(2),
                Some(600),
                Some(1),
                Some(2),
                Some(600),
                None
            ]
        );
        assert_eq!(
            policy.delay_after(1, Some(Duration::from_secs(30))),
            Some(Duration::from_secs(30))
        );
        assert_eq!(
            policy.delay_after(3, Some(Duration::from_secs(5))),
            Some(Duration::from_secs(600))
        );
    }

    #[test]
    fn retry_times_are_whole_seconds_never_early() {
        let second = time::now();
        let now = second + chrono::Duration::milliseconds(300);
        let at = |ms| after(now, Duration::from_millis(ms));
        assert_eq!(at(0), second + chrono::Duration::seconds(1));
        assert_eq!(at(700), second + chrono::Duration::seconds(1));
        assert_eq!(at(701), second + chrono::Duration::seconds(2));
        assert_eq!(at(7000), second + chrono::Duration::seconds(8));
    }
}
