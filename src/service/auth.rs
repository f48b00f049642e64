//! Authentication: bearer tokens and browser sessions, both resolved to a [`Principal`].

use super::ServiceError;
use super::tokens::hash_token;
use crate::domain::{Principal, Role};
use crate::store;
use anyhow::Context;
use rand::RngCore;
use sqlx::PgPool;

/// Name of the session cookie.
pub const SESSION_COOKIE: &str = "verdict_session";
/// How long a browser session lasts.
pub const SESSION_DAYS: i64 = 7;

fn principal(row: store::tokens::TokenRow) -> Result<Principal, ServiceError> {
    let role: Role = row
        .role
        .parse()
        .map_err(|e: String| ServiceError::Unexpected(anyhow::anyhow!(e)))?;
    let actor = if row.label.trim().is_empty() {
        row.prefix
    } else {
        format!("{} ({})", row.label.trim(), row.prefix)
    };
    Ok(Principal {
        token_id: row.id,
        role,
        tenant_id: row.tenant_id,
        actor,
    })
}

/// The caller behind a bearer token or a session cookie (the token wins when both are
/// given). `Unauthorized` when neither names an active token.
pub async fn authenticate(
    pool: &PgPool,
    bearer: Option<&str>,
    session: Option<&str>,
) -> Result<Principal, ServiceError> {
    let row = if let Some(token) = bearer {
        store::tokens::find_active_by_hash(pool, &hash_token(token))
            .await
            .context("Failed to look up a token")?
    } else if let Some(session) = session {
        store::tokens::find_by_session(pool, &hash_token(session))
            .await
            .context("Failed to look up a session")?
    } else {
        None
    };
    principal(row.ok_or(ServiceError::Unauthorized)?)
}

/// Signs in with a token: returns the caller and a new session's cookie value.
/// Service tokens are for the runtime API and cannot sign in.
pub async fn sign_in(pool: &PgPool, token: &str) -> Result<(Principal, String), ServiceError> {
    let who = authenticate(pool, Some(token.trim()), None).await?;
    if who.role == Role::Service {
        return Err(ServiceError::Forbidden);
    }
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    let session: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    let expires = chrono::Utc::now() + chrono::Duration::days(SESSION_DAYS);
    store::tokens::insert_session(pool, &hash_token(&session), who.token_id, expires)
        .await
        .context("Failed to store the session")?;
    Ok((who, session))
}

/// Ends a session.
pub async fn sign_out(pool: &PgPool, session: &str) -> Result<(), ServiceError> {
    store::tokens::delete_session(pool, &hash_token(session))
        .await
        .context("Failed to end the session")?;
    Ok(())
}
