//! The experiment operations as server functions (the same service calls as the REST
//! routes). Each is `POST /api/fn/<name>` with a JSON object of its arguments.

use super::ApiError;
use crate::domain::assignment::Variant;
use crate::domain::experiment::{
    Action, AuditEntry, DeployRequest, Deployment, Experiment, ExperimentInput,
};
use crate::domain::results::{CompletionEstimate, ResultsReport};
use leptos::prelude::*;
use leptos::server_fn::codec::Json;
use uuid::Uuid;

/// Creates a draft. `{"input": {…same body as the REST create…}}`.
#[server(prefix = "/api/fn", endpoint = "create_experiment", input = Json)]
pub async fn create_experiment(input: ExperimentInput) -> Result<Experiment, ApiError> {
    let (state, who) = super::ssr::caller().await?;
    super::ssr::respond(crate::service::experiments::create(&state.pool, &who, input).await)
}

/// The creation wizard's estimate of a planned experiment: users needed per arm and the
/// completion date the tenant's recent traffic gives. `{"input": {…same body as create…}}`.
#[server(prefix = "/api/fn", endpoint = "estimate_completion", input = Json)]
pub async fn estimate_completion(input: ExperimentInput) -> Result<CompletionEstimate, ApiError> {
    let (state, who) = super::ssr::caller().await?;
    super::ssr::respond(crate::service::experiments::estimate(&state.pool, &who, input).await)
}

/// One experiment. `{"id": "…"}`.
#[server(prefix = "/api/fn", endpoint = "get_experiment", input = Json)]
pub async fn get_experiment(id: Uuid) -> Result<Experiment, ApiError> {
    let (state, who) = super::ssr::caller().await?;
    super::ssr::respond(crate::service::experiments::get(&state.pool, &who, id).await)
}

/// Edits an experiment. `{"id": "…", "patch": {…fields to change…}}`.
#[server(prefix = "/api/fn", endpoint = "update_experiment", input = Json)]
pub async fn update_experiment(id: Uuid, patch: ExperimentInput) -> Result<Experiment, ApiError> {
    let (state, who) = super::ssr::caller().await?;
    super::ssr::respond(crate::service::experiments::update(&state.pool, &who, id, patch).await)
}

/// Start, pause, resume, stop or cancel. `{"id": "…", "action": "start"}`.
#[server(prefix = "/api/fn", endpoint = "change_status", input = Json)]
pub async fn change_status(id: Uuid, action: Action) -> Result<Experiment, ApiError> {
    let (state, who) = super::ssr::caller().await?;
    if matches!(action, Action::DeclareWinner | Action::DeployWinner) {
        return Err(ApiError::Invalid {
            fields: vec![crate::domain::FieldError::new(
                "action",
                "use declare_winner or deploy_winner for that",
            )],
        });
    }
    super::ssr::respond(
        crate::service::experiments::transition(
            &state.pool,
            &who,
            id,
            action,
            state.require_approval,
        )
        .await,
    )
}

/// Ends the experiment with a winner. `{"id": "…", "winner": "treatment"}`.
#[server(prefix = "/api/fn", endpoint = "declare_winner", input = Json)]
pub async fn declare_winner(id: Uuid, winner: Variant) -> Result<Experiment, ApiError> {
    let (state, who) = super::ssr::caller().await?;
    super::ssr::respond(
        crate::service::experiments::declare_winner(&state.pool, &who, id, winner).await,
    )
}

/// Approves an experiment (super_admin, not its creator). `{"id": "…"}`.
#[server(prefix = "/api/fn", endpoint = "approve_experiment", input = Json)]
pub async fn approve_experiment(id: Uuid) -> Result<Experiment, ApiError> {
    let (state, who) = super::ssr::caller().await?;
    super::ssr::respond(crate::service::experiments::approve(&state.pool, &who, id).await)
}

/// Rolls out the winner. `{"id": "…", "request": {"winner": "treatment", "rolloutPercentage": 25, "notes": "…"}}`.
#[server(prefix = "/api/fn", endpoint = "deploy_winner", input = Json)]
pub async fn deploy_winner(id: Uuid, request: DeployRequest) -> Result<Deployment, ApiError> {
    let (state, who) = super::ssr::caller().await?;
    super::ssr::respond(
        crate::service::experiments::deploy_winner(&state.pool, &who, id, request)
            .await
            .map(|(_, d)| d),
    )
}

/// The deployments of an experiment, newest first. `{"id": "…"}`.
#[server(prefix = "/api/fn", endpoint = "experiment_deployments", input = Json)]
pub async fn experiment_deployments(id: Uuid) -> Result<Vec<Deployment>, ApiError> {
    let (state, who) = super::ssr::caller().await?;
    super::ssr::respond(crate::service::experiments::deployments(&state.pool, &who, id).await)
}

/// The audit log of an experiment, oldest first. `{"id": "…"}`.
#[server(prefix = "/api/fn", endpoint = "experiment_audit", input = Json)]
pub async fn experiment_audit(id: Uuid) -> Result<Vec<AuditEntry>, ApiError> {
    let (state, who) = super::ssr::caller().await?;
    super::ssr::respond(crate::service::experiments::audit(&state.pool, &who, id).await)
}

/// The results (the REST results route's answer). `{"id": "…"}`.
#[server(prefix = "/api/fn", endpoint = "experiment_results", input = Json)]
pub async fn experiment_results(id: Uuid) -> Result<ResultsReport, ApiError> {
    let (state, who) = super::ssr::caller().await?;
    super::ssr::respond(crate::service::results::results(&state.pool, &who, id).await)
}

/// Everything the experiment page shows, with the charts already drawn (SVG).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ExperimentPageData {
    pub experiment: Experiment,
    pub results: ResultsReport,
    pub quality_chart: String,
    pub latency_chart: String,
    pub satisfaction_chart: String,
    pub audit: Vec<AuditEntry>,
    pub deployments: Vec<Deployment>,
    /// Whether the caller may change this experiment (the server checks again anyway).
    pub can_manage: bool,
}

/// The experiment page's data. `{"id": "…"}`.
#[server(prefix = "/api/fn", endpoint = "experiment_page", input = Json)]
pub async fn experiment_page(id: Uuid) -> Result<ExperimentPageData, ApiError> {
    let (state, who) = super::ssr::caller().await?;
    let pool = &state.pool;
    let experiment = super::ssr::respond(crate::service::experiments::get(pool, &who, id).await)?;
    let results = super::ssr::respond(crate::service::results::results(pool, &who, id).await)?;
    let audit = super::ssr::respond(crate::service::experiments::audit(pool, &who, id).await)?;
    let deployments =
        super::ssr::respond(crate::service::experiments::deployments(pool, &who, id).await)?;
    Ok(ExperimentPageData {
        quality_chart: crate::charts::quality_over_time(&results.charts.quality_over_time),
        latency_chart: crate::charts::latency_distribution(&results.charts.latency_distribution),
        satisfaction_chart: crate::charts::satisfaction_breakdown(
            &results.charts.satisfaction_breakdown,
        ),
        can_manage: who.can_manage(),
        experiment,
        results,
        audit,
        deployments,
    })
}
