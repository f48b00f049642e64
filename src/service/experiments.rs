use super::ServiceError;
use crate::domain::{ExperimentListItem, ExperimentStatus, StatusCounts};
use crate::store;
use anyhow::Context;
use sqlx::PgPool;

/// How many experiments are in each status.
#[tracing::instrument(skip_all)]
pub async fn counts(pool: &PgPool) -> Result<StatusCounts, ServiceError> {
    Ok(store::experiments::count_by_status(pool)
        .await
        .context("Failed to count experiments by status")?)
}

/// The experiments in any of `statuses` (all when empty), newest first.
#[tracing::instrument(skip_all)]
pub async fn list(
    pool: &PgPool,
    statuses: &[ExperimentStatus],
) -> Result<Vec<ExperimentListItem>, ServiceError> {
    Ok(store::experiments::list_by_status(pool, statuses)
        .await
        .context("Failed to list experiments")?)
}
