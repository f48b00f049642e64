//! Reading credentials from a request: `Authorization: Bearer …` or the session cookie.

use super::AppState;
use crate::domain::Principal;
use crate::service::ServiceError;
use crate::service::auth::{SESSION_COOKIE, authenticate};
use axum::extract::FromRequestParts;
use axum::http::header::{AUTHORIZATION, COOKIE};
use axum::http::{HeaderMap, request::Parts};
use sqlx::PgPool;

/// The bearer token of a request, if it sends one. A malformed `Authorization` header is
/// an error, not an anonymous request.
pub fn bearer(headers: &HeaderMap) -> Result<Option<&str>, ServiceError> {
    let Some(value) = headers.get(AUTHORIZATION) else {
        return Ok(None);
    };
    let value = value.to_str().map_err(|_| ServiceError::Unauthorized)?;
    match value.split_once(' ') {
        Some((scheme, token))
            if scheme.eq_ignore_ascii_case("bearer") && !token.trim().is_empty() =>
        {
            Ok(Some(token.trim()))
        }
        _ => Err(ServiceError::Unauthorized),
    }
}

/// The value of the session cookie, if any.
pub fn session_cookie(headers: &HeaderMap) -> Option<&str> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == SESSION_COOKIE)
        .map(|(_, value)| value)
        .filter(|v| !v.is_empty())
}

/// The caller of a request.
pub async fn principal(pool: &PgPool, headers: &HeaderMap) -> Result<Principal, ServiceError> {
    authenticate(pool, bearer(headers)?, session_cookie(headers)).await
}

/// Whether the request reached us over HTTPS (directly or through a proxy that says so):
/// the session cookie is then marked `Secure`.
pub fn is_https(headers: &HeaderMap) -> bool {
    headers
        .get("x-forwarded-proto")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("https"))
}

/// The `Set-Cookie` value that opens a session.
pub fn session_set_cookie(value: &str, https: bool) -> String {
    let max_age = crate::service::auth::SESSION_DAYS * 24 * 3600;
    let secure = if https { "; Secure" } else { "" };
    format!(
        "{SESSION_COOKIE}={value}; Path=/; HttpOnly; SameSite=Strict; Max-Age={max_age}{secure}"
    )
}

/// The `Set-Cookie` value that ends a session.
pub fn session_clear_cookie(https: bool) -> String {
    let secure = if https { "; Secure" } else { "" };
    format!("{SESSION_COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0{secure}")
}

impl FromRequestParts<AppState> for Principal {
    type Rejection = super::rest::RestError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        Ok(principal(&state.pool, &parts.headers).await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    #[test]
    fn a_bearer_token_is_read_case_insensitively() {
        let mut h = HeaderMap::new();
        h.insert(AUTHORIZATION, HeaderValue::from_static("bearer abc"));
        assert_eq!(bearer(&h).unwrap(), Some("abc"));
        h.insert(AUTHORIZATION, HeaderValue::from_static("Basic abc"));
        assert!(bearer(&h).is_err());
        assert_eq!(bearer(&HeaderMap::new()).unwrap(), None);
    }

    #[test]
    fn the_session_cookie_is_found_among_others() {
        let mut h = HeaderMap::new();
        h.insert(
            COOKIE,
            HeaderValue::from_static("a=1; verdict_session=xyz; b=2"),
        );
        assert_eq!(session_cookie(&h), Some("xyz"));
        h.insert(COOKIE, HeaderValue::from_static("verdict_session="));
        assert_eq!(session_cookie(&h), None);
    }

    #[test]
    fn session_cookies_are_http_only_strict_and_secure_over_https() {
        let c = session_set_cookie("v", true);
        assert!(c.contains("HttpOnly") && c.contains("SameSite=Strict") && c.contains("Secure"));
        assert!(!session_set_cookie("v", false).contains("Secure"));
    }
}
