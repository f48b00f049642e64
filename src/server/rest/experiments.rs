//! `/api/v1/admin/insights/experiments` (spec: API Reference).

use super::RestError;
use super::error::{ErrorBody, Refusals};
use super::extract::{Body, Manager, QueryOf, experiment_id};
use crate::domain::assignment::Variant;
use crate::domain::experiment::{
    Action, AuditEntry, DeployRequest, Deployment, Experiment, ExperimentInput, ExperimentListItem,
};
use crate::domain::results::ResultsReport;
use crate::domain::{ExperimentStatus, FieldError, Principal, StatusCounts};
use crate::server::AppState;
use crate::service::ServiceError;
use crate::service::experiments as svc;
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_experiment, list_experiments))
        .routes(routes!(get_experiment, update_experiment))
        .routes(routes!(start_experiment))
        .routes(routes!(pause_experiment))
        .routes(routes!(resume_experiment))
        .routes(routes!(stop_experiment))
        .routes(routes!(cancel_experiment))
        .routes(routes!(declare_winner))
        .routes(routes!(approve_experiment))
        .routes(routes!(deploy_winner))
        .routes(routes!(list_deployments))
        .routes(routes!(get_experiment_results))
        .routes(routes!(get_experiment_audit))
}

type Reply<T> = Result<Json<T>, RestError>;

/// A create's body: the fields of [`ExperimentInput`], of which a create needs some (an
/// edit, any). Its schema is `ExperimentInput`'s with an example; the served document then
/// marks what a create must send (`docs::strict_create_schema`, from the domain's lists), so
/// the document describes both without a second list of fields.
pub struct NewExperiment;

impl utoipa::PartialSchema for NewExperiment {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::RefOr;
        use utoipa::openapi::schema::Schema;
        let mut schema = <ExperimentInput as utoipa::PartialSchema>::schema();
        if let RefOr::T(Schema::Object(object)) = &mut schema {
            // A whole valid definition: a client sees one to start from, and the fuzzer's
            // example phase creates real experiments for the linked operations to act on.
            object.examples = vec![serde_json::json!({
                "name": "Risk template with history",
                "description": "A context template that includes more historical data",
                "hypothesis": "Historical project data improves risk analysis quality by 5%",
                "targetType": "context_template",
                "targetId": "risk-analysis",
                "control": {"name": "Current", "configuration": {"templateId": "risk-v1"}},
                "treatment": {"name": "With history", "configuration": {"templateId": "risk-v2"}},
                "allocation": {"control": 50, "treatment": 50},
                "primaryMetric": "quality",
                "successCriteria": {"metric": "quality", "operator": ">", "threshold": 5,
                                    "confidenceLevel": 0.95},
                "secondaryMetrics": ["latency"],
                "minDuration": 7,
                "minSamplesPerVariant": 1000
            })];
        }
        schema
    }
}

impl utoipa::ToSchema for NewExperiment {
    fn schemas(
        schemas: &mut Vec<(
            String,
            utoipa::openapi::RefOr<utoipa::openapi::schema::Schema>,
        )>,
    ) {
        <ExperimentInput as utoipa::ToSchema>::schemas(schemas);
    }
}

/// The answer to a create.
#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Created {
    pub experiment_id: Uuid,
    pub status: ExperimentStatus,
    pub message: String,
}

/// Creates a draft. A super_admin may name any tenant (or `system`, for a system-wide
/// experiment); others create in their own.
#[utoipa::path(post, path = "/", tag = "experiments", request_body = NewExperiment,
    responses((status = 201, description = "Created as a draft", body = Created),
              (status = 422, description = "Every refused field, with why", body = ErrorBody),
              Refusals))]
async fn create_experiment(
    State(state): State<AppState>,
    Manager(who): Manager,
    Body(input): Body<ExperimentInput>,
) -> Result<(StatusCode, Json<Created>), RestError> {
    let e = svc::create(&state.pool, &who, input).await?;
    Ok((
        StatusCode::CREATED,
        Json(Created {
            experiment_id: e.id,
            status: e.status,
            message: format!("Experiment {:?} created as a draft", e.spec.name),
        }),
    ))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
struct ListQuery {
    /// One status or several, comma-separated.
    status: Option<String>,
    tenant_id: Option<String>,
    /// Most experiments in the page (1 to 500, default 100).
    limit: Option<u32>,
    /// The `nextCursor` of the page before.
    cursor: Option<String>,
}

/// A page of the listing.
#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Listing {
    /// How many experiments this page holds.
    pub total: usize,
    pub experiments: Vec<ExperimentListItem>,
    /// Per status, all the caller sees (not only this page).
    pub counts: StatusCounts,
    /// The cursor of the next page; null on the last.
    pub next_cursor: Option<Uuid>,
}

/// The experiments the caller sees, newest first, a page at a time.
#[utoipa::path(get, path = "/", tag = "experiments", params(ListQuery),
    responses((status = 200, description = "A page of experiments", body = Listing),
              (status = 422, description = "A status, limit or cursor that is not one", body = ErrorBody),
              Refusals))]
async fn list_experiments(
    State(state): State<AppState>,
    who: Principal,
    QueryOf(query): QueryOf<ListQuery>,
) -> Reply<Listing> {
    let mut statuses = Vec::new();
    for name in query
        .status
        .iter()
        .flat_map(|s| s.split(','))
        .map(str::trim)
    {
        if name.is_empty() {
            continue;
        }
        let status = name.parse::<ExperimentStatus>().map_err(|e| {
            RestError::from(ServiceError::Invalid(vec![FieldError::new(
                "status",
                e.to_string(),
            )]))
        })?;
        statuses.push(status);
    }
    let tenant = query.tenant_id.as_deref().filter(|t| !t.is_empty());
    let cursor = match query.cursor.as_deref().filter(|c| !c.is_empty()) {
        None => None,
        Some(c) => Some(uuid::Uuid::parse_str(c).map_err(|_| {
            RestError::from(ServiceError::Invalid(vec![FieldError::new(
                "cursor",
                "is not the cursor of a page of this listing",
            )]))
        })?),
    };
    let limit = query.limit.unwrap_or(svc::DEFAULT_PAGE);
    let page = svc::list(&state.pool, &who, &statuses, tenant, cursor, limit).await?;
    let counts = svc::counts(&state.pool, &who, tenant).await?;
    Ok(Json(Listing {
        total: page.experiments.len(),
        experiments: page.experiments,
        counts,
        next_cursor: page.next_cursor,
    }))
}

/// One experiment.
#[utoipa::path(get, path = "/{id}", tag = "experiments", params(("id" = Uuid, Path, description = "The experiment's id")),
    responses((status = 200, description = "The experiment", body = Experiment), Refusals))]
async fn get_experiment(
    State(state): State<AppState>,
    who: Principal,
    Path(id): Path<String>,
) -> Reply<Experiment> {
    let e = svc::get(&state.pool, &who, experiment_id(&id)?).await?;
    Ok(Json(e))
}

/// Edits an experiment: the fields sent replace the stored ones (nested objects field by
/// field). Once started only the texts may change, and the traffic may grow at the same ratio.
#[utoipa::path(patch, path = "/{id}", tag = "experiments", request_body = ExperimentInput,
    params(("id" = Uuid, Path, description = "The experiment's id")),
    responses((status = 200, description = "The experiment as edited", body = Experiment),
              (status = 422, description = "Every refused field, with why", body = ErrorBody),
              Refusals))]
async fn update_experiment(
    State(state): State<AppState>,
    Manager(who): Manager,
    Path(id): Path<String>,
    Body(patch): Body<ExperimentInput>,
) -> Reply<Experiment> {
    let e = svc::update(&state.pool, &who, experiment_id(&id)?, patch).await?;
    Ok(Json(e))
}

/// The answer to a lifecycle action.
#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Transitioned {
    pub experiment_id: Uuid,
    pub status: ExperimentStatus,
    pub start_date: Option<DateTime<Utc>>,
    pub end_date: Option<DateTime<Utc>>,
    pub estimated_end_date: Option<DateTime<Utc>>,
    pub experiment: Experiment,
}

async fn transition(
    state: &AppState,
    who: &Principal,
    id: &str,
    action: Action,
) -> Reply<Transitioned> {
    let e = svc::transition(
        &state.pool,
        who,
        experiment_id(id)?,
        action,
        state.require_approval,
    )
    .await?;
    // Read your own writes: this server's next resolve serves the change.
    state.runtime.reload_experiment(e.id).await;
    Ok(Json(Transitioned {
        experiment_id: e.id,
        status: e.status,
        start_date: e.start_date,
        end_date: e.end_date,
        estimated_end_date: e.estimated_end_date(),
        experiment: e,
    }))
}

/// Starts a draft (an approved one, with `VERDICT_REQUIRE_APPROVAL`).
#[utoipa::path(post, path = "/{id}/start", tag = "experiments",
    params(("id" = Uuid, Path, description = "The experiment's id")),
    responses((status = 200, description = "The experiment's new status", body = Transitioned), Refusals))]
async fn start_experiment(
    State(s): State<AppState>,
    who: Principal,
    Path(id): Path<String>,
) -> Reply<Transitioned> {
    transition(&s, &who, &id, Action::Start).await
}

/// Pauses a running experiment: it serves no variant and takes no events.
#[utoipa::path(post, path = "/{id}/pause", tag = "experiments",
    params(("id" = Uuid, Path, description = "The experiment's id")),
    responses((status = 200, description = "The experiment's new status", body = Transitioned), Refusals))]
async fn pause_experiment(
    State(s): State<AppState>,
    who: Principal,
    Path(id): Path<String>,
) -> Reply<Transitioned> {
    transition(&s, &who, &id, Action::Pause).await
}

/// Resumes a paused experiment.
#[utoipa::path(post, path = "/{id}/resume", tag = "experiments",
    params(("id" = Uuid, Path, description = "The experiment's id")),
    responses((status = 200, description = "The experiment's new status", body = Transitioned), Refusals))]
async fn resume_experiment(
    State(s): State<AppState>,
    who: Principal,
    Path(id): Path<String>,
) -> Reply<Transitioned> {
    transition(&s, &who, &id, Action::Resume).await
}

/// Stops an experiment: it completes, and its final results are stored.
#[utoipa::path(post, path = "/{id}/stop", tag = "experiments",
    params(("id" = Uuid, Path, description = "The experiment's id")),
    responses((status = 200, description = "The experiment's new status", body = Transitioned), Refusals))]
async fn stop_experiment(
    State(s): State<AppState>,
    who: Principal,
    Path(id): Path<String>,
) -> Reply<Transitioned> {
    transition(&s, &who, &id, Action::Stop).await
}

/// Cancels an experiment that has not completed.
#[utoipa::path(post, path = "/{id}/cancel", tag = "experiments",
    params(("id" = Uuid, Path, description = "The experiment's id")),
    responses((status = 200, description = "The experiment's new status", body = Transitioned), Refusals))]
async fn cancel_experiment(
    State(s): State<AppState>,
    who: Principal,
    Path(id): Path<String>,
) -> Reply<Transitioned> {
    transition(&s, &who, &id, Action::Cancel).await
}

/// Which arm won.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WinnerBody {
    pub winner: Variant,
}

/// The answer to declare-winner.
#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Declared {
    pub experiment_id: Uuid,
    pub status: ExperimentStatus,
    pub winner: Option<Variant>,
    pub experiment: Experiment,
}

/// Ends a running experiment with a winner declared.
#[utoipa::path(post, path = "/{id}/declare-winner", tag = "experiments", request_body = WinnerBody,
    params(("id" = Uuid, Path, description = "The experiment's id")),
    responses((status = 200, description = "Completed with the winner", body = Declared), Refusals))]
async fn declare_winner(
    State(state): State<AppState>,
    Manager(who): Manager,
    Path(id): Path<String>,
    Body(body): Body<WinnerBody>,
) -> Reply<Declared> {
    let e = svc::declare_winner(&state.pool, &who, experiment_id(&id)?, body.winner).await?;
    state.runtime.reload_experiment(e.id).await;
    Ok(Json(Declared {
        experiment_id: e.id,
        status: e.status,
        winner: e.winner,
        experiment: e,
    }))
}

/// The answer to approve.
#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Approved {
    pub experiment_id: Uuid,
    pub approved_by: Option<String>,
    pub experiment: Experiment,
}

/// Approves an experiment (a super_admin other than its creator).
#[utoipa::path(post, path = "/{id}/approve", tag = "experiments",
    params(("id" = Uuid, Path, description = "The experiment's id")),
    responses((status = 200, description = "Approved", body = Approved), Refusals))]
async fn approve_experiment(
    State(state): State<AppState>,
    who: Principal,
    Path(id): Path<String>,
) -> Reply<Approved> {
    let e = svc::approve(&state.pool, &who, experiment_id(&id)?).await?;
    Ok(Json(Approved {
        experiment_id: e.id,
        approved_by: e.approved_by.clone(),
        experiment: e,
    }))
}

/// The answer to deploy-winner.
#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Deployed {
    pub experiment_id: Uuid,
    pub status: ExperimentStatus,
    pub deployment: Deployment,
}

/// Rolls the winner out to a share of users (again with a higher share to widen it).
#[utoipa::path(post, path = "/{id}/deploy-winner", tag = "experiments", request_body = DeployRequest,
    params(("id" = Uuid, Path, description = "The experiment's id")),
    responses((status = 200, description = "Deployed", body = Deployed),
              (status = 422, description = "A refused field, with why", body = ErrorBody),
              Refusals))]
async fn deploy_winner(
    State(state): State<AppState>,
    Manager(who): Manager,
    Path(id): Path<String>,
    Body(body): Body<DeployRequest>,
) -> Reply<Deployed> {
    let (e, deployment) = svc::deploy_winner(&state.pool, &who, experiment_id(&id)?, body).await?;
    state.runtime.reload_experiment(e.id).await;
    Ok(Json(Deployed {
        experiment_id: e.id,
        status: e.status,
        deployment,
    }))
}

/// An experiment's deployments.
#[derive(Serialize, utoipa::ToSchema)]
pub struct Deployments {
    /// Newest first.
    pub deployments: Vec<Deployment>,
}

/// The deployments of an experiment's winner, newest first.
#[utoipa::path(get, path = "/{id}/deployments", tag = "experiments",
    params(("id" = Uuid, Path, description = "The experiment's id")),
    responses((status = 200, description = "Its deployments", body = Deployments), Refusals))]
async fn list_deployments(
    State(state): State<AppState>,
    who: Principal,
    Path(id): Path<String>,
) -> Reply<Deployments> {
    let deployments = svc::deployments(&state.pool, &who, experiment_id(&id)?).await?;
    Ok(Json(Deployments { deployments }))
}

/// The experiment's results: the spec's shape, and the full detail (docs/STATISTICS.md).
#[utoipa::path(get, path = "/{id}/results", tag = "experiments",
    params(("id" = Uuid, Path, description = "The experiment's id")),
    responses((status = 200, description = "The results report", body = ResultsReport), Refusals))]
async fn get_experiment_results(
    State(state): State<AppState>,
    who: Principal,
    Path(id): Path<String>,
) -> Reply<ResultsReport> {
    let results = crate::service::results::results(&state.pool, &who, experiment_id(&id)?).await?;
    Ok(Json(results))
}

/// An experiment's audit log.
#[derive(Serialize, utoipa::ToSchema)]
pub struct AuditLog {
    /// Oldest first.
    pub entries: Vec<AuditEntry>,
}

/// Who did what to the experiment, oldest first.
#[utoipa::path(get, path = "/{id}/audit", tag = "experiments",
    params(("id" = Uuid, Path, description = "The experiment's id")),
    responses((status = 200, description = "The audit log", body = AuditLog), Refusals))]
async fn get_experiment_audit(
    State(state): State<AppState>,
    who: Principal,
    Path(id): Path<String>,
) -> Reply<AuditLog> {
    let entries = svc::audit(&state.pool, &who, experiment_id(&id)?).await?;
    Ok(Json(AuditLog { entries }))
}
