//! Durable event ingestion by group commit: requests queue their events, a few writers
//! take everything queued (up to a batch), write it in one transaction with multi-row
//! statements, and only then acknowledge each request. A full queue answers "busy" at once
//! (503 with Retry-After), never a silent drop.

use crate::domain::assignment::Variant;
use crate::domain::event::EventDraft;
use crate::store;
use crate::store::events::{Assigned, DailyDelta, EventRow, Key, UserDelta};
use anyhow::Context;
use chrono::Utc;
use serde::Serialize;
use sqlx::PgPool;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use tokio::sync::{Mutex, Semaphore, mpsc, oneshot};
use uuid::Uuid;

/// Most events waiting or being written at once.
pub const MAX_QUEUED_EVENTS: usize = 200_000;
/// Most events written by one transaction.
const MAX_BATCH: usize = 20_000;
/// Fewest events without an idempotency key that are written by COPY rather than INSERT.
const COPY_AT_LEAST: usize = 64;
/// Parallel writers (each with its own connection): commits overlap their fsyncs.
const WRITERS: usize = 3;

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
    #[error("the events could not be written: {0}")]
    Failed(String),
}

struct Job {
    events: Vec<PreparedEvent>,
    reply: oneshot::Sender<Result<Vec<Outcome>, String>>,
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
}

#[derive(Default)]
struct Stats {
    stored: AtomicU64,
    busy: AtomicU64,
    failed: AtomicU64,
}

/// The handle requests submit through.
pub struct Ingest {
    tx: mpsc::UnboundedSender<Job>,
    permits: Arc<Semaphore>,
    capacity: usize,
    stats: Arc<Stats>,
}

impl Ingest {
    /// Starts the writers.
    pub fn start(pool: PgPool) -> Ingest {
        Self::start_with_capacity(pool, MAX_QUEUED_EVENTS)
    }

    /// Starts the writers with room for `capacity` queued events.
    pub fn start_with_capacity(pool: PgPool, capacity: usize) -> Ingest {
        let (tx, rx) = mpsc::unbounded_channel();
        let rx = Arc::new(Mutex::new(rx));
        let stats = Arc::new(Stats::default());
        let cache = Arc::new(AssignmentCache::default());
        for shard in 0..WRITERS {
            tokio::spawn(writer(
                pool.clone(),
                rx.clone(),
                stats.clone(),
                cache.clone(),
                shard as i16,
            ));
        }
        Ingest {
            tx,
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
        self.tx
            .send(Job {
                events,
                reply,
                _permits: permits,
            })
            .map_err(|_| IngestError::Failed("the ingestion writers have stopped".into()))?;
        answer
            .await
            .map_err(|_| IngestError::Failed("the writer stopped before answering".into()))?
            .map_err(IngestError::Failed)
    }

    pub fn health(&self) -> IngestHealth {
        IngestHealth {
            queued_events: self.capacity - self.permits.available_permits(),
            stored: self.stats.stored.load(Ordering::Relaxed),
            busy_refusals: self.stats.busy.load(Ordering::Relaxed),
            failed_batches: self.stats.failed.load(Ordering::Relaxed),
        }
    }
}

/// One writer; `shard` is its own slice of the daily rollup rows (no lock queue between
/// writers on a hot row).
async fn writer(
    pool: PgPool,
    rx: Arc<Mutex<mpsc::UnboundedReceiver<Job>>>,
    stats: Arc<Stats>,
    cache: Arc<AssignmentCache>,
    shard: i16,
) {
    loop {
        let mut jobs = Vec::new();
        {
            let mut rx = rx.lock().await;
            let Some(first) = rx.recv().await else { return };
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
        match write(&pool, &cache, &jobs, shard).await {
            Ok(outcomes) => {
                let stored = outcomes
                    .iter()
                    .flatten()
                    .filter(|o| matches!(o, Outcome::Stored { .. }))
                    .count();
                stats.stored.fetch_add(stored as u64, Ordering::Relaxed);
                for (job, outcome) in jobs.into_iter().zip(outcomes) {
                    let _ = job.reply.send(Ok(outcome));
                }
            }
            Err(err) => {
                stats.failed.fetch_add(1, Ordering::Relaxed);
                let message = format!("{err:#}");
                tracing::error!(error = %message, "event batch failed; nothing of it was stored");
                for job in jobs {
                    let _ = job.reply.send(Err(message.clone()));
                }
            }
        }
    }
}

/// Writes all events of `jobs` in one transaction; returns the outcomes per job.
async fn write(
    pool: &PgPool,
    cache: &AssignmentCache,
    jobs: &[Job],
    shard: i16,
) -> anyhow::Result<Vec<Vec<Outcome>>> {
    let now = Utc::now();
    let events: Vec<&PreparedEvent> = jobs.iter().flat_map(|j| j.events.iter()).collect();
    fn key_of(e: &PreparedEvent) -> Key<'_> {
        (
            e.draft.tenant_id.as_str(),
            e.draft.experiment_id,
            e.draft.user_id.as_str(),
        )
    }
    // The batch's users, each with the variant its first event hashes to (keys are borrowed
    // from the events: nothing is copied per event).
    let mut users: Vec<(Key<'_>, Option<Variant>)> = Vec::new();
    // Each event's user, as a position in `users` (one hash look-up per event).
    let mut user_of: Vec<usize> = Vec::with_capacity(events.len());
    {
        let mut seen: HashMap<Key<'_>, usize> = HashMap::with_capacity(events.len());
        for e in &events {
            let key = key_of(e);
            let next = users.len();
            let u = *seen.entry(key).or_insert(next);
            if u == next {
                users.push((key, e.fallback));
            }
            user_of.push(u);
        }
    }
    // One lock order for every writer (and the exposure writer): no deadlocks.
    let mut order: Vec<usize> = (0..users.len()).collect();
    order.sort_unstable_by(|a, b| users[*a].0.cmp(&users[*b].0));
    let mut rank = vec![0; users.len()];
    for (r, u) in order.iter().enumerate() {
        rank[*u] = r;
    }
    let users: Vec<(Key<'_>, Option<Variant>)> = order.iter().map(|u| users[*u]).collect();
    for u in &mut user_of {
        *u = rank[*u];
    }
    let keys: Vec<Key<'_>> = users.iter().map(|(k, _)| *k).collect();
    let mut tx = store::events::begin(pool)
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
        let created = store::events::create_assignments(&mut tx, &create, now)
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
                Some((assignment_id, control)) => {
                    let variant = if control {
                        Variant::Control
                    } else {
                        Variant::Treatment
                    };
                    let id = ids();
                    rows.push(EventRow {
                        id,
                        assignment_id,
                        variant: variant.as_str(),
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
    // What the stored events add to the rollups: all events without a key, and those with a
    // key the database took as new.
    let deltas = |inserted: &HashSet<Uuid>| {
        rollup_deltas(
            &keys,
            events
                .iter()
                .zip(&user_of)
                .zip(&plan)
                .filter_map(|((e, u), p)| {
                    p.filter(|(id, _, keyed)| !keyed || inserted.contains(id))
                        .map(|(_, variant, _)| (*u, &e.draft, variant))
                }),
        )
    };
    let inserted: HashSet<Uuid> = if keyed.is_empty() && unkeyed.len() < COPY_AT_LEAST {
        // A small batch without keys (single events under load): nothing can be a duplicate,
        // so the events and their rollups go in one statement (COPY would cost one more round
        // trip, a separate rollup statement another).
        let (users, days) = deltas(&HashSet::new());
        if !unkeyed.is_empty() {
            store::events::insert_with_rollups(&mut tx, &unkeyed, &users, &days, shard)
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
        let copied = store::events::copy(&mut tx, &unkeyed)
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
        let (users, days) = deltas(&inserted);
        store::events::add_to_rollups(&mut tx, &users, &days, shard)
            .await
            .context("Failed to update the per-user and daily rollups")?;
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

    let mut outcomes = plan.into_iter().map(|p| match p {
        None => Outcome::NotAssigned,
        Some((id, variant, keyed)) if !keyed || inserted.contains(&id) => Outcome::Stored {
            event_id: id,
            variant,
        },
        Some((_, variant, _)) => Outcome::Duplicate { variant },
    });
    Ok(jobs
        .iter()
        .map(|job| outcomes.by_ref().take(job.events.len()).collect())
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
    let found = store::events::assignments(tx, &wanted)
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
            .map(|(tenant, experiment, user)| {
                inner
                    .by_experiment
                    .get(experiment)
                    .and_then(|t| t.get(*tenant))
                    .and_then(|u| u.get(*user))
                    .copied()
            })
            .collect()
    }

    /// Remembers committed assignments.
    fn put<'a>(&self, assigned: impl Iterator<Item = (Key<'a>, Assigned)>) {
        let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        for ((tenant, experiment, user), a) in assigned {
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

/// Running (n, mean, M2) of one metric (Welford).
#[derive(Debug, Clone, Copy, Default)]
struct Moments(i64, f64, f64);

impl Moments {
    fn add(&mut self, x: f64) {
        self.0 += 1;
        let delta = x - self.1;
        self.1 += delta / self.0 as f64;
        self.2 += delta * (x - self.1);
    }
}

/// What the stored events (each with its user's position in `users`, which is sorted in lock
/// order) add to the per-user and per-day rollups, sorted by key (one lock order for every
/// writer).
fn rollup_deltas<'a>(
    users: &[Key<'a>],
    stored: impl Iterator<Item = (usize, &'a EventDraft, Variant)>,
) -> (Vec<UserDelta<'a>>, Vec<DailyDelta>) {
    use std::collections::BTreeMap;
    let mut per_user: Vec<Option<UserDelta<'a>>> = vec![None; users.len()];
    let mut days: BTreeMap<(Uuid, chrono::NaiveDate, &str), (i64, Moments, Moments)> =
        BTreeMap::new();
    for (user, d, variant) in stored {
        let variant = variant.as_str();
        let (tenant_id, experiment_id, user_id) = users[user];
        let u = per_user[user].get_or_insert(UserDelta {
            experiment_id,
            tenant_id,
            user_id,
            variant,
            events: 0,
            errors: 0,
            sums: [(0, 0.0); 6],
            positive: 0,
            negative: 0,
            neutral: 0,
            first: d.timestamp,
            last: d.timestamp,
        });
        u.events += 1;
        if d.event_type == crate::domain::event::EventType::Error {
            u.errors += 1;
        }
        let custom = |name: &str| d.custom.get(name).and_then(|v| v.as_f64());
        let values = [
            d.quality,
            custom("citation_quality"),
            d.latency_ms,
            d.tokens_used.map(|t| t as f64),
            d.cost,
            custom("pre_experiment"),
        ];
        for (slot, value) in u.sums.iter_mut().zip(values) {
            if let Some(x) = value {
                slot.0 += 1;
                slot.1 += x;
            }
        }
        match d.satisfaction {
            Some(crate::domain::event::Satisfaction::Positive) => u.positive += 1,
            Some(crate::domain::event::Satisfaction::Negative) => u.negative += 1,
            Some(crate::domain::event::Satisfaction::Neutral) => u.neutral += 1,
            None => {}
        }
        u.first = u.first.min(d.timestamp);
        u.last = u.last.max(d.timestamp);

        let day = days
            .entry((d.experiment_id, d.timestamp.date_naive(), variant))
            .or_default();
        day.0 += 1;
        if let Some(q) = d.quality {
            day.1.add(q);
        }
        if let Some(l) = d.latency_ms {
            day.2.add(l);
        }
    }
    let days = days
        .into_iter()
        .map(
            |((experiment_id, day, variant), (events, q, l))| DailyDelta {
                experiment_id,
                day,
                variant,
                events,
                quality: (q.0, q.1, q.2),
                latency: (l.0, l.1, l.2),
            },
        )
        .collect();
    (per_user.into_iter().flatten().collect(), days)
}
