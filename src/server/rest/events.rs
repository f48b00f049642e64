//! Events on the AI product's hot path: one event, or a batch. The caller's role is checked
//! before any body is read, and each route reads at most what it needs (`domain::limits`);
//! a batch is parsed by a visitor that stops at the event limit.

use super::RestError;
use super::error::{ErrorBody, Refusals};
use super::extract::{RuntimeCaller, body_bytes, experiment_id, json_body};
use crate::domain::FieldError;
use crate::domain::event::{BatchError, parse_batch};
use crate::domain::limits::{MAX_BATCH_BODY, MAX_SMALL_BODY};
use crate::server::AppState;
use crate::service::ServiceError;
use crate::service::events as svc;
use axum::Json;
use axum::extract::{Path, Request, State};
use axum::http::StatusCode;
use serde_json::Value;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(track_event))
        .routes(routes!(track_batch))
}
/// An event as sent (docs/API.md, "One event"). Checked field by field by
/// `domain::event::parse_event`; described here for the OpenAPI document.
#[derive(serde::Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[allow(dead_code)]
pub struct EventInput {
    /// Required in a batch; in the single-event route, the URL's (or the same).
    experiment_id: Option<uuid::Uuid>,
    /// The caller's own tenant by default; required with a token that spans tenants.
    #[schema(min_length = 1, max_length = 200)]
    tenant_id: Option<String>,
    #[schema(min_length = 1, max_length = 200)]
    user_id: String,
    event_type: EventTypeName,
    metrics: Option<EventMetrics>,
    context: Option<EventContext>,
    /// RFC 3339; default now; at most 5 minutes ahead, not before the experiment started.
    timestamp: Option<chrono::DateTime<chrono::Utc>>,
    #[schema(min_length = 1, max_length = 200)]
    idempotency_key: Option<String>,
}

#[derive(serde::Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
#[allow(dead_code)]
enum EventTypeName {
    Exposure,
    Conversion,
    Feedback,
    Error,
}

/// An event's metrics; other numeric metrics (letters, digits, `_`; at most 32) are kept
/// as custom metrics, each from −1e9 to 1e9.
#[derive(serde::Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
#[allow(dead_code)]
struct EventMetrics {
    #[schema(minimum = 0, maximum = 1)]
    quality: Option<f64>,
    /// Milliseconds.
    #[schema(minimum = 0, maximum = 86400000)]
    latency: Option<f64>,
    #[schema(minimum = 0, maximum = 100000000)]
    tokens_used: Option<i64>,
    #[schema(minimum = 0, maximum = 1000000)]
    cost: Option<f64>,
    user_satisfaction: Option<SatisfactionName>,
    #[serde(rename = "citation_quality")]
    #[schema(minimum = 0, maximum = 1)]
    citation_quality: Option<f64>,
}

#[derive(serde::Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
#[allow(dead_code)]
enum SatisfactionName {
    Positive,
    Negative,
    Neutral,
}

/// Where the event happened.
#[derive(serde::Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[allow(dead_code)]
struct EventContext {
    #[schema(min_length = 1, max_length = 200)]
    insight_id: Option<String>,
    #[schema(min_length = 1, max_length = 200)]
    conversation_id: Option<String>,
    #[schema(min_length = 1, max_length = 200)]
    intent: Option<String>,
    /// At most 4 KiB of JSON, 32 keys, nested 4 deep.
    #[schema(value_type = Option<Object>)]
    scope: Option<serde_json::Map<String, Value>>,
}

/// A batch of events.
#[derive(serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub struct BatchInput {
    #[schema(max_items = 10000)]
    events: Vec<EventInput>,
}

/// A batch that stored none of its events answers its per-event report; a batch that could
/// not be read, the error envelope.
#[derive(serde::Serialize, utoipa::ToSchema)]
#[serde(untagged)]
#[allow(dead_code)]
enum BatchRefused {
    Report(svc::BatchResult),
    Error(ErrorBody),
}

/// Stores one event of the experiment; answers once it is committed.
#[utoipa::path(post, path = "/api/v1/insights/experiments/{id}/events", tag = "runtime",
    request_body = EventInput,
    params(("id" = uuid::Uuid, Path, description = "The experiment's id")),
    responses((status = 201, description = "Stored", body = svc::EventAck),
              (status = 200, description = "Its idempotency key was stored before: nothing new", body = svc::EventAck),
              (status = 422, description = "A refused field, with why", body = ErrorBody),
              Refusals))]
async fn track_event(
    State(state): State<AppState>,
    RuntimeCaller(who): RuntimeCaller,
    Path(id): Path<String>,
    request: Request,
) -> Result<(StatusCode, Json<svc::EventAck>), RestError> {
    let id = experiment_id(&id)?;
    let body: Value = json_body(request, MAX_SMALL_BODY).await?;
    let ack = svc::track_event(&state.pool, &state.runtime, &who, id, &body).await?;
    let status = if ack.status == svc::AckStatus::Stored {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(ack)))
}

/// Stores a batch of events (each naming its experiment); the good ones are stored even when
/// others are refused.
#[utoipa::path(post, path = "/api/v1/insights/events/batch", tag = "runtime",
    request_body = BatchInput,
    responses((status = 200, description = "Per-event results", body = svc::BatchResult),
              (status = 422, description = "None stored (the report says why), or too many events", body = BatchRefused),
              Refusals))]
async fn track_batch(
    State(state): State<AppState>,
    RuntimeCaller(who): RuntimeCaller,
    request: Request,
) -> Result<(StatusCode, Json<svc::BatchResult>), RestError> {
    let body = body_bytes(request, MAX_BATCH_BODY).await?;
    let events = parse_batch(&body).map_err(|e| match e {
        BatchError::TooMany => RestError::from(ServiceError::Invalid(vec![FieldError::new(
            "events",
            format!(
                "at most {} events per batch",
                crate::domain::event::MAX_BATCH
            ),
        )])),
        BatchError::Malformed(message) => RestError::bad_request(
            StatusCode::BAD_REQUEST,
            format!("the body must be {{\"events\": [...]}}: {message}"),
        ),
    })?;
    drop(body);
    let result = svc::track_batch(&state.runtime, &who, &events).await?;
    let status = if result.stored + result.duplicates == 0 && result.rejected > 0 {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    Ok((status, Json(result)))
}
