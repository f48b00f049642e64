//! Authentication: bearer tokens and browser sessions, both resolved to a [`Principal`].
//! The runtime remembers what it found (see `Runtime::authenticate`): every request's
//! credentials go through it, so unknown ones cost the database at most one look-up.

use super::ServiceError;
use crate::domain::auth::hash_secret;
use crate::domain::{Principal, Role};
use crate::runtime::Runtime;
use crate::store;
use anyhow::Context;
use chrono::{DateTime, Utc};
use rand::RngCore;
use sqlx::PgPool;

/// Name of the session cookie. The `__Host-` prefix makes browsers keep it to this origin
/// (Secure, Path=/, no Domain): no other site or subdomain can set or overwrite it.
pub const SESSION_COOKIE: &str = "__Host-verdict_session";
/// The cookie's name when Verdict is configured for plain-HTTP local use
/// (`VERDICT_INSECURE_COOKIES=true`), where a `__Host-` cookie cannot be set.
pub const PLAIN_SESSION_COOKIE: &str = "verdict_session";
/// How long a browser session lasts.
pub const SESSION_DAYS: i64 = 7;

/// The active token whose hash is `hash`, with when it expires.
pub async fn find_token(
    pool: &PgPool,
    hash: &[u8],
) -> anyhow::Result<Option<(Principal, Option<DateTime<Utc>>)>> {
    let row = store::tokens::find_active_by_hash(pool, hash)
        .await
        .context("Failed to look up a token")?;
    Ok(row.and_then(|r| {
        let expires = r.expires_at;
        r.principal().map(|who| (who, expires))
    }))
}

/// The caller behind the unexpired session whose hash is `hash`.
pub async fn find_session(pool: &PgPool, hash: &[u8]) -> Result<Option<Principal>, ServiceError> {
    Ok(store::tokens::find_by_session(pool, hash)
        .await
        .context("Failed to look up a session")?
        .and_then(store::tokens::TokenRow::principal))
}

/// The caller behind a bearer token or a session cookie (the token wins when both are
/// given). `Unauthorized` when neither names an active token.
pub async fn authenticate(
    runtime: &Runtime,
    bearer: Option<&str>,
    session: Option<&str>,
) -> Result<Principal, ServiceError> {
    match (bearer, session) {
        (Some(token), _) => runtime.authenticate(token).await,
        (None, Some(session)) => runtime.authenticate_session(session).await,
        (None, None) => Err(ServiceError::Unauthorized),
    }
}

/// Signs in with a token: returns the caller and a new session's cookie value.
/// Service tokens are for the runtime API and cannot sign in.
pub async fn sign_in(
    runtime: &Runtime,
    pool: &PgPool,
    token: &str,
) -> Result<(Principal, String), ServiceError> {
    let who = runtime.authenticate(token.trim()).await?;
    if who.role == Role::Service {
        return Err(ServiceError::Forbidden);
    }
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    let session: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    let expires = chrono::Utc::now() + chrono::Duration::days(SESSION_DAYS);
    store::tokens::insert_session(pool, &hash_secret(&session), who.token_id, expires)
        .await
        .context("Failed to store the session")?;
    Ok((who, session))
}

/// Ends a session.
pub async fn sign_out(pool: &PgPool, session: &str) -> Result<(), ServiceError> {
    store::tokens::delete_session(pool, &hash_secret(session))
        .await
        .context("Failed to end the session")?;
    Ok(())
}

/// The session purge's name under the supervisor.
pub const PURGE_TASK: &str = "session-purge";
/// How often expired sessions are deleted.
const PURGE_EVERY: std::time::Duration = std::time::Duration::from_secs(600);

/// Deletes expired sessions every [`PURGE_EVERY`] until the pool closes.
pub async fn purge_loop(pool: PgPool, sup: std::sync::Arc<crate::runtime::supervise::Supervisor>) {
    loop {
        sup.checkpoint(PURGE_TASK);
        match store::tokens::purge_expired_sessions(&pool).await {
            Ok(n) => {
                sup.ok(PURGE_TASK);
                if n > 0 {
                    tracing::info!(sessions = n, "purged expired sessions");
                }
            }
            Err(err) => {
                sup.failed(PURGE_TASK, "purging expired sessions fails");
                tracing::warn!(error = %err, "purging expired sessions failed");
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(PURGE_EVERY) => {}
            _ = pool.close_event() => return,
        }
    }
}
