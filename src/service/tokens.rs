//! API tokens: created by the CLI, stored as a SHA-256 hash, shown once.

use super::ServiceError;
use crate::domain::{FieldError, Role};
use crate::store;
use anyhow::Context;
use rand::RngCore;
use sqlx::PgPool;
use uuid::Uuid;

/// A token as it was just created: the secret is only ever in this value.
#[derive(Debug)]
pub struct NewToken {
    pub id: Uuid,
    pub secret: String,
    pub role: Role,
    pub tenant_id: Option<String>,
}

use crate::domain::auth::{TOKEN_PREFIX, hash_secret as hash_token};
use crate::domain::experiment::SYSTEM_TENANT;

/// Creates a token with `role`, limited to `tenant_id` (required for every role but
/// super_admin), that never expires.
pub async fn create(
    pool: &PgPool,
    role: Role,
    tenant_id: Option<String>,
    label: &str,
) -> Result<NewToken, ServiceError> {
    create_expiring(pool, role, tenant_id, label, None).await
}

/// Creates a token as [`create`] does, that stops working at `expires_at` (if given).
pub async fn create_expiring(
    pool: &PgPool,
    role: Role,
    tenant_id: Option<String>,
    label: &str,
    expires_at: Option<chrono::DateTime<chrono::Utc>>,
) -> Result<NewToken, ServiceError> {
    if expires_at.is_some_and(|at| at <= chrono::Utc::now()) {
        return Err(ServiceError::Invalid(vec![FieldError::new(
            "expires",
            "must be in the future",
        )]));
    }
    let tenant_id = tenant_id.map(|t| t.trim().to_owned());
    match &tenant_id {
        None if role != Role::SuperAdmin => {
            return Err(ServiceError::Invalid(vec![FieldError::new(
                "tenant",
                format!("a {role} token belongs to one tenant: give --tenant ID"),
            )]));
        }
        Some(t) if t.is_empty() || t.len() > 200 => {
            return Err(ServiceError::Invalid(vec![FieldError::new(
                "tenant",
                "a tenant id has 1 to 200 characters",
            )]));
        }
        Some(t) if t == SYSTEM_TENANT => {
            return Err(ServiceError::Invalid(vec![FieldError::new(
                "tenant",
                "\"system\" is reserved for system-wide experiments; no token belongs to it \
                 (a super_admin without --tenant manages them)",
            )]));
        }
        _ => {}
    }
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    let secret = format!("{TOKEN_PREFIX}{}", hex(&bytes));
    let id = Uuid::now_v7();
    store::tokens::insert(
        pool,
        store::tokens::NewTokenRow {
            id,
            token_hash: &hash_token(&secret),
            prefix: &secret[..TOKEN_PREFIX.len() + 8],
            role: role.as_str(),
            tenant_id: tenant_id.as_deref(),
            label,
            expires_at,
        },
    )
    .await
    .context("Failed to store the new token")?;
    Ok(NewToken {
        id,
        secret,
        role,
        tenant_id,
    })
}

/// Revokes the token whose text, id or prefix is `which`. Returns how many were revoked.
pub async fn revoke(pool: &PgPool, which: &str) -> Result<u64, ServiceError> {
    let revoked = if let Ok(id) = Uuid::parse_str(which) {
        store::tokens::revoke_by_id(pool, id).await
    } else {
        store::tokens::revoke_by_hash(pool, &hash_token(which)).await
    }
    .context("Failed to revoke the token")?;
    if revoked == 0 {
        return Err(ServiceError::NotFound);
    }
    Ok(revoked)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_hash_is_sha256_of_its_text() {
        let digest = hash_token("abc");
        assert_eq!(
            hex(&digest),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
