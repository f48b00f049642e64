//! Results: computed from the per-user rollups, stored as snapshots that the UI and the
//! API read fast, refreshed in the background while an experiment runs, and written onto
//! the experiment when it completes. (The background refresh, with the guardrail circuit
//! breaker, is in `jobs`.)

use super::ServiceError;
use crate::domain::Principal;
use crate::domain::experiment::Experiment;
use crate::domain::results::{ObservedArms, ResultsReport, compute_arms, is_final};
use crate::store;
use anyhow::Context;
use chrono::Utc;
use serde_json::json;
use sqlx::PgPool;
use std::sync::Arc;
use std::time::Duration;
use uuid::Uuid;

/// A snapshot younger than this is served as it is while the experiment runs.
pub const SNAPSHOT_MAX_AGE: Duration = Duration::from_secs(15);
/// How often the background job recomputes the results of running experiments.
pub const REFRESH_EVERY: Duration = Duration::from_secs(10);

/// Computes the results of an experiment now and stores them as its snapshot.
pub async fn recompute(pool: &PgPool, e: &Experiment) -> Result<ResultsReport, ServiceError> {
    RECOMPUTES.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let rows = store::results::user_rows(pool, e.id)
        .await
        .context("Failed to read per-user metrics")?;
    let latency = store::sketches::latency_sketches(pool, e.id)
        .await
        .context("Failed to read the request latency sketches")?;
    let days = store::results::day_rows(pool, e.id)
        .await
        .context("Failed to read daily metrics")?;
    let assigned = store::results::assigned_counts(pool, e.id)
        .await
        .context("Failed to count assigned users")?;
    // The last look: its always-valid figures are carried into this one.
    let previous = match store::results::snapshot(pool, e.id)
        .await
        .context("Failed to read the results snapshot")?
    {
        Some((_, body)) => serde_json::from_value::<ResultsReport>(body).ok(),
        None => None,
    };
    let now = Utc::now();
    let e_for_compute = e.clone();
    // CPU-bound for large experiments: keep it off the async workers.
    let report = tokio::task::spawn_blocking(move || {
        let data = ObservedArms {
            users: &rows.users,
            days: &days,
            assigned: Some(&assigned),
            users_in_both_arms: rows.in_both_arms,
            latency: Some(&latency),
        };
        compute_arms(&e_for_compute, &data, previous.as_ref(), now)
    })
    .await
    .context("The results computation panicked")?;
    let body = serde_json::to_value(&report).context("Failed to serialise results")?;
    store::results::put_snapshot(pool, e.id, now, &body)
        .await
        .context("Failed to store the results snapshot")?;
    Ok(report)
}

/// The results of experiment `id`: the stored snapshot when it is fresh (or final),
/// otherwise computed now — once for all the requests that ask at the same moment on this
/// server (single flight): the first computes, the others wait for it and read its snapshot.
pub async fn results(
    pool: &PgPool,
    who: &Principal,
    id: Uuid,
) -> Result<ResultsReport, ServiceError> {
    let e = super::access::visible_experiment(pool, who, id).await?;
    if let Some(report) = fresh_snapshot(pool, &e).await? {
        return Ok(report);
    }
    let flight = in_flight(id);
    let _turn = flight.lock().await;
    // Whoever held the turn before may just have computed it.
    let report = match fresh_snapshot(pool, &e).await? {
        Some(report) => Ok(report),
        None => recompute(pool, &e).await,
    };
    drop(_turn);
    landed(id, flight);
    report
}

/// The stored snapshot of `e`'s results, if it is fresh (or final).
async fn fresh_snapshot(
    pool: &PgPool,
    e: &Experiment,
) -> Result<Option<ResultsReport>, ServiceError> {
    let Some((computed_at, body)) = store::results::snapshot(pool, e.id)
        .await
        .context("Failed to read the results snapshot")?
    else {
        return Ok(None);
    };
    let age = (Utc::now() - computed_at).to_std().unwrap_or_default();
    let still_valid = match e.end_date {
        Some(end) if is_final(e.status) => computed_at >= end,
        _ => age < SNAPSHOT_MAX_AGE,
    };
    Ok(still_valid
        .then(|| serde_json::from_value::<ResultsReport>(body).ok())
        .flatten()
        .map(|mut report| {
            report.status = e.status;
            report
        }))
}

type Flights = std::sync::Mutex<std::collections::HashMap<Uuid, Arc<tokio::sync::Mutex<()>>>>;

/// The recomputations under way on this server, one turn per experiment.
static IN_FLIGHT: std::sync::LazyLock<Flights> = std::sync::LazyLock::new(Default::default);

/// Recomputes started by `results`, so far, on this server (for tests and /healthz).
pub static RECOMPUTES: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

fn in_flight(id: Uuid) -> Arc<tokio::sync::Mutex<()>> {
    let mut flights = IN_FLIGHT.lock().unwrap_or_else(|e| e.into_inner());
    flights.entry(id).or_default().clone()
}

/// Forgets the turn of `id` when nobody else waits for it.
fn landed(id: Uuid, flight: Arc<tokio::sync::Mutex<()>>) {
    let mut flights = IN_FLIGHT.lock().unwrap_or_else(|e| e.into_inner());
    // Ours and the map's: nobody else holds it.
    if Arc::strong_count(&flight) <= 2 {
        flights.remove(&id);
    }
}

/// Writes the final results onto a completed experiment (spec: Experiment.results).
pub async fn finalize(pool: &PgPool, e: &Experiment) -> Result<(), ServiceError> {
    let report = recompute(pool, e).await?;
    let d = &report.detail;
    // Beyond the two-arm shape: every arm's distributions, by key, beside the spec's two.
    let arms: serde_json::Map<String, serde_json::Value> = report
        .arms
        .iter()
        .map(|a| {
            (
                a.key.as_str().to_owned(),
                serde_json::to_value(&a.variant_results).unwrap_or_default(),
            )
        })
        .collect();
    let mut results = json!({
        "control": d.control,
        "treatment": d.treatment,
        "winner": e.winner.or(d.winner),
        "statisticalSignificance": report.comparison.statistical_significance,
        "confidenceLevel": report.comparison.confidence_level,
        "recommendation": report.comparison.recommendation,
        "reasons": d.reasons,
        "completedAt": e.end_date.unwrap_or_else(Utc::now),
    });
    if !arms.is_empty() {
        results["arms"] = serde_json::Value::Object(arms);
        results["recommendedArm"] = json!(report.recommended_arm);
    }
    store::results::set_final_results(pool, e.id, &results)
        .await
        .context("Failed to store the final results")?;
    Ok(())
}
