//! The runtime that sits on the AI product's hot path: an in-memory snapshot of the live
//! experiments and deployments (refreshed on change notifications from PostgreSQL, with a
//! periodic full reload as a safety net), exposure bookkeeping written behind the answers,
//! a cache of API tokens, and the event ingestion pipeline.

mod cache;
pub mod exposure;
pub mod ingest;
pub mod supervise;

use crate::domain::Principal;
use crate::domain::assignment::RequestContext;
use crate::domain::resolve::{Exposure, Resolution, Snapshot};
use crate::service::ServiceError;
use anyhow::Context;
use arc_swap::ArcSwap;
use chrono::{DateTime, Utc};
use exposure::{ExposureRecord, ExposureStats};
use serde::Serialize;
use sqlx::PgPool;
use sqlx::postgres::PgListener;
use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};
use supervise::{Supervisor, TaskHealth};
use tokio::sync::{Notify, Semaphore, mpsc};

/// The notification channel the database triggers announce changes on.
pub const CHANNEL: &str = "verdict_changes";
/// Full reload period, whatever the notifications say.
const SAFETY_RELOAD: Duration = Duration::from_secs(30);
/// A snapshot older than this (failed reloads) is reported stale by /healthz.
const STALE_AFTER: Duration = Duration::from_secs(90);
/// How long a cached token is trusted without a change notification.
const TOKEN_TTL: Duration = Duration::from_secs(60);
/// While the database cannot be asked, a token checked this recently keeps working (the hot
/// path stays up through a database restart); one checked longer ago is refused with 503, so
/// a token revoked while notifications were missed stops working within this time.
const TOKEN_GRACE: Duration = Duration::from_secs(600);
/// Most tokens (known and unknown) remembered; past it the memory starts afresh.
const CACHED_TOKENS: usize = 10_000;
/// Most token or session look-ups in the database at once, each kind: unknown credentials
/// can never hold more of the pool than this.
const AUTH_LOOKUPS: usize = 4;
/// How long a request waits for a look-up slot before it is answered 503.
const AUTH_WAIT: Duration = Duration::from_secs(2);
/// `last_used_at` of a token is written at most this often.
const TOUCH_EVERY: Duration = Duration::from_secs(60);
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
}

#[derive(Debug, Default)]
struct CacheState {
    last_refresh: Option<DateTime<Utc>>,
    last_error: bool,
    listening: bool,
}

/// A bearer token as remembered: its caller, when it was checked, whether it is still
/// trusted without a new check, and when it expires.
#[derive(Clone)]
struct KnownToken {
    who: Principal,
    checked: Instant,
    trusted: bool,
    expires_at: Option<DateTime<Utc>>,
}

/// What the runtime remembers of credentials.
#[derive(Default)]
struct Credentials {
    known: HashMap<Vec<u8>, KnownToken>,
    /// Hashes of bearer tokens and sessions found to name nothing, with when.
    unknown: HashMap<Vec<u8>, Instant>,
    /// When each token's `last_used_at` was last written.
    touched: HashMap<uuid::Uuid, Instant>,
}

/// The in-process runtime. Cheap to share (`Arc`).
pub struct Runtime {
    pool: PgPool,
    snapshot: ArcSwap<Snapshot>,
    state: Mutex<CacheState>,
    reload: Notify,
    exposures: mpsc::Sender<ExposureRecord>,
    exposure_stats: Arc<ExposureStats>,
    credentials: RwLock<Credentials>,
    token_lookups: Semaphore,
    session_lookups: Semaphore,
    refused_from_memory: std::sync::atomic::AtomicU64,
    pub supervisor: Arc<Supervisor>,
    pub ingest: ingest::Ingest,
}

/// The names of the runtime's own tasks under the supervisor.
const LISTENER: &str = "change-listener";
const RELOADER: &str = "snapshot-reload";

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
            state: Mutex::new(CacheState::default()),
            reload: Notify::new(),
            exposures: tx,
            exposure_stats,
            credentials: RwLock::new(Credentials::default()),
            token_lookups: Semaphore::new(AUTH_LOOKUPS),
            session_lookups: Semaphore::new(AUTH_LOOKUPS),
            refused_from_memory: Default::default(),
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

    /// Reloads the snapshot now; on failure keeps serving the last one and records that it
    /// failed (the reason goes to the log only).
    pub async fn refresh(&self) {
        match cache::load(&self.pool).await {
            Ok(snapshot) => {
                self.snapshot.store(Arc::new(snapshot));
                if let Ok(mut state) = self.state.lock() {
                    state.last_refresh = Some(Utc::now());
                    state.last_error = false;
                }
                self.supervisor.ok(RELOADER);
            }
            Err(err) => {
                tracing::warn!(
                    error = format!("{err:#}"),
                    "runtime cache refresh failed; serving the last snapshot"
                );
                if let Ok(mut state) = self.state.lock() {
                    state.last_error = true;
                }
                self.supervisor.failed(
                    RELOADER,
                    "reloading the live experiments fails; serving the last snapshot",
                );
            }
        }
    }

    /// Answers a resolve from memory and queues its exposures.
    pub fn resolve_with<R>(
        &self,
        ctx: &RequestContext<'_>,
        answer: impl FnOnce(&[Resolution<'_>]) -> R,
    ) -> R {
        let snapshot = self.snapshot.load();
        let mut out = Vec::new();
        let mut exposures: Vec<Exposure> = Vec::new();
        snapshot.resolve(ctx, &mut out, &mut exposures);
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
        answer(&out)
    }

    fn credentials(&self) -> std::sync::RwLockReadGuard<'_, Credentials> {
        self.credentials.read().unwrap_or_else(|e| e.into_inner())
    }

    fn credentials_mut(&self) -> std::sync::RwLockWriteGuard<'_, Credentials> {
        self.credentials.write().unwrap_or_else(|e| e.into_inner())
    }

    /// Whether `hash` was found to name nothing lately (then it costs no look-up).
    fn known_unknown(&self, hash: &[u8]) -> bool {
        let unknown = self
            .credentials()
            .unknown
            .get(hash)
            .is_some_and(|at| at.elapsed() < TOKEN_TTL);
        if unknown {
            self.refused_from_memory.fetch_add(1, Ordering::Relaxed);
        }
        unknown
    }

    fn remember_unknown(&self, hash: Vec<u8>) {
        let mut c = self.credentials_mut();
        if c.unknown.len() >= CACHED_TOKENS {
            c.unknown.clear();
        }
        c.unknown.insert(hash, Instant::now());
    }

    /// A database look-up slot of `kind`, or 503 after a short wait: however many requests
    /// bring credentials to check, at most `AUTH_LOOKUPS` of each kind use the pool at once.
    async fn lookup_slot<'a>(
        &self,
        kind: &'a Semaphore,
    ) -> Result<tokio::sync::SemaphorePermit<'a>, ServiceError> {
        match tokio::time::timeout(AUTH_WAIT, kind.acquire()).await {
            Ok(Ok(permit)) => Ok(permit),
            _ => Err(ServiceError::Busy),
        }
    }

    /// The caller behind a bearer token, from memory when recently seen. A text that cannot
    /// be a Verdict token, or a token found unknown in the last minute, is refused without a
    /// database look-up. When the database cannot be asked, a token checked in the last
    /// [`TOKEN_GRACE`] keeps working (the hot path stays up).
    pub async fn authenticate(&self, token: &str) -> Result<Principal, ServiceError> {
        if !crate::domain::auth::looks_like_token(token) {
            self.refused_from_memory.fetch_add(1, Ordering::Relaxed);
            return Err(ServiceError::Unauthorized);
        }
        let hash = crate::domain::auth::hash_secret(token);
        let cached = self.credentials().known.get(&hash).cloned();
        let now = Utc::now();
        if let Some(k) = &cached
            && k.trusted
            && k.checked.elapsed() < TOKEN_TTL
        {
            if k.expires_at.is_some_and(|at| at <= now) {
                return Err(ServiceError::Unauthorized);
            }
            self.touch(&k.who);
            return Ok(k.who.clone());
        }
        if self.known_unknown(&hash) {
            return Err(ServiceError::Unauthorized);
        }
        let looked_up = {
            let _slot = self.lookup_slot(&self.token_lookups).await?;
            find_token(&self.pool, &hash).await
        };
        let (who, expires_at) = match looked_up {
            Ok(Some(found)) => found,
            Ok(None) => {
                self.remember_unknown(hash);
                return Err(ServiceError::Unauthorized);
            }
            Err(err) => match cached {
                Some(k)
                    if k.checked.elapsed() < TOKEN_GRACE
                        && k.expires_at.is_none_or(|at| at > now) =>
                {
                    tracing::warn!(
                        error = format!("{err:#}"),
                        "token check failed; trusting the answer of a recent check"
                    );
                    return Ok(k.who);
                }
                _ => {
                    tracing::warn!(error = format!("{err:#}"), "token check failed");
                    return Err(ServiceError::Unavailable(
                        "cannot check the token right now; retry shortly".into(),
                    ));
                }
            },
        };
        {
            let mut c = self.credentials_mut();
            if c.known.len() >= CACHED_TOKENS {
                c.known.clear();
            }
            c.known.insert(
                hash,
                KnownToken {
                    who: who.clone(),
                    checked: Instant::now(),
                    trusted: true,
                    expires_at,
                },
            );
        }
        self.touch(&who);
        Ok(who)
    }

    /// The caller behind a browser session's cookie value: looked up every time (a sign-out
    /// ends it at once), but a value that cannot be a session, or one found unknown in the
    /// last minute, costs no look-up.
    pub async fn authenticate_session(&self, session: &str) -> Result<Principal, ServiceError> {
        if !crate::domain::auth::looks_like_session(session) {
            self.refused_from_memory.fetch_add(1, Ordering::Relaxed);
            return Err(ServiceError::Unauthorized);
        }
        let hash = crate::domain::auth::hash_secret(session);
        if self.known_unknown(&hash) {
            return Err(ServiceError::Unauthorized);
        }
        let found = {
            let _slot = self.lookup_slot(&self.session_lookups).await?;
            find_session(&self.pool, &hash).await?
        };
        match found {
            Some(who) => {
                self.touch(&who);
                Ok(who)
            }
            None => {
                self.remember_unknown(hash);
                Err(ServiceError::Unauthorized)
            }
        }
    }

    /// Writes the token's `last_used_at` behind the answer, at most every [`TOUCH_EVERY`].
    fn touch(&self, who: &Principal) {
        let due = self
            .credentials()
            .touched
            .get(&who.token_id)
            .is_none_or(|at| at.elapsed() >= TOUCH_EVERY);
        if !due || who.token_id.is_nil() {
            return;
        }
        {
            let mut c = self.credentials_mut();
            if c.touched.len() >= CACHED_TOKENS {
                c.touched.clear();
            }
            c.touched.insert(who.token_id, Instant::now());
        }
        let (pool, id) = (self.pool.clone(), who.token_id);
        // One short statement per token per minute; a failure only delays the figure.
        tokio::spawn(async move {
            if let Err(err) = crate::store::tokens::touch(&pool, id).await {
                tracing::debug!(error = %err, "could not write a token's last use");
            }
        });
    }

    fn changed(&self, table: &str) {
        if table == "api_tokens" {
            let mut c = self.credentials_mut();
            c.known.clear();
            c.unknown.clear();
        } else {
            self.reload.notify_one();
        }
    }

    /// Notifications may have been missed: check every token again on its next use, but keep
    /// the answers to fall back on while the database is away.
    fn distrust_tokens(&self) {
        let mut c = self.credentials_mut();
        for entry in c.known.values_mut() {
            entry.trusted = false;
        }
        c.unknown.clear();
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

    fn set_listening(&self, on: bool) {
        if let Ok(mut state) = self.state.lock() {
            state.listening = on;
        }
    }
}

/// Follows the change notifications; reconnects with a pause when the connection drops.
async fn listen(runtime: std::sync::Weak<Runtime>) {
    loop {
        let Some(rt) = runtime.upgrade() else { return };
        rt.supervisor.checkpoint(LISTENER);
        let pool = rt.pool.clone();
        drop(rt);
        if pool.is_closed() {
            return;
        }
        let mut listener = match PgListener::connect_with(&pool).await {
            Ok(l) => l,
            Err(err) => {
                tracing::warn!(error = %err, "cannot listen for changes; retrying");
                tokio::time::sleep(Duration::from_secs(2)).await;
                continue;
            }
        };
        if let Err(err) = listener.listen(CHANNEL).await {
            tracing::warn!(error = %err, "cannot listen for changes; retrying");
            tokio::time::sleep(Duration::from_secs(2)).await;
            continue;
        }
        if let Some(rt) = runtime.upgrade() {
            rt.set_listening(true);
            // Anything may have changed while not listening.
            rt.reload.notify_one();
        }
        loop {
            // The listener keeps a pooled connection checked out: give it back as soon as
            // the pool closes (shutdown, or the end of a test).
            let received = tokio::select! {
                r = listener.try_recv() => r,
                _ = pool.close_event() => return,
            };
            match received {
                Ok(Some(notification)) => match runtime.upgrade() {
                    Some(rt) => {
                        rt.supervisor.checkpoint(LISTENER);
                        rt.changed(notification.payload());
                    }
                    None => return,
                },
                Ok(None) | Err(_) => {
                    // The connection was lost; notifications may have been missed.
                    if let Some(rt) = runtime.upgrade() {
                        rt.set_listening(false);
                        rt.distrust_tokens();
                        rt.reload.notify_one();
                    }
                    tokio::time::sleep(Duration::from_millis(500)).await;
                    break;
                }
            }
        }
    }
}

/// Reloads on notification (coalescing bursts) and every [`SAFETY_RELOAD`].
async fn reload_loop(runtime: std::sync::Weak<Runtime>) {
    loop {
        let Some(rt) = runtime.upgrade() else { return };
        if rt.pool.is_closed() {
            return;
        }
        rt.supervisor.checkpoint(RELOADER);
        let notified = tokio::time::timeout(SAFETY_RELOAD, rt.reload.notified()).await;
        if notified.is_ok() {
            // Let a burst of changes settle into one reload.
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        rt.refresh().await;
    }
}

/// The active token whose hash is `hash`, with when it expires.
async fn find_token(
    pool: &PgPool,
    hash: &[u8],
) -> anyhow::Result<Option<(Principal, Option<chrono::DateTime<chrono::Utc>>)>> {
    let row = crate::store::tokens::find_active_by_hash(pool, hash)
        .await
        .context("Failed to look up a token")?;
    Ok(row.and_then(|r| {
        let expires = r.expires_at;
        r.principal().map(|who| (who, expires))
    }))
}

/// The caller behind the unexpired session whose hash is `hash`.
async fn find_session(pool: &PgPool, hash: &[u8]) -> Result<Option<Principal>, ServiceError> {
    Ok(crate::store::tokens::find_by_session(pool, hash)
        .await
        .context("Failed to look up a session")?
        .and_then(crate::store::tokens::TokenRow::principal))
}
