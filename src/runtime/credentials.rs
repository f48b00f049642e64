//! What the runtime remembers of credentials: bearer tokens (trusted for a minute, kept as
//! a fall-back while the database is away), tokens and sessions found to name nothing, and
//! when each token's use was last written. Look-ups are bounded so that unknown credentials
//! can never hold the pool.

use super::Runtime;
use crate::domain::Principal;
use crate::service::ServiceError;
use anyhow::Context;
use chrono::{DateTime, Utc};
use sqlx::PgPool;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use tokio::sync::Semaphore;

/// How long a cached token is trusted without a change notification.
pub(super) const TOKEN_TTL: Duration = Duration::from_secs(60);
/// While the database cannot be asked, a token checked this recently keeps working (the hot
/// path stays up through a database restart); one checked longer ago is refused with 503, so
/// a token revoked while notifications were missed stops working within this time.
pub(super) const TOKEN_GRACE: Duration = Duration::from_secs(600);
/// Most tokens (known and unknown) remembered; past it the memory starts afresh.
pub(super) const CACHED_TOKENS: usize = 10_000;
/// Most token or session look-ups in the database at once, each kind: unknown credentials
/// can never hold more of the pool than this.
pub(super) const AUTH_LOOKUPS: usize = 4;
/// How long a request waits for a look-up slot before it is answered 503.
pub(super) const AUTH_WAIT: Duration = Duration::from_secs(2);
/// `last_used_at` of a token is written at most this often.
pub(super) const TOUCH_EVERY: Duration = Duration::from_secs(60);

/// A bearer token as remembered: its caller, when it was checked, whether it is still
/// trusted without a new check, and when it expires.
#[derive(Clone)]
struct KnownToken {
    who: Principal,
    checked: Instant,
    trusted: bool,
    expires_at: Option<DateTime<Utc>>,
}

/// The clock the memory of credentials is judged by: the machine's, moved forward only by
/// the tests ([`Runtime::advance_clock`]), so that a test can cross the one-minute trust
/// and the ten-minute grace without waiting for them.
#[derive(Default)]
pub(super) struct Clock {
    ahead_ms: AtomicU64,
}

impl Clock {
    fn ahead(&self) -> Duration {
        Duration::from_millis(self.ahead_ms.load(Ordering::Relaxed))
    }

    fn now(&self) -> Instant {
        Instant::now() + self.ahead()
    }

    fn since(&self, at: Instant) -> Duration {
        self.now().saturating_duration_since(at)
    }

    fn wall(&self) -> DateTime<Utc> {
        Utc::now() + chrono::Duration::from_std(self.ahead()).unwrap_or_default()
    }
}

/// What the runtime remembers of credentials.
#[derive(Default)]
pub(super) struct Credentials {
    known: HashMap<Vec<u8>, KnownToken>,
    /// Hashes of bearer tokens and sessions found to name nothing, with when.
    unknown: HashMap<Vec<u8>, Instant>,
    /// When each token's `last_used_at` was last written.
    touched: HashMap<uuid::Uuid, Instant>,
}

impl Runtime {
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
            .is_some_and(|at| self.clock.since(*at) < TOKEN_TTL);
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
        c.unknown.insert(hash, self.clock.now());
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
        let now = self.clock.wall();
        if let Some(k) = &cached
            && k.trusted
            && self.clock.since(k.checked) < TOKEN_TTL
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
                    if self.clock.since(k.checked) < TOKEN_GRACE
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
                    checked: self.clock.now(),
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
            .is_none_or(|at| self.clock.since(*at) >= TOUCH_EVERY);
        if !due || who.token_id.is_nil() {
            return;
        }
        {
            let mut c = self.credentials_mut();
            if c.touched.len() >= CACHED_TOKENS {
                c.touched.clear();
            }
            c.touched.insert(who.token_id, self.clock.now());
        }
        let (pool, id) = (self.pool.clone(), who.token_id);
        // One short statement per token per minute; a failure only delays the figure.
        tokio::spawn(async move {
            if let Err(err) = crate::store::tokens::touch(&pool, id).await {
                tracing::debug!(error = %err, "could not write a token's last use");
            }
        });
    }

    /// Fault injection for the tests: the clock that credentials are remembered by jumps
    /// `by` ahead (the trust of a minute, the grace of ten, token expiry).
    pub fn advance_clock(&self, by: Duration) {
        let ms = u64::try_from(by.as_millis()).unwrap_or(u64::MAX);
        self.clock.ahead_ms.fetch_add(ms, Ordering::Relaxed);
    }

    /// Notifications may have been missed: check every token again on its next use, but keep
    /// the answers to fall back on while the database is away.
    pub(super) fn distrust_tokens(&self) {
        let mut c = self.credentials_mut();
        for entry in c.known.values_mut() {
            entry.trusted = false;
        }
        c.unknown.clear();
    }

    /// A change notification of `api_tokens`: forget every remembered answer.
    pub(super) fn forget_tokens(&self) {
        let mut c = self.credentials_mut();
        c.known.clear();
        c.unknown.clear();
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
