//! The OpenFeature Remote Evaluation Protocol (OFREP 0.3) core routes, for the OpenFeature
//! SDKs' OFREP providers: `POST /ofrep/v1/evaluate/flags/{key}` (one flag) and
//! `POST /ofrep/v1/evaluate/flags` (every flag, with an ETag). Thin like every handler: the
//! body is read into `domain::ofrep`'s context, `service::ofrep` evaluates through resolve's
//! path, and the answer and every refusal are written in OFREP's shapes. The caller is
//! checked before the body is read (a service token: `Authorization: Bearer` or
//! `X-API-Key`), and the body is bounded like resolve's (`MAX_SMALL_BODY`).

use super::error::{add_refusal_headers, documented_refusals};
use super::extract::body_bytes;
use crate::domain::Principal;
use crate::domain::limits::MAX_SMALL_BODY;
use crate::domain::ofrep::{self, ErrorCode, FlagError, bulk_json, evaluation_json, parse_key};
use crate::domain::resolve::ResolveRequest;
use crate::server::AppState;
use crate::service::ServiceError;
use crate::service::auth::authenticate;
use crate::service::ofrep::{self as svc, Bulk};
use axum::extract::{FromRequestParts, Path, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header, request::Parts};
use axum::response::{IntoResponse, Response};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(evaluate_flag))
        .routes(routes!(evaluate_flags))
}

/// The header OFREP's API-key authentication sends the token in.
const API_KEY: &str = "x-api-key";

/// A refusal in OFREP's shape: `{"key"?, "errorCode", "errorDetails"}` (500: only
/// `errorDetails`), with `Retry-After` on a 429.
#[derive(Debug)]
pub struct OfrepError {
    status: StatusCode,
    key: Option<String>,
    error: FlagError,
}

impl OfrepError {
    fn new(status: StatusCode, code: ErrorCode, details: impl Into<String>) -> Self {
        Self {
            status,
            key: None,
            error: FlagError::new(code, details),
        }
    }

    /// The refusal of a request about flag `key` (its answer names the key).
    fn of(mut self, key: &str) -> Self {
        self.key = Some(key.to_owned());
        self
    }
}

impl From<FlagError> for OfrepError {
    fn from(error: FlagError) -> Self {
        let status = match error.code {
            ErrorCode::FlagNotFound => StatusCode::NOT_FOUND,
            _ => StatusCode::BAD_REQUEST,
        };
        Self {
            status,
            key: None,
            error,
        }
    }
}

impl From<ServiceError> for OfrepError {
    fn from(err: ServiceError) -> Self {
        use ErrorCode::*;
        match err {
            ServiceError::Invalid(fields) => Self::new(
                StatusCode::BAD_REQUEST,
                InvalidContext,
                fields
                    .iter()
                    .map(|f| format!("context.{}: {}", f.field, f.message))
                    .collect::<Vec<_>>()
                    .join("; "),
            ),
            ServiceError::Unauthorized => Self::new(
                StatusCode::UNAUTHORIZED,
                General,
                "no token, or not a valid one (Authorization: Bearer <token>, or X-API-Key)",
            ),
            ServiceError::Forbidden => Self::new(
                StatusCode::FORBIDDEN,
                General,
                "this token may not evaluate flags for that tenant",
            ),
            ServiceError::NotFound => Self::new(
                StatusCode::NOT_FOUND,
                FlagNotFound,
                "no running experiment or deployed winner on this target for the tenant",
            ),
            // Backpressure (too many token look-ups at once) and a database that cannot be
            // asked: OFREP's providers pause for Retry-After on a 429.
            ServiceError::Busy | ServiceError::Unavailable(_) => Self::new(
                StatusCode::TOO_MANY_REQUESTS,
                General,
                "busy; retry after the Retry-After seconds",
            ),
            ServiceError::Conflict(message) => Self::new(StatusCode::BAD_REQUEST, General, message),
            ServiceError::Unexpected(e) => {
                tracing::error!(error = format!("{e:#}"), "OFREP evaluation failed");
                Self::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    General,
                    "an internal error occurred while evaluating",
                )
            }
        }
    }
}

impl IntoResponse for OfrepError {
    fn into_response(self) -> Response {
        let body = if self.status == StatusCode::INTERNAL_SERVER_ERROR {
            serde_json::json!({"errorDetails": self.error.details})
        } else {
            let mut body = serde_json::json!({
                "errorCode": self.error.code,
                "errorDetails": self.error.details,
            });
            if let Some(key) = self.key {
                body["key"] = key.into();
            }
            body
        };
        let mut response = (self.status, axum::Json(body)).into_response();
        add_refusal_headers(&mut response);
        response
    }
}

/// A caller who may use the runtime, by its token in `Authorization: Bearer` or in
/// `X-API-Key` (OFREP's two schemes; no session cookie), checked before the body is read.
pub struct OfrepCaller(pub Principal);

impl FromRequestParts<AppState> for OfrepCaller {
    type Rejection = OfrepError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, OfrepError> {
        let token = match crate::server::auth::bearer(&parts.headers)? {
            Some(token) => Some(token),
            None => api_key(&parts.headers)?,
        };
        let who = authenticate(&state.runtime, token, None).await?;
        if !who.may_use_runtime() {
            return Err(ServiceError::Forbidden.into());
        }
        Ok(OfrepCaller(who))
    }
}

fn api_key(headers: &HeaderMap) -> Result<Option<&str>, ServiceError> {
    match headers.get(API_KEY) {
        None => Ok(None),
        Some(value) => match value.to_str().map(str::trim) {
            Ok(token) if !token.is_empty() => Ok(Some(token)),
            _ => Err(ServiceError::Unauthorized),
        },
    }
}

/// The evaluation context of the request's body, as a checked resolve request.
async fn read_context(who: &Principal, request: Request) -> Result<ResolveRequest, OfrepError> {
    let bytes = body_bytes(request, MAX_SMALL_BODY)
        .await
        .map_err(|e| OfrepError::new(e.status, ErrorCode::General, e.message))?;
    let context = ofrep::parse_request(&bytes)?;
    Ok(svc::request_for(who, context)?)
}

fn json(status: StatusCode, body: Vec<u8>) -> Response {
    (status, [(header::CONTENT_TYPE, "application/json")], body).into_response()
}

/// What an OFREP request sends: the evaluation context.
#[derive(serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct OfrepRequest {
    pub context: OfrepContext,
}

/// The evaluation context. Verdict reads `targetingKey` (the user id), `tenantId` (the
/// caller's own tenant when absent; a token of every tenant must give it), `intent` and
/// `scope`, as resolve does; other attributes are allowed and ignored.
#[derive(serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct OfrepContext {
    pub targeting_key: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub intent: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<serde_json::Map<String, serde_json::Value>>,
}

/// Why a flag has its value.
#[derive(Debug, PartialEq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum OfrepReason {
    /// An experiment's arm.
    Split,
    /// A deployed winner.
    Static,
    /// The target gives this user nothing: no `value`, the caller's default applies.
    Default,
}

/// One flag's evaluation: a target's configuration for the user.
#[derive(Debug, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct OfrepEvaluation {
    /// `targetType:targetId`.
    pub key: String,
    /// The configuration (absent with reason `DEFAULT`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<serde_json::Map<String, serde_json::Value>>,
    pub reason: OfrepReason,
    /// `control` or `treatment` (`default` with reason `DEFAULT`).
    pub variant: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<OfrepMetadata>,
}

/// Which experiment decided, and whether through its deployed winner.
#[derive(Debug, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct OfrepMetadata {
    pub experiment_id: uuid::Uuid,
    pub deployed: bool,
}

/// Every flag the context reaches.
#[derive(Debug, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OfrepBulk {
    pub flags: Vec<OfrepEvaluation>,
}

/// A refusal: the flag's key (single evaluations), OpenFeature's error code, and why.
#[derive(Debug, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct OfrepFailure {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    pub error_code: ErrorCode,
    pub error_details: String,
}

/// An unexpected failure.
#[derive(serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct OfrepServerError {
    pub error_details: String,
}

/// The refusals both OFREP routes may answer, in OFREP's shape (`OfrepFailure`; a 500 is
/// `OfrepServerError`). A single evaluation also answers 404 `FLAG_NOT_FOUND`.
pub struct OfrepRefusals;

impl utoipa::IntoResponses for OfrepRefusals {
    fn responses() -> std::collections::BTreeMap<
        String,
        utoipa::openapi::RefOr<utoipa::openapi::response::Response>,
    > {
        let mut all = documented_refusals(
            &[
                (
                    400,
                    "PARSE_ERROR, TARGETING_KEY_MISSING or INVALID_CONTEXT, naming the attribute",
                ),
                (401, "No token, or not a valid one"),
                (403, "The token may not evaluate for that tenant"),
                (413, "The body is larger than this route takes"),
                (415, "The body is not application/json"),
                (429, "Busy: retry after the Retry-After seconds"),
            ],
            "OfrepFailure",
        );
        all.extend(documented_refusals(
            &[(500, "An unexpected failure")],
            "OfrepServerError",
        ));
        all
    }
}

/// Evaluates one flag (`targetType:targetId`) for the evaluation context (OFREP).
#[utoipa::path(post, path = "/ofrep/v1/evaluate/flags/{key}", tag = "openfeature",
    params(("key" = String, Path, description = "The flag: `targetType:targetId`, e.g. `prompt:checkout-summary`")),
    request_body = OfrepRequest,
    security(("bearer" = []), ("api_key" = [])),
    responses((status = 200, description = "The flag's value for the context", body = OfrepEvaluation),
              (status = 404, description = "FLAG_NOT_FOUND: no running experiment or deployed winner on the target", body = OfrepFailure),
              OfrepRefusals))]
async fn evaluate_flag(
    State(state): State<AppState>,
    OfrepCaller(who): OfrepCaller,
    key: Result<Path<String>, axum::extract::rejection::PathRejection>,
    request: Request,
) -> Result<Response, OfrepError> {
    let Ok(Path(key)) = key else {
        return Err(OfrepError::new(
            StatusCode::NOT_FOUND,
            ErrorCode::FlagNotFound,
            "the flag key is not valid UTF-8",
        ));
    };
    let Some(target) = parse_key(&key) else {
        return Err(OfrepError::new(
            StatusCode::NOT_FOUND,
            ErrorCode::FlagNotFound,
            "a flag key is targetType:targetId, e.g. prompt:checkout-summary",
        )
        .of(&key));
    };
    let request = read_context(&who, request).await.map_err(|e| e.of(&key))?;
    let body = svc::evaluate_flag(&state.runtime, &request, target, |resolution| {
        evaluation_json(target, resolution)
    })
    .map_err(|e| OfrepError::from(e).of(&key))?;
    Ok(json(StatusCode::OK, body))
}

/// Evaluates every flag the evaluation context reaches (OFREP bulk), with an `ETag`: the
/// same tag in `If-None-Match` is answered 304 without evaluating again.
#[utoipa::path(post, path = "/ofrep/v1/evaluate/flags", tag = "openfeature",
    params(("If-None-Match" = Option<String>, Header, description = "The ETag of an earlier answer for the same context")),
    request_body = OfrepRequest,
    security(("bearer" = []), ("api_key" = [])),
    responses((status = 200, description = "Every flag's value for the context", body = OfrepBulk,
               headers(("ETag" = String, description = "The answer's tag, for If-None-Match"))),
              (status = 304, description = "Unchanged since the answer If-None-Match names",
               headers(("ETag" = String, description = "The answer's tag"))),
              OfrepRefusals))]
async fn evaluate_flags(
    State(state): State<AppState>,
    OfrepCaller(who): OfrepCaller,
    request: Request,
) -> Result<Response, OfrepError> {
    let if_none_match = request
        .headers()
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let request = read_context(&who, request).await?;
    let (status, etag, body) = match svc::evaluate_all(
        &state.runtime,
        &request,
        if_none_match.as_deref(),
        bulk_json,
    ) {
        Bulk::Evaluated { etag, body } => (StatusCode::OK, etag, Some(body)),
        Bulk::NotModified { etag } => (StatusCode::NOT_MODIFIED, etag, None),
    };
    let mut response = match body {
        Some(body) => json(status, body),
        None => status.into_response(),
    };
    if let Ok(etag) = HeaderValue::from_str(&etag) {
        response.headers_mut().insert(header::ETAG, etag);
    }
    Ok(response)
}
