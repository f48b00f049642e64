//! The runtime API on the AI product's hot path: resolve and events. The caller's role is
//! checked before any body is read, and each route reads at most what it needs
//! (`domain::limits`); a batch is parsed by a visitor that stops at the event limit.

use super::RestError;
use super::extract::{RuntimeCaller, body_bytes, experiment_id, json_body};
use crate::domain::FieldError;
use crate::domain::event::{BatchError, parse_batch};
use crate::domain::limits::{MAX_BATCH_BODY, MAX_SMALL_BODY};
use crate::domain::resolve::{ResolveRequest, answer_json};
use crate::server::AppState;
use crate::service::ServiceError;
use crate::service::runtime as svc;
use axum::extract::{Path, Request, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use serde_json::Value;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/insights/resolve", post(resolve))
        .route(
            "/api/v1/insights/experiments/{id}/events",
            post(track_event),
        )
        .route("/api/v1/insights/events/batch", post(track_batch))
}

async fn resolve(
    State(state): State<AppState>,
    RuntimeCaller(who): RuntimeCaller,
    request: Request,
) -> Result<Response, RestError> {
    let request: ResolveRequest = json_body(request, MAX_SMALL_BODY).await?;
    let body = svc::resolve(&state.runtime, &who, &request, |assignments| {
        answer_json(&request.tenant_id, &request.user_id, assignments)
    })?;
    Ok(([(header::CONTENT_TYPE, "application/json")], body).into_response())
}

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
