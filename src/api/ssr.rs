//! Server-side glue shared by the server functions.

use super::ApiError;
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

/// Turns a service result into the server function's answer. The HTTP status of an error
/// is set from the error itself by `server::server_fn_status`.
pub(crate) fn respond<T>(result: Result<T, ServiceError>) -> Result<T, ApiError> {
    result.map_err(ApiError::from)
}
