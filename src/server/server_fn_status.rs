//! Server functions answer every error with 500 (server_fn's fixed choice), even when the
//! caller sent bad input. This layer reads the `ApiError` in such an answer and gives the
//! response the status that error stands for (422, 404, 400, …).

use crate::api::ApiError;
use axum::body::{Body, to_bytes};
use axum::extract::Request;
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::Response;

/// Where the server functions are mounted.
pub const PREFIX: &str = "/api/fn/";
/// Error bodies are small; anything larger is left alone.
const MAX_ERROR_BODY: usize = 256 * 1024;

pub async fn from_error_body(request: Request, next: Next) -> Response {
    let is_server_fn = request.uri().path().starts_with(PREFIX);
    let response = next.run(request).await;
    if !is_server_fn || response.status() != StatusCode::INTERNAL_SERVER_ERROR {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    let Ok(bytes) = to_bytes(body, MAX_ERROR_BODY).await else {
        return Response::from_parts(parts, Body::empty());
    };
    if let Ok(err) = serde_json::from_slice::<ApiError>(&bytes)
        && let Ok(status) = StatusCode::from_u16(err.status_code())
    {
        parts.status = status;
    }
    Response::from_parts(parts, Body::from(bytes))
}
