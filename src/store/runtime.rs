//! What the runtime loads into memory, and the exposure bookkeeping it writes back.

use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::PgPool;
use uuid::Uuid;

/// An active experiment, as the runtime needs it.
#[derive(sqlx::FromRow)]
pub struct LiveExperimentRow {
    pub id: Uuid,
    pub tenant_id: String,
    pub target_type: String,
    pub target_id: String,
    pub salt: String,
    pub start_date: DateTime<Utc>,
    pub alloc_control: i16,
    pub alloc_treatment: i16,
    pub targeting: Value,
    pub control_config: Value,
    pub treatment_config: Value,
}

/// The active experiments, oldest first (so the one started first answers a target).
pub async fn active_experiments(pool: &PgPool) -> sqlx::Result<Vec<LiveExperimentRow>> {
    sqlx::query_as::<_, LiveExperimentRow>(
        "select id, tenant_id, target_type, target_id, salt, start_date, alloc_control,
                alloc_treatment,
                targeting, control_config, treatment_config
         from experiments where status = 'active' order by start_date, id",
    )
    .fetch_all(pool)
    .await
}

/// The newest deployment of each experiment whose winner is deployed.
#[derive(sqlx::FromRow)]
pub struct LiveDeploymentRow {
    pub experiment_id: Uuid,
    pub tenant_id: String,
    pub target_type: String,
    pub target_id: String,
    pub salt: String,
    pub rollout_percentage: i16,
    pub winner: String,
    pub configuration: Value,
    pub targeting: Value,
}

/// Deployments in force, newest first.
pub async fn live_deployments(pool: &PgPool) -> sqlx::Result<Vec<LiveDeploymentRow>> {
    sqlx::query_as::<_, LiveDeploymentRow>(
        "select * from (
             select distinct on (d.experiment_id) d.experiment_id, d.tenant_id, d.target_type,
                    d.target_id, d.salt, d.rollout_percentage, d.winner, d.configuration,
                    e.targeting, d.deployed_at
             from deployments d join experiments e on e.id = d.experiment_id
             where e.status = 'winner_deployed'
             order by d.experiment_id, d.deployed_at desc
         ) latest order by deployed_at desc",
    )
    .fetch_all(pool)
    .await
}

/// Exposures of one (tenant, experiment, user), summed over a batch.
pub struct ExposureRow<'a> {
    pub tenant_id: &'a str,
    pub experiment_id: Uuid,
    pub user_id: &'a str,
    pub variant: &'static str,
    pub first: DateTime<Utc>,
    pub last: DateTime<Utc>,
    pub count: i64,
}

/// Creates or updates the assignments of a batch of exposures in one statement. The keys
/// of `rows` must be distinct (the caller sums per key).
pub async fn upsert_exposures(pool: &PgPool, rows: &[ExposureRow<'_>]) -> sqlx::Result<u64> {
    let tenants: Vec<&str> = rows.iter().map(|r| r.tenant_id).collect();
    let experiments: Vec<Uuid> = rows.iter().map(|r| r.experiment_id).collect();
    let users: Vec<&str> = rows.iter().map(|r| r.user_id).collect();
    let ids: Vec<Uuid> = {
        let mut fresh = super::fresh_ids();
        rows.iter().map(|_| fresh()).collect()
    };
    let variants: Vec<&str> = rows.iter().map(|r| r.variant).collect();
    let firsts: Vec<DateTime<Utc>> = rows.iter().map(|r| r.first).collect();
    let lasts: Vec<DateTime<Utc>> = rows.iter().map(|r| r.last).collect();
    let counts: Vec<i64> = rows.iter().map(|r| r.count).collect();
    let done = sqlx::query(
        "insert into assignments (tenant_id, experiment_id, user_id, id, variant, assigned_at,
                                  first_exposure, last_exposure, exposure_count)
         select t, e, u, i, v, f, f, l, c
         from unnest($1::text[], $2::uuid[], $3::text[], $4::uuid[], $5::text[],
                     $6::timestamptz[], $7::timestamptz[], $8::bigint[]) as x(t, e, u, i, v, f, l, c)
         on conflict (tenant_id, experiment_id, user_id) do update set
             first_exposure = least(coalesce(assignments.first_exposure, excluded.first_exposure),
                                    excluded.first_exposure),
             last_exposure = greatest(assignments.last_exposure, excluded.last_exposure),
             exposure_count = assignments.exposure_count + excluded.exposure_count",
    )
    .bind(&tenants)
    .bind(&experiments)
    .bind(&users)
    .bind(&ids)
    .bind(&variants)
    .bind(&firsts)
    .bind(&lasts)
    .bind(&counts)
    .execute(pool)
    .await?;
    Ok(done.rows_affected())
}
