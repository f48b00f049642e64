//! Holdouts: created live (no draft), listed, stopped. A holdout is an experiment of kind
//! `holdout` (see `domain::experiment::HoldoutInput`), so its results are the experiment
//! results route's.

use super::super::ServiceError;
use super::super::access::{load_visible, require_manage, require_read, tenant_scope};
use super::{new_salt, tenant_for_new, to_json};
use crate::domain::experiment::{
    Action, AuditAction, Experiment, ExperimentKind, HoldoutInput, LayerSlice,
};
use crate::domain::{ExperimentStatus, Principal};
use crate::store;
use anyhow::Context;
use chrono::Utc;
use sqlx::PgPool;
use uuid::Uuid;

/// Creates a holdout and starts it at once: from the next resolve on, its `holdout` share
/// of the tenant's users (every tenant's for a system-wide one, which only a super_admin
/// may create) gets no experiment and no deployed winner. Refused (`Conflict`) while the
/// tenant has a live holdout.
#[tracing::instrument(skip_all, fields(actor = %who.actor))]
pub async fn create(
    pool: &PgPool,
    who: &Principal,
    input: HoldoutInput,
) -> Result<Experiment, ServiceError> {
    require_manage(who)?;
    let tenant_id = tenant_for_new(who, input.tenant_id.as_deref())?;
    let spec = input
        .to_experiment()
        .and_then(|e| e.parse())
        .map_err(ServiceError::Invalid)?;
    let now = Utc::now();
    let holdout = Experiment {
        id: Uuid::now_v7(),
        tenant_id,
        spec,
        status: ExperimentStatus::Active,
        start_date: Some(now),
        end_date: None,
        layer_slice: Some(LayerSlice::FULL),
        results: None,
        winner: None,
        created_by: who.actor.clone(),
        approved_by: None,
        created_at: now,
        updated_at: now,
        version: 1,
        kind: ExperimentKind::Holdout,
    };
    let mut tx = pool.begin().await.context("Failed to begin")?;
    store::experiments::lock_holdouts(&mut tx, &holdout.tenant_id)
        .await
        .context("Failed to lock the tenant's holdouts")?;
    if let Some(live) = store::experiments::live_holdout(&mut tx, &holdout.tenant_id)
        .await
        .context("Failed to look for a live holdout")?
    {
        return Err(ServiceError::Conflict(format!(
            "tenant {:?} already has a live holdout ({live}); stop it first",
            holdout.tenant_id
        )));
    }
    store::experiments::insert(&mut tx, &holdout, &new_salt(), who.token_id)
        .await
        .context("Failed to insert the holdout")?;
    store::audit::insert(
        &mut tx,
        &holdout.tenant_id,
        holdout.id,
        &who.actor,
        &AuditAction::Create,
        None,
        Some(to_json(&holdout)),
    )
    .await
    .context("Failed to write the audit log")?;
    tx.commit().await.context("Failed to commit")?;
    Ok(holdout)
}

/// The holdouts the caller sees (of `tenant` when given), newest first.
pub async fn list(
    pool: &PgPool,
    who: &Principal,
    tenant: Option<&str>,
) -> Result<Vec<Experiment>, ServiceError> {
    require_read(who)?;
    if let Some(refused) = crate::domain::limits::nul_in("tenantId", tenant) {
        return Err(ServiceError::Invalid(vec![refused]));
    }
    let scope = tenant_scope(who, tenant);
    let all = store::experiments::holdouts(pool, scope)
        .await
        .context("Failed to list holdouts")?;
    Ok(all
        .into_iter()
        .filter(|h| who.can_see(&h.tenant_id))
        .collect())
}

/// Stops a holdout: it completes (its final results are stored), and its held-out users are
/// served as everyone else from the next resolve on. Not a holdout: not found.
pub async fn stop(pool: &PgPool, who: &Principal, id: Uuid) -> Result<Experiment, ServiceError> {
    require_manage(who)?;
    let found = load_visible(pool, who, id).await?.experiment;
    if found.kind != ExperimentKind::Holdout {
        return Err(ServiceError::NotFound);
    }
    super::transition(pool, who, id, Action::Stop, false).await
}
