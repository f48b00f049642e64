//! The experiment operations as server functions (the same service calls as the REST
//! routes). Each is `POST /api/fn/<name>` with a JSON object of its arguments.

use super::ApiError;
use crate::domain::assignment::Variant;
use crate::domain::experiment::{
    Action, AuditEntry, DeployRequest, Deployment, Experiment, ExperimentInput,
};
use crate::domain::results::{ArmResults, Comparison, CompletionEstimate, ResultsReport};
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

/// The free share of the layer a new experiment would start in (the REST
/// `GET /api/v1/admin/insights/layers/free`), for the wizard.
/// `{"target_type": "prompt", "target_id": "p", "layer": null, "tenant_id": null}`.
#[server(prefix = "/api/fn", endpoint = "layer_free", input = Json)]
pub async fn layer_free(
    target_type: String,
    target_id: String,
    #[server(default)] layer: Option<String>,
    #[server(default)] tenant_id: Option<String>,
) -> Result<crate::domain::experiment::LayerFree, ApiError> {
    let (state, who) = super::ssr::caller().await?;
    super::ssr::respond(
        crate::service::experiments::layer_free(
            &state.pool,
            &who,
            Some(&target_type),
            Some(&target_id),
            layer.as_deref(),
            tenant_id.as_deref(),
        )
        .await,
    )
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
    let changed = crate::service::experiments::transition(
        &state.pool,
        &who,
        id,
        action,
        state.require_approval,
    )
    .await;
    if changed.is_ok() {
        // Read your own writes: this server's next resolve serves the change.
        state.runtime.reload_experiment(id).await;
    }
    super::ssr::respond(changed)
}

/// Ends the experiment with a winner. `{"id": "…", "winner": "treatment"}`.
#[server(prefix = "/api/fn", endpoint = "declare_winner", input = Json)]
pub async fn declare_winner(id: Uuid, winner: Variant) -> Result<Experiment, ApiError> {
    let (state, who) = super::ssr::caller().await?;
    let declared = crate::service::experiments::declare_winner(&state.pool, &who, id, winner).await;
    if declared.is_ok() {
        state.runtime.reload_experiment(id).await;
    }
    super::ssr::respond(declared)
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
    let deployed = crate::service::experiments::deploy_winner(&state.pool, &who, id, request).await;
    if deployed.is_ok() {
        state.runtime.reload_experiment(id).await;
    }
    super::ssr::respond(deployed.map(|(_, d)| d))
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

/// The experiment as the results view shows it (its header and columns).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PageExperiment {
    pub id: Uuid,
    pub name: String,
    pub hypothesis: String,
    pub status: crate::domain::ExperimentStatus,
    pub start_date: Option<chrono::DateTime<chrono::Utc>>,
    pub end_date: Option<chrono::DateTime<chrono::Utc>>,
    pub allocation: crate::domain::assignment::Allocation,
    pub control_name: String,
    pub treatment_name: String,
    pub winner: Option<Variant>,
}

/// What the results view shows of the report: the spec's headline figures and the
/// recommendation's reasons. (The whole report is `experiment_results`.)
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PageResults {
    pub control: ArmResults,
    pub treatment: ArmResults,
    pub comparison: Comparison,
    pub reasons: Vec<String>,
    /// Whether the always-valid (sequential) test decides.
    pub sequential: bool,
    /// Which test decided, and why it may be trusted under peeking.
    pub decided_by: String,
    pub winner: Option<Variant>,
    /// Request-level p95 latency of (control, treatment), ms.
    pub request_p95: [Option<f64>; 2],
    /// treatment − control request p95 (ms) with its interval: (difference, lower, upper).
    pub request_p95_difference: Option<(f64, f64, f64)>,
}

/// One line of the audit log as the page lists it.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct PageAuditEntry {
    pub at: chrono::DateTime<chrono::Utc>,
    pub action: String,
    pub actor: String,
}

/// Everything the experiment page shows, with the charts already drawn (SVG). Only what the
/// page shows crosses to the browser: the page hydrates from it, so a smaller type is less
/// HTML to send and less WASM to read it.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ExperimentPageData {
    pub experiment: PageExperiment,
    pub results: PageResults,
    pub quality_chart: String,
    pub latency_chart: String,
    pub satisfaction_chart: String,
    pub audit: Vec<PageAuditEntry>,
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
    let arm_name =
        |a: Option<&crate::domain::experiment::Arm>| a.map(|a| a.name.clone()).unwrap_or_default();
    let control_name = arm_name(experiment.spec.control());
    let treatment_name = arm_name(experiment.spec.treatment());
    Ok(ExperimentPageData {
        quality_chart: crate::charts::quality_over_time(&results.charts.quality_over_time),
        latency_chart: crate::charts::latency_distribution(&results.charts.latency_distribution),
        satisfaction_chart: crate::charts::satisfaction_breakdown(
            &results.charts.satisfaction_breakdown,
        ),
        experiment: PageExperiment {
            id: experiment.id,
            name: experiment.spec.name,
            hypothesis: experiment.spec.hypothesis,
            status: experiment.status,
            start_date: experiment.start_date,
            end_date: experiment.end_date,
            allocation: experiment.spec.allocation,
            control_name,
            treatment_name,
            winner: experiment.winner,
        },
        results: PageResults {
            control: results.control,
            treatment: results.treatment,
            comparison: results.comparison,
            reasons: results.detail.reasons,
            sequential: results.detail.sequential,
            decided_by: results.detail.decided_by,
            winner: results.detail.winner,
            request_p95: {
                let p95 = |q: Option<&crate::domain::results::RequestQuantiles>| {
                    q.and_then(|q| q.p95).map(|e| e.value)
                };
                let r = results.detail.request_latency.as_ref();
                [p95(r.map(|r| &r.control)), p95(r.map(|r| &r.treatment))]
            },
            request_p95_difference: results
                .detail
                .request_latency
                .as_ref()
                .and_then(|r| r.p95_difference)
                .map(|d| (d.diff, d.ci.lower, d.ci.upper)),
        },
        audit: audit
            .into_iter()
            .map(|a| PageAuditEntry {
                at: a.at,
                action: a.action,
                actor: a.actor,
            })
            .collect(),
        can_manage: who.can_manage(),
    })
}
