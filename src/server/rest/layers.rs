//! `/api/v1/admin/insights/layers`: a layer's free share, for the creation wizard.

use super::RestError;
use super::error::{ErrorBody, Refusals};
use super::extract::QueryOf;
use crate::domain::Principal;
use crate::domain::experiment::LayerFree;
use crate::server::AppState;
use crate::service::experiments as svc;
use axum::Json;
use axum::extract::State;
use serde::Deserialize;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(layer_free))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
struct FreeQuery {
    /// The target the planned experiment tests.
    #[param(value_type = crate::domain::experiment::TargetType)]
    target_type: Option<String>,
    #[param(min_length = 1, max_length = 200)]
    target_id: Option<String>,
    /// A named layer of the tenant; absent: the target's own layer.
    #[param(min_length = 1, max_length = 64, pattern = "^[A-Za-z0-9_.-]{1,64}$")]
    layer: Option<String>,
    /// The planned experiment's tenant (a super_admin may name any, or `system`; others
    /// their own). Default: the caller's, or `system`.
    #[param(min_length = 1, max_length = 200)]
    tenant_id: Option<String>,
}

/// The free share of the layer a new experiment on a target would start in: what
/// `layerShare` can ask for, and the slices live experiments hold (named only when the
/// caller may see them).
#[utoipa::path(get, path = "/free", tag = "experiments", params(FreeQuery),
    responses((status = 200, description = "The layer's free share", body = LayerFree),
              (status = 422, description = "A refused parameter, with why", body = ErrorBody),
              Refusals))]
async fn layer_free(
    State(state): State<AppState>,
    who: Principal,
    QueryOf(query): QueryOf<FreeQuery>,
) -> Result<Json<LayerFree>, RestError> {
    let free = svc::layer_free(
        &state.pool,
        &who,
        query.target_type.as_deref(),
        query.target_id.as_deref(),
        query.layer.as_deref(),
        query.tenant_id.as_deref(),
    )
    .await?;
    Ok(Json(free))
}
