//! Server-side glue shared by the server functions.

use super::ApiError;
use crate::domain::Principal;
use crate::server::AppState;
use crate::service::ServiceError;
use leptos::prelude::*;

/// The application state the server-function handler provides as context.
pub(crate) fn state() -> Result<AppState, ApiError> {
    use_context::<AppState>().ok_or_else(|| {
        tracing::error!("AppState missing from the server function context");
        ApiError::Internal
    })
}

/// The request's headers (provided by leptos_axum for server functions and SSR).
pub(crate) fn headers() -> axum::http::HeaderMap {
    use_context::<axum::http::request::Parts>()
        .map(|parts| parts.headers)
        .unwrap_or_default()
}

/// The state and the authenticated caller of this server function (found by the guard
/// before the arguments were read, or, for a page's server render, now).
pub(crate) async fn caller() -> Result<(AppState, Principal), ApiError> {
    let state = state()?;
    let parts = use_context::<axum::http::request::Parts>();
    if let Some(crate::server::auth::Authenticated(who)) = parts
        .as_ref()
        .and_then(|p| p.extensions.get::<crate::server::auth::Authenticated>())
    {
        return Ok((state, who.clone()));
    }
    let headers = parts.map(|p| p.headers).unwrap_or_default();
    let who = crate::server::auth::principal(&state, &headers)
        .await
        .map_err(ApiError::from)?;
    Ok((state, who))
}

/// Adds a header to the server function's response.
pub(crate) fn set_header(name: axum::http::HeaderName, value: &str) {
    if let (Some(options), Ok(value)) = (
        use_context::<leptos_axum::ResponseOptions>(),
        axum::http::HeaderValue::from_str(value),
    ) {
        options.append_header(name, value);
    }
}

/// Turns a service result into the server function's answer. The HTTP status of an error
/// is set from the error itself by `server::server_fn_status`.
pub(crate) fn respond<T>(result: Result<T, ServiceError>) -> Result<T, ApiError> {
    result.map_err(ApiError::from)
}
