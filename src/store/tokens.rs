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
}

pub async fn insert(pool: &PgPool, row: NewTokenRow<'_>) -> sqlx::Result<()> {
    sqlx::query(
        "insert into api_tokens (id, token_hash, prefix, role, tenant_id, label)
         values ($1, $2, $3, $4, $5, $6)",
    )
    .bind(row.id)
    .bind(row.token_hash)
    .bind(row.prefix)
    .bind(row.role)
    .bind(row.tenant_id)
    .bind(row.label)
    .execute(pool)
    .await?;
    Ok(())
}

pub async fn revoke_by_id(pool: &PgPool, id: Uuid) -> sqlx::Result<u64> {
    let done = sqlx::query(
        "update api_tokens set revoked_at = now() where id = $1 and revoked_at is null",
    )
    .bind(id)
    .execute(pool)
    .await?;
    Ok(done.rows_affected())
}

pub async fn revoke_by_hash(pool: &PgPool, token_hash: &[u8]) -> sqlx::Result<u64> {
    let done = sqlx::query(
        "update api_tokens set revoked_at = now() where token_hash = $1 and revoked_at is null",
    )
    .bind(token_hash)
    .execute(pool)
    .await?;
    Ok(done.rows_affected())
}
