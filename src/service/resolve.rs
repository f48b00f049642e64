//! Resolve (spec: applyABTestVariant): which configuration a user gets for every target,
//! answered from the runtime's in-memory snapshot after the request and the caller's rights
//! are checked.

use super::ServiceError;
use crate::domain::limits::scope_problem;
use crate::domain::resolve::{HoldoutAssignment, Resolution, ResolveRequest};
use crate::domain::{FieldError, Principal};
use crate::runtime::Runtime;

/// Checks the request and answers it with `answer` over the resolutions (borrowed from the
/// snapshot, so nothing is copied on the hot path).
pub fn resolve<R>(
    runtime: &Runtime,
    who: &Principal,
    request: &ResolveRequest,
    answer: impl FnOnce(&[Resolution<'_>]) -> R,
) -> Result<R, ServiceError> {
    check(who, request)?;
    Ok(runtime.resolve_with(&request.context(), answer))
}

/// [`resolve`], the answer also given the user's holdout assignments.
pub fn resolve_with_holdouts<R>(
    runtime: &Runtime,
    who: &Principal,
    request: &ResolveRequest,
    answer: impl FnOnce(&[Resolution<'_>], &[HoldoutAssignment<'_>]) -> R,
) -> Result<R, ServiceError> {
    check(who, request)?;
    Ok(runtime.resolve_with_holdouts(&request.context(), answer))
}

/// The checks of a resolve request: its fields' bounds, then whether `who` may run the
/// runtime for its tenant. OpenFeature evaluations (`service::ofrep`) pass the same ones.
pub fn check(who: &Principal, request: &ResolveRequest) -> Result<(), ServiceError> {
    let mut errors = Vec::new();
    if request.tenant_id.trim().is_empty() || request.tenant_id.len() > 200 {
        errors.push(FieldError::new("tenantId", "must have 1 to 200 characters"));
    }
    if request.user_id.is_empty() || request.user_id.len() > 1000 {
        errors.push(FieldError::new("userId", "must have 1 to 1000 characters"));
    }
    if request
        .intent
        .as_ref()
        .is_some_and(|i| i.is_empty() || i.chars().count() > 200)
    {
        errors.push(FieldError::new("intent", "must have 1 to 200 characters"));
    }
    errors.extend(
        [
            ("tenantId", Some(request.tenant_id.as_str())),
            ("userId", Some(request.user_id.as_str())),
            ("intent", request.intent.as_deref()),
        ]
        .into_iter()
        .filter_map(|(field, text)| crate::domain::limits::nul_in(field, text)),
    );
    if let Some(problem) = request.scope.as_ref().and_then(scope_problem) {
        errors.push(FieldError::new("scope", problem));
    }
    if !errors.is_empty() {
        return Err(ServiceError::Invalid(errors));
    }
    if !who.can_run(&request.tenant_id) {
        return Err(ServiceError::Forbidden);
    }
    Ok(())
}
