//! The REST API at the spec's paths (`/api/v1/...`), JSON in the spec's camelCase. Handlers
//! are thin: they read the request, call `service`, and shape the answer.

mod error;
mod experiments;
mod extract;
mod runtime;

pub use error::RestError;

use super::AppState;
use axum::Router;

/// The admin routes read bodies of at most `MAX_ADMIN_BODY` (an experiment's definition with
/// its targeting lists), after the caller was found allowed to send one; the runtime routes
/// bound theirs one by one (`runtime`).
pub fn router() -> Router<AppState> {
    Router::new()
        .nest(
            "/api/v1/admin/insights/experiments",
            experiments::router().layer(axum::extract::DefaultBodyLimit::max(
                crate::domain::limits::MAX_ADMIN_BODY,
            )),
        )
        .merge(runtime::router())
}
