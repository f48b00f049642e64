use crate::domain::experiment::{AuditAction, AuditEntry};
use serde_json::Value;
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

/// Appends an audit row (in the caller's transaction, with the change it records).
pub async fn insert(
    conn: &mut PgConnection,
    tenant_id: &str,
    experiment_id: Uuid,
    actor: &str,
    action: &AuditAction,
    before: Option<Value>,
    after: Option<Value>,
) -> sqlx::Result<()> {
    sqlx::query!(
        "insert into audit_log (tenant_id, experiment_id, actor, action, before, after)
         values ($1, $2, $3, $4, $5, $6)",
        tenant_id,
        experiment_id,
        actor,
        &*action.text(),
        before,
        after
    )
    .execute(conn)
    .await?;
    Ok(())
}

struct AuditRow {
    id: i64,
    experiment_id: Option<Uuid>,
    actor: String,
    action: String,
    before: Option<Value>,
    after: Option<Value>,
    at: chrono::DateTime<chrono::Utc>,
}

/// The audit log of one experiment, oldest first.
pub async fn for_experiment(pool: &PgPool, experiment_id: Uuid) -> sqlx::Result<Vec<AuditEntry>> {
    let rows = sqlx::query_as!(
        AuditRow,
        "select id, experiment_id, actor, action, before, after, at from audit_log
         where experiment_id = $1 order by at, id",
        experiment_id
    )
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| AuditEntry {
            id: r.id,
            experiment_id: r.experiment_id,
            actor: r.actor,
            action: r.action,
            before: r.before,
            after: r.after,
            at: r.at,
        })
        .collect())
}
