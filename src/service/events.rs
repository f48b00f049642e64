//! Event tracking (spec: trackEvent): events are checked against the runtime's in-memory
//! snapshot, then committed by the group-commit pipeline (`runtime::ingest`) before they are
//! acknowledged.

use super::ServiceError;
use crate::domain::assignment::RequestContext;
use crate::domain::event::{EventDraft, EventFrame, MAX_BATCH, parse_event};
use crate::domain::experiment::SYSTEM_TENANT;
use crate::domain::resolve::{Snapshot, assignment_in};
use crate::domain::{FieldError, Principal};
use crate::runtime::Runtime;
use crate::runtime::ingest::{IngestError, Outcome, PreparedEvent};
use crate::store;
use anyhow::Context;
use chrono::Utc;
use serde::Serialize;
use serde_json::Value;
use sqlx::PgPool;
use uuid::Uuid;

/// Checks a parsed event against the live experiments.
fn prepare(
    snapshot: &Snapshot,
    draft: EventDraft,
    prefix: &str,
) -> Result<PreparedEvent, FieldError> {
    let Some(experiment) = snapshot.experiment(draft.experiment_id) else {
        return Err(FieldError::new(
            format!("{prefix}experimentId"),
            "no active experiment has this id (not found, not started, paused or ended)",
        ));
    };
    if experiment.tenant_id != SYSTEM_TENANT && experiment.tenant_id != draft.tenant_id {
        return Err(FieldError::new(
            format!("{prefix}experimentId"),
            "no active experiment has this id (not found, not started, paused or ended)",
        ));
    }
    if draft.timestamp < experiment.start_date {
        return Err(FieldError::new(
            format!("{prefix}timestamp"),
            format!(
                "is before the experiment started ({})",
                experiment.start_date.to_rfc3339()
            ),
        ));
    }
    let ctx = RequestContext {
        tenant_id: &draft.tenant_id,
        user_id: &draft.user_id,
        intent: draft.intent.as_deref(),
        scope: draft.scope.as_ref(),
    };
    let fallback = assignment_in(snapshot, draft.experiment_id, &ctx);
    Ok(PreparedEvent { draft, fallback })
}

fn ingest_error(err: IngestError, field: &str) -> ServiceError {
    match err {
        IngestError::Busy => ServiceError::Busy,
        IngestError::Refused => ServiceError::Invalid(vec![FieldError::new(
            field,
            IngestError::Refused.to_string(),
        )]),
        IngestError::Unavailable => ServiceError::Unavailable(err.to_string()),
    }
}

fn not_assigned(prefix: &str) -> FieldError {
    FieldError::new(
        format!("{prefix}userId"),
        "this user is not in the experiment (not targeted, or outside its share of traffic): \
         the event would not count",
    )
}

/// What became of an event, as the API says it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum AckStatus {
    Stored,
    Duplicate,
    Rejected,
    /// (Only while a batch is being written.)
    Pending,
}

/// The answer to one event.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct EventAck {
    pub event_id: Option<Uuid>,
    pub status: AckStatus,
    pub variant: crate::domain::assignment::Variant,
}

/// Stores one event of experiment `id`; answers once it is committed.
pub async fn track_event(
    pool: &PgPool,
    runtime: &Runtime,
    who: &Principal,
    id: Uuid,
    body: &Value,
) -> Result<EventAck, ServiceError> {
    if who.tenant_id.is_none() && who.role != crate::domain::Role::SuperAdmin {
        return Err(ServiceError::Forbidden);
    }
    let frame = EventFrame {
        experiment_id: Some(id),
        caller_tenant: if who.role == crate::domain::Role::SuperAdmin {
            None
        } else {
            who.tenant_id.as_deref()
        },
        now: Utc::now(),
    };
    let draft = parse_event(body, &frame, "").map_err(ServiceError::Invalid)?;
    if !who.can_run(&draft.tenant_id) {
        return Err(ServiceError::Forbidden);
    }
    let prepared = {
        let snapshot = runtime.snapshot();
        prepare(&snapshot, draft, "")
    };
    let prepared = match prepared {
        Ok(p) => p,
        Err(field) if field.field != "experimentId" => {
            return Err(ServiceError::Invalid(vec![field]));
        }
        Err(_) => {
            // Tell "does not exist" (404) from "exists but takes no events" (409).
            let stored = store::experiments::get(pool, id)
                .await
                .context("Failed to load the experiment")?;
            // Only the experiment's own tenant (or a super_admin) learns that it exists and
            // what status it is in; to anyone else it is not found.
            return Err(match stored {
                Some(s) if who.can_run(&s.experiment.tenant_id) => ServiceError::Conflict(format!(
                    "the experiment is {}, not active: it takes no events",
                    s.experiment.status
                )),
                _ => ServiceError::NotFound,
            });
        }
    };
    let outcome = runtime
        .ingest
        .submit(vec![prepared])
        .await
        .map_err(|e| ingest_error(e, "metrics"))?;
    match outcome.into_iter().next() {
        Some(Outcome::Stored { event_id, variant }) => Ok(EventAck {
            event_id: Some(event_id),
            status: AckStatus::Stored,
            variant,
        }),
        Some(Outcome::Duplicate { variant }) => Ok(EventAck {
            event_id: None,
            status: AckStatus::Duplicate,
            variant,
        }),
        _ => Err(ServiceError::Invalid(vec![not_assigned("")])),
    }
}

/// The answer to one event of a batch.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct BatchItem {
    pub index: usize,
    pub status: AckStatus,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub event_id: Option<Uuid>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub variant: Option<crate::domain::assignment::Variant>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldError>,
}

/// The answer to a batch: per-event results; the good events are stored even when others
/// are refused.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct BatchResult {
    pub stored: usize,
    pub duplicates: usize,
    pub rejected: usize,
    pub results: Vec<BatchItem>,
}

/// Stores a batch of events (each naming its experimentId); answers once committed.
pub async fn track_batch(
    runtime: &Runtime,
    who: &Principal,
    events: &[Value],
) -> Result<BatchResult, ServiceError> {
    if events.len() > MAX_BATCH {
        return Err(ServiceError::Invalid(vec![FieldError::new(
            "events",
            format!(
                "at most {MAX_BATCH} events per batch (got {})",
                events.len()
            ),
        )]));
    }
    if !matches!(
        who.role,
        crate::domain::Role::SuperAdmin | crate::domain::Role::Service | crate::domain::Role::Admin
    ) {
        return Err(ServiceError::Forbidden);
    }
    let frame = EventFrame {
        experiment_id: None,
        caller_tenant: if who.role == crate::domain::Role::SuperAdmin {
            None
        } else {
            who.tenant_id.as_deref()
        },
        now: Utc::now(),
    };
    let mut results: Vec<BatchItem> = Vec::with_capacity(events.len());
    let mut prepared = Vec::new();
    let mut positions = Vec::new();
    {
        let snapshot = runtime.snapshot();
        for (index, value) in events.iter().enumerate() {
            let prefix = format!("events[{index}].");
            let checked = parse_event(value, &frame, &prefix).and_then(|draft| {
                if !who.can_run(&draft.tenant_id) {
                    return Err(vec![FieldError::new(
                        format!("{prefix}tenantId"),
                        "this token may not send events of this tenant",
                    )]);
                }
                prepare(&snapshot, draft, &prefix).map_err(|e| vec![e])
            });
            match checked {
                Ok(p) => {
                    positions.push(index);
                    prepared.push(p);
                    results.push(BatchItem {
                        index,
                        status: AckStatus::Pending,
                        event_id: None,
                        variant: None,
                        errors: vec![],
                    });
                }
                Err(errors) => results.push(BatchItem {
                    index,
                    status: AckStatus::Rejected,
                    event_id: None,
                    variant: None,
                    errors,
                }),
            }
        }
    }
    let outcomes = runtime
        .ingest
        .submit(prepared)
        .await
        .map_err(|e| ingest_error(e, "events"))?;
    for (index, outcome) in positions.into_iter().zip(outcomes) {
        let item = &mut results[index];
        match outcome {
            Outcome::Stored { event_id, variant } => {
                item.status = AckStatus::Stored;
                item.event_id = Some(event_id);
                item.variant = Some(variant);
            }
            Outcome::Duplicate { variant } => {
                item.status = AckStatus::Duplicate;
                item.variant = Some(variant);
            }
            Outcome::NotAssigned => {
                item.status = AckStatus::Rejected;
                item.errors = vec![not_assigned(&format!("events[{index}]."))];
            }
        }
    }
    let count = |s: AckStatus| results.iter().filter(|r| r.status == s).count();
    Ok(BatchResult {
        stored: count(AckStatus::Stored),
        duplicates: count(AckStatus::Duplicate),
        rejected: count(AckStatus::Rejected),
        results,
    })
}
