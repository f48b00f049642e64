//! Results: computed from the per-user rollups, stored as snapshots that the UI and the
//! API read fast, refreshed in the background while an experiment runs, and written onto
//! the experiment when it completes. The guardrail circuit breaker lives here too.

use super::ServiceError;
use crate::domain::experiment::{Action, Experiment};
use crate::domain::results::{ResultsReport, compute, is_final};
use crate::domain::{ExperimentStatus, Principal, Role};
use crate::store;
use anyhow::Context;
use chrono::Utc;
use serde_json::json;
use sqlx::PgPool;
use std::time::Duration;
use uuid::Uuid;

/// A snapshot younger than this is served as it is while the experiment runs.
pub const SNAPSHOT_MAX_AGE: Duration = Duration::from_secs(15);
/// How often the background job recomputes the results of running experiments.
pub const REFRESH_EVERY: Duration = Duration::from_secs(10);

/// Computes the results of an experiment now and stores them as its snapshot.
pub async fn recompute(pool: &PgPool, e: &Experiment) -> Result<ResultsReport, ServiceError> {
    let users = store::results::user_rows(pool, e.id)
        .await
        .context("Failed to read per-user metrics")?;
    let days = store::results::day_rows(pool, e.id)
        .await
        .context("Failed to read daily metrics")?;
    let now = Utc::now();
    let e_for_compute = e.clone();
    // CPU-bound for large experiments: keep it off the async workers.
    let report = tokio::task::spawn_blocking(move || compute(&e_for_compute, &users, &days, now))
        .await
        .context("The results computation panicked")?;
    let body = serde_json::to_value(&report).context("Failed to serialise results")?;
    store::results::put_snapshot(pool, e.id, now, &body)
        .await
        .context("Failed to store the results snapshot")?;
    Ok(report)
}

/// The results of experiment `id`: the stored snapshot when it is fresh (or final),
/// otherwise computed now.
pub async fn results(
    pool: &PgPool,
    who: &Principal,
    id: Uuid,
) -> Result<ResultsReport, ServiceError> {
    let e = super::experiments::get(pool, who, id).await?;
    if let Some((computed_at, body)) = store::results::snapshot(pool, id)
        .await
        .context("Failed to read the results snapshot")?
    {
        let age = (Utc::now() - computed_at).to_std().unwrap_or_default();
        let still_valid = match e.end_date {
            Some(end) if is_final(e.status) => computed_at >= end,
            _ => age < SNAPSHOT_MAX_AGE,
        };
        if still_valid && let Ok(mut report) = serde_json::from_value::<ResultsReport>(body) {
            report.status = e.status;
            return Ok(report);
        }
    }
    recompute(pool, &e).await
}

/// Writes the final results onto a completed experiment (spec: Experiment.results).
pub async fn finalize(pool: &PgPool, e: &Experiment) -> Result<(), ServiceError> {
    let report = recompute(pool, e).await?;
    let d = &report.detail;
    let results = json!({
        "control": d.control,
        "treatment": d.treatment,
        "winner": e.winner.map(|w| w.as_str()).or(d.winner.as_deref()),
        "statisticalSignificance": report.comparison.statistical_significance,
        "confidenceLevel": report.comparison.confidence_level,
        "recommendation": report.comparison.recommendation,
        "reasons": d.reasons,
        "completedAt": e.end_date.unwrap_or_else(Utc::now),
    });
    store::results::set_final_results(pool, e.id, &results)
        .await
        .context("Failed to store the final results")?;
    Ok(())
}

/// The principal the background job acts as in the audit log.
fn system_actor() -> Principal {
    Principal {
        token_id: Uuid::nil(),
        role: Role::SuperAdmin,
        tenant_id: None,
        actor: "verdict (guardrail)".into(),
    }
}

/// Recomputes the results of every running experiment; pauses those created with
/// `autoPauseOnGuardrail` whose guardrail metric is significantly worse (by the sequential
/// test). Returns how many were refreshed.
pub async fn refresh_running(pool: &PgPool) -> Result<usize, ServiceError> {
    let ids = store::results::live_experiment_ids(pool)
        .await
        .context("Failed to list running experiments")?;
    let root = system_actor();
    let mut done = 0;
    for id in ids {
        let Some(stored) = store::experiments::get(pool, id)
            .await
            .context("Failed to load the experiment")?
        else {
            continue;
        };
        let e = stored.experiment;
        let report = recompute(pool, &e).await?;
        done += 1;
        if e.status == ExperimentStatus::Active
            && e.spec.auto_pause_on_guardrail
            && report.detail.guardrail_breached
        {
            let why: Vec<&String> = report
                .detail
                .reasons
                .iter()
                .filter(|r| r.starts_with("guardrail"))
                .collect();
            tracing::warn!(experiment_id = %e.id, reasons = ?why, "guardrail breached: pausing");
            super::experiments::transition_with_reason(
                pool,
                &root,
                e.id,
                Action::Pause,
                &format!(
                    "auto_pause: {}",
                    why.iter()
                        .map(|s| s.as_str())
                        .collect::<Vec<_>>()
                        .join("; ")
                ),
            )
            .await?;
        }
    }
    Ok(done)
}

/// Runs [`refresh_running`] every [`REFRESH_EVERY`] until the pool closes.
pub async fn refresh_loop(pool: PgPool) {
    loop {
        tokio::select! {
            _ = tokio::time::sleep(REFRESH_EVERY) => {}
            _ = pool.close_event() => return,
        }
        if let Err(err) = refresh_running(&pool).await {
            tracing::warn!(error = ?err, "results refresh failed");
        }
    }
}
