//! The checks every request passes before anything reads its body:
//!
//! - **CSRF.** A mutation authenticated by the session cookie (not by a bearer token, which no
//!   other site can make a browser send) must be `application/json` and come from this origin
//!   (`Origin` equal to the request's host, or `Sec-Fetch-Site: same-origin`). A cross-site
//!   form or `text/plain` fetch cannot meet either, whatever the cookie's SameSite says.
//!   Server functions take only `application/json`, with or without a cookie.
//! - **Who before what.** A server function (but signing in and out) needs a caller before
//!   its arguments are read: an anonymous request is answered 401 without reading its body,
//!   and the caller found is handed on (no second look-up). The functions that take an
//!   experiment's whole definition need a caller who may manage experiments.
//! - **Body size.** Each server function's body is bounded by what it needs
//!   (`domain::limits`); REST routes bound theirs in `rest`.

use super::AppState;
use super::auth::{Authenticated, principal, session_cookie};
use crate::api::ApiError;
use crate::domain::limits::{MAX_ADMIN_BODY, MAX_SMALL_BODY};
use crate::service::ServiceError;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

/// Server functions anyone may call (they authenticate, or end a session, themselves).
const PUBLIC_FNS: [&str; 2] = ["sign_in", "sign_out"];
/// Server functions that take an experiment's whole definition (targeting lists and all):
/// only for callers who may manage experiments, and with the admin body limit.
const DEFINITION_FNS: [&str; 3] = [
    "create_experiment",
    "update_experiment",
    "estimate_completion",
];

pub async fn guard(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let path = request.uri().path();
    let server_fn = path
        .strip_prefix(super::server_fn_status::PREFIX)
        .map(str::to_owned);
    let headers = request.headers();
    let mutation = !matches!(
        *request.method(),
        Method::GET | Method::HEAD | Method::OPTIONS
    );
    let by_cookie = !headers.contains_key(header::AUTHORIZATION)
        && session_cookie(headers, state.secure_cookies).is_some();
    if mutation && (server_fn.is_some() || by_cookie) {
        if !is_json(headers) {
            return refuse(
                server_fn.is_some(),
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "this request must send Content-Type: application/json",
            );
        }
        if by_cookie && !same_origin(headers) {
            return refuse(
                server_fn.is_some(),
                StatusCode::FORBIDDEN,
                "a cross-site request with the session cookie is refused (Origin is not this site)",
            );
        }
    }
    let Some(name) = server_fn else {
        return next.run(request).await;
    };
    if PUBLIC_FNS.contains(&name.as_str()) {
        return next.run(limited(request, MAX_SMALL_BODY)).await;
    }
    let who = match principal(&state, headers).await {
        Ok(who) => who,
        Err(err) => return fn_error(ApiError::from(err)),
    };
    let definition = DEFINITION_FNS.contains(&name.as_str());
    if definition && !who.can_manage() {
        return fn_error(ApiError::from(ServiceError::Forbidden));
    }
    let limit = if definition {
        MAX_ADMIN_BODY
    } else {
        MAX_SMALL_BODY
    };
    let mut request = limited(request, limit);
    request.extensions_mut().insert(Authenticated(who));
    next.run(request).await
}

fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("application/json"))
}

/// Whether the request says it comes from this site: `Sec-Fetch-Site: same-origin` (every
/// current browser sends it), or an `Origin` whose host and port are the request's `Host`.
pub fn same_origin(headers: &HeaderMap) -> bool {
    let text = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    if let Some(site) = text("sec-fetch-site") {
        return site.eq_ignore_ascii_case("same-origin");
    }
    let (Some(origin), Some(host)) = (text("origin"), text("host")) else {
        return false;
    };
    let authority = origin
        .strip_prefix("https://")
        .or_else(|| origin.strip_prefix("http://"));
    let forwarded = text("x-forwarded-host");
    authority.is_some_and(|a| {
        a.eq_ignore_ascii_case(host) || forwarded.is_some_and(|f| a.eq_ignore_ascii_case(f))
    })
}

/// The request with its body cut off at `limit` bytes: reading more fails (413), and a
/// `Content-Length` above it is refused before anything is read.
fn limited(request: Request, limit: usize) -> Request {
    let (parts, body) = request.into_parts();
    let body = Body::new(http_body_util::Limited::new(body, limit));
    Request::from_parts(parts, body)
}

/// A refusal in the shape the caller reads: a server function's `ApiError`, or the REST
/// error envelope.
fn refuse(server_fn: bool, status: StatusCode, message: &str) -> Response {
    if server_fn {
        let err = if status == StatusCode::FORBIDDEN {
            ApiError::Forbidden
        } else {
            ApiError::BadRequest {
                message: message.to_owned(),
            }
        };
        let mut response = fn_error(err);
        *response.status_mut() = status;
        return response;
    }
    super::rest::error::RestError {
        status,
        code: if status == StatusCode::FORBIDDEN {
            "forbidden".into()
        } else {
            "bad_request".into()
        },
        message: message.to_owned(),
        fields: vec![],
    }
    .into_response()
}

fn fn_error(err: ApiError) -> Response {
    let status =
        StatusCode::from_u16(err.status_code()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    (status, axum::Json(err)).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, HeaderValue::from_static(v));
        }
        h
    }

    #[test]
    fn a_request_is_same_origin_by_fetch_metadata_or_by_its_origin() {
        assert!(same_origin(&headers(&[("sec-fetch-site", "same-origin")])));
        assert!(!same_origin(&headers(&[("sec-fetch-site", "cross-site")])));
        assert!(!same_origin(&headers(&[
            ("sec-fetch-site", "same-site"),
            ("origin", "http://a:1"),
            ("host", "a:1")
        ])));
        assert!(same_origin(&headers(&[
            ("origin", "http://a:1"),
            ("host", "a:1")
        ])));
        assert!(!same_origin(&headers(&[
            ("origin", "http://evil"),
            ("host", "a:1")
        ])));
        assert!(!same_origin(&headers(&[
            ("origin", "null"),
            ("host", "a:1")
        ])));
        assert!(
            !same_origin(&headers(&[("host", "a:1")])),
            "no Origin at all"
        );
    }

    #[test]
    fn only_json_is_json() {
        assert!(is_json(&headers(&[("content-type", "application/json")])));
        assert!(is_json(&headers(&[(
            "content-type",
            "application/json; charset=utf-8"
        )])));
        assert!(!is_json(&headers(&[("content-type", "text/plain")])));
        assert!(!is_json(&HeaderMap::new()));
    }
}
