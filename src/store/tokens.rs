use crate::domain::{Principal, Role};
use chrono::{DateTime, Utc};
use sqlx::PgPool;
use uuid::Uuid;

/// A token row to insert; only the hash of the secret is stored.
pub struct NewTokenRow<'a> {
    pub id: Uuid,
    pub token_hash: &'a [u8],
    pub prefix: &'a str,
    pub role: &'a str,
    pub tenant_id: Option<&'a str>,
    pub label: &'a str,
    pub expires_at: Option<DateTime<Utc>>,
}

pub async fn insert(pool: &PgPool, row: NewTokenRow<'_>) -> sqlx::Result<()> {
    sqlx::query!(
        "insert into api_tokens (id, token_hash, prefix, role, tenant_id, label, expires_at)
         values ($1, $2, $3, $4, $5, $6, $7)",
        row.id,
        row.token_hash,
        row.prefix,
        row.role,
        row.tenant_id,
        row.label,
        row.expires_at
    )
    .execute(pool)
    .await?;
    Ok(())
}

pub async fn revoke_by_id(pool: &PgPool, id: Uuid) -> sqlx::Result<u64> {
    let done = sqlx::query!(
        "update api_tokens set revoked_at = now() where id = $1 and revoked_at is null",
        id
    )
    .execute(pool)
    .await?;
    Ok(done.rows_affected())
}

pub async fn revoke_by_hash(pool: &PgPool, token_hash: &[u8]) -> sqlx::Result<u64> {
    let done = sqlx::query!(
        "update api_tokens set revoked_at = now() where token_hash = $1 and revoked_at is null",
        token_hash
    )
    .execute(pool)
    .await?;
    Ok(done.rows_affected())
}

/// An active (not revoked, not expired) token.
#[derive(sqlx::FromRow)]
pub struct TokenRow {
    pub id: Uuid,
    pub prefix: String,
    pub role: String,
    pub tenant_id: Option<String>,
    pub label: String,
    pub expires_at: Option<DateTime<Utc>>,
}

impl TokenRow {
    /// The caller this token stands for. A role the code does not know (a database edited
    /// by hand) names no caller.
    pub fn principal(self) -> Option<Principal> {
        let role: Role = self.role.parse().ok()?;
        let actor = if self.label.trim().is_empty() {
            self.prefix
        } else {
            format!("{} ({})", self.label.trim(), self.prefix)
        };
        Some(Principal {
            token_id: self.id,
            role,
            tenant_id: self.tenant_id,
            actor,
        })
    }
}

/// The active token whose hash is `token_hash`.
pub async fn find_active_by_hash(
    pool: &PgPool,
    token_hash: &[u8],
) -> sqlx::Result<Option<TokenRow>> {
    sqlx::query_as!(
        TokenRow,
        "select id, prefix, role, tenant_id, label, expires_at from api_tokens
         where token_hash = $1 and revoked_at is null
           and (expires_at is null or expires_at > now())",
        token_hash
    )
    .fetch_optional(pool)
    .await
}

/// The active token behind the unexpired session whose hash is `session_hash`.
pub async fn find_by_session(pool: &PgPool, session_hash: &[u8]) -> sqlx::Result<Option<TokenRow>> {
    sqlx::query_as!(
        TokenRow,
        "select t.id, t.prefix, t.role, t.tenant_id, t.label, t.expires_at
         from sessions s join api_tokens t on t.id = s.token_id
         where s.id_hash = $1 and s.expires_at > now() and t.revoked_at is null
           and (t.expires_at is null or t.expires_at > now())",
        session_hash
    )
    .fetch_optional(pool)
    .await
}

/// Records that a token was used now.
pub async fn touch(pool: &PgPool, id: Uuid) -> sqlx::Result<()> {
    sqlx::query!(
        "update api_tokens set last_used_at = now() where id = $1",
        id
    )
    .execute(pool)
    .await?;
    Ok(())
}

/// Deletes every expired session; returns how many.
pub async fn purge_expired_sessions(pool: &PgPool) -> sqlx::Result<u64> {
    Ok(
        sqlx::query!("delete from sessions where expires_at < now()")
            .execute(pool)
            .await?
            .rows_affected(),
    )
}

/// Opens a browser session for a token.
pub async fn insert_session(
    pool: &PgPool,
    session_hash: &[u8],
    token_id: Uuid,
    expires_at: chrono::DateTime<chrono::Utc>,
) -> sqlx::Result<()> {
    sqlx::query!(
        "insert into sessions (id_hash, token_id, expires_at) values ($1, $2, $3)",
        session_hash,
        token_id,
        expires_at
    )
    .execute(pool)
    .await?;
    Ok(())
}

/// Ends a browser session (and, while at it, every expired one).
pub async fn delete_session(pool: &PgPool, session_hash: &[u8]) -> sqlx::Result<()> {
    sqlx::query!(
        "delete from sessions where id_hash = $1 or expires_at < now()",
        session_hash
    )
    .execute(pool)
    .await?;
    Ok(())
}
