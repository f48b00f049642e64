//! The runtime API on the AI product's hot path: resolve and events.

use super::RestError;
use super::extract::{Body, experiment_id};
use crate::domain::Principal;
use crate::domain::resolve::{ResolveRequest, answer_json};
use crate::server::AppState;
use crate::service::runtime as svc;
use axum::body::Bytes;
use axum::extract::{FromRequestParts, Path, State};
use axum::http::{StatusCode, header, request::Parts};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use serde::Deserialize;
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

/// The caller, with bearer tokens checked from memory (the hot path has no database read).
pub struct RuntimeCaller(pub Principal);

impl FromRequestParts<AppState> for RuntimeCaller {
    type Rejection = RestError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, RestError> {
        match crate::server::auth::bearer(&parts.headers)? {
            Some(token) => Ok(RuntimeCaller(state.runtime.authenticate(token).await?)),
            None => Ok(RuntimeCaller(
                crate::server::auth::principal(&state.pool, &parts.headers).await?,
            )),
        }
    }
}

async fn resolve(
    State(state): State<AppState>,
    RuntimeCaller(who): RuntimeCaller,
    Body(request): Body<ResolveRequest>,
) -> Result<Response, RestError> {
    let body = svc::resolve(&state.runtime, &who, &request, |assignments| {
        answer_json(&request.tenant_id, &request.user_id, assignments)
    })?;
    Ok(([(header::CONTENT_TYPE, "application/json")], body).into_response())
}

async fn track_event(
    State(state): State<AppState>,
    RuntimeCaller(who): RuntimeCaller,
    Path(id): Path<String>,
    Body(body): Body<Value>,
) -> Result<(StatusCode, Json<svc::EventAck>), RestError> {
    let ack = svc::track_event(
        &state.pool,
        &state.runtime,
        &who,
        experiment_id(&id)?,
        &body,
    )
    .await?;
    let status = if ack.status == "stored" {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(ack)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Batch {
    events: Vec<Value>,
}

async fn track_batch(
    State(state): State<AppState>,
    RuntimeCaller(who): RuntimeCaller,
    body: Bytes,
) -> Result<(StatusCode, Json<svc::BatchResult>), RestError> {
    let batch: Batch = serde_json::from_slice(&body).map_err(|e| {
        RestError::bad_request(
            StatusCode::BAD_REQUEST,
            format!("the body must be {{\"events\": [...]}}: {e}"),
        )
    })?;
    let result = svc::track_batch(&state.runtime, &who, &batch.events).await?;
    let status = if result.stored + result.duplicates == 0 && result.rejected > 0 {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    Ok((status, Json(result)))
}
