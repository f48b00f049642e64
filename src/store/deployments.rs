use crate::domain::experiment::Deployment;
use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::{PgConnection, PgExecutor};
use uuid::Uuid;

/// Records a rollout of a winner, timed by the database's clock (never an application
/// server's, which may be skewed: the newest deployment is the one in force). Returns when.
pub async fn insert(
    conn: &mut PgConnection,
    d: &Deployment,
    salt: &str,
) -> sqlx::Result<DateTime<Utc>> {
    sqlx::query_scalar!(
        "insert into deployments (id, experiment_id, tenant_id, target_type, target_id, winner,
             configuration, rollout_percentage, salt, notes, deployed_by)
         values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
         returning deployed_at",
        d.id,
        d.experiment_id,
        d.tenant_id,
        d.target_type,
        d.target_id,
        d.winner.as_str(),
        Value::Object(d.configuration.clone()),
        i16::from(d.rollout_percentage),
        salt,
        d.notes,
        d.deployed_by
    )
    .fetch_one(conn)
    .await
}

struct DeploymentRow {
    id: Uuid,
    experiment_id: Uuid,
    tenant_id: String,
    target_type: String,
    target_id: String,
    winner: String,
    configuration: Value,
    rollout_percentage: i16,
    notes: String,
    deployed_by: String,
    deployed_at: DateTime<Utc>,
}

impl DeploymentRow {
    fn into_domain(self) -> sqlx::Result<Deployment> {
        Ok(Deployment {
            id: self.id,
            experiment_id: self.experiment_id,
            tenant_id: self.tenant_id,
            target_type: self.target_type,
            target_id: self.target_id,
            winner: super::variant(&self.winner)?,
            configuration: match self.configuration {
                Value::Object(m) => m,
                _ => Default::default(),
            },
            rollout_percentage: u8::try_from(self.rollout_percentage)
                .map_err(|e| sqlx::Error::Decode(Box::new(e)))?,
            notes: self.notes,
            deployed_by: self.deployed_by,
            deployed_at: self.deployed_at,
        })
    }
}

/// The deployments of one experiment, newest first.
pub async fn for_experiment<'e>(
    executor: impl PgExecutor<'e>,
    experiment_id: Uuid,
) -> sqlx::Result<Vec<Deployment>> {
    sqlx::query_as!(
        DeploymentRow,
        "select id, experiment_id, tenant_id, target_type, target_id, winner, configuration,
             rollout_percentage, notes, deployed_by, deployed_at
         from deployments where experiment_id = $1 order by deployed_at desc, id desc",
        experiment_id
    )
    .fetch_all(executor)
    .await?
    .into_iter()
    .map(DeploymentRow::into_domain)
    .collect()
}
