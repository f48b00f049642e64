//! `/api/v1/admin/insights/experiments` (spec: API Reference).

use super::RestError;
use super::extract::{Body, Manager, experiment_id};
use crate::domain::assignment::Variant;
use crate::domain::experiment::{Action, DeployRequest, ExperimentInput};
use crate::domain::{ExperimentStatus, FieldError, Principal};
use crate::server::AppState;
use crate::service::ServiceError;
use crate::service::experiments as svc;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/", post(create_experiment).get(list_experiments))
        .route("/{id}", get(get_experiment).patch(update_experiment))
        .route("/{id}/start", post(start_experiment))
        .route("/{id}/pause", post(pause_experiment))
        .route("/{id}/resume", post(resume_experiment))
        .route("/{id}/stop", post(stop_experiment))
        .route("/{id}/cancel", post(cancel_experiment))
        .route("/{id}/declare-winner", post(declare_winner))
        .route("/{id}/approve", post(approve_experiment))
        .route("/{id}/deploy-winner", post(deploy_winner))
        .route("/{id}/deployments", get(list_deployments))
        .route("/{id}/results", get(get_experiment_results))
        .route("/{id}/audit", get(get_experiment_audit))
}

type Reply = Result<Json<Value>, RestError>;

fn json_of<T: serde::Serialize>(value: &T) -> Json<Value> {
    Json(serde_json::to_value(value).unwrap_or(Value::Null))
}

async fn create_experiment(
    State(state): State<AppState>,
    Manager(who): Manager,
    Body(input): Body<ExperimentInput>,
) -> Result<(StatusCode, Json<Value>), RestError> {
    let e = svc::create(&state.pool, &who, input).await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({
            "experimentId": e.id,
            "status": e.status,
            "message": format!("Experiment {:?} created as a draft", e.spec.name),
        })),
    ))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ListQuery {
    /// One status or several, comma-separated.
    status: Option<String>,
    tenant_id: Option<String>,
    /// Most experiments in the page (1 to 500, default 100).
    limit: Option<u32>,
    /// The `nextCursor` of the page before.
    cursor: Option<String>,
}

async fn list_experiments(
    State(state): State<AppState>,
    who: Principal,
    Query(query): Query<ListQuery>,
) -> Reply {
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
    Ok(Json(json!({
        "total": page.experiments.len(),
        "experiments": page.experiments,
        "counts": counts,
        "nextCursor": page.next_cursor,
    })))
}

async fn get_experiment(
    State(state): State<AppState>,
    who: Principal,
    Path(id): Path<String>,
) -> Reply {
    let e = svc::get(&state.pool, &who, experiment_id(&id)?).await?;
    Ok(json_of(&e))
}

async fn update_experiment(
    State(state): State<AppState>,
    Manager(who): Manager,
    Path(id): Path<String>,
    Body(patch): Body<ExperimentInput>,
) -> Reply {
    let e = svc::update(&state.pool, &who, experiment_id(&id)?, patch).await?;
    Ok(json_of(&e))
}

async fn transition(state: &AppState, who: &Principal, id: &str, action: Action) -> Reply {
    let e = svc::transition(
        &state.pool,
        who,
        experiment_id(id)?,
        action,
        state.require_approval,
    )
    .await?;
    Ok(Json(json!({
        "experimentId": e.id,
        "status": e.status,
        "startDate": e.start_date,
        "endDate": e.end_date,
        "estimatedEndDate": e.estimated_end_date(),
        "experiment": e,
    })))
}

async fn start_experiment(
    State(s): State<AppState>,
    who: Principal,
    Path(id): Path<String>,
) -> Reply {
    transition(&s, &who, &id, Action::Start).await
}

async fn pause_experiment(
    State(s): State<AppState>,
    who: Principal,
    Path(id): Path<String>,
) -> Reply {
    transition(&s, &who, &id, Action::Pause).await
}

async fn resume_experiment(
    State(s): State<AppState>,
    who: Principal,
    Path(id): Path<String>,
) -> Reply {
    transition(&s, &who, &id, Action::Resume).await
}

async fn stop_experiment(
    State(s): State<AppState>,
    who: Principal,
    Path(id): Path<String>,
) -> Reply {
    transition(&s, &who, &id, Action::Stop).await
}

async fn cancel_experiment(
    State(s): State<AppState>,
    who: Principal,
    Path(id): Path<String>,
) -> Reply {
    transition(&s, &who, &id, Action::Cancel).await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct WinnerBody {
    winner: Variant,
}

async fn declare_winner(
    State(state): State<AppState>,
    Manager(who): Manager,
    Path(id): Path<String>,
    Body(body): Body<WinnerBody>,
) -> Reply {
    let e = svc::declare_winner(&state.pool, &who, experiment_id(&id)?, body.winner).await?;
    Ok(Json(json!({
        "experimentId": e.id,
        "status": e.status,
        "winner": e.winner,
        "experiment": e,
    })))
}

async fn approve_experiment(
    State(state): State<AppState>,
    who: Principal,
    Path(id): Path<String>,
) -> Reply {
    let e = svc::approve(&state.pool, &who, experiment_id(&id)?).await?;
    Ok(Json(json!({
        "experimentId": e.id,
        "approvedBy": e.approved_by,
        "experiment": e,
    })))
}

async fn deploy_winner(
    State(state): State<AppState>,
    Manager(who): Manager,
    Path(id): Path<String>,
    Body(body): Body<DeployRequest>,
) -> Reply {
    let (e, deployment) = svc::deploy_winner(&state.pool, &who, experiment_id(&id)?, body).await?;
    Ok(Json(json!({
        "experimentId": e.id,
        "status": e.status,
        "deployment": deployment,
    })))
}

async fn list_deployments(
    State(state): State<AppState>,
    who: Principal,
    Path(id): Path<String>,
) -> Reply {
    let deployments = svc::deployments(&state.pool, &who, experiment_id(&id)?).await?;
    Ok(Json(json!({ "deployments": deployments })))
}

async fn get_experiment_results(
    State(state): State<AppState>,
    who: Principal,
    Path(id): Path<String>,
) -> Reply {
    let results = crate::service::results::results(&state.pool, &who, experiment_id(&id)?).await?;
    Ok(json_of(&results))
}

async fn get_experiment_audit(
    State(state): State<AppState>,
    who: Principal,
    Path(id): Path<String>,
) -> Reply {
    let entries = svc::audit(&state.pool, &who, experiment_id(&id)?).await?;
    Ok(Json(json!({ "entries": entries })))
}
