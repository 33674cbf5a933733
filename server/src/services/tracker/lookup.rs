//! Sessions read by tracking token, in batches.
//!
//! Every click, end and first heartbeat of a session starts with a reader's lookup of its
//! token (a token nobody issued never reaches the writer). What such a lookup costs is mostly
//! not the row: it is the statement's round trip (on SQLite a hop to the connection's thread
//! and back). A task takes every lookup queued while the readers were busy and reads them in
//! one `… WHERE tracking_token IN (…)`: under a burst the lookups share a statement, and alone
//! a lookup is a statement of one, as before. Nothing waits for a timer.

use std::{collections::HashMap, sync::Arc};

use entity::zoom_link;
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, QueryFilter, QueryTrait, Value,
};
use tokio::sync::{Semaphore, mpsc, oneshot};

use super::{padded, shapes::Shapes};
use crate::{
    domain::TrackingToken,
    services::{Result, ServiceError},
};

/// Tokens one statement reads at most.
const MAX_BATCH: usize = 256;
/// Lookups waiting for a reader at most; past it a request waits to be queued.
const QUEUE: usize = 4096;
/// Statements running at once: one runs while the next batch gathers, and a second keeps a
/// slow one from holding up the rest.
const READERS: usize = 2;

struct Job {
    token: String,
    reply: oneshot::Sender<Result<Option<zoom_link::Model>>>,
}

/// The queue of lookups by token and the task that reads them.
pub(super) struct Lookups {
    queue: mpsc::Sender<Job>,
}

impl Lookups {
    /// Starts the reading task, which ends when this handle is dropped.
    pub fn start(db: DatabaseConnection) -> Self {
        let (queue, jobs) = mpsc::channel(QUEUE);
        let statement = Arc::new(Shapes::new(db.get_database_backend(), |backend, len| {
            zoom_link::Entity::find()
                .filter(zoom_link::Column::TrackingToken.is_in(vec![String::new(); len]))
                .build(backend)
        }));
        tokio::spawn(run(db, statement, Arc::new(Semaphore::new(READERS)), jobs));
        Self { queue }
    }

    /// The session of `token`, as a reader sees it.
    pub async fn by_token(&self, token: &TrackingToken) -> Result<zoom_link::Model> {
        let (reply, answer) = oneshot::channel();
        let stopped = || ServiceError::Internal("the session reader stopped".into());
        let job = Job {
            token: token.as_str().to_owned(),
            reply,
        };
        self.queue.send(job).await.map_err(|_| stopped())?;
        answer
            .await
            .map_err(|_| stopped())??
            .ok_or(ServiceError::NotFound("tracking token"))
    }
}

async fn run(
    db: DatabaseConnection,
    statement: Arc<Shapes>,
    readers: Arc<Semaphore>,
    mut queue: mpsc::Receiver<Job>,
) {
    let mut jobs = Vec::with_capacity(MAX_BATCH);
    loop {
        // A reader first: while every reader is busy, lookups gather into the next batch.
        let Ok(reader) = readers.clone().acquire_owned().await else {
            return;
        };
        if queue.recv_many(&mut jobs, MAX_BATCH).await == 0 {
            return;
        }
        let (batch, db, statement) = (std::mem::take(&mut jobs), db.clone(), statement.clone());
        tokio::spawn(async move {
            read(&db, &statement, batch).await;
            drop(reader);
        });
    }
}

/// Reads `jobs`' tokens in one statement and answers each.
async fn read(db: &DatabaseConnection, statement: &Shapes, jobs: Vec<Job>) {
    let tokens = padded(jobs.iter().map(|job| job.token.clone()).collect());
    let statement = statement.bind(tokens.len(), tokens.into_iter().map(Value::from).collect());
    let found = db.query_all_raw(statement).await.and_then(|rows| {
        rows.iter()
            .map(|row| {
                zoom_link::Model::from_row(row).map(|link| (link.tracking_token.clone(), link))
            })
            .collect::<Result<HashMap<_, _>, _>>()
    });
    match found {
        Ok(rows) => {
            for job in jobs {
                let _ = job.reply.send(Ok(rows.get(&job.token).cloned()));
            }
        }
        Err(err) => {
            tracing::error!(error = %err, lookups = jobs.len(), "reading sessions by token failed");
            let message = format!("reading sessions by token: {err}");
            for job in jobs {
                let _ = job.reply.send(Err(ServiceError::Internal(message.clone())));
            }
        }
    }
}
