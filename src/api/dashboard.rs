use super::ApiError;
use crate::domain::{ExperimentListItem, ExperimentStatus, StatusCounts};
use leptos::prelude::*;
use leptos::server_fn::codec::Json;

/// How many experiments the caller sees in each status.
/// `POST /api/fn/experiment_counts` with `{}`.
#[server(prefix = "/api/fn", endpoint = "experiment_counts", input = Json)]
pub async fn experiment_counts() -> Result<StatusCounts, ApiError> {
    let (state, who) = super::ssr::caller().await?;
    super::ssr::respond(crate::service::experiments::counts(&state.pool, &who, None).await)
}

/// The experiments the caller sees in any of `statuses` (all when empty), newest first.
/// `POST /api/fn/list_experiments` with `{"statuses": ["active", "paused"]}`.
#[server(prefix = "/api/fn", endpoint = "list_experiments", input = Json)]
pub async fn list_experiments(
    statuses: Vec<ExperimentStatus>,
) -> Result<Vec<ExperimentListItem>, ApiError> {
    let (state, who) = super::ssr::caller().await?;
    super::ssr::respond(crate::service::experiments::list(&state.pool, &who, &statuses, None).await)
}
