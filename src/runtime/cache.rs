//! Loading the snapshot of live experiments and deployments from the database.

use crate::domain::assignment::{Allocation, Targeting, Variant};
use crate::domain::experiment::TargetType;
use crate::domain::resolve::{LiveDeployment, LiveExperiment, Snapshot};
use crate::store;
use anyhow::Context;
use serde_json::Value;
use serde_json::value::RawValue;
use sqlx::PgPool;
use std::sync::Arc;

fn raw(value: &Value) -> anyhow::Result<Arc<RawValue>> {
    Ok(Arc::from(RawValue::from_string(serde_json::to_string(
        value,
    )?)?))
}

fn targeting(value: Value) -> anyhow::Result<Targeting> {
    serde_json::from_value(value).context("Stored targeting is not valid")
}

fn target_type(name: &str) -> anyhow::Result<TargetType> {
    name.parse::<TargetType>().map_err(anyhow::Error::msg)
}

/// Reads every active experiment and deployment in force into a fresh snapshot.
pub async fn load(pool: &PgPool) -> anyhow::Result<Snapshot> {
    let experiments = store::live::active_experiments(pool)
        .await
        .context("Failed to load active experiments")?
        .into_iter()
        .map(|row| {
            let targeting = targeting(row.targeting)?;
            Ok(LiveExperiment {
                id: row.id,
                tenant_id: row.tenant_id,
                target_type: target_type(&row.target_type)?,
                target_id: row.target_id,
                salt: row.salt,
                start_date: row.start_date,
                allocation: Allocation::new(
                    u8::try_from(row.alloc_control)?,
                    u8::try_from(row.alloc_treatment)?,
                ),
                compiled: targeting.compile(),
                targeting,
                control: raw(&row.control_config)?,
                treatment: raw(&row.treatment_config)?,
            })
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let deployments = store::live::live_deployments(pool)
        .await
        .context("Failed to load deployments")?
        .into_iter()
        .map(|row| {
            Ok(LiveDeployment {
                experiment_id: row.experiment_id,
                tenant_id: row.tenant_id,
                target_type: target_type(&row.target_type)?,
                target_id: row.target_id,
                salt: row.salt,
                rollout_percentage: u8::try_from(row.rollout_percentage)?,
                winner: if row.winner == "control" {
                    Variant::Control
                } else {
                    Variant::Treatment
                },
                compiled: targeting(row.targeting)?.compile(),
                configuration: raw(&row.configuration)?,
            })
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    Ok(Snapshot::new(experiments, deployments))
}
