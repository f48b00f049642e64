//! Declaring the winner (which ends the experiment) and deploying it to a share of users.

use super::super::ServiceError;
use super::super::access::{load_visible, lock_visible, require_manage, require_read};
use super::lifecycle::completed;
use super::save;
use crate::domain::assignment::Variant;
use crate::domain::experiment::{Action, AuditAction, DeployRequest, Deployment, Experiment};
use crate::domain::{FieldError, Principal};
use crate::store;
use crate::store::experiments::StoredExperiment;
use anyhow::Context;
use chrono::Utc;
use serde_json::json;
use sqlx::PgPool;
use uuid::Uuid;

/// A 400 naming `field` when `key` is not one of the experiment's arms.
fn check_arm(e: &Experiment, field: &str, key: Variant) -> Result<(), ServiceError> {
    if e.spec.arm(key).is_some() {
        return Ok(());
    }
    let arms: Vec<&str> = e.spec.variants.iter().map(|a| a.key.as_str()).collect();
    Err(ServiceError::Invalid(vec![FieldError::new(
        field,
        format!(
            "{key} is not an arm of this experiment; its arms are {}",
            arms.join(", ")
        ),
    )]))
}

/// Ends the experiment with `winner` declared.
#[tracing::instrument(skip_all, fields(actor = %who.actor, experiment_id = %id))]
pub async fn declare_winner(
    pool: &PgPool,
    who: &Principal,
    id: Uuid,
    winner: Variant,
) -> Result<Experiment, ServiceError> {
    require_manage(who)?;
    let mut tx = pool.begin().await.context("Failed to begin")?;
    let before = lock_visible(&mut tx, who, id).await?.experiment;
    not_a_holdout(&before)?;
    check_arm(&before, "winner", winner)?;
    let next = before
        .status
        .apply(Action::DeclareWinner)
        .map_err(|e| ServiceError::Conflict(e.to_string()))?;
    let mut after = before.clone();
    after.status = next;
    after.winner = Some(winner);
    after.end_date = Some(Utc::now());
    let saved = save(
        tx,
        who,
        AuditAction::Lifecycle(Action::DeclareWinner),
        &before,
        &after,
    )
    .await?;
    completed(pool, &saved).await;
    Ok(saved)
}

/// Rolls the winner out to a share of users. Deploying again with a higher percentage
/// widens the rollout; it never narrows.
#[tracing::instrument(skip_all, fields(actor = %who.actor, experiment_id = %id))]
pub async fn deploy_winner(
    pool: &PgPool,
    who: &Principal,
    id: Uuid,
    request: DeployRequest,
) -> Result<(Experiment, Deployment), ServiceError> {
    require_manage(who)?;
    let pct = request.rollout_percentage.unwrap_or(100.0);
    if !pct.is_finite() || pct.fract() != 0.0 || !(1.0..=100.0).contains(&pct) {
        return Err(ServiceError::Invalid(vec![FieldError::new(
            "rolloutPercentage",
            "must be a whole number from 1 to 100",
        )]));
    }
    let notes = request.notes.unwrap_or_default();
    if notes.chars().count() > 10_000 {
        return Err(ServiceError::Invalid(vec![FieldError::new(
            "notes",
            "must have at most 10000 characters",
        )]));
    }
    if let Some(refused) = crate::domain::limits::nul_in("notes", Some(&notes)) {
        return Err(ServiceError::Invalid(vec![refused]));
    }
    let mut tx = pool.begin().await.context("Failed to begin")?;
    let StoredExperiment {
        experiment: before,
        salt,
    } = lock_visible(&mut tx, who, id).await?;
    not_a_holdout(&before)?;
    check_arm(&before, "winner", request.winner)?;
    let next = before
        .status
        .apply(Action::DeployWinner)
        .map_err(|e| ServiceError::Conflict(e.to_string()))?;
    if let Some(declared) = before.winner
        && declared != request.winner
    {
        return Err(ServiceError::Conflict(format!(
            "the declared winner is {declared}, not {}",
            request.winner
        )));
    }
    let previous = store::deployments::for_experiment(&mut *tx, id)
        .await
        .context("Failed to load deployments")?;
    let pct = pct as u8;
    if let Some(last) = previous.first()
        && pct < last.rollout_percentage
    {
        return Err(ServiceError::Conflict(format!(
            "the winner is already rolled out to {}%; a rollout only widens",
            last.rollout_percentage
        )));
    }
    let deployment = Deployment {
        id: Uuid::now_v7(),
        experiment_id: before.id,
        tenant_id: before.tenant_id.clone(),
        target_type: before.spec.target_type.as_str().to_owned(),
        target_id: before.spec.target_id.clone(),
        winner: request.winner,
        configuration: before
            .configuration(request.winner)
            .cloned()
            .unwrap_or_default(),
        rollout_percentage: pct,
        notes,
        deployed_by: who.actor.clone(),
        deployed_at: Utc::now(),
    };
    let mut deployment = deployment;
    deployment.deployed_at = store::deployments::insert(&mut tx, &deployment, &salt)
        .await
        .context("Failed to record the deployment")?;
    let mut after = before.clone();
    after.status = next;
    after.winner = Some(request.winner);
    let saved = store::experiments::update(&mut tx, &after)
        .await
        .context("Failed to save the experiment")?;
    store::audit::insert(
        &mut tx,
        &saved.tenant_id,
        saved.id,
        &who.actor,
        &AuditAction::Lifecycle(Action::DeployWinner),
        Some(json!({"status": before.status, "rolloutPercentage": previous.first().map(|d| d.rollout_percentage)})),
        Some(json!({"status": saved.status, "winner": request.winner, "rolloutPercentage": pct, "notes": deployment.notes})),
    )
    .await
    .context("Failed to write the audit log")?;
    tx.commit().await.context("Failed to commit")?;
    Ok((saved, deployment))
}

/// The deployments of an experiment, newest first.
pub async fn deployments(
    pool: &PgPool,
    who: &Principal,
    id: Uuid,
) -> Result<Vec<Deployment>, ServiceError> {
    require_read(who)?;
    load_visible(pool, who, id).await?;
    Ok(store::deployments::for_experiment(pool, id)
        .await
        .context("Failed to load deployments")?)
}

/// A holdout has no winner to declare or deploy: it measures, it ships nothing.
fn not_a_holdout(e: &crate::domain::experiment::Experiment) -> Result<(), ServiceError> {
    if e.kind == crate::domain::experiment::ExperimentKind::Holdout {
        return Err(ServiceError::Conflict(
            "a holdout has no winner to declare or deploy: stop it (POST …/holdouts/{id}/stop)"
                .into(),
        ));
    }
    Ok(())
}
