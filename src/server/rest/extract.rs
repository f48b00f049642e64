//! Extractors whose failures answer in the REST error envelope.

use super::RestError;
use crate::domain::Principal;
use crate::server::AppState;
use crate::service::ServiceError;
use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::{StatusCode, header, request::Parts};
use serde::de::DeserializeOwned;
use uuid::Uuid;

/// A query string; one that does not parse is a 400 in the error envelope.
pub struct QueryOf<T>(pub T);

impl<S, T> FromRequestParts<S> for QueryOf<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = RestError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, RestError> {
        axum::extract::Query::<T>::from_request_parts(parts, state)
            .await
            .map(|q| QueryOf(q.0))
            .map_err(|e| RestError::bad_request(StatusCode::BAD_REQUEST, e.body_text()))
    }
}

/// A caller who may manage experiments, checked before the body is read (403 otherwise):
/// put it before [`Body`] in a handler's arguments.
pub struct Manager(pub Principal);

impl FromRequestParts<AppState> for Manager {
    type Rejection = RestError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, RestError> {
        let who = Principal::from_request_parts(parts, state).await?;
        if !who.can_manage() {
            return Err(ServiceError::Forbidden.into());
        }
        Ok(Manager(who))
    }
}

/// A caller who may use the runtime API (resolve, events) for some tenant, checked before
/// the body is read (403 otherwise).
pub struct RuntimeCaller(pub Principal);

impl FromRequestParts<AppState> for RuntimeCaller {
    type Rejection = RestError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, RestError> {
        let who = Principal::from_request_parts(parts, state).await?;
        if !who.may_use_runtime() {
            return Err(ServiceError::Forbidden.into());
        }
        Ok(RuntimeCaller(who))
    }
}

/// Reads a JSON body of at most `limit` bytes (413 past it, 415 without a JSON content
/// type, 400 when it does not parse).
pub async fn json_body<T: DeserializeOwned>(req: Request, limit: usize) -> Result<T, RestError> {
    let bytes = body_bytes(req, limit).await?;
    serde_json::from_slice(&bytes).map_err(|e| {
        RestError::bad_request(
            StatusCode::BAD_REQUEST,
            format!("the body is not valid: {e}"),
        )
    })
}

/// The body's bytes, at most `limit` of them (413 past it, 415 without a JSON content type).
pub async fn body_bytes(req: Request, limit: usize) -> Result<axum::body::Bytes, RestError> {
    let json = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| {
            let v = v.trim();
            v.eq_ignore_ascii_case("application/json")
                || (v.starts_with("application/") && v.ends_with("+json"))
        });
    if !json {
        return Err(RestError::bad_request(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "Expected request with `Content-Type: application/json`",
        ));
    }
    axum::body::to_bytes(req.into_body(), limit)
        .await
        .map_err(|_| {
            RestError::bad_request(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!("the body is larger than this route takes ({limit} bytes)"),
            )
        })
}

/// A JSON body; a body that does not parse is a 400 naming what is wrong.
pub struct Body<T>(pub T);

impl<S, T> FromRequest<S> for Body<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = RestError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(value)) => Ok(Body(value)),
            Err(rejection) => Err(rejection_error(rejection)),
        }
    }
}

fn rejection_error(rejection: JsonRejection) -> RestError {
    let status = match rejection {
        JsonRejection::MissingJsonContentType(_) => axum::http::StatusCode::UNSUPPORTED_MEDIA_TYPE,
        JsonRejection::BytesRejection(ref r) => r.status(),
        _ => axum::http::StatusCode::BAD_REQUEST,
    };
    RestError::bad_request(status, rejection.body_text())
}

/// An experiment id from the path; anything that is not a UUID names no experiment (404).
pub fn experiment_id(raw: &str) -> Result<Uuid, RestError> {
    Uuid::parse_str(raw).map_err(|_| crate::service::ServiceError::NotFound.into())
}
