//! The delivery job: sends each link's Telegram message in the background, attempt by attempt,
//! and picks up where it left off after a restart (the queue is the database).

use std::{sync::Arc, time::Duration};

use chrono::{DateTime, SubsecRound, Utc};
use sea_orm::DatabaseConnection;
use tokio::{sync::watch, task::JoinSet};

use crate::{
    config::Settings,
    domain::{LinkId, time},
    services::{
        links,
        notifications::{self, Claim, Notifier, Outcome},
        view,
    },
    telegram::{BotApi, Failure, Lesson, is_public},
};

/// Attempts made in quick succession, with exponential backoff, before the next round waits
/// the retry interval.
pub const ATTEMPTS_PER_ROUND: i32 = 3;
/// Messages in flight at once.
const MAX_IN_FLIGHT: usize = 16;
/// The longest the job sleeps without looking at the queue (work from other replicas).
const IDLE_POLL: Duration = Duration::from_secs(30);

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

/// The delivery job: the loop ([`Self::run`]) waits between rounds; each round is a
/// [`Self::step`].
pub struct Deliveries {
    courier: Arc<Courier>,
    /// An attempt still unanswered after this long belonged to a server that went away.
    lease: chrono::Duration,
    in_flight: JoinSet<()>,
}

impl Deliveries {
    pub fn new(
        db: DatabaseConnection,
        bot: BotApi,
        settings: Arc<Settings>,
        policy: RetryPolicy,
    ) -> Self {
        let lease = chrono::Duration::from_std(bot.timeout() * 2 + Duration::from_secs(5))
            .unwrap_or(chrono::Duration::MAX);
        Self {
            courier: Arc::new(Courier {
                public: is_public(&settings.public_base_url),
                db,
                bot,
                settings,
                policy,
            }),
            lease,
            in_flight: JoinSet::new(),
        }
    }

    /// One round at `now`: gives up attempts that were never answered, and starts the due
    /// messages there is room for. Their answers are recorded as they come, timed by the clock
    /// when Telegram answers. Returns when the next message falls due, if one is waiting.
    pub async fn step(&mut self, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let db = &self.courier.db;
        match notifications::give_up_lost(db, now).await {
            Ok(0) => {}
            Ok(lost) => tracing::warn!(
                lost,
                "Telegram messages whose attempt was never answered are marked failed"
            ),
            Err(err) => tracing::error!(error = %err, cause = ?err, "notification queue"),
        }
        let room = MAX_IN_FLIGHT - self.in_flight.len();
        if room > 0 {
            match claim_due(db, now, room, self.lease).await {
                Ok(claimed) => {
                    for (link_id, claim) in claimed {
                        let courier = self.courier.clone();
                        self.in_flight
                            .spawn(async move { courier.deliver(link_id, claim).await });
                    }
                }
                Err(err) => tracing::error!(error = %err, cause = ?err, "notification queue"),
            }
        }
        match notifications::next_due(db).await {
            Ok(due) => due,
            Err(err) => {
                tracing::error!(error = %err, cause = ?err, "notification queue");
                None
            }
        }
    }

    /// Rounds until `stop`: at once when `notifier` is woken or an attempt finishes, else when
    /// the next message falls due (at the latest after [`IDLE_POLL`]: work from other
    /// replicas).
    pub async fn run(mut self, notifier: Arc<Notifier>, mut stop: watch::Receiver<bool>) {
        loop {
            let wait = self
                .step(time::now())
                .await
                .map_or(IDLE_POLL, |due| until(due).min(IDLE_POLL));
            let full = self.in_flight.len() >= MAX_IN_FLIGHT;
            tokio::select! {
                _ = notifier.woken() => {}
                _ = tokio::time::sleep(wait), if !full => {}
                Some(_) = self.in_flight.join_next(), if !self.in_flight.is_empty() => {}
                _ = stop.changed() => break,
            }
        }
        self.finish().await;
    }

    /// Waits for the attempts in flight: each is bounded by the request timeout, and its
    /// answer is recorded.
    pub async fn finish(mut self) {
        while self.in_flight.join_next().await.is_some() {}
    }
}

async fn claim_due(
    db: &DatabaseConnection,
    now: DateTime<Utc>,
    room: usize,
    lease: chrono::Duration,
) -> crate::services::Result<Vec<(LinkId, Claim)>> {
    let mut claimed = Vec::new();
    for link_id in notifications::due(db, now, room as u64).await? {
        if let Some(claim) = notifications::claim(db, link_id, lease, now).await? {
            claimed.push((link_id, claim));
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
    async fn deliver(&self, link_id: LinkId, claim: Claim) {
        let attempt = claim.attempt;
        let outcome = match self.send(link_id).await {
            Ok(message_id) => {
                tracing::info!(link_id = %link_id, attempt, message_id, "Telegram message sent");
                Outcome::Sent { message_id }
            }
            Err(Failure::Retry {
                reason,
                after: asked,
            }) => match self.policy.delay_after(attempt, asked) {
                Some(delay) => {
                    tracing::warn!(
                        link_id = %link_id,
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
                    tracing::warn!(link_id = %link_id, attempt, %error, "Telegram message failed");
                    Outcome::Failed { error }
                }
            },
            Err(Failure::Final(error)) => {
                tracing::warn!(link_id = %link_id, attempt, %error, "Telegram message failed");
                Outcome::Failed { error }
            }
        };
        self.record(link_id, &claim, &outcome).await;
    }

    /// One attempt: the message as it reads now, sent once.
    async fn send(&self, link_id: LinkId) -> Result<i64, Failure> {
        let view = async {
            let link = links::by_id(&self.db, link_id).await?;
            view::view(&self.db, link).await
        }
        .await
        .map_err(|err| {
            tracing::error!(link_id = %link_id, error = %err, cause = ?err, "loading a link to notify");
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
    async fn record(&self, link_id: LinkId, claim: &Claim, outcome: &Outcome) {
        let attempt = claim.attempt;
        for wait in [1, 2, 4] {
            match notifications::record(&self.db, link_id, claim, outcome, time::now()).await {
                Ok(true) => return,
                Ok(false) => {
                    tracing::warn!(
                        link_id = %link_id,
                        attempt,
                        "the attempt was given up before its answer came; answer not recorded"
                    );
                    return;
                }
                Err(err) => {
                    tracing::error!(link_id = %link_id, error = %err, cause = ?err, "recording Telegram's answer");
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
