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
    #[from_ref(skip)]
    pub require_approval: bool,
    /// The session cookie is `__Host-` prefixed and `Secure` (unless
    /// `VERDICT_INSECURE_COOKIES` asks for plain-HTTP local use).
    #[from_ref(skip)]
    pub secure_cookies: bool,
    /// The in-memory runtime: live experiments, exposures, event ingestion.
    pub runtime: Arc<crate::runtime::Runtime>,
}
