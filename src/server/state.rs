use axum::extract::FromRef;
use leptos::prelude::LeptosOptions;
use sqlx::PgPool;
use std::sync::Arc;

/// What handlers and server functions share. Cheap to clone.
#[derive(Clone, FromRef)]
pub struct AppState {
    pub leptos_options: LeptosOptions,
    pub pool: PgPool,
    /// `VERDICT_REQUIRE_APPROVAL`: experiments must be approved before they start.
    pub require_approval: bool,
    /// The in-memory runtime: live experiments, exposures, event ingestion.
    pub runtime: Arc<crate::runtime::Runtime>,
}
