//! The lifecycle (start, pause, resume, stop, cancel) and approval: each checked against
//! the state machine, with its audit row, in one transaction.

use super::super::ServiceError;
use super::super::access::{lock_visible, require_manage};
use super::save;
use crate::domain::experiment::{Action, AuditAction, Experiment, may_overlap};
use crate::domain::{ExperimentStatus, Principal};
use crate::store;
use anyhow::Context;
use chrono::Utc;
use sqlx::PgPool;
use uuid::Uuid;

/// Start, pause, resume, stop or cancel. Refused with `Conflict` when the status does not
/// allow it. Two concurrent calls: one wins, the other sees the new status.
#[tracing::instrument(skip_all, fields(actor = %who.actor, experiment_id = %id, action = %action))]
pub async fn transition(
    pool: &PgPool,
    who: &Principal,
    id: Uuid,
    action: Action,
    require_approval: bool,
) -> Result<Experiment, ServiceError> {
    transition_inner(
        pool,
        who,
        id,
        action,
        require_approval,
        AuditAction::Lifecycle(action),
    )
    .await
}

/// A transition made by Verdict itself (e.g. the guardrail circuit breaker), recorded in the
/// audit log as `audit` (which says why).
pub async fn transition_with_reason(
    pool: &PgPool,
    who: &Principal,
    id: Uuid,
    action: Action,
    audit: AuditAction,
) -> Result<Experiment, ServiceError> {
    transition_inner(pool, who, id, action, false, audit).await
}

async fn transition_inner(
    pool: &PgPool,
    who: &Principal,
    id: Uuid,
    action: Action,
    require_approval: bool,
    audit_action: AuditAction,
) -> Result<Experiment, ServiceError> {
    require_manage(who)?;
    let (tx, before) = loop {
        let mut tx = pool.begin().await.context("Failed to begin")?;
        // Peek at the target first so that the target lock is always taken before the row
        // lock; if a concurrent edit moved the draft to another target in between, start
        // over with the new one (the overlap check must hold the lock of the target that
        // starts).
        let peeked = store::experiments::get(&mut *tx, id)
            .await
            .context("Failed to load the experiment")?
            .ok_or(ServiceError::NotFound)?
            .experiment;
        if action == Action::Start {
            store::experiments::lock_target(
                &mut tx,
                peeked.spec.target_type,
                &peeked.spec.target_id,
            )
            .await
            .context("Failed to lock the target")?;
        }
        let before = lock_visible(&mut tx, who, id).await?.experiment;
        if action != Action::Start
            || (before.spec.target_type, &before.spec.target_id)
                == (peeked.spec.target_type, &peeked.spec.target_id)
        {
            break (tx, before);
        }
    };
    let mut tx = tx;
    let next = before
        .status
        .apply(action)
        .map_err(|e| ServiceError::Conflict(e.to_string()))?;
    let mut after = before.clone();
    after.status = next;
    let now = Utc::now();
    match action {
        Action::Start => {
            if require_approval && before.approved_by.is_none() {
                return Err(ServiceError::Conflict(
                    "this experiment needs approval before it starts: a super_admin other than \
                     its creator must approve it (POST …/approve)"
                        .into(),
                ));
            }
            let live = store::experiments::live_on_target(
                &mut tx,
                before.spec.target_type,
                &before.spec.target_id,
                before.id,
            )
            .await
            .context("Failed to look for overlapping experiments")?;
            if let Some(other) = live.iter().find(|o| {
                may_overlap(
                    &before.tenant_id,
                    &before.spec.targeting,
                    &o.tenant_id,
                    &o.spec.targeting,
                )
            }) {
                // Name the other experiment only to a caller who may see it.
                let which = if who.can_see(&other.tenant_id) {
                    format!(
                        "experiment {:?} ({}) is already {}",
                        other.spec.name, other.id, other.status
                    )
                } else {
                    "another experiment (not one of yours) is already live".to_owned()
                };
                return Err(ServiceError::Conflict(format!(
                    "{which} on {} {:?} for overlapping traffic; stop it first",
                    before.spec.target_type, before.spec.target_id
                )));
            }
            after.start_date = Some(now);
        }
        Action::Stop | Action::Cancel => after.end_date = Some(now),
        _ => {}
    }
    let saved = save(tx, who, audit_action, &before, &after).await?;
    if saved.status == ExperimentStatus::Completed {
        completed(pool, &saved).await;
    }
    Ok(saved)
}

/// Stores the final results of an experiment that just completed; a failure is logged,
/// not returned (the transition itself has committed, and the results can be recomputed).
pub(super) async fn completed(pool: &PgPool, e: &Experiment) {
    if let Err(err) = super::super::results::finalize(pool, e).await {
        tracing::error!(experiment_id = %e.id, error = ?err, "could not store the final results");
    }
}

/// Approves an experiment (spec: approvedBy). Only a super_admin other than its creator.
#[tracing::instrument(skip_all, fields(actor = %who.actor, experiment_id = %id))]
pub async fn approve(pool: &PgPool, who: &Principal, id: Uuid) -> Result<Experiment, ServiceError> {
    if !who.can_approve() {
        return Err(ServiceError::Forbidden);
    }
    let mut tx = pool.begin().await.context("Failed to begin")?;
    let before = lock_visible(&mut tx, who, id).await?.experiment;
    // By token: two tokens may carry the same label; one token is one person's.
    let creator = store::experiments::creator_token(&mut tx, id)
        .await
        .context("Failed to read who created the experiment")?;
    let own = match creator {
        Some(token) => token == who.token_id,
        None => before.created_by == who.actor,
    };
    if own {
        return Err(ServiceError::Conflict(
            "the creator of an experiment cannot approve it; ask another super_admin".into(),
        ));
    }
    if !matches!(
        before.status,
        ExperimentStatus::Draft | ExperimentStatus::Active | ExperimentStatus::Paused
    ) {
        return Err(ServiceError::Conflict(format!(
            "cannot approve an experiment that is {}",
            before.status
        )));
    }
    let mut after = before.clone();
    after.approved_by = Some(who.actor.clone());
    save(tx, who, AuditAction::Approve, &before, &after).await
}
