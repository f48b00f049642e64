//! The runtime that sits on the AI product's hot path, one module per concern:
//! - `snapshot`: the in-memory snapshot of the live experiments and deployments that resolve
//!   answers from, refreshed on change notifications from PostgreSQL, with a periodic full
//!   reload as a safety net;
//! - `exposure`: exposure bookkeeping, written behind the answers;
//! - `credentials`: the memory of API tokens and sessions;
//! - `ingest`: the event ingestion pipeline (group-commit writers, the fold);
//! - `supervise`: restarts of every background task, and their health.

mod credentials;
pub mod exposure;
pub mod ingest;
mod snapshot;
pub mod supervise;

pub use snapshot::CHANNEL;

use crate::domain::assignment::RequestContext;
use crate::domain::resolve::{Exposure, HoldoutAssignment, Resolution, Snapshot, TargetRef};
use arc_swap::ArcSwap;
use chrono::{DateTime, Utc};
use credentials::{AUTH_LOOKUPS, Credentials};
use exposure::{ExposureRecord, ExposureStats};
use serde::Serialize;
use snapshot::{LISTENER, RELOADER, listen, reload_loop};
use sqlx::PgPool;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;
use supervise::{Supervisor, TaskHealth};
use tokio::sync::{Notify, Semaphore, mpsc};

/// A snapshot older than this (failed reloads) is reported stale by /healthz.
const STALE_AFTER: Duration = Duration::from_secs(90);
/// The fold is lagging when it has not caught up for this long.
const FOLD_LAG_LIMIT: Duration = Duration::from_secs(30);

/// What /healthz says about the runtime.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RuntimeHealth {
    pub fresh: bool,
    pub listening: bool,
    pub experiments: usize,
    pub deployments: usize,
    pub last_refresh: Option<DateTime<Utc>>,
    /// Whether the last reload failed (its reason is in the server's log).
    pub last_reload_failed: bool,
    /// Assignment rows created or updated by exposure bookkeeping.
    pub exposures_written: u64,
    /// Resolves whose bookkeeping was dropped because the queue was full.
    pub exposures_dropped: u64,
    pub exposure_batches_failed: u64,
    pub ingest: ingest::IngestHealth,
    /// Every background task: restarts, failures, health.
    pub tasks: BTreeMap<&'static str, TaskHealth>,
    /// Bearer tokens and sessions refused without a database look-up.
    pub auth_refused_from_memory: u64,
    /// Reloads of every live experiment (at start, every 30 s, after missed notifications).
    pub full_reloads: u64,
    /// Reloads of one experiment named by a change notification or a change made here.
    pub experiment_reloads: u64,
}

#[derive(Debug, Default)]
struct CacheState {
    last_refresh: Option<DateTime<Utc>>,
    last_error: bool,
    listening: bool,
}

/// The in-process runtime. Cheap to share (`Arc`).
pub struct Runtime {
    pool: PgPool,
    snapshot: ArcSwap<Snapshot>,
    /// Held by whoever replaces the snapshot, so a reload that read the database earlier
    /// never overwrites one that read it later.
    snapshot_writes: tokio::sync::Mutex<()>,
    state: Mutex<CacheState>,
    reload: Notify,
    pending: Mutex<snapshot::PendingChanges>,
    full_reloads: AtomicU64,
    experiment_reloads: AtomicU64,
    exposures: mpsc::Sender<ExposureRecord>,
    exposure_stats: Arc<ExposureStats>,
    credentials: RwLock<Credentials>,
    token_lookups: Semaphore,
    session_lookups: Semaphore,
    refused_from_memory: std::sync::atomic::AtomicU64,
    clock: credentials::Clock,
    pub supervisor: Arc<Supervisor>,
    pub ingest: ingest::Ingest,
}

impl Runtime {
    /// Loads the snapshot (an empty one if the database cannot be read yet: it is retried)
    /// and starts the background tasks under supervision: change listener, safety reload,
    /// exposure writer and ingestion writers.
    pub async fn start(pool: PgPool) -> Arc<Runtime> {
        let supervisor = Supervisor::new();
        let (tx, rx) = mpsc::channel(exposure::QUEUE);
        let exposure_stats = Arc::new(ExposureStats::default());
        {
            let rx = Arc::new(tokio::sync::Mutex::new(rx));
            let (pool, stats, sup) = (pool.clone(), exposure_stats.clone(), supervisor.clone());
            supervisor.spawn(exposure::TASK, move || {
                exposure::run_writer(pool.clone(), rx.clone(), stats.clone(), sup.clone())
            });
        }
        let runtime = Arc::new(Runtime {
            pool: pool.clone(),
            snapshot: ArcSwap::from_pointee(Snapshot::default()),
            snapshot_writes: tokio::sync::Mutex::new(()),
            state: Mutex::new(CacheState::default()),
            reload: Notify::new(),
            pending: Mutex::default(),
            full_reloads: AtomicU64::new(0),
            experiment_reloads: AtomicU64::new(0),
            exposures: tx,
            exposure_stats,
            credentials: RwLock::new(Credentials::default()),
            token_lookups: Semaphore::new(AUTH_LOOKUPS),
            session_lookups: Semaphore::new(AUTH_LOOKUPS),
            refused_from_memory: Default::default(),
            clock: Default::default(),
            ingest: ingest::Ingest::start(pool, &supervisor),
            supervisor: supervisor.clone(),
        });
        runtime.refresh().await;
        let weak = Arc::downgrade(&runtime);
        let w = weak.clone();
        supervisor.spawn(LISTENER, move || listen(w.clone()));
        supervisor.spawn(RELOADER, move || reload_loop(weak.clone()));
        runtime
    }

    /// The current snapshot.
    pub fn snapshot(&self) -> arc_swap::Guard<Arc<Snapshot>> {
        self.snapshot.load()
    }

    /// Answers a resolve from memory and queues its exposures.
    pub fn resolve_with<R>(
        &self,
        ctx: &RequestContext<'_>,
        answer: impl FnOnce(&[Resolution<'_>]) -> R,
    ) -> R {
        self.resolve_on(&self.snapshot.load(), ctx, None, answer)
    }

    /// Answers a resolve from `snapshot` (one the caller loaded, to answer more from the
    /// same one), for the target `only` names or every target, and queues its exposures.
    /// Every resolve and OpenFeature evaluation comes through here.
    pub fn resolve_on<R>(
        &self,
        snapshot: &Snapshot,
        ctx: &RequestContext<'_>,
        only: Option<TargetRef<'_>>,
        answer: impl FnOnce(&[Resolution<'_>]) -> R,
    ) -> R {
        self.resolve_on_with_holdouts(snapshot, ctx, only, |out, _| answer(out))
    }

    /// [`resolve_with`](Self::resolve_with), the answer also given the user's holdout
    /// assignments.
    pub fn resolve_with_holdouts<R>(
        &self,
        ctx: &RequestContext<'_>,
        answer: impl FnOnce(&[Resolution<'_>], &[HoldoutAssignment<'_>]) -> R,
    ) -> R {
        self.resolve_on_with_holdouts(&self.snapshot.load(), ctx, None, answer)
    }

    /// [`resolve_on`](Self::resolve_on), the answer also given the user's holdout
    /// assignments (a user held out gets no resolution).
    pub fn resolve_on_with_holdouts<R>(
        &self,
        snapshot: &Snapshot,
        ctx: &RequestContext<'_>,
        only: Option<TargetRef<'_>>,
        answer: impl FnOnce(&[Resolution<'_>], &[HoldoutAssignment<'_>]) -> R,
    ) -> R {
        let mut out = Vec::new();
        let mut exposures: Vec<Exposure> = Vec::new();
        let mut holdouts = Vec::new();
        snapshot.resolve_all(ctx, only, &mut out, &mut exposures, &mut holdouts);
        if !exposures.is_empty() {
            let record = ExposureRecord {
                tenant_id: ctx.tenant_id.to_owned(),
                user_id: ctx.user_id.to_owned(),
                assignments: exposures
                    .iter()
                    .map(|e| (e.experiment_id, e.variant))
                    .collect(),
                at: Utc::now(),
            };
            if self.exposures.try_send(record).is_err() {
                self.exposure_stats.dropped.fetch_add(1, Ordering::Relaxed);
            }
        }
        answer(&out, &holdouts)
    }

    /// The runtime's state for /healthz.
    pub fn health(&self) -> RuntimeHealth {
        let snapshot = self.snapshot.load();
        let (experiments, deployments) = snapshot.len();
        let state = self
            .state
            .lock()
            .map(|s| (s.last_refresh, s.last_error, s.listening));
        let (last_refresh, last_error, listening) = state.unwrap_or((None, true, false));
        let fresh = last_refresh
            .is_some_and(|t| (Utc::now() - t).to_std().unwrap_or_default() < STALE_AFTER)
            && !last_error;
        RuntimeHealth {
            fresh,
            listening,
            experiments,
            deployments,
            last_refresh,
            last_reload_failed: last_error,
            exposures_written: self.exposure_stats.written.load(Ordering::Relaxed),
            exposures_dropped: self.exposure_stats.dropped.load(Ordering::Relaxed),
            exposure_batches_failed: self.exposure_stats.failed_batches.load(Ordering::Relaxed),
            ingest: self.ingest.health(),
            tasks: self.supervisor.health(),
            auth_refused_from_memory: self.refused_from_memory.load(Ordering::Relaxed),
            full_reloads: self.full_reloads.load(Ordering::Relaxed),
            experiment_reloads: self.experiment_reloads.load(Ordering::Relaxed),
        }
    }

    /// Why the runtime is degraded, one reason each (empty: it is healthy): a failing or
    /// recently restarted task, a stale snapshot, change notifications not followed, or a
    /// fold that lags. (Quarantined events are counted by /healthz from the database.)
    pub fn problems(&self) -> Vec<String> {
        let health = self.health();
        let mut out = self.supervisor.problems();
        if !health.fresh {
            out.push("the live experiments in memory are stale (reloads fail)".into());
        }
        if !health.listening {
            out.push("change notifications are not being received".into());
        }
        let lag = health.ingest.fold_lag_seconds;
        if lag.is_some_and(|s| s > FOLD_LAG_LIMIT.as_secs()) {
            out.push(format!(
                "the fold lags: last caught up {} s ago, {} events in its last round",
                lag.unwrap_or_default(),
                health.ingest.fold_backlog
            ));
        }
        out
    }
}
