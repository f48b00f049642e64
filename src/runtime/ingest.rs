//! Durable event ingestion by group commit: requests queue their events, a few writers
//! take everything queued (up to a batch), write it in one transaction with multi-row
//! statements, and only then acknowledge each request. A full queue answers "busy" at once
//! (503 with Retry-After), never a silent drop.

use super::supervise::Supervisor;
use crate::domain::assignment::Variant;
use crate::domain::event::EventDraft;
use crate::domain::stats::Summary;
use crate::store;
use crate::store::assignments::{Assigned, Key};
use crate::store::daily::DailyDelta;
use crate::store::events::EventRow;
use crate::store::streams::FoldStream;
use anyhow::Context;
use chrono::Utc;
use serde::Serialize;
use sqlx::{PgConnection, PgPool};
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use tokio::sync::{Semaphore, mpsc, oneshot};
use uuid::Uuid;

/// Most events waiting or being written at once.
pub const MAX_QUEUED_EVENTS: usize = 200_000;
/// Most events written by one transaction.
const MAX_BATCH: usize = 20_000;
/// Fewest events without an idempotency key that are written by COPY rather than INSERT.
const COPY_AT_LEAST: usize = 64;
/// Submissions of fewer events than this (single events, small batches) queue for the small
/// lane's writer, larger ones for the large lane's. One writer per lane: a commit waits for
/// its WAL flush, and with single events under load that wait, not the CPU, was what bounded
/// them (`IO:WALSync` and `LWLock:WALWrite` were most of what `pg_stat_activity` showed). With
/// one writer each commit carries every event that queued during the last one; with more
/// writers each carried fewer, and they queued for the WAL behind each other (single events,
/// 20 s: 15,374 and 13,683/s with one writer, 10,524 and 13,186/s with two, 7,443–10,088/s
/// with three). Two lanes, so a single event never waits behind a 10,000-event batch. (The
/// small lane's submissions are those the one-statement path can take.)
const LARGE_AT_LEAST: usize = COPY_AT_LEAST;

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

/// Most events of one stream one fold takes (a transaction of bounded size; a backlog takes
/// several folds back to back).
const FOLD_AT_MOST: i64 = 200_000;
/// The pause between folds once nothing is left to fold.
const FOLD_EVERY: std::time::Duration = std::time::Duration::from_secs(2);
/// Folds between two clean-ups of finished streams.
const FORGET_EVERY: u32 = 600;

/// Folds the events into the per-user rollups in the background (see `store::fold::fold`),
/// until the ingestion (whose counters `stats` are) or the pool is gone. The longer the pause,
/// the more batches of one user share one upsert; the results read the events not folded yet
/// too, so the pause delays nothing anyone sees. On its own connection, like the writers.
async fn fold(pool: PgPool, stats: std::sync::Weak<Stats>, task: Task) {
    let mut conn: Option<PgConnection> = None;
    let mut rounds = 0u32;
    loop {
        if pool.is_closed() {
            break;
        }
        task.sup.checkpoint(task.name);
        let folded = async {
            if conn.is_none() {
                conn = Some(store::events::writer_connection(&pool).await?);
            }
            let c = conn.as_mut().expect("connected above");
            rounds = rounds.wrapping_add(1);
            if rounds.is_multiple_of(FORGET_EVERY) {
                store::fold::forget_finished_streams(c).await?;
            }
            store::fold::fold(c, FOLD_AT_MOST).await
        }
        .await;
        let Some(stats) = stats.upgrade() else { break };
        match folded {
            Ok(Some(f)) => {
                task.sup.ok(task.name);
                stats
                    .folded
                    .fetch_add(f.events - f.quarantined, Ordering::Relaxed);
                stats
                    .quarantined
                    .fetch_add(f.quarantined, Ordering::Relaxed);
                stats.fold_backlog.store(f.events, Ordering::Relaxed);
                if f.quarantined > 0 {
                    tracing::error!(
                        events = f.quarantined,
                        "events that cannot be folded were quarantined (see `verdict quarantine`)"
                    );
                }
                if f.events as i64 >= FOLD_AT_MOST {
                    // A backlog (a stream had more than one fold takes): fold again once the
                    // writers had a turn.
                    drop(stats);
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                    continue;
                }
                *stats.caught_up.lock().unwrap_or_else(|e| e.into_inner()) =
                    Some(std::time::Instant::now());
            }
            Ok(None) => {
                // Another server is folding: it reports its own lag.
                task.sup.ok(task.name);
                *stats.caught_up.lock().unwrap_or_else(|e| e.into_inner()) = None;
            }
            Err(err) => {
                stats.failed_folds.fetch_add(1, Ordering::Relaxed);
                task.sup
                    .failed(task.name, "folding events into the rollups fails; retrying");
                tracing::warn!(error = %err, "folding events into the rollups failed; retrying");
                if let Some(c) = conn.take() {
                    let _ = sqlx::Connection::close(c).await;
                }
            }
        }
        drop(stats);
        tokio::select! {
            () = tokio::time::sleep(FOLD_EVERY) => {}
            () = pool.close_event() => break,
        }
    }
    if let Some(c) = conn {
        let _ = sqlx::Connection::close(c).await;
    }
}

/// A writer's connection and its stream of fold keys, opened at its first batch and again
/// after a failure that was not about the data.
type WriterConn = Option<(PgConnection, FoldStream)>;

/// One writer; `shard` is its own slice of the daily rollup rows (no lock queue between
/// writers on a hot row). It keeps one connection of its own (see
/// `store::events::writer_connection`), with a stream of fold keys for it (a new one hourly
/// too, so a stream older than a day is known finished), and stops when the queue closes or
/// the pool does.
///
/// When a group commit fails on the data (a value the database refuses), every submission
/// of it is written again on its own: only the one the database refuses is refused, the
/// others are stored. When it fails otherwise (the database is away), every submission gets
/// "unavailable, retry" and the connection is opened anew.
async fn writer(
    pool: PgPool,
    queue: Queue,
    stats: Arc<Stats>,
    cache: Arc<AssignmentCache>,
    shard: i16,
    task: Task,
) {
    let mut rx = queue.lock().await;
    let mut conn: WriterConn = None;
    loop {
        let mut jobs = Vec::new();
        {
            let first = tokio::select! {
                job = rx.recv() => job,
                () = pool.close_event() => None,
            };
            let Some(first) = first else { break };
            let mut size = first.events.len();
            jobs.push(first);
            while size < MAX_BATCH {
                match rx.try_recv() {
                    Ok(job) => {
                        size += job.events.len();
                        jobs.push(job);
                    }
                    Err(_) => break,
                }
            }
        }
        task.sup.checkpoint(task.name);
        let events: Vec<&PreparedEvent> = jobs.iter().flat_map(|j| j.events.iter()).collect();
        let written = attempt(&pool, &mut conn, &cache, &events, shard).await;
        drop(events);
        match written {
            Ok(outcomes) => {
                task.sup.ok(task.name);
                count_stored(&stats, &outcomes);
                let mut outcomes = outcomes.into_iter();
                for job in jobs {
                    let mine = outcomes.by_ref().take(job.events.len()).collect();
                    let _ = job.reply.send(Ok(mine));
                }
            }
            Err(Failure::Refused) if jobs.len() > 1 => {
                // Each on its own: only what the database refuses is refused.
                stats.failed.fetch_add(1, Ordering::Relaxed);
                for job in jobs {
                    stats.isolated.fetch_add(1, Ordering::Relaxed);
                    let events: Vec<&PreparedEvent> = job.events.iter().collect();
                    let alone = attempt(&pool, &mut conn, &cache, &events, shard).await;
                    drop(events);
                    match &alone {
                        Ok(outcomes) => count_stored(&stats, outcomes),
                        Err(Failure::Refused) => {
                            stats.refused.fetch_add(1, Ordering::Relaxed);
                        }
                        Err(Failure::Unavailable) => {}
                    }
                    let _ = job.reply.send(alone);
                }
                task.sup.ok(task.name);
            }
            Err(failure) => {
                stats.failed.fetch_add(1, Ordering::Relaxed);
                if failure == Failure::Refused {
                    stats.refused.fetch_add(1, Ordering::Relaxed);
                    task.sup.ok(task.name);
                } else {
                    task.sup
                        .failed(task.name, "writing events fails (is the database up?)");
                }
                for job in jobs {
                    let _ = job.reply.send(Err(failure));
                }
            }
        }
    }
    if let Some((c, _)) = conn.take() {
        let _ = sqlx::Connection::close(c).await;
    }
}

fn count_stored(stats: &Stats, outcomes: &[Outcome]) {
    let stored = outcomes
        .iter()
        .filter(|o| matches!(o, Outcome::Stored { .. }))
        .count();
    stats.stored.fetch_add(stored as u64, Ordering::Relaxed);
}

/// Writes `events` on the writer's connection (opening it first when needed), all or
/// nothing. A failure about the data keeps the connection (its transaction rolled back);
/// any other closes it, and the next attempt opens a new one with a new stream.
async fn attempt(
    pool: &PgPool,
    conn: &mut WriterConn,
    cache: &AssignmentCache,
    events: &[&PreparedEvent],
    shard: i16,
) -> Result<Vec<Outcome>, Failure> {
    let written = async {
        if conn.is_none() {
            let mut c = store::events::writer_connection(pool)
                .await
                .context("Failed to connect")?;
            let stream = store::streams::new_stream(&mut c)
                .await
                .context("Failed to register a stream")?;
            *conn = Some((c, stream));
        }
        let (c, stream) = conn.as_mut().expect("connected above");
        // (A batch may take its keys twice: see `write`.)
        if stream.room() < 2 * events.len() as i64 || stream.started.elapsed() > STREAM_FOR {
            *stream = store::streams::new_stream(c)
                .await
                .context("Failed to register a stream")?;
        }
        write(c, stream, cache, events, shard).await
    }
    .await;
    written.map_err(|err| {
        let data = err
            .downcast_ref::<sqlx::Error>()
            .is_some_and(store::fold::is_data_error);
        tracing::error!(
            error = format!("{err:#}"),
            events = events.len(),
            "event batch failed; nothing of it was stored"
        );
        if data {
            Failure::Refused
        } else {
            *conn = None;
            Failure::Unavailable
        }
    })
}

/// How long a writer keeps one stream of fold keys.
const STREAM_FOR: std::time::Duration = std::time::Duration::from_secs(3600);

/// The batch's users, each with the variant its first event hashes to, sorted in lock order
/// (one order for every writer and the exposure writer: no deadlocks), and each event's user
/// as a position among them. Keys are borrowed from the events: nothing is copied per event.
fn users_of<'a>(events: &[&'a PreparedEvent]) -> (Vec<(Key<'a>, Option<Variant>)>, Vec<usize>) {
    let mut users: Vec<(Key<'a>, Option<Variant>)> = Vec::new();
    let mut user_of: Vec<usize> = Vec::with_capacity(events.len());
    {
        let mut seen: HashMap<Key<'a>, usize> = HashMap::with_capacity(events.len());
        for e in events {
            let key = Key {
                tenant: e.draft.tenant_id.as_str(),
                experiment: e.draft.experiment_id,
                user: e.draft.user_id.as_str(),
            };
            let next = users.len();
            let u = *seen.entry(key).or_insert(next);
            if u == next {
                users.push((key, e.fallback));
            }
            user_of.push(u);
        }
    }
    let mut order: Vec<usize> = (0..users.len()).collect();
    order.sort_unstable_by(|a, b| users[*a].0.cmp(&users[*b].0));
    let mut rank = vec![0; users.len()];
    for (r, u) in order.iter().enumerate() {
        rank[*u] = r;
    }
    let users = order.iter().map(|u| users[*u]).collect();
    for u in &mut user_of {
        *u = rank[*u];
    }
    (users, user_of)
}

/// Writes `events`, all or nothing; returns their outcomes in order. A small batch without
/// idempotency keys (single events under load) goes in one statement that commits by itself;
/// anything else, or a small batch that statement had to give back, in a transaction of a
/// few statements.
///
/// `stream` has room for twice as many keys as there are events (a small batch given back
/// takes new keys the second time).
async fn write(
    conn: &mut PgConnection,
    stream: &mut FoldStream,
    cache: &AssignmentCache,
    events: &[&PreparedEvent],
    shard: i16,
) -> anyhow::Result<Vec<Outcome>> {
    let small =
        events.len() < COPY_AT_LEAST && events.iter().all(|e| e.draft.idempotency_key.is_none());
    if small {
        match write_small(conn, stream, cache, events, shard).await {
            Ok(outcomes) => return Ok(outcomes),
            Err(err) if store::events::is_retry(&err) => {}
            Err(err) => {
                return Err(anyhow::Error::new(err).context("Failed to write a small batch"));
            }
        }
    }
    write_batch(conn, stream, cache, events, shard).await
}

/// The next fold key of `stream`, which the writer made room for (see `write`).
fn next_key(stream: &mut FoldStream) -> i64 {
    stream
        .next_key()
        .expect("the writer takes a new stream before this one runs out")
}

/// `write` for a small batch without idempotency keys, in the one statement of
/// `store::events::ingest_small`.
async fn write_small(
    conn: &mut PgConnection,
    stream: &mut FoldStream,
    cache: &AssignmentCache,
    events: &[&PreparedEvent],
    shard: i16,
) -> sqlx::Result<Vec<Outcome>> {
    use store::events::{SmallEvent, SmallUser};
    let (users, user_of) = users_of(events);
    let keys: Vec<Key<'_>> = users.iter().map(|(k, _)| *k).collect();
    let cached = cache.get(&keys);
    let (small_users, small_events) = {
        // (The generator is not Send: it must not live across an await.)
        let mut ids = store::fresh_ids();
        let small_users: Vec<SmallUser<'_>> = users
            .iter()
            .zip(&cached)
            .map(|((key, fallback), known)| match known {
                Some(Assigned { id, control }) => SmallUser {
                    key: *key,
                    id: *id,
                    variant: Some(variant_of(*control).as_str()),
                    known: true,
                },
                None => SmallUser {
                    key: *key,
                    id: ids(),
                    variant: fallback.map(|v| v.as_str()),
                    known: false,
                },
            })
            .collect();
        let small_events: Vec<SmallEvent<'_>> = events
            .iter()
            .zip(&user_of)
            .map(|(e, u)| SmallEvent {
                id: ids(),
                user: *u,
                fold_key: next_key(stream),
                draft: &e.draft,
            })
            .collect();
        (small_users, small_events)
    };
    let assigned =
        store::events::ingest_small(conn, &small_users, &small_events, Utc::now(), shard).await?;
    cache.put(
        (0..keys.len())
            .filter(|i| cached[*i].is_none())
            .filter_map(|i| assigned[i].map(|a| (keys[i], a))),
    );
    Ok(small_events
        .iter()
        .map(|e| match assigned[e.user] {
            Some(Assigned { control, .. }) => Outcome::Stored {
                event_id: e.id,
                variant: variant_of(control),
            },
            None => Outcome::NotAssigned,
        })
        .collect())
}

fn variant_of(control: bool) -> Variant {
    if control {
        Variant::Control
    } else {
        Variant::Treatment
    }
}

/// `write` in one transaction of a few statements: assignments read or created, events by
/// binary `COPY` (or `INSERT … ON CONFLICT DO NOTHING` for those with an idempotency key, or
/// when few), and their daily rollups.
async fn write_batch(
    conn: &mut PgConnection,
    stream: &mut FoldStream,
    cache: &AssignmentCache,
    events: &[&PreparedEvent],
    shard: i16,
) -> anyhow::Result<Vec<Outcome>> {
    let now = Utc::now();
    let (users, user_of) = users_of(events);
    let keys: Vec<Key<'_>> = users.iter().map(|(k, _)| *k).collect();
    let mut tx = sqlx::Connection::begin(&mut *conn)
        .await
        .context("Failed to begin")?;
    // Assignments seen committed before come from memory; the rest from the database.
    let mut assignments = cache.get(&keys);
    let unknown: Vec<usize> = (0..keys.len())
        .filter(|i| assignments[*i].is_none())
        .collect();
    // Users the cache lacks: those in the experiment by the hash are created or read in one
    // statement (one round trip matters for small batches); the others can only be read.
    let missing: Vec<(usize, (Key<'_>, &'static str))> = unknown
        .iter()
        .filter_map(|i| users[*i].1.map(|v| (*i, (users[*i].0, v.as_str()))))
        .collect();
    let read_only: Vec<usize> = unknown
        .iter()
        .copied()
        .filter(|i| users[*i].1.is_none())
        .collect();
    read_assignments(&mut tx, &keys, &read_only, &mut assignments).await?;
    if !missing.is_empty() {
        let create: Vec<(Key<'_>, &'static str)> = missing.iter().map(|(_, c)| *c).collect();
        let created = store::assignments::create_assignments(&mut tx, &create, now)
            .await
            .context("Failed to create assignments")?;
        for ((i, _), a) in missing.iter().zip(created) {
            assignments[*i] = a;
        }
        // An assignment another writer committed while this statement ran is not in its
        // snapshot: look again for those (rare) before calling anyone unassigned.
        let unseen: Vec<usize> = missing
            .iter()
            .map(|(i, _)| *i)
            .filter(|i| assignments[*i].is_none())
            .collect();
        read_assignments(&mut tx, &keys, &unseen, &mut assignments).await?;
    }
    let mut rows = Vec::with_capacity(events.len());
    // Per event: its id, variant, and whether it carries an idempotency key.
    let mut plan: Vec<Option<(Uuid, Variant, bool)>> = Vec::with_capacity(events.len());
    {
        // (The generator is not Send: it must not live across an await.)
        let mut ids = store::fresh_ids();
        for (e, u) in events.iter().zip(&user_of) {
            match assignments[*u] {
                Some(Assigned {
                    id: assignment_id,
                    control,
                }) => {
                    let variant = variant_of(control);
                    let id = ids();
                    rows.push(EventRow {
                        id,
                        assignment_id,
                        variant: variant.as_str(),
                        fold_key: next_key(stream),
                        draft: &e.draft,
                    });
                    plan.push(Some((id, variant, e.draft.idempotency_key.is_some())));
                }
                None => plan.push(None),
            }
        }
    }
    // Events without an idempotency key cannot conflict: they go in by binary COPY. Those
    // with one keep `INSERT … ON CONFLICT DO NOTHING`, which tells which keys were new.
    let (keyed, unkeyed): (Vec<EventRow<'_>>, Vec<EventRow<'_>>) = rows
        .into_iter()
        .partition(|r| r.draft.idempotency_key.is_some());
    // What the stored events add to the daily rollups: all events without a key, and those
    // with a key the database took as new.
    let deltas = |inserted: &HashSet<Uuid>| {
        daily_deltas(events.iter().zip(&plan).filter_map(|(e, p)| {
            p.filter(|(id, _, keyed)| !keyed || inserted.contains(id))
                .map(|(_, variant, _)| (&e.draft, variant))
        }))
    };
    let inserted: HashSet<Uuid> = if keyed.is_empty() && unkeyed.len() < COPY_AT_LEAST {
        // A small batch without keys that `write_small` gave back (an assignment created by
        // someone else at the same moment): nothing can be a duplicate, so the events and
        // their daily rollups go in one statement.
        let days = deltas(&HashSet::new());
        if !unkeyed.is_empty() {
            store::events::insert_with_daily(&mut tx, &unkeyed, &days, shard)
                .await
                .context("Failed to insert events and update their rollups")?;
        }
        HashSet::new()
    } else {
        // COPY costs one more round trip than a statement: few events without a key go with
        // the keyed ones into the INSERT, where they cannot conflict either.
        let (keyed, unkeyed) = if unkeyed.len() < COPY_AT_LEAST {
            (keyed.into_iter().chain(unkeyed).collect(), Vec::new())
        } else {
            (keyed, unkeyed)
        };
        let copied = store::copy::copy(&mut tx, &unkeyed)
            .await
            .context("Failed to copy events")?;
        anyhow::ensure!(
            copied == unkeyed.len() as u64,
            "COPY wrote {copied} of {} events",
            unkeyed.len()
        );
        let inserted: HashSet<Uuid> = store::events::insert(&mut tx, &keyed)
            .await
            .context("Failed to insert events")?
            .into_iter()
            .collect();
        let days = deltas(&inserted);
        store::daily::add_to_daily(&mut tx, &days, shard)
            .await
            .context("Failed to update the daily rollups")?;
        inserted
    };
    tx.commit().await.context("Failed to commit events")?;
    // Only now are the assignments this batch created committed (a rolled-back batch must
    // leave none in memory).
    cache.put(
        unknown
            .iter()
            .filter_map(|i| assignments[*i].map(|a| (keys[*i], a))),
    );

    Ok(plan
        .into_iter()
        .map(|p| match p {
            None => Outcome::NotAssigned,
            Some((id, variant, keyed)) if !keyed || inserted.contains(&id) => Outcome::Stored {
                event_id: id,
                variant,
            },
            Some((_, variant, _)) => Outcome::Duplicate { variant },
        })
        .collect())
}

/// Reads the assignments of the users at `positions` (of `keys`) into `assignments`.
async fn read_assignments(
    tx: &mut sqlx::PgConnection,
    keys: &[Key<'_>],
    positions: &[usize],
    assignments: &mut [Option<Assigned>],
) -> anyhow::Result<()> {
    if positions.is_empty() {
        return Ok(());
    }
    let wanted: Vec<Key<'_>> = positions.iter().map(|i| keys[*i]).collect();
    let found = store::assignments::assignments(tx, &wanted)
        .await
        .context("Failed to read assignments")?;
    for (i, a) in positions.iter().zip(found) {
        assignments[*i] = a;
    }
    Ok(())
}

/// Most assignments kept in memory (about 100 bytes each); past it the cache starts afresh.
const CACHED_ASSIGNMENTS: usize = 500_000;

/// The assignments the writers have seen committed, by experiment, tenant and user. An
/// assignment is never moved nor deleted once committed (its variant is fixed; experiments
/// are never deleted), so a copy in memory stays true and is shared by every writer: a user
/// seen before costs the database no look-up. A user the cache does not hold is read (or
/// created) as before.
#[derive(Default)]
struct AssignmentCache {
    inner: std::sync::Mutex<CacheInner>,
}

#[derive(Default)]
struct CacheInner {
    len: usize,
    by_experiment: HashMap<Uuid, HashMap<String, HashMap<String, Assigned>>>,
}

impl AssignmentCache {
    /// The cached assignment of each key, by position.
    fn get(&self, keys: &[Key<'_>]) -> Vec<Option<Assigned>> {
        let inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        keys.iter()
            .map(|k| {
                inner
                    .by_experiment
                    .get(&k.experiment)
                    .and_then(|t| t.get(k.tenant))
                    .and_then(|u| u.get(k.user))
                    .copied()
            })
            .collect()
    }

    /// Remembers committed assignments.
    fn put<'a>(&self, assigned: impl Iterator<Item = (Key<'a>, Assigned)>) {
        let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        for (
            Key {
                tenant,
                experiment,
                user,
            },
            a,
        ) in assigned
        {
            if inner.len >= CACHED_ASSIGNMENTS {
                inner.by_experiment.clear();
                inner.len = 0;
            }
            let added = inner
                .by_experiment
                .entry(experiment)
                .or_default()
                .entry(tenant.to_owned())
                .or_default()
                .insert(user.to_owned(), a)
                .is_none();
            inner.len += usize::from(added);
        }
    }
}

/// (n, mean, M2) of a summary, as the daily rollups store them.
fn moments(s: &Summary) -> (i64, f64, f64) {
    (i64::try_from(s.n).unwrap_or(i64::MAX), s.mean, s.m2)
}

/// What the stored events add to the daily rollups, sorted by key (one lock order for every
/// writer).
fn daily_deltas<'a>(stored: impl Iterator<Item = (&'a EventDraft, Variant)>) -> Vec<DailyDelta> {
    use std::collections::BTreeMap;
    let mut days: BTreeMap<(Uuid, chrono::NaiveDate, &str), (i64, Summary, Summary)> =
        BTreeMap::new();
    for (d, variant) in stored {
        let day = days
            .entry((d.experiment_id, d.timestamp.date_naive(), variant.as_str()))
            .or_default();
        day.0 += 1;
        if let Some(q) = d.quality {
            day.1.add(q);
        }
        if let Some(l) = d.latency_ms {
            day.2.add(l);
        }
    }
    days.into_iter()
        .map(
            |((experiment_id, day, variant), (events, q, l))| DailyDelta {
                experiment_id,
                day,
                variant,
                events,
                quality: moments(&q),
                latency: moments(&l),
            },
        )
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::event::EventType;
    use chrono::TimeZone;

    fn event(tenant: &str, experiment: u128, user: &str, quality: Option<f64>) -> PreparedEvent {
        PreparedEvent {
            draft: EventDraft {
                experiment_id: Uuid::from_u128(experiment),
                tenant_id: tenant.into(),
                user_id: user.into(),
                event_type: EventType::Feedback,
                quality,
                latency_ms: Some(100.0),
                tokens_used: None,
                cost: None,
                satisfaction: None,
                custom: Default::default(),
                insight_id: None,
                conversation_id: None,
                intent: None,
                scope: None,
                timestamp: Utc.with_ymd_and_hms(2026, 12, 3, 10, 0, 0).unwrap(),
                idempotency_key: None,
            },
            fallback: Some(Variant::Treatment),
        }
    }

    /// A batch's users are found once each, every event points at its user, and the users
    /// come in lock order (tenant, experiment, user) whatever order the events came in.
    #[test]
    fn a_batchs_users_are_deduplicated_and_sorted_in_lock_order() {
        let evs = [
            event("b", 1, "u2", None),
            event("a", 2, "u1", None),
            event("b", 1, "u2", None),
            event("a", 1, "u9", None),
        ];
        let refs: Vec<&PreparedEvent> = evs.iter().collect();
        let (users, user_of) = users_of(&refs);
        let keys: Vec<(&str, u128, &str)> = users
            .iter()
            .map(|(k, _)| (k.tenant, k.experiment.as_u128(), k.user))
            .collect();
        assert_eq!(keys, vec![("a", 1, "u9"), ("a", 2, "u1"), ("b", 1, "u2")]);
        assert_eq!(user_of, vec![2, 1, 2, 0]);
        assert!(users.iter().all(|(_, v)| *v == Some(Variant::Treatment)));
    }

    /// The daily deltas are per (experiment, day, arm): events counted, and (n, mean, M2) of
    /// the values present, as `stats::Summary` computes them.
    #[test]
    fn daily_deltas_summarise_each_day_and_arm() {
        let evs = [
            event("a", 1, "u1", Some(0.5)),
            event("a", 1, "u2", Some(1.0)),
            event("a", 1, "u3", None),
        ];
        let deltas = daily_deltas(evs.iter().map(|e| (&e.draft, Variant::Control)));
        assert_eq!(deltas.len(), 1);
        let d = &deltas[0];
        assert_eq!(d.events, 3);
        assert_eq!(d.quality, (2, 0.75, 0.125));
        assert_eq!(d.latency, (3, 100.0, 0.0));
        let split = daily_deltas(
            evs.iter()
                .zip([Variant::Control, Variant::Treatment, Variant::Treatment])
                .map(|(e, v)| (&e.draft, v)),
        );
        assert_eq!(split.len(), 2);
        assert_eq!(split[0].variant, "control");
    }
}
