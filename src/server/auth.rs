//! Reading credentials from a request: `Authorization: Bearer …` or the session cookie.

use super::AppState;
use crate::domain::Principal;
use crate::service::ServiceError;
use crate::service::auth::{PLAIN_SESSION_COOKIE, SESSION_COOKIE, authenticate};
use axum::extract::FromRequestParts;
use axum::http::header::{AUTHORIZATION, COOKIE};
use axum::http::{HeaderMap, request::Parts};

/// The caller a guard found, handed to the handlers in the request's extensions.
#[derive(Clone)]
pub struct Authenticated(pub Principal);

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

/// The session cookie's name: `__Host-` prefixed and `Secure` unless Verdict is configured
/// for plain-HTTP local use.
pub fn cookie_name(secure: bool) -> &'static str {
    if secure {
        SESSION_COOKIE
    } else {
        PLAIN_SESSION_COOKIE
    }
}

/// The value of the session cookie, if any.
pub fn session_cookie(headers: &HeaderMap, secure: bool) -> Option<&str> {
    let name = cookie_name(secure);
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(n, _)| *n == name)
        .map(|(_, value)| value)
        .filter(|v| !v.is_empty())
}

/// The caller of a request (bearer tokens and sessions are checked through the runtime's
/// memory of them: see `Runtime::authenticate`).
pub async fn principal(state: &AppState, headers: &HeaderMap) -> Result<Principal, ServiceError> {
    authenticate(
        &state.runtime,
        bearer(headers)?,
        session_cookie(headers, state.secure_cookies),
    )
    .await
}

/// The `Set-Cookie` value that opens a session.
pub fn session_set_cookie(value: &str, secure: bool) -> String {
    let max_age = crate::service::auth::SESSION_DAYS * 24 * 3600;
    let name = cookie_name(secure);
    let secure = if secure { "; Secure" } else { "" };
    format!("{name}={value}; Path=/; HttpOnly; SameSite=Strict; Max-Age={max_age}{secure}")
}

/// The `Set-Cookie` value that ends a session.
pub fn session_clear_cookie(secure: bool) -> String {
    let name = cookie_name(secure);
    let secure = if secure { "; Secure" } else { "" };
    format!("{name}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0{secure}")
}

impl FromRequestParts<AppState> for Principal {
    type Rejection = super::rest::error::RestError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        if let Some(Authenticated(who)) = parts.extensions.get::<Authenticated>() {
            return Ok(who.clone());
        }
        Ok(principal(state, &parts.headers).await?)
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
            HeaderValue::from_static("a=1; __Host-verdict_session=xyz; b=2"),
        );
        assert_eq!(session_cookie(&h, true), Some("xyz"));
        assert_eq!(
            session_cookie(&h, false),
            None,
            "not the plain-HTTP cookie's name"
        );
        h.insert(COOKIE, HeaderValue::from_static("__Host-verdict_session="));
        assert_eq!(session_cookie(&h, true), None);
    }

    #[test]
    fn session_cookies_are_host_prefixed_http_only_strict_and_secure() {
        let c = session_set_cookie("v", true);
        assert!(c.starts_with("__Host-verdict_session=v; Path=/;"));
        assert!(c.contains("HttpOnly") && c.contains("SameSite=Strict") && c.contains("Secure"));
        let plain = session_set_cookie("v", false);
        assert!(plain.starts_with("verdict_session=") && !plain.contains("Secure"));
    }
}
