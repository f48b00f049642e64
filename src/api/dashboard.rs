use super::ApiError;
use crate::domain::experiment::ExperimentPage;
use crate::domain::{ExperimentStatus, StatusCounts};
use leptos::prelude::*;
use leptos::server_fn::codec::Json;
use uuid::Uuid;

/// How many experiments the caller sees in each status.
/// `POST /api/fn/experiment_counts` with `{}`.
#[server(prefix = "/api/fn", endpoint = "experiment_counts", input = Json)]
pub async fn experiment_counts() -> Result<StatusCounts, ApiError> {
    let (state, who) = super::ssr::caller().await?;
    super::ssr::respond(crate::service::experiments::counts(&state.pool, &who, None).await)
}

/// A page of the experiments the caller sees in any of `statuses` (all when empty), newest
/// first: at most `limit` (default 100) after `cursor` (the `nextCursor` of the page before).
/// `POST /api/fn/list_experiments` with `{"statuses": ["active", "paused"]}`.
#[server(prefix = "/api/fn", endpoint = "list_experiments", input = Json)]
pub async fn list_experiments(
    statuses: Vec<ExperimentStatus>,
    #[server(default)] cursor: Option<Uuid>,
    #[server(default)] limit: Option<u32>,
) -> Result<ExperimentPage, ApiError> {
    use crate::service::experiments as svc;
    let (state, who) = super::ssr::caller().await?;
    let limit = limit.unwrap_or(svc::DEFAULT_PAGE);
    super::ssr::respond(svc::list(&state.pool, &who, &statuses, None, cursor, limit).await)
}
