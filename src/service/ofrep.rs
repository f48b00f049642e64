//! OpenFeature evaluations (OFREP): one flag, or every flag, for an evaluation context. The
//! context becomes a resolve request, checked by resolve's own rules (`resolve::check`), and
//! answered by the runtime's one resolve path with its exposure bookkeeping: a user gets
//! exactly the configuration `/resolve` gives them. `domain::ofrep` has the mapping.

use super::ServiceError;
use super::resolve::check;
use crate::domain::ofrep::{FlagContext, etag, etag_matches};
use crate::domain::resolve::{Resolution, ResolveRequest, TargetRef};
use crate::domain::{FieldError, Principal};
use crate::runtime::Runtime;

/// The resolve request of an evaluation context: its tenant is the caller's own unless the
/// context names one (a token of every tenant must). Refused fields are named as the
/// context names them (`targetingKey` for the user id).
pub fn request_for(who: &Principal, context: FlagContext) -> Result<ResolveRequest, ServiceError> {
    let Some(tenant_id) = context.tenant_id.or_else(|| who.tenant_id.clone()) else {
        return Err(ServiceError::Invalid(vec![FieldError::new(
            "tenantId",
            "is required with a token of every tenant",
        )]));
    };
    let request = ResolveRequest {
        tenant_id,
        user_id: context.user_id,
        intent: context.intent,
        scope: context.scope,
    };
    check(who, &request).map_err(|e| match e {
        ServiceError::Invalid(fields) => ServiceError::Invalid(
            fields
                .into_iter()
                .map(|f| match f.field.as_str() {
                    "userId" => FieldError::new("targetingKey", f.message),
                    _ => f,
                })
                .collect(),
        ),
        other => other,
    })?;
    Ok(request)
}

/// Evaluates one flag (a target) for the request: `answer` gets the target's resolution,
/// or `None` when the target gives this user nothing. `NotFound` when no live experiment or
/// deployed winner covers the target for the request's tenant. Only this target's exposure
/// is recorded.
pub fn evaluate_flag<R>(
    runtime: &Runtime,
    request: &ResolveRequest,
    target: TargetRef<'_>,
    answer: impl FnOnce(Option<&Resolution<'_>>) -> R,
) -> Result<R, ServiceError> {
    let snapshot = runtime.snapshot();
    if !snapshot.covers(&request.tenant_id, target) {
        return Err(ServiceError::NotFound);
    }
    Ok(
        runtime.resolve_on(&snapshot, &request.context(), Some(target), |all| {
            answer(all.first())
        }),
    )
}

/// A bulk evaluation: every flag's answer with its entity tag, or only the tag when the
/// caller's `If-None-Match` already names it.
pub enum Bulk<R> {
    Evaluated { etag: String, body: R },
    NotModified { etag: String },
}

/// Evaluates every flag (target) the request's tenant has live, unless `if_none_match`
/// names the answer's tag: then nothing is evaluated (nor recorded as an exposure again).
pub fn evaluate_all<R>(
    runtime: &Runtime,
    request: &ResolveRequest,
    if_none_match: Option<&str>,
    answer: impl FnOnce(&[TargetRef<'_>], &[Resolution<'_>]) -> R,
) -> Bulk<R> {
    let snapshot = runtime.snapshot();
    let ctx = request.context();
    let etag = etag(snapshot.fingerprint(), &ctx);
    if if_none_match.is_some_and(|tags| etag_matches(tags, &etag)) {
        return Bulk::NotModified { etag };
    }
    let targets = snapshot.targets(&request.tenant_id);
    let body = runtime.resolve_on(&snapshot, &ctx, None, |all| answer(&targets, all));
    Bulk::Evaluated { etag, body }
}
