//! Authentication: bearer tokens and browser sessions, both resolved to a [`Principal`].
//! The runtime remembers what it found (see `Runtime::authenticate`): every request's
//! credentials go through it, so unknown ones cost the database at most one look-up.

use super::ServiceError;
use crate::domain::auth::hash_secret;
use crate::domain::{Principal, Role};
use crate::runtime::Runtime;
use crate::store;
use anyhow::Context;
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
