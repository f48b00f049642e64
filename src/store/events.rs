//! Writing events: assignments first (created from the deterministic hash when missing),
//! then the events themselves, in the caller's transaction.

use crate::domain::event::EventDraft;
use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::PgConnection;
use std::collections::HashMap;
use uuid::Uuid;

/// A (tenant, experiment, user) key.
pub type Key = (String, Uuid, String);

/// Creates the assignments that are missing among `rows` (key and variant); existing ones
/// are kept as they are (never moved).
pub async fn ensure_assignments(
    conn: &mut PgConnection,
    rows: &[(Key, &'static str)],
    now: DateTime<Utc>,
) -> sqlx::Result<()> {
    if rows.is_empty() {
        return Ok(());
    }
    let tenants: Vec<&str> = rows.iter().map(|(k, _)| k.0.as_str()).collect();
    let experiments: Vec<Uuid> = rows.iter().map(|(k, _)| k.1).collect();
    let users: Vec<&str> = rows.iter().map(|(k, _)| k.2.as_str()).collect();
    let ids: Vec<Uuid> = rows.iter().map(|_| Uuid::now_v7()).collect();
    let variants: Vec<&str> = rows.iter().map(|(_, v)| *v).collect();
    sqlx::query(
        "insert into assignments (tenant_id, experiment_id, user_id, id, variant, assigned_at)
         select t, e, u, i, v, $6
         from unnest($1::text[], $2::uuid[], $3::text[], $4::uuid[], $5::text[]) as x(t, e, u, i, v)
         on conflict (tenant_id, experiment_id, user_id) do nothing",
    )
    .bind(&tenants)
    .bind(&experiments)
    .bind(&users)
    .bind(&ids)
    .bind(&variants)
    .bind(now)
    .execute(conn)
    .await?;
    Ok(())
}

/// The assignments (id, variant) of `keys` that exist.
pub async fn assignments(
    conn: &mut PgConnection,
    keys: &[Key],
) -> sqlx::Result<HashMap<Key, (Uuid, String)>> {
    let tenants: Vec<&str> = keys.iter().map(|k| k.0.as_str()).collect();
    let experiments: Vec<Uuid> = keys.iter().map(|k| k.1).collect();
    let users: Vec<&str> = keys.iter().map(|k| k.2.as_str()).collect();
    let rows: Vec<(String, Uuid, String, Uuid, String)> = sqlx::query_as(
        "select a.tenant_id, a.experiment_id, a.user_id, a.id, a.variant
         from assignments a
         join unnest($1::text[], $2::uuid[], $3::text[]) as k(t, e, u)
           on a.tenant_id = k.t and a.experiment_id = k.e and a.user_id = k.u",
    )
    .bind(&tenants)
    .bind(&experiments)
    .bind(&users)
    .fetch_all(conn)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(t, e, u, id, v)| ((t, e, u), (id, v)))
        .collect())
}

/// One event ready to insert.
pub struct EventRow<'a> {
    pub id: Uuid,
    pub assignment_id: Uuid,
    pub variant: &'a str,
    pub draft: &'a EventDraft,
}

/// Inserts events in one statement; an idempotency key already stored for the experiment
/// makes its event a no-op. Returns the ids that were inserted.
pub async fn insert(conn: &mut PgConnection, rows: &[EventRow<'_>]) -> sqlx::Result<Vec<Uuid>> {
    if rows.is_empty() {
        return Ok(vec![]);
    }
    macro_rules! col {
        ($f:expr) => {
            rows.iter().map($f).collect::<Vec<_>>()
        };
    }
    let ids = col!(|r| r.id);
    let experiments = col!(|r| r.draft.experiment_id);
    let tenants = col!(|r| r.draft.tenant_id.as_str());
    let users = col!(|r| r.draft.user_id.as_str());
    let assignment_ids = col!(|r| r.assignment_id);
    let variants = col!(|r| r.variant);
    let types = col!(|r| r.draft.event_type.as_str());
    let quality = col!(|r| r.draft.quality);
    let latency = col!(|r| r.draft.latency_ms);
    let tokens = col!(|r| r.draft.tokens_used);
    let cost = col!(|r| r.draft.cost);
    let satisfaction = col!(|r| r.draft.satisfaction.map(|s| s.as_str()));
    let custom = col!(|r| Value::Object(r.draft.custom.clone()));
    let insight = col!(|r| r.draft.insight_id.as_deref());
    let conversation = col!(|r| r.draft.conversation_id.as_deref());
    let intent = col!(|r| r.draft.intent.as_deref());
    let scope = col!(|r| r.draft.scope.clone().map(Value::Object));
    let ts = col!(|r| r.draft.timestamp);
    let keys = col!(|r| r.draft.idempotency_key.as_deref());
    sqlx::query_scalar(
        "insert into events (id, experiment_id, tenant_id, user_id, assignment_id, variant,
             event_type, quality, latency_ms, tokens_used, cost, user_satisfaction,
             custom_metrics, insight_id, conversation_id, intent, scope, ts, idempotency_key)
         select * from unnest($1::uuid[], $2::uuid[], $3::text[], $4::text[], $5::uuid[],
             $6::text[], $7::text[], $8::float8[], $9::float8[], $10::int8[], $11::float8[],
             $12::text[], $13::jsonb[], $14::text[], $15::text[], $16::text[], $17::jsonb[],
             $18::timestamptz[], $19::text[])
         on conflict (experiment_id, idempotency_key) where idempotency_key is not null
         do nothing
         returning id",
    )
    .bind(&ids)
    .bind(&experiments)
    .bind(&tenants)
    .bind(&users)
    .bind(&assignment_ids)
    .bind(&variants)
    .bind(&types)
    .bind(&quality)
    .bind(&latency)
    .bind(&tokens)
    .bind(&cost)
    .bind(&satisfaction)
    .bind(&custom)
    .bind(&insight)
    .bind(&conversation)
    .bind(&intent)
    .bind(&scope)
    .bind(&ts)
    .bind(&keys)
    .fetch_all(conn)
    .await
}
