//! What the runtime keeps live in memory: the active experiments and the deployments.
//! (The exposure bookkeeping it writes back is `store::assignments::upsert_exposures`.)

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
    pub targeting: Value,
    /// Every arm, in order: `[{key, name, configuration, share}]`.
    pub variants: Value,
    /// Its named layer (`None`: its target's own layer).
    pub layer: Option<String>,
    /// Its slice of the layer (set on every live experiment, a CHECK of `experiments`).
    pub layer_slice_start: i16,
    pub layer_slice_end: i16,
    /// `experiment` or `holdout`.
    pub kind: String,
}

/// The active experiments and holdouts (`kind`), oldest first (so the one started first
/// answers a target); with `only`, just that one (none when it is not active).
pub async fn active_experiments(
    pool: &PgPool,
    only: Option<Uuid>,
) -> sqlx::Result<Vec<LiveExperimentRow>> {
    // `start_date` is set on every started experiment (a CHECK of `experiments`).
    sqlx::query_as!(
        LiveExperimentRow,
        r#"select id, tenant_id, target_type, target_id, salt, start_date as "start_date!",
                targeting, variants, layer,
                layer_slice_start as "layer_slice_start!", layer_slice_end as "layer_slice_end!",
                kind
         from experiments where status = 'active' and ($1::uuid is null or id = $1)
         order by start_date, id"#,
        only
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
    pub deployed_at: DateTime<Utc>,
}

/// Deployments in force, newest first; with `only`, just that experiment's (none when its
/// winner is not deployed).
pub async fn live_deployments(
    pool: &PgPool,
    only: Option<Uuid>,
) -> sqlx::Result<Vec<LiveDeploymentRow>> {
    sqlx::query_as!(
        LiveDeploymentRow,
        "select experiment_id, tenant_id, target_type, target_id, salt, rollout_percentage,
                winner, configuration, targeting, deployed_at
         from (
             select distinct on (d.experiment_id) d.experiment_id, d.tenant_id, d.target_type,
                    d.target_id, d.salt, d.rollout_percentage, d.winner, d.configuration,
                    e.targeting, d.deployed_at
             from deployments d join experiments e on e.id = d.experiment_id
             where e.status = 'winner_deployed' and ($1::uuid is null or d.experiment_id = $1)
             order by d.experiment_id, d.deployed_at desc
         ) latest order by deployed_at desc",
        only
    )
    .fetch_all(pool)
    .await
}
