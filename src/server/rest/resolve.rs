//! Resolve on the AI product's hot path: which configuration a user gets for every target,
//! answered from memory. The caller's role is checked before the body is read, and the body
//! is bounded (`domain::limits::MAX_SMALL_BODY`).

use super::RestError;
use super::error::{ErrorBody, Refusals};
use super::extract::{RuntimeCaller, json_body};
use crate::domain::limits::MAX_SMALL_BODY;
use crate::domain::resolve::{ResolveRequest, answer_json_with};
use crate::server::AppState;
use crate::service::resolve as svc;
use axum::extract::{Request, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(resolve))
}

/// What a resolve answers: one entry per target an active experiment or a deployed winner
/// covers for the user.
#[derive(serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Resolved {
    pub tenant_id: String,
    pub user_id: String,
    pub assignments: Vec<crate::domain::resolve::ResolvedConfig>,
    /// The user's assignment in each active holdout of the tenant (its own, system-wide):
    /// `holdout` (no assignments at all: no experiment, no deployed winner) or `exposed`.
    /// Absent when no holdout applies. Log outcome events under the holdout's id too.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub holdouts: Vec<crate::domain::resolve::HoldoutRef>,
}

/// Which configuration a user gets for every target (answered from memory).
#[utoipa::path(post, path = "/api/v1/insights/resolve", tag = "runtime", request_body = ResolveRequest,
    responses((status = 200, description = "The user's configurations", body = Resolved),
              (status = 422, description = "A refused field, with why", body = ErrorBody),
              Refusals))]
async fn resolve(
    State(state): State<AppState>,
    RuntimeCaller(who): RuntimeCaller,
    request: Request,
) -> Result<Response, RestError> {
    let request: ResolveRequest = json_body(request, MAX_SMALL_BODY).await?;
    let body =
        svc::resolve_with_holdouts(&state.runtime, &who, &request, |assignments, holdouts| {
            answer_json_with(&request.tenant_id, &request.user_id, assignments, holdouts)
        })?;
    Ok(([(header::CONTENT_TYPE, "application/json")], body).into_response())
}
