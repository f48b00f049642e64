//! The background jobs, each run under the runtime's supervisor: the results refresh of
//! running experiments with the guardrail circuit breaker, and the purge of expired
//! sessions.

use super::ServiceError;
use super::results::{REFRESH_EVERY, recompute};
use crate::domain::experiment::{Action, AuditAction};
use crate::domain::results::ReasonKind;
use crate::domain::{ExperimentStatus, Principal, Role};
use crate::store;
use anyhow::Context;
use sqlx::PgPool;
use uuid::Uuid;

/// The principal the background job acts as in the audit log.
fn system_actor() -> Principal {
    Principal {
        token_id: Uuid::nil(),
        role: Role::SuperAdmin,
        tenant_id: None,
        actor: "verdict (guardrail)".into(),
    }
}

/// What a refresh of the running experiments did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Refreshed {
    pub refreshed: usize,
    /// The experiments whose results (or guardrail check) failed this time: the others
    /// were refreshed all the same.
    pub failed: Vec<Uuid>,
}

/// Recomputes the results of every running experiment; pauses those created with
/// `autoPauseOnGuardrail` whose guardrail metric is significantly worse (by the sequential
/// test). One experiment that fails never stops the others' refresh or guardrails.
pub async fn refresh_running(pool: &PgPool) -> Result<Refreshed, ServiceError> {
    let ids = store::results::live_experiment_ids(pool)
        .await
        .context("Failed to list running experiments")?;
    let mut out = Refreshed::default();
    for id in ids {
        match refresh_one(pool, id).await {
            Ok(true) => out.refreshed += 1,
            Ok(false) => {}
            Err(err) => {
                tracing::warn!(experiment_id = %id, error = ?err, "refreshing an experiment's results failed");
                out.failed.push(id);
            }
        }
    }
    Ok(out)
}

/// Recomputes one running experiment's results and applies its guardrail; `false` when it
/// is gone from the running ones.
async fn refresh_one(pool: &PgPool, id: Uuid) -> Result<bool, ServiceError> {
    let root = system_actor();
    {
        let Some(stored) = store::experiments::get(pool, id)
            .await
            .context("Failed to load the experiment")?
        else {
            return Ok(false);
        };
        let e = stored.experiment;
        let report = recompute(pool, &e).await?;
        if e.status == ExperimentStatus::Active
            && e.spec.auto_pause_on_guardrail
            && report.detail.guardrail_breached
        {
            let why: Vec<&str> = report.detail.reasons_of(ReasonKind::Guardrail).collect();
            tracing::warn!(experiment_id = %e.id, reasons = ?why, "guardrail breached: pausing");
            super::experiments::transition_with_reason(
                pool,
                &root,
                e.id,
                Action::Pause,
                AuditAction::AutoPause {
                    reasons: why.join("; "),
                },
            )
            .await?;
        }
    }
    Ok(true)
}

/// The results refresh's name under the supervisor.
pub const REFRESH_TASK: &str = "results-refresh";

/// Runs [`refresh_running`] every [`REFRESH_EVERY`] until the pool closes.
pub async fn refresh_loop(
    pool: PgPool,
    sup: std::sync::Arc<crate::runtime::supervise::Supervisor>,
) {
    loop {
        tokio::select! {
            _ = tokio::time::sleep(REFRESH_EVERY) => {}
            _ = pool.close_event() => return,
        }
        sup.checkpoint(REFRESH_TASK);
        match refresh_running(&pool).await {
            Ok(r) if r.failed.is_empty() => sup.ok(REFRESH_TASK),
            Ok(r) => sup.failed(
                REFRESH_TASK,
                &format!(
                    "the results of {} running experiments could not be refreshed",
                    r.failed.len()
                ),
            ),
            Err(err) => {
                sup.failed(REFRESH_TASK, "listing the running experiments fails");
                tracing::warn!(error = ?err, "results refresh failed");
            }
        }
    }
}

/// The session purge's name under the supervisor.
pub const PURGE_TASK: &str = "session-purge";
/// How often expired sessions are deleted.
const PURGE_EVERY: std::time::Duration = std::time::Duration::from_secs(600);

/// Deletes expired sessions every [`PURGE_EVERY`] until the pool closes.
pub async fn purge_loop(pool: PgPool, sup: std::sync::Arc<crate::runtime::supervise::Supervisor>) {
    loop {
        sup.checkpoint(PURGE_TASK);
        match store::tokens::purge_expired_sessions(&pool).await {
            Ok(n) => {
                sup.ok(PURGE_TASK);
                if n > 0 {
                    tracing::info!(sessions = n, "purged expired sessions");
                }
            }
            Err(err) => {
                sup.failed(PURGE_TASK, "purging expired sessions fails");
                tracing::warn!(error = %err, "purging expired sessions failed");
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(PURGE_EVERY) => {}
            _ = pool.close_event() => return,
        }
    }
}
