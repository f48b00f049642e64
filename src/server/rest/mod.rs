//! The REST API at the spec's paths (`/api/v1/...`), JSON in the spec's camelCase. Handlers
//! are thin: they read the request, call `service`, and shape the answer. Every route is
//! described by the OpenAPI document (`docs`), collected by the router that serves it.

mod docs;
pub mod error;
mod events;
mod experiments;
mod extract;
mod holdouts;
mod layers;
mod ofrep;
mod resolve;

pub use error::RestError;
pub use ofrep::{
    OfrepBulk, OfrepContext, OfrepEvaluation, OfrepFailure, OfrepMetadata, OfrepReason,
    OfrepRequest, OfrepServerError,
};
pub use resolve::Resolved;

use super::AppState;
use axum::Router;
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;

/// The REST routes and their OpenAPI document. The admin routes read bodies of at most
/// `MAX_ADMIN_BODY` (an experiment's definition with its targeting lists), after the caller
/// was found allowed to send one; the runtime routes (`resolve`, `events`, and OpenFeature's
/// `ofrep`) bound theirs one by one.
pub fn routes() -> (Router<AppState>, utoipa::openapi::OpenApi) {
    let experiments = experiments::router().layer(axum::extract::DefaultBodyLimit::max(
        crate::domain::limits::MAX_ADMIN_BODY,
    ));
    OpenApiRouter::with_openapi(docs::ApiDoc::openapi())
        .nest("/api/v1/admin/insights/experiments", experiments)
        .nest("/api/v1/admin/insights/layers", layers::router())
        .nest(
            "/api/v1/admin/insights/holdouts",
            holdouts::router().layer(axum::extract::DefaultBodyLimit::max(
                crate::domain::limits::MAX_ADMIN_BODY,
            )),
        )
        .merge(resolve::router())
        .merge(events::router())
        .merge(ofrep::router())
        .routes(utoipa_axum::routes!(super::health::healthz))
        .split_for_parts()
}

/// The REST router, with `GET /api/openapi.json` serving its document.
pub fn router() -> Router<AppState> {
    let (router, doc) = routes();
    let mut doc = serde_json::to_value(&doc).unwrap_or_default();
    docs::strict_create_schema(&mut doc);
    docs::link_experiment_ids(&mut doc);
    let json = serde_json::to_string_pretty(&doc).unwrap_or_else(|_| "{}".into());
    router.route(
        "/api/openapi.json",
        axum::routing::get(move || {
            let json = json.clone();
            async move {
                (
                    [(axum::http::header::CONTENT_TYPE, "application/json")],
                    json,
                )
            }
        }),
    )
}
