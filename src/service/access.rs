//! Who may see and change what: the role checks and the tenant visibility every use case
//! applies before it reads or writes an experiment (another tenant's experiment is "not
//! found", never "forbidden").

use super::ServiceError;
use crate::domain::{Principal, Role};
use crate::store;
use crate::store::experiments::StoredExperiment;
use anyhow::Context;
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

/// The experiment `id`, when the caller may read experiments and see this one.
pub async fn visible_experiment(
    pool: &PgPool,
    who: &Principal,
    id: Uuid,
) -> Result<crate::domain::experiment::Experiment, ServiceError> {
    require_read(who)?;
    Ok(load_visible(pool, who, id).await?.experiment)
}

pub(super) fn require_read(who: &Principal) -> Result<(), ServiceError> {
    if who.can_read() {
        Ok(())
    } else {
        Err(ServiceError::Forbidden)
    }
}

pub(super) fn require_manage(who: &Principal) -> Result<(), ServiceError> {
    if who.can_manage() {
        Ok(())
    } else {
        Err(ServiceError::Forbidden)
    }
}

/// The tenant a listing is limited to: a tenant's own, or the filter a super_admin gives.
pub(super) fn tenant_scope<'a>(who: &'a Principal, filter: Option<&'a str>) -> Option<&'a str> {
    if who.role == Role::SuperAdmin {
        filter
    } else {
        Some(who.tenant_id.as_deref().unwrap_or(""))
    }
}

/// Loads an experiment the caller may see (others' are not found).
pub(super) async fn load_visible(
    pool: &PgPool,
    who: &Principal,
    id: Uuid,
) -> Result<StoredExperiment, ServiceError> {
    let found = store::experiments::get(pool, id)
        .await
        .context("Failed to load the experiment")?;
    seen_by(who, found)
}

/// Loads and locks an experiment the caller may see, in a transaction.
pub(super) async fn lock_visible(
    conn: &mut PgConnection,
    who: &Principal,
    id: Uuid,
) -> Result<StoredExperiment, ServiceError> {
    let found = store::experiments::get_for_update(conn, id)
        .await
        .context("Failed to load the experiment")?;
    seen_by(who, found)
}

/// The experiment found, if the caller may see it: another tenant's is "not found".
fn seen_by(
    who: &Principal,
    found: Option<StoredExperiment>,
) -> Result<StoredExperiment, ServiceError> {
    found
        .filter(|stored| who.can_see(&stored.experiment.tenant_id))
        .ok_or(ServiceError::NotFound)
}
