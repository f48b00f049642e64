//! Managing experiments: create, read, edit (here), the lifecycle and approval
//! (`lifecycle`), declaring and deploying the winner (`winner`). Every change and its audit
//! row are written in one transaction.

pub mod holdouts;
mod lifecycle;
mod winner;

pub use lifecycle::{approve, layer_free, transition, transition_with_reason};
pub use winner::{declare_winner, deploy_winner, deployments};

use super::ServiceError;
use super::access::{load_visible, lock_visible, require_manage, require_read, tenant_scope};
use crate::domain::assignment::Allocation;
use crate::domain::experiment::{
    AuditAction, AuditEntry, Experiment, ExperimentInput, ExperimentPage, SYSTEM_TENANT,
};
use crate::domain::results::{CompletionEstimate, estimate_completion};
use crate::domain::{ExperimentStatus, FieldError, Principal, Role, StatusCounts};
use crate::store;
use anyhow::Context;
use chrono::Utc;
use rand::RngCore;
use serde::Serialize;
use serde_json::Value;
use sqlx::PgPool;
use uuid::Uuid;

fn to_json<T: Serialize>(value: &T) -> Value {
    serde_json::to_value(value).unwrap_or(Value::Null)
}

/// The fields of `after` that differ from `before`, as (before, after) objects.
fn changes(before: &Experiment, after: &Experiment) -> (Value, Value) {
    let (Value::Object(b), Value::Object(a)) = (to_json(before), to_json(after)) else {
        return (Value::Null, Value::Null);
    };
    let mut old = serde_json::Map::new();
    let mut new = serde_json::Map::new();
    for (key, value) in &a {
        if matches!(key.as_str(), "updatedAt" | "version") {
            continue;
        }
        if b.get(key) != Some(value) {
            old.insert(key.clone(), b.get(key).cloned().unwrap_or(Value::Null));
            new.insert(key.clone(), value.clone());
        }
    }
    (Value::Object(old), Value::Object(new))
}

/// Saves `after` (a changed copy of `before`) with its audit row; commits.
async fn save(
    mut tx: sqlx::Transaction<'_, sqlx::Postgres>,
    who: &Principal,
    action: AuditAction,
    before: &Experiment,
    after: &Experiment,
) -> Result<Experiment, ServiceError> {
    let saved = store::experiments::update(&mut tx, after)
        .await
        .context("Failed to save the experiment")?;
    let (old, new) = changes(before, &saved);
    store::audit::insert(
        &mut tx,
        &saved.tenant_id,
        saved.id,
        &who.actor,
        &action,
        Some(old),
        Some(new),
    )
    .await
    .context("Failed to write the audit log")?;
    tx.commit().await.context("Failed to commit")?;
    Ok(saved)
}

fn new_salt() -> String {
    let mut bytes = [0u8; 16];
    rand::rng().fill_bytes(&mut bytes);
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The tenant a new experiment goes to: a super_admin may name any tenant (default their own,
/// else "system"); others create in their own tenant only.
fn tenant_for_new(who: &Principal, requested: Option<&str>) -> Result<String, ServiceError> {
    let requested = requested.map(str::trim);
    if let Some(refused) = crate::domain::limits::nul_in("tenantId", requested) {
        return Err(ServiceError::Invalid(vec![refused]));
    }
    Ok(match (who.role, requested, who.tenant_id.as_deref()) {
        (Role::SuperAdmin, Some(t), _) if !t.is_empty() && t.len() <= 200 => t.to_owned(),
        (Role::SuperAdmin, Some(_), _) => {
            return Err(ServiceError::Invalid(vec![FieldError::new(
                "tenantId",
                "must have 1 to 200 characters",
            )]));
        }
        (Role::SuperAdmin, None, own) => own.unwrap_or(SYSTEM_TENANT).to_owned(),
        (_, Some(t), Some(own)) if t != own => {
            return Err(ServiceError::Invalid(vec![FieldError::new(
                "tenantId",
                format!("you may only create experiments in your tenant {own:?}"),
            )]));
        }
        // (`system` is reserved; a token of that tenant from before it was is refused.)
        (_, _, Some(own)) if own != SYSTEM_TENANT => own.to_owned(),
        (_, _, _) => return Err(ServiceError::Forbidden),
    })
}

/// The creation wizard's estimate for a planned experiment: the users each arm needs and
/// when the tenant's recent traffic brings them (see `domain::results::estimate_completion`).
pub async fn estimate(
    pool: &PgPool,
    who: &Principal,
    input: ExperimentInput,
) -> Result<CompletionEstimate, ServiceError> {
    require_manage(who)?;
    let tenant_id = tenant_for_new(who, input.tenant_id.as_deref())?;
    let spec = input.parse().map_err(ServiceError::Invalid)?;
    // A system-wide experiment reaches every tenant's users.
    let scope = (tenant_id != SYSTEM_TENANT).then_some(tenant_id.as_str());
    let users_per_day = store::experiments::recent_users_per_day(pool, scope)
        .await
        .context("Failed to measure recent traffic")?;
    Ok(estimate_completion(&spec, Some(users_per_day), Utc::now()))
}

/// Creates a draft. A super_admin may name any tenant (default "system"); others create in
/// their own tenant.
#[tracing::instrument(skip_all, fields(actor = %who.actor))]
pub async fn create(
    pool: &PgPool,
    who: &Principal,
    input: ExperimentInput,
) -> Result<Experiment, ServiceError> {
    require_manage(who)?;
    let tenant_id = tenant_for_new(who, input.tenant_id.as_deref())?;
    let spec = input.parse().map_err(ServiceError::Invalid)?;
    let now = Utc::now();
    let experiment = Experiment {
        id: Uuid::now_v7(),
        tenant_id,
        spec,
        status: ExperimentStatus::Draft,
        start_date: None,
        end_date: None,
        layer_slice: None,
        kind: Default::default(),
        results: None,
        winner: None,
        created_by: who.actor.clone(),
        approved_by: None,
        created_at: now,
        updated_at: now,
        version: 1,
    };
    let mut tx = pool.begin().await.context("Failed to begin")?;
    store::experiments::insert(&mut tx, &experiment, &new_salt(), who.token_id)
        .await
        .context("Failed to insert the experiment")?;
    store::audit::insert(
        &mut tx,
        &experiment.tenant_id,
        experiment.id,
        &who.actor,
        &AuditAction::Create,
        None,
        Some(to_json(&experiment)),
    )
    .await
    .context("Failed to write the audit log")?;
    tx.commit().await.context("Failed to commit")?;
    Ok(experiment)
}

/// One experiment.
pub async fn get(pool: &PgPool, who: &Principal, id: Uuid) -> Result<Experiment, ServiceError> {
    require_read(who)?;
    Ok(load_visible(pool, who, id).await?.experiment)
}

/// How many experiments the caller sees in each status.
pub async fn counts(
    pool: &PgPool,
    who: &Principal,
    tenant: Option<&str>,
) -> Result<StatusCounts, ServiceError> {
    require_read(who)?;
    if let Some(refused) = crate::domain::limits::nul_in("tenantId", tenant) {
        return Err(ServiceError::Invalid(vec![refused]));
    }
    Ok(
        store::experiments::count_by_status(pool, tenant_scope(who, tenant))
            .await
            .context("Failed to count experiments by status")?,
    )
}

/// Most experiments in one page of a listing, and the default.
pub const MAX_PAGE: u32 = 500;
pub const DEFAULT_PAGE: u32 = 100;

/// The experiments the caller sees in any of `statuses` (all when empty), newest first, a
/// page at a time: at most `limit` (1 to [`MAX_PAGE`]) after the cursor `after` (the last
/// experiment of the page before).
pub async fn list(
    pool: &PgPool,
    who: &Principal,
    statuses: &[ExperimentStatus],
    tenant: Option<&str>,
    after: Option<Uuid>,
    limit: u32,
) -> Result<ExperimentPage, ServiceError> {
    require_read(who)?;
    if let Some(refused) = crate::domain::limits::nul_in("tenantId", tenant) {
        return Err(ServiceError::Invalid(vec![refused]));
    }
    if !(1..=MAX_PAGE).contains(&limit) {
        return Err(ServiceError::Invalid(vec![FieldError::new(
            "limit",
            format!("must be from 1 to {MAX_PAGE}"),
        )]));
    }
    if let Some(cursor) = after {
        let visible = store::experiments::get(pool, cursor)
            .await
            .context("Failed to read the cursor")?
            .is_some_and(|s| who.can_see(&s.experiment.tenant_id));
        if !visible {
            return Err(ServiceError::Invalid(vec![FieldError::new(
                "cursor",
                "is not the cursor of a page of this listing",
            )]));
        }
    }
    // One more than asked for tells whether there is a next page.
    let mut experiments = store::experiments::list(
        pool,
        statuses,
        tenant_scope(who, tenant),
        after,
        i64::from(limit) + 1,
    )
    .await
    .context("Failed to list experiments")?;
    let next_cursor = if experiments.len() > limit as usize {
        experiments.truncate(limit as usize);
        experiments.last().map(|e| e.id)
    } else {
        None
    };
    Ok(ExperimentPage {
        experiments,
        next_cursor,
    })
}

/// Edits an experiment. A draft may change in everything but its tenant; once started only
/// name, description and hypothesis may change, and the share of traffic may grow at the
/// same control:treatment ratio while it is live (no assigned user changes variant).
/// Any change but of name, description and hypothesis clears an approval.
#[tracing::instrument(skip_all, fields(actor = %who.actor, experiment_id = %id))]
pub async fn update(
    pool: &PgPool,
    who: &Principal,
    id: Uuid,
    patch: ExperimentInput,
) -> Result<Experiment, ServiceError> {
    require_manage(who)?;
    let mut tx = pool.begin().await.context("Failed to begin")?;
    let before = lock_visible(&mut tx, who, id).await?.experiment;
    let mut errors = Vec::new();
    if let Some(t) = &patch.tenant_id
        && t != &before.tenant_id
    {
        errors.push(FieldError::new("tenantId", "cannot change"));
    }
    if !before.status.is_editable() {
        let allocation_allowed = before.status.is_live();
        for field in patch.fields_set() {
            let editable = matches!(field, "name" | "description" | "hypothesis" | "tenantId")
                || (field == "allocation" && allocation_allowed);
            if !editable {
                errors.push(FieldError::new(
                    field,
                    format!(
                        "cannot change once the experiment has started (it is {})",
                        before.status
                    ),
                ));
            }
        }
    }
    if !errors.is_empty() {
        return Err(ServiceError::Invalid(errors));
    }
    let spec = ExperimentInput::from_spec(&before.spec)
        .overlay(patch)
        .parse()
        .map_err(ServiceError::Invalid)?;
    if !before.status.is_editable() && spec.allocation != before.spec.allocation {
        check_ramp(before.spec.allocation, spec.allocation)?;
    }
    let mut after = before.clone();
    // An approval is of what runs: any change but of the texts people read clears it.
    let runs_differently = {
        let mut same_texts = spec.clone();
        same_texts.name.clone_from(&before.spec.name);
        same_texts.description.clone_from(&before.spec.description);
        same_texts.hypothesis.clone_from(&before.spec.hypothesis);
        same_texts != before.spec
    };
    after.spec = spec;
    if runs_differently {
        after.approved_by = None;
    }
    save(tx, who, AuditAction::Update, &before, &after).await
}

/// A live experiment's allocation may only grow, at the same ratio between its arms (and
/// with the same arms), so that no user changes arm.
fn check_ramp(old: Allocation, new: Allocation) -> Result<(), ServiceError> {
    let same_arms = old.keys() == new.keys();
    // Same ratio: every share times the new control's equals the new share times the old
    // control's (cross-multiplied, exact).
    let same_ratio = same_arms
        && old.iter().zip(new.iter()).all(|((_, o), (_, n))| {
            u32::from(o) * u32::from(new.control()) == u32::from(n) * u32::from(old.control())
        });
    if !same_ratio || new.control() < old.control() {
        let ratio: Vec<String> = old.shares().iter().map(|s| s.to_string()).collect();
        let arms: Vec<&str> = old.keys().iter().map(|k| k.as_str()).collect();
        return Err(ServiceError::Invalid(vec![FieldError::new(
            "allocation",
            format!(
                "a running experiment's traffic may only grow at the same ratio between its arms \
                 ({} for {}), so no user changes variant",
                ratio.join(":"),
                arms.join(":")
            ),
        )]));
    }
    Ok(())
}

/// The audit log of an experiment, oldest first.
pub async fn audit(
    pool: &PgPool,
    who: &Principal,
    id: Uuid,
) -> Result<Vec<AuditEntry>, ServiceError> {
    require_read(who)?;
    load_visible(pool, who, id).await?;
    Ok(store::audit::for_experiment(pool, id)
        .await
        .context("Failed to load the audit log")?)
}
