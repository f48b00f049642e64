use super::ApiError;
use crate::domain::resolve::{ResolveRequest, ResolvedConfig};
use leptos::prelude::*;
use leptos::server_fn::codec::Json;

/// Which configuration a user gets, per target (the REST `POST /api/v1/insights/resolve`).
/// `POST /api/fn/resolve` with `{"request": {"tenantId": "acme", "userId": "u1", "intent": "risk"}}`.
#[server(prefix = "/api/fn", endpoint = "resolve", input = Json)]
pub async fn resolve(request: ResolveRequest) -> Result<Vec<ResolvedConfig>, ApiError> {
    let (state, who) = super::ssr::caller().await?;
    super::ssr::respond(crate::service::resolve::resolve(
        &state.runtime,
        &who,
        &request,
        |all| all.iter().map(|r| r.to_config()).collect(),
    ))
}
