use super::ApiError;
use crate::domain::Principal;
use leptos::prelude::*;
use leptos::server_fn::codec::Json;

/// Signs in with an API token and sets the HttpOnly session cookie.
/// `POST /api/fn/sign_in` with `{"token": "vdt_…"}`.
#[server(prefix = "/api/fn", endpoint = "sign_in", input = Json)]
pub async fn sign_in(token: String) -> Result<Principal, ApiError> {
    use crate::server::auth::session_set_cookie;
    let state = super::ssr::state()?;
    let (who, session) = super::ssr::respond(
        crate::service::auth::sign_in(&state.runtime, &state.pool, &token).await,
    )?;
    super::ssr::set_header(
        axum::http::header::SET_COOKIE,
        &session_set_cookie(&session, state.secure_cookies),
    );
    Ok(who)
}

/// Ends the browser session. `POST /api/fn/sign_out` with `{}`.
#[server(prefix = "/api/fn", endpoint = "sign_out", input = Json)]
pub async fn sign_out() -> Result<(), ApiError> {
    use crate::server::auth::{session_clear_cookie, session_cookie};
    let state = super::ssr::state()?;
    let headers = super::ssr::headers();
    if let Some(session) = session_cookie(&headers, state.secure_cookies) {
        super::ssr::respond(crate::service::auth::sign_out(&state.pool, session).await)?;
    }
    super::ssr::set_header(
        axum::http::header::SET_COOKIE,
        &session_clear_cookie(state.secure_cookies),
    );
    Ok(())
}

/// Who is signed in (401 when nobody). `POST /api/fn/current_user` with `{}`.
#[server(prefix = "/api/fn", endpoint = "current_user", input = Json)]
pub async fn current_user() -> Result<Principal, ApiError> {
    Ok(super::ssr::caller().await?.1)
}
