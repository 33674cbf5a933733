//! Group commit: clicks and ends that arrive together are written in one transaction.
//!
//! A click or an end is answered only once its change is committed, so a 200 means stored.
//! What a commit costs is mostly not the change: it is the writer's turn (SQLite has one
//! writer) and the flush of the log to disk (every database). One task takes every change
//! queued while the previous transaction ran, up to [`MAX_BATCH`], and writes them in one
//! transaction: under a burst at the top of the hour the changes share a commit, and alone a
//! change is a transaction of one, as before. Nothing waits for a timer.
//!
//! The transaction writes the beats answered from memory for the batch's sessions, reads and
//! locks those sessions in one statement, decides every change on them in order (two changes of
//! one session see each other), and writes the changed sessions back in a few statements
//! (`changes`), with the rows of the events it owes other servers' subscribers (one more
//! statement, on PostgreSQL and MySQL): a batch costs a few statements, not a few per change. When a transaction
//! fails, each of its changes is tried again alone: one change's failure is its own (and a
//! deadlock's loser runs again).

use std::{collections::BTreeSet, sync::Arc};

use chrono::{DateTime, Utc};
use entity::zoom_link;
use sea_orm::{
    DatabaseConnection, DbBackend, DbErr, IsolationLevel, SqliteTransactionMode,
    TransactionOptions, TransactionTrait,
};
use tokio::sync::{mpsc, oneshot};

use super::{
    beats::{self, Heartbeats},
    changes::{self, Announcement, Click, SessionEnd, Statements},
};
use crate::{
    domain::{LinkId, SessionRules, token},
    services::{Result, ServiceError, events::table, retried},
};

/// Changes one transaction writes at most.
const MAX_BATCH: usize = 256;
/// Changes waiting for the writer at most; past it a request waits to be queued.
const QUEUE: usize = 4096;

/// A durable change of one session.
#[derive(Clone, Copy, Debug)]
pub(super) enum Change {
    Click(LinkId),
    End(LinkId),
}

impl Change {
    fn id(self) -> LinkId {
        match self {
            Self::Click(id) | Self::End(id) => id,
        }
    }
}

/// What a committed change did.
pub(super) enum Done {
    Click(Click, Box<zoom_link::Model>),
    End(SessionEnd),
}

/// A committed change and the live events it owes subscribers.
pub(super) struct Written {
    pub done: Done,
    pub events: Vec<Announcement>,
}

struct Job {
    change: Change,
    now: DateTime<Utc>,
    reply: oneshot::Sender<Result<Written>>,
}

/// The queue of durable changes and the task that commits them.
pub(super) struct GroupCommit {
    queue: mpsc::Sender<Job>,
}

impl GroupCommit {
    /// Starts the writing task, which ends when this handle is dropped.
    /// `origin` names this server in the events table.
    pub fn start(
        db: DatabaseConnection,
        beats: Arc<Heartbeats>,
        rules: SessionRules,
        origin: i64,
    ) -> Self {
        let (queue, jobs) = mpsc::channel(QUEUE);
        let statements = Arc::new(Statements::new(db.get_database_backend(), origin));
        tokio::spawn(run(db, statements, beats, rules, jobs));
        Self { queue }
    }

    /// Writes `change` at `now` and answers once it is committed.
    pub async fn write(&self, change: Change, now: DateTime<Utc>) -> Result<Written> {
        let (reply, answer) = oneshot::channel();
        let stopped = || ServiceError::Internal("the session writer stopped".into());
        self.queue
            .send(Job { change, now, reply })
            .await
            .map_err(|_| stopped())?;
        answer.await.map_err(|_| stopped())?
    }
}

async fn run(
    db: DatabaseConnection,
    statements: Arc<Statements>,
    beats: Arc<Heartbeats>,
    rules: SessionRules,
    mut queue: mpsc::Receiver<Job>,
) {
    let mut jobs = Vec::with_capacity(MAX_BATCH);
    while queue.recv_many(&mut jobs, MAX_BATCH).await > 0 {
        let batch = std::mem::take(&mut jobs);
        let (db, statements, beats) = (db.clone(), statements.clone(), beats.clone());
        // A task of its own: a panic fails this batch's requests, and the writer goes on.
        let committed =
            tokio::spawn(async move { commit(&db, &statements, &beats, rules, batch).await });
        if let Err(err) = committed.await {
            tracing::error!(error = %err, "a batch of session changes failed");
        }
    }
}

/// Commits `jobs` together, or one by one when that fails, and answers each.
async fn commit(
    db: &DatabaseConnection,
    statements: &Statements,
    beats: &Heartbeats,
    rules: SessionRules,
    jobs: Vec<Job>,
) {
    if jobs.len() > 1 {
        match transaction(db, statements, beats, rules, &jobs).await {
            Ok(results) => {
                for (job, result) in jobs.into_iter().zip(results) {
                    let _ = job.reply.send(result);
                }
                return;
            }
            Err(err) if reaches_nothing(&err) => {
                // The database cannot be reached: one by one would wait as long for each.
                tracing::error!(error = %err, changes = jobs.len(), "a group commit failed");
                let message = err.to_string();
                for job in jobs {
                    let _ = job.reply.send(Err(ServiceError::Internal(message.clone())));
                }
                return;
            }
            Err(err) => tracing::warn!(
                error = %err,
                changes = jobs.len(),
                "a group commit failed: its changes are written one by one"
            ),
        }
    }
    for job in jobs {
        // Nobody waits for it any more (the client went away): nothing is written for it.
        if job.reply.is_closed() {
            continue;
        }
        // Alone, a change can still meet a sweep in a deadlock (on MySQL through the totals
        // its trigger keeps): the transaction left nothing behind and runs again.
        let one = std::slice::from_ref(&job);
        let result = match retried(|| transaction(db, statements, beats, rules, one)).await {
            Ok(mut results) => results
                .pop()
                .unwrap_or_else(|| Err(ServiceError::Internal("a change went unanswered".into()))),
            Err(err) => Err(err),
        };
        let _ = job.reply.send(result);
    }
}

/// A failure of the connection itself (none could be had, or it broke), not of a change.
fn reaches_nothing(err: &ServiceError) -> bool {
    matches!(
        err,
        ServiceError::Database(DbErr::ConnectionAcquire(_) | DbErr::Conn(_))
    )
}

/// How the group commit's transaction begins. MySQL: read committed, as PostgreSQL's default
/// (MySQL's default, repeatable read, would lock a gap of the index around each session as well
/// as its row). SQLite: `BEGIN IMMEDIATE`, the write lock first: without pending beats the
/// transaction reads before it writes, and a deferred one would then fail at its first write
/// (`SQLITE_BUSY_SNAPSHOT`, at once, whatever the busy timeout) if another process wrote the
/// file after its read.
fn transaction_options(db: &DatabaseConnection) -> TransactionOptions {
    match db.get_database_backend() {
        DbBackend::MySql => TransactionOptions {
            isolation_level: Some(IsolationLevel::ReadCommitted),
            ..TransactionOptions::default()
        },
        DbBackend::Sqlite => TransactionOptions {
            sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate),
            ..TransactionOptions::default()
        },
        _ => TransactionOptions::default(),
    }
}

/// One transaction for `jobs`: `Err` when it failed as a whole (a database error), else each
/// change's own outcome (a refusal, such as a session never opened, is one of them).
async fn transaction(
    db: &DatabaseConnection,
    statements: &Statements,
    beats: &Heartbeats,
    rules: SessionRules,
    jobs: &[Job],
) -> Result<Vec<Result<Written>>> {
    let pending = beats.take(jobs.iter().map(|job| job.change.id()));
    let written = async {
        let txn = db.begin_with_options(transaction_options(db)).await?;
        beats::write_beats(&txn, pending.iter().copied()).await?;
        let mut sessions = statements
            .lock(&txn, jobs.iter().map(|job| job.change.id()))
            .await?;
        let mut changed = BTreeSet::new();
        let mut results = Vec::with_capacity(jobs.len());
        for job in jobs {
            let id = job.change.id();
            let Some(link) = sessions.get_mut(&id) else {
                results.push(Err(ServiceError::NotFound("zoom link")));
                continue;
            };
            let mut events = Vec::new();
            let done = match job.change {
                Change::Click(_) => {
                    changes::click(rules, link, job.now, token::new_visit_id()?, &mut events)
                        .map(|click| Done::Click(click, Box::new(link.clone())))
                }
                Change::End(_) => changes::end(rules, link, job.now, &mut events).map(Done::End),
            };
            // Every change of a session owes an event; a decision that changes nothing none.
            if !events.is_empty() {
                changed.insert(id);
            }
            results.push(done.map(|done| Written { done, events }));
        }
        let changed: Vec<zoom_link::Model> = changed
            .iter()
            .filter_map(|id| sessions.remove(id))
            .collect();
        statements.store(&txn, &changed).await?;
        let events: Vec<_> = jobs
            .iter()
            .zip(&results)
            .filter_map(|(job, result)| Some((job.now, &result.as_ref().ok()?.events)))
            .flat_map(|(now, events)| events.iter().map(move |(kind, link)| (*kind, link.id, now)))
            .collect();
        table::append(&txn, statements.origin, &events).await?;
        txn.commit().await?;
        Ok(results)
    }
    .await;
    if written.is_err() {
        beats.restore(pending);
    }
    written
}
