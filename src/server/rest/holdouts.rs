//! `/api/v1/admin/insights/holdouts`: users who get no experiment and no deployed winner, to
//! measure the cumulative effect of everything shipped. A holdout is an experiment of kind
//! `holdout` (arms `holdout` and `exposed`): its results are
//! `GET /api/v1/admin/insights/experiments/{id}/results`.

use super::RestError;
use super::error::{ErrorBody, Refusals};
use super::extract::{Body, Manager, QueryOf, experiment_id};
use crate::domain::Principal;
use crate::domain::experiment::{Experiment, HoldoutInput};
use crate::server::AppState;
use crate::service::experiments::holdouts as svc;
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_holdout, list_holdouts))
        .routes(routes!(stop_holdout))
}

/// Creates a holdout and starts it at once (one live holdout per tenant; a system-wide one,
/// tenant `system`, by a super_admin only).
#[utoipa::path(post, path = "/", tag = "experiments", request_body = HoldoutInput,
    responses((status = 201, description = "The holdout, live", body = Experiment),
              (status = 422, description = "Every refused field, with why", body = ErrorBody),
              Refusals))]
async fn create_holdout(
    State(state): State<AppState>,
    Manager(who): Manager,
    Body(input): Body<HoldoutInput>,
) -> Result<(StatusCode, Json<Experiment>), RestError> {
    let holdout = svc::create(&state.pool, &who, input).await?;
    // Read your own writes: this server's next resolve holds the users out.
    state.runtime.reload_experiment(holdout.id).await;
    Ok((StatusCode::CREATED, Json(holdout)))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
struct ListQuery {
    /// A super_admin's filter by tenant.
    tenant_id: Option<String>,
}

/// The holdouts.
#[derive(Serialize, utoipa::ToSchema)]
pub struct Holdouts {
    /// Newest first.
    pub holdouts: Vec<Experiment>,
}

/// The holdouts the caller sees, newest first.
#[utoipa::path(get, path = "/", tag = "experiments", params(ListQuery),
    responses((status = 200, description = "The holdouts", body = Holdouts), Refusals))]
async fn list_holdouts(
    State(state): State<AppState>,
    who: Principal,
    QueryOf(query): QueryOf<ListQuery>,
) -> Result<Json<Holdouts>, RestError> {
    let tenant = query.tenant_id.as_deref().filter(|t| !t.is_empty());
    let holdouts = svc::list(&state.pool, &who, tenant).await?;
    Ok(Json(Holdouts { holdouts }))
}

/// Stops a holdout: it completes, and its users are served as everyone else.
#[utoipa::path(post, path = "/{id}/stop", tag = "experiments",
    params(("id" = Uuid, Path, description = "The holdout's id")),
    responses((status = 200, description = "The holdout, completed", body = Experiment), Refusals))]
async fn stop_holdout(
    State(state): State<AppState>,
    who: Principal,
    Path(id): Path<String>,
) -> Result<Json<Experiment>, RestError> {
    let holdout = svc::stop(&state.pool, &who, experiment_id(&id)?).await?;
    state.runtime.reload_experiment(holdout.id).await;
    Ok(Json(holdout))
}
