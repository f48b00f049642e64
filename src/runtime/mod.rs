//! The runtime that sits on the AI product's hot path: an in-memory snapshot of the live
//! experiments and deployments (refreshed on change notifications from PostgreSQL, with a
//! periodic full reload as a safety net), exposure bookkeeping written behind the answers,
//! a cache of API tokens, and the event ingestion pipeline.

mod cache;
pub mod exposure;
pub mod ingest;

use crate::domain::Principal;
use crate::domain::assignment::RequestContext;
use crate::domain::resolve::{Exposure, Resolution, Snapshot};
use crate::service::ServiceError;
use arc_swap::ArcSwap;
use chrono::{DateTime, Utc};
use exposure::{ExposureRecord, ExposureStats};
use serde::Serialize;
use sqlx::PgPool;
use sqlx::postgres::PgListener;
use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;
use tokio::sync::{Notify, mpsc};

/// The notification channel the database triggers announce changes on.
pub const CHANNEL: &str = "verdict_changes";
/// Full reload period, whatever the notifications say.
const SAFETY_RELOAD: Duration = Duration::from_secs(30);
/// A snapshot older than this (failed reloads) is reported stale by /healthz.
const STALE_AFTER: Duration = Duration::from_secs(90);
/// How long a cached token is trusted without a change notification.
const TOKEN_TTL: Duration = Duration::from_secs(60);

/// What /healthz says about the runtime.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RuntimeHealth {
    pub fresh: bool,
    pub listening: bool,
    pub experiments: usize,
    pub deployments: usize,
    pub last_refresh: Option<DateTime<Utc>>,
    pub last_error: Option<String>,
    /// Assignment rows created or updated by exposure bookkeeping.
    pub exposures_written: u64,
    /// Resolves whose bookkeeping was dropped because the queue was full.
    pub exposures_dropped: u64,
    pub exposure_batches_failed: u64,
    pub ingest: ingest::IngestHealth,
}

#[derive(Debug, Default)]
struct CacheState {
    last_refresh: Option<DateTime<Utc>>,
    last_error: Option<String>,
    listening: bool,
}

/// The in-process runtime. Cheap to share (`Arc`).
pub struct Runtime {
    pool: PgPool,
    snapshot: ArcSwap<Snapshot>,
    state: Mutex<CacheState>,
    reload: Notify,
    exposures: mpsc::Sender<ExposureRecord>,
    exposure_stats: Arc<ExposureStats>,
    /// Token hash → (caller, when checked, still trusted without a new check).
    tokens: RwLock<HashMap<Vec<u8>, (Principal, std::time::Instant, bool)>>,
    pub ingest: ingest::Ingest,
}

impl Runtime {
    /// Loads the snapshot (an empty one if the database cannot be read yet: it is retried)
    /// and starts the background tasks: change listener, safety reload, exposure writer and
    /// ingestion writers.
    pub async fn start(pool: PgPool) -> Arc<Runtime> {
        let (tx, rx) = mpsc::channel(exposure::QUEUE);
        let exposure_stats = Arc::new(ExposureStats::default());
        tokio::spawn(exposure::run_writer(
            pool.clone(),
            rx,
            exposure_stats.clone(),
        ));
        let runtime = Arc::new(Runtime {
            pool: pool.clone(),
            snapshot: ArcSwap::from_pointee(Snapshot::default()),
            state: Mutex::new(CacheState::default()),
            reload: Notify::new(),
            exposures: tx,
            exposure_stats,
            tokens: RwLock::new(HashMap::new()),
            ingest: ingest::Ingest::start(pool),
        });
        runtime.refresh().await;
        tokio::spawn(listen(Arc::downgrade(&runtime)));
        tokio::spawn(reload_loop(Arc::downgrade(&runtime)));
        runtime
    }

    /// The current snapshot.
    pub fn snapshot(&self) -> arc_swap::Guard<Arc<Snapshot>> {
        self.snapshot.load()
    }

    /// Reloads the snapshot now; on failure keeps serving the last one and records why.
    pub async fn refresh(&self) {
        match cache::load(&self.pool).await {
            Ok(snapshot) => {
                self.snapshot.store(Arc::new(snapshot));
                if let Ok(mut state) = self.state.lock() {
                    state.last_refresh = Some(Utc::now());
                    state.last_error = None;
                }
            }
            Err(err) => {
                tracing::warn!(
                    error = format!("{err:#}"),
                    "runtime cache refresh failed; serving the last snapshot"
                );
                if let Ok(mut state) = self.state.lock() {
                    state.last_error = Some(format!("{err:#}"));
                }
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

    /// The caller behind a bearer token, from memory when recently seen. When the database
    /// cannot be asked, a token seen before keeps working (the hot path stays up).
    pub async fn authenticate(&self, token: &str) -> Result<Principal, ServiceError> {
        let hash = crate::service::tokens::hash_token(token);
        let cached = self
            .tokens
            .read()
            .ok()
            .and_then(|tokens| tokens.get(&hash).cloned());
        if let Some((who, at, trusted)) = &cached
            && *trusted
            && at.elapsed() < TOKEN_TTL
        {
            return Ok(who.clone());
        }
        let who = match crate::service::auth::authenticate(&self.pool, Some(token), None).await {
            Ok(who) => who,
            Err(ServiceError::Unexpected(err)) => match cached {
                Some((who, _, _)) => {
                    tracing::warn!(
                        error = format!("{err:#}"),
                        "token check failed; trusting the cached answer"
                    );
                    return Ok(who);
                }
                None => return Err(ServiceError::Unexpected(err)),
            },
            Err(err) => return Err(err),
        };
        if let Ok(mut tokens) = self.tokens.write() {
            if tokens.len() > 10_000 {
                tokens.clear();
            }
            tokens.insert(hash, (who.clone(), std::time::Instant::now(), true));
        }
        Ok(who)
    }

    fn changed(&self, table: &str) {
        if table == "api_tokens" {
            if let Ok(mut tokens) = self.tokens.write() {
                tokens.clear();
            }
        } else {
            self.reload.notify_one();
        }
    }

    /// Notifications may have been missed: check every token again on its next use, but keep
    /// the answers to fall back on while the database is away.
    fn distrust_tokens(&self) {
        if let Ok(mut tokens) = self.tokens.write() {
            for entry in tokens.values_mut() {
                entry.2 = false;
            }
        }
    }

    /// The runtime's state for /healthz.
    pub fn health(&self) -> RuntimeHealth {
        let snapshot = self.snapshot.load();
        let (experiments, deployments) = snapshot.len();
        let state = self
            .state
            .lock()
            .map(|s| (s.last_refresh, s.last_error.clone(), s.listening));
        let (last_refresh, last_error, listening) = state.unwrap_or((None, None, false));
        let fresh = last_refresh
            .is_some_and(|t| (Utc::now() - t).to_std().unwrap_or_default() < STALE_AFTER)
            && last_error.is_none();
        RuntimeHealth {
            fresh,
            listening,
            experiments,
            deployments,
            last_refresh,
            last_error,
            exposures_written: self.exposure_stats.written.load(Ordering::Relaxed),
            exposures_dropped: self.exposure_stats.dropped.load(Ordering::Relaxed),
            exposure_batches_failed: self.exposure_stats.failed_batches.load(Ordering::Relaxed),
            ingest: self.ingest.health(),
        }
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
                    Some(rt) => rt.changed(notification.payload()),
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
        let notified = tokio::time::timeout(SAFETY_RELOAD, rt.reload.notified()).await;
        if notified.is_ok() {
            // Let a burst of changes settle into one reload.
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        rt.refresh().await;
    }
}
