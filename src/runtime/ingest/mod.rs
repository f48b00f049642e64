//! Durable event ingestion by group commit: requests queue their events, a few writers
//! take everything queued (up to a batch), write it in one transaction with multi-row
//! statements, and only then acknowledge each request. A full queue answers "busy" at once
//! (503 with Retry-After), never a silent drop. One module per part:
//! - this one: the handle requests submit through (`Ingest`), and what they get back;
//! - `writer`: the writer tasks, which take the queue's jobs and isolate a refused one;
//! - `write`: how one group of events is written (one statement, or a transaction);
//! - `assignment_cache`: the assignments the writers have seen committed;
//! - `fold`: the task that folds events into the per-user rollups.

mod assignment_cache;
mod fold;
mod write;
mod writer;

use super::supervise::Supervisor;
use crate::domain::assignment::Variant;
use crate::domain::event::EventDraft;
use assignment_cache::AssignmentCache;
use fold::fold;
use serde::Serialize;
use sqlx::PgPool;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use tokio::sync::{Semaphore, mpsc, oneshot};
use uuid::Uuid;
use writer::writer;

/// Most events waiting or being written at once.
pub const MAX_QUEUED_EVENTS: usize = 200_000;
/// Submissions of fewer events than this (single events, small batches) queue for the small
/// lane's writer, larger ones for the large lane's. One writer per lane: a commit waits for
/// its WAL flush, and with single events under load that wait, not the CPU, was what bounded
/// them (`IO:WALSync` and `LWLock:WALWrite` were most of what `pg_stat_activity` showed). With
/// one writer each commit carries every event that queued during the last one; with more
/// writers each carried fewer, and they queued for the WAL behind each other (single events,
/// 20 s: 15,374 and 13,683/s with one writer, 10,524 and 13,186/s with two, 7,443–10,088/s
/// with three). Two lanes, so a single event never waits behind a 10,000-event batch. (The
/// small lane's submissions are those the one-statement path can take.)
const LARGE_AT_LEAST: usize = write::COPY_AT_LEAST;

/// An event checked against the snapshot, ready for the writers.
#[derive(Debug, Clone)]
pub struct PreparedEvent {
    pub draft: EventDraft,
    /// The variant the user gets by hashing, used to create the assignment when resolve has
    /// not written it yet; `None` when the user is not in the experiment by the event's
    /// context (the event then needs an existing assignment).
    pub fallback: Option<Variant>,
}

/// What became of one event.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum Outcome {
    /// Committed.
    Stored {
        #[serde(rename = "eventId")]
        event_id: Uuid,
        variant: Variant,
    },
    /// Its idempotency key was already stored: nothing new was written.
    Duplicate { variant: Variant },
    /// The user has no assignment in the experiment: the event does not count.
    NotAssigned,
}

/// Why a submission was not written.
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    #[error("the ingestion queue is full; retry shortly")]
    Busy,
    /// The database refused this submission's own values (written on its own, apart from
    /// everyone else's): retrying it as it is cannot succeed.
    #[error("the database refused these events as sent; nothing of them was stored")]
    Refused,
    /// The database could not be reached or failed: retry shortly. (What it said stays in
    /// the server's log.)
    #[error("the events could not be stored right now; retry shortly")]
    Unavailable,
}

/// How a write failed, as a writer tells the request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Failure {
    Refused,
    Unavailable,
}

struct Job {
    events: Vec<PreparedEvent>,
    reply: oneshot::Sender<Result<Vec<Outcome>, Failure>>,
    _permits: tokio::sync::OwnedSemaphorePermit,
}

/// Counters shown by /healthz.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct IngestHealth {
    pub queued_events: usize,
    pub stored: u64,
    pub busy_refusals: u64,
    pub failed_batches: u64,
    /// Submissions written again on their own after a group commit failed, and of those
    /// the ones the database refused.
    pub isolated_retries: u64,
    pub refused_submissions: u64,
    /// Events this server has folded into the per-user rollups (`user_metrics`).
    pub folded_events: u64,
    pub failed_folds: u64,
    /// Events this server's fold put in quarantine (see `store::fold::fold`).
    pub quarantined_events: u64,
    /// Events the last fold round took (a full round means a backlog).
    pub fold_backlog: u64,
    /// Seconds since a fold round last left nothing behind on this server (`None`: none
    /// has yet, or another server holds the fold).
    pub fold_lag_seconds: Option<u64>,
}

#[derive(Default)]
struct Stats {
    stored: AtomicU64,
    busy: AtomicU64,
    failed: AtomicU64,
    isolated: AtomicU64,
    refused: AtomicU64,
    folded: AtomicU64,
    failed_folds: AtomicU64,
    quarantined: AtomicU64,
    fold_backlog: AtomicU64,
    caught_up: std::sync::Mutex<Option<std::time::Instant>>,
}

type Queue = Arc<tokio::sync::Mutex<mpsc::UnboundedReceiver<Job>>>;

/// The handle requests submit through.
pub struct Ingest {
    small: mpsc::UnboundedSender<Job>,
    large: mpsc::UnboundedSender<Job>,
    permits: Arc<Semaphore>,
    capacity: usize,
    stats: Arc<Stats>,
}

/// The names the ingestion tasks have under the supervisor.
pub const SMALL_WRITER: &str = "ingest-writer-small";
pub const LARGE_WRITER: &str = "ingest-writer-large";
pub const FOLD: &str = "fold";

impl Ingest {
    /// Starts the writers and the fold under `supervisor`.
    pub fn start(pool: PgPool, supervisor: &Arc<Supervisor>) -> Ingest {
        Self::start_with_capacity(pool, MAX_QUEUED_EVENTS, supervisor)
    }

    /// Starts the writers with room for `capacity` queued events.
    pub fn start_with_capacity(
        pool: PgPool,
        capacity: usize,
        supervisor: &Arc<Supervisor>,
    ) -> Ingest {
        let stats = Arc::new(Stats::default());
        let cache = Arc::new(AssignmentCache::default());
        let lane = |shard: i16, name: &'static str| {
            let (tx, rx) = mpsc::unbounded_channel();
            // The queue outlives a writer that panics: the next one takes it over.
            let rx: Queue = Arc::new(tokio::sync::Mutex::new(rx));
            let (pool, stats, cache, sup) = (
                pool.clone(),
                stats.clone(),
                cache.clone(),
                supervisor.clone(),
            );
            supervisor.spawn(name, move || {
                writer(
                    pool.clone(),
                    rx.clone(),
                    stats.clone(),
                    cache.clone(),
                    shard,
                    Task {
                        sup: sup.clone(),
                        name,
                    },
                )
            });
            tx
        };
        let (small, large) = (lane(0, SMALL_WRITER), lane(1, LARGE_WRITER));
        let weak = Arc::downgrade(&stats);
        let sup = supervisor.clone();
        supervisor.spawn(FOLD, move || {
            fold(
                pool.clone(),
                weak.clone(),
                Task {
                    sup: sup.clone(),
                    name: FOLD,
                },
            )
        });
        Ingest {
            small,
            large,
            permits: Arc::new(Semaphore::new(capacity)),
            capacity,
            stats,
        }
    }

    /// Queues events and waits until they are committed. The outcomes are in input order.
    pub async fn submit(&self, events: Vec<PreparedEvent>) -> Result<Vec<Outcome>, IngestError> {
        if events.is_empty() {
            return Ok(vec![]);
        }
        let n = u32::try_from(events.len()).map_err(|_| IngestError::Busy)?;
        let permits = self
            .permits
            .clone()
            .try_acquire_many_owned(n)
            .map_err(|_| {
                self.stats.busy.fetch_add(1, Ordering::Relaxed);
                IngestError::Busy
            })?;
        let (reply, answer) = oneshot::channel();
        let lane = if events.len() < LARGE_AT_LEAST {
            &self.small
        } else {
            &self.large
        };
        lane.send(Job {
            events,
            reply,
            _permits: permits,
        })
        .map_err(|_| IngestError::Unavailable)?;
        // A writer that panicked drops the replies it held: the events were not committed.
        match answer.await {
            Ok(Ok(outcomes)) => Ok(outcomes),
            Ok(Err(Failure::Refused)) => Err(IngestError::Refused),
            Ok(Err(Failure::Unavailable)) | Err(_) => Err(IngestError::Unavailable),
        }
    }

    pub fn health(&self) -> IngestHealth {
        let caught_up = *self
            .stats
            .caught_up
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        IngestHealth {
            queued_events: self.capacity - self.permits.available_permits(),
            stored: self.stats.stored.load(Ordering::Relaxed),
            busy_refusals: self.stats.busy.load(Ordering::Relaxed),
            failed_batches: self.stats.failed.load(Ordering::Relaxed),
            isolated_retries: self.stats.isolated.load(Ordering::Relaxed),
            refused_submissions: self.stats.refused.load(Ordering::Relaxed),
            folded_events: self.stats.folded.load(Ordering::Relaxed),
            failed_folds: self.stats.failed_folds.load(Ordering::Relaxed),
            quarantined_events: self.stats.quarantined.load(Ordering::Relaxed),
            fold_backlog: self.stats.fold_backlog.load(Ordering::Relaxed),
            fold_lag_seconds: caught_up.map(|at| at.elapsed().as_secs()),
        }
    }
}

/// A supervised task's handle on its supervisor.
struct Task {
    sup: Arc<Supervisor>,
    name: &'static str,
}
