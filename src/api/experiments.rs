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
    /// Every arm's key and name, the control first.
    pub arms: Vec<(Variant, String)>,
    pub winner: Option<Variant>,
}

/// A treatment against the control, as the results view shows it beyond two arms.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PageVersus {
    pub comparison: Comparison,
    /// The success criterion: `Some(true)` met, `Some(false)` not met, `None` undecided.
    pub criterion_met: Option<bool>,
    pub criterion_text: String,
    /// treatment − control request p95 (ms) with its interval: (difference, lower, upper).
    pub request_p95_difference: Option<(f64, f64, f64)>,
}

/// One arm's column of the results view beyond two arms.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PageArm {
    pub key: Variant,
    pub name: String,
    pub control: bool,
    pub share: u8,
    pub results: ArmResults,
    /// Request-level p95 latency, ms.
    pub request_p95: Option<f64>,
    /// Against the control (`None` for the control).
    pub versus: Option<PageVersus>,
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
    /// Every arm, the control first, each treatment against the control: only beyond the
    /// spec's two-arm shape (empty for control and treatment).
    pub arms: Vec<PageArm>,
    /// The arm the recommendation names, when it is to deploy one.
    pub recommended_arm: Option<Variant>,
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
    let (quality_chart, latency_chart, satisfaction_chart) = charts(&results);
    let p95 = |q: Option<&crate::domain::results::RequestQuantiles>| {
        q.and_then(|q| q.p95).map(|e| e.value)
    };
    let p95_difference = |d: &crate::domain::results::Detail| {
        d.request_latency
            .as_ref()
            .and_then(|r| r.p95_difference)
            .map(|d| (d.diff, d.ci.lower, d.ci.upper))
    };
    let control_p95 = results
        .arms
        .iter()
        .find_map(|a| a.versus_control.as_ref())
        .and_then(|p| p95(p.detail.request_latency.as_ref().map(|r| &r.control)));
    let arms: Vec<PageArm> = results
        .arms
        .iter()
        .map(|a| PageArm {
            key: a.key,
            name: a.name.clone(),
            control: a.control,
            share: a.share,
            results: a.results.clone(),
            request_p95: match &a.versus_control {
                None => control_p95,
                Some(p) => p95(p.detail.request_latency.as_ref().map(|r| &r.treatment)),
            },
            versus: a.versus_control.as_ref().map(|p| PageVersus {
                comparison: p.comparison.clone(),
                criterion_met: p.detail.success_criterion.met,
                criterion_text: p.detail.success_criterion.text.clone(),
                request_p95_difference: p95_difference(&p.detail),
            }),
        })
        .collect();
    Ok(ExperimentPageData {
        quality_chart,
        latency_chart,
        satisfaction_chart,
        experiment: PageExperiment {
            id: experiment.id,
            name: experiment.spec.name,
            hypothesis: experiment.spec.hypothesis,
            status: experiment.status,
            start_date: experiment.start_date,
            end_date: experiment.end_date,
            allocation: experiment.spec.allocation,
            arms: experiment
                .spec
                .variants
                .iter()
                .map(|a| (a.key, a.name.clone()))
                .collect(),
            winner: experiment.winner,
        },
        results: PageResults {
            control: results.control,
            treatment: results.treatment,
            comparison: results.comparison,
            reasons: results.detail.reasons.clone(),
            sequential: results.detail.sequential,
            decided_by: results.detail.decided_by.clone(),
            winner: results.detail.winner,
            request_p95: {
                let r = results.detail.request_latency.as_ref();
                [p95(r.map(|r| &r.control)), p95(r.map(|r| &r.treatment))]
            },
            request_p95_difference: p95_difference(&results.detail),
            arms,
            recommended_arm: results.recommended_arm,
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

/// The results view's three charts (SVG): the report's own for the two-arm shape; beyond it,
/// one series per arm, built from each treatment's comparison with the control (the
/// control's series from the first).
#[cfg(feature = "ssr")]
pub fn charts(results: &ResultsReport) -> (String, String, String) {
    use crate::charts::*;
    if results.arms.is_empty() {
        let c = &results.charts;
        return (
            quality_over_time(&c.quality_over_time),
            latency_distribution(&c.latency_distribution),
            satisfaction_breakdown(&c.satisfaction_breakdown),
        );
    }
    let Some(first) = results
        .arms
        .iter()
        .find_map(|a| a.versus_control.as_deref())
    else {
        return Default::default();
    };
    // Each arm's side of its pair: the control's from the first pair.
    let sides: Vec<(String, &crate::domain::results::Charts, bool)> = results
        .arms
        .iter()
        .map(|a| {
            let name = chart_arm_name(a.key.as_str(), &a.name);
            match &a.versus_control {
                None => (name, &first.charts, true),
                Some(p) => (name, &p.charts, false),
            }
        })
        .collect();
    let side = |control: bool| {
        if control {
            Variant::Control
        } else {
            Variant::Treatment
        }
    };
    let quality: Vec<(String, Vec<crate::domain::results::DayPoint>)> = sides
        .iter()
        .map(|(name, c, control)| {
            let points = c
                .quality_over_time
                .iter()
                .filter(|p| p.variant == side(*control))
                .cloned()
                .collect();
            (name.clone(), points)
        })
        .collect();
    let latency: Vec<(String, &[f64], &[u64])> = sides
        .iter()
        .map(|(name, c, control)| {
            let d = &c.latency_distribution;
            let counts = if *control { &d.control } else { &d.treatment };
            (name.clone(), d.edges.as_slice(), counts.as_slice())
        })
        .collect();
    let scale = sides
        .iter()
        .map(|(_, c, _)| c.latency_distribution.scale)
        .find(|s| *s == crate::domain::results::Scale::Log)
        .unwrap_or_default();
    let satisfaction: Vec<(String, Vec<u64>)> = sides
        .iter()
        .map(|(name, c, control)| {
            let d = &c.satisfaction_breakdown;
            let counts = if *control { &d.control } else { &d.treatment };
            (name.clone(), counts.clone())
        })
        .collect();
    (
        quality_over_time_arms(&quality),
        latency_distribution_arms(&latency, scale),
        satisfaction_breakdown_arms(
            &first.charts.satisfaction_breakdown.categories,
            &satisfaction,
        ),
    )
}
