//! The REST API at the spec's paths (`/api/v1/...`), JSON in the spec's camelCase. Handlers
//! are thin: they read the request, call `service`, and shape the answer.

mod error;
mod experiments;
mod extract;
mod runtime;

pub use error::RestError;

use super::AppState;
use axum::Router;

/// Largest accepted request body (targeting lists may hold 10,000 entries each; a batch
/// 10,000 events).
const MAX_BODY: usize = 32 * 1024 * 1024;

pub fn router() -> Router<AppState> {
    Router::new()
        .nest("/api/v1/admin/insights/experiments", experiments::router())
        .merge(runtime::router())
        .layer(axum::extract::DefaultBodyLimit::max(MAX_BODY))
}
