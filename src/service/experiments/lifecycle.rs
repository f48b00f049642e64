//! The lifecycle (start, pause, resume, stop, cancel) and approval: each checked against
//! the state machine, with its audit row, in one transaction.

use super::super::ServiceError;
use super::super::access::{lock_visible, require_manage, require_read};
use super::save;
use crate::domain::experiment::{
    Action, AuditAction, Experiment, LayerFree, LayerSlice, MAX_NAME_CHARS, OccupiedSlice,
    TargetType, is_layer_key, layer_label, may_overlap, percent, place_slice,
};
use crate::domain::{ExperimentStatus, FieldError, Principal};
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
            // A named layer spans targets: its starts are serialised too (the target's lock
            // first, always, so two starts never wait on each other in a circle).
            if peeked.spec.layer.is_some() {
                store::experiments::lock_layer(&mut tx, &peeked.spec.layer_id(&peeked.tenant_id))
                    .await
                    .context("Failed to lock the layer")?;
            }
        }
        let before = lock_visible(&mut tx, who, id).await?.experiment;
        if action != Action::Start
            || (
                before.spec.target_type,
                &before.spec.target_id,
                &before.spec.layer,
            ) == (
                peeked.spec.target_type,
                &peeked.spec.target_id,
                &peeked.spec.layer,
            )
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
            after.layer_slice = Some(place_in_layer(&mut tx, who, &before).await?);
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

/// The slice of its layer a starting experiment gets: disjoint from the slices of the live
/// experiments of the layer that may reach the same users (`may_overlap`). Refused
/// (`Conflict`) when a live experiment that may reach the same users on its target is in
/// another layer, or when the layer has no free slice big enough. Runs under the target's
/// (and the named layer's) lock.
async fn place_in_layer(
    tx: &mut sqlx::PgConnection,
    who: &Principal,
    e: &Experiment,
) -> Result<LayerSlice, ServiceError> {
    let (target_type, target_id) = (e.spec.target_type, e.spec.target_id.as_str());
    let overlaps = |o: &Experiment| {
        may_overlap(
            &e.tenant_id,
            &e.spec.targeting,
            &o.tenant_id,
            &o.spec.targeting,
        )
    };
    // Name another experiment only to a caller who may see it.
    let describe = |o: &Experiment| {
        if who.can_see(&o.tenant_id) {
            format!("experiment {:?} ({}, {})", o.spec.name, o.id, o.status)
        } else {
            "another experiment (not one of yours)".to_owned()
        }
    };
    let layer = e.spec.layer_id(&e.tenant_id);
    let label = layer_label(
        &e.tenant_id,
        e.spec.layer.as_deref(),
        target_type,
        target_id,
    );
    let on_target = store::experiments::live_on_target(tx, target_type, target_id, e.id)
        .await
        .context("Failed to look for overlapping experiments")?;
    if let Some(other) = on_target
        .iter()
        .find(|o| overlaps(o) && o.spec.layer_id(&o.tenant_id) != layer)
    {
        let theirs = layer_label(
            &other.tenant_id,
            other.spec.layer.as_deref(),
            other.spec.target_type,
            &other.spec.target_id,
        );
        let theirs = if who.can_see(&other.tenant_id) {
            format!(" in {theirs}")
        } else {
            String::new()
        };
        return Err(ServiceError::Conflict(format!(
            "{} is already live{theirs} on {target_type} {target_id:?} for overlapping traffic, \
             and this experiment is in {label}: experiments that may reach the same users on \
             one target must share a layer (or stop it first)",
            describe(other)
        )));
    }
    let in_layer = match e.spec.layer.as_deref() {
        None => on_target
            .into_iter()
            .filter(|o| o.spec.layer.is_none())
            .collect(),
        Some(key) => store::experiments::live_in_named_layer(tx, &e.tenant_id, key, e.id)
            .await
            .context("Failed to read the layer's live experiments")?,
    };
    let holders: Vec<&Experiment> = in_layer.iter().filter(|o| overlaps(o)).collect();
    let held: Vec<LayerSlice> = holders
        .iter()
        .map(|o| o.layer_slice.unwrap_or(LayerSlice::FULL))
        .collect();
    place_slice(&held, e.spec.layer_share).map_err(|refused| {
        let asked = match e.spec.layer_share {
            Some(p) => format!("{p}% of it"),
            None => "a free slice".to_owned(),
        };
        let largest = if refused.free > refused.largest_gap {
            format!(", the largest free slice {}", percent(refused.largest_gap))
        } else {
            String::new()
        };
        let mut holders = holders.clone();
        holders.sort_by_key(|o| o.layer_slice.map(|s| s.start));
        let who_holds: Vec<String> = holders
            .iter()
            .map(|o| {
                let s = o.layer_slice.unwrap_or(LayerSlice::FULL);
                format!("{} holds [{}, {})", describe(o), s.start, s.end)
            })
            .collect();
        ServiceError::Conflict(format!(
            "no free slice in {label}: {} of its traffic is free{largest}, and this experiment \
             asks for {asked} ({}); stop one of them first, or ask for a smaller layerShare",
            percent(refused.free),
            who_holds.join("; ")
        ))
    })
}

/// The free share of a layer, for the creation wizard: the layer an untargeted experiment of
/// `tenant` (the caller's; a super_admin may name any, default their own or `system`) on
/// `target_type`/`target_id` would be in (`layer`: a named one, else the target's own), and
/// the slices held in it by the live experiments such an experiment may share users with.
/// A live experiment on the target in another layer that may share users holds the whole
/// layer (a start would be refused). Names only experiments the caller may see.
pub async fn layer_free(
    pool: &PgPool,
    who: &Principal,
    target_type: Option<&str>,
    target_id: Option<&str>,
    layer: Option<&str>,
    tenant: Option<&str>,
) -> Result<LayerFree, ServiceError> {
    require_read(who)?;
    let mut errors = Vec::new();
    let target_type = match target_type.map(str::parse::<TargetType>) {
        None => {
            errors.push(FieldError::new("targetType", "is required"));
            None
        }
        Some(Err(msg)) => {
            errors.push(FieldError::new("targetType", msg));
            None
        }
        Some(Ok(t)) => Some(t),
    };
    let target_id = match target_id.map(str::trim) {
        None => {
            errors.push(FieldError::new("targetId", "is required"));
            None
        }
        Some(t) if t.is_empty() || t.chars().count() > MAX_NAME_CHARS || t.contains('\0') => {
            errors.push(FieldError::new(
                "targetId",
                format!("must have 1 to {MAX_NAME_CHARS} characters, without NUL"),
            ));
            None
        }
        Some(t) => Some(t),
    };
    let layer = layer.filter(|l| !l.is_empty());
    if layer.is_some_and(|l| !is_layer_key(l)) {
        errors.push(FieldError::new(
            "layer",
            "must be 1 to 64 ASCII letters, digits, '_', '.' or '-'",
        ));
    }
    if let Some(refused) = crate::domain::limits::nul_in("tenantId", tenant) {
        errors.push(refused);
    }
    let (Some(target_type), Some(target_id), true) = (target_type, target_id, errors.is_empty())
    else {
        return Err(ServiceError::Invalid(errors));
    };
    let tenant = super::tenant_for_new(who, tenant.filter(|t| !t.is_empty()))?;
    let mut conn = pool.acquire().await.context("Failed to connect")?;
    let on_target =
        store::experiments::live_on_target(&mut conn, target_type, target_id, Uuid::nil())
            .await
            .context("Failed to read the target's live experiments")?;
    let in_named = match layer {
        Some(key) => store::experiments::live_in_named_layer(&mut conn, &tenant, key, Uuid::nil())
            .await
            .context("Failed to read the layer's live experiments")?,
        None => Vec::new(),
    };
    drop(conn);
    let id = crate::domain::experiment::layer_id(&tenant, layer, target_type, target_id);
    let untargeted = crate::domain::assignment::Targeting::default();
    let overlaps =
        |o: &Experiment| may_overlap(&tenant, &untargeted, &o.tenant_id, &o.spec.targeting);
    let mut held: Vec<(LayerSlice, &Experiment)> = Vec::new();
    for o in on_target.iter().filter(|o| overlaps(o)) {
        if o.spec.layer_id(&o.tenant_id) != id {
            held.push((LayerSlice::FULL, o));
        } else if layer.is_none() {
            held.push((o.layer_slice.unwrap_or(LayerSlice::FULL), o));
        }
    }
    for o in in_named.iter().filter(|o| overlaps(o)) {
        held.push((o.layer_slice.unwrap_or(LayerSlice::FULL), o));
    }
    held.sort_by_key(|(s, o)| (s.start, s.end, o.id));
    let slices: Vec<LayerSlice> = held.iter().map(|(s, _)| *s).collect();
    let gaps = crate::domain::experiment::free_gaps(&slices);
    let share = |buckets: u16| f64::from(buckets) / 100.0;
    Ok(LayerFree {
        layer: id,
        free_share: share(gaps.iter().map(|g| g.len()).sum()),
        largest_free_share: share(gaps.iter().map(|g| g.len()).max().unwrap_or(0)),
        occupied: held
            .iter()
            .map(|(s, o)| {
                let visible = who.can_see(&o.tenant_id);
                OccupiedSlice {
                    experiment_id: visible.then_some(o.id),
                    name: visible.then(|| o.spec.name.clone()),
                    start: s.start,
                    end: s.end,
                }
            })
            .collect(),
    })
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
