use crate::api::ApiError;
use crate::domain::FieldError;
use crate::service::ServiceError;
use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

/// The REST error envelope: `{"error": {"code", "message", "fields": [{"field", "message"}]}}`.
#[derive(Debug)]
pub struct RestError {
    pub status: StatusCode,
    pub code: String,
    pub message: String,
    pub fields: Vec<FieldError>,
}

impl RestError {
    /// A 400 for a request that could not be read.
    pub fn bad_request(status: StatusCode, message: impl Into<String>) -> Self {
        Self {
            status,
            code: "bad_request".into(),
            message: message.into(),
            fields: vec![],
        }
    }
}

impl From<ApiError> for RestError {
    fn from(err: ApiError) -> Self {
        let status =
            StatusCode::from_u16(err.status_code()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let code = serde_json::to_value(&err)
            .ok()
            .and_then(|v| v.get("code").and_then(|c| c.as_str()).map(str::to_owned))
            .unwrap_or_else(|| "internal".into());
        let message = err.to_string();
        let fields = match err {
            ApiError::Invalid { fields } => fields,
            _ => vec![],
        };
        Self {
            status,
            code,
            message,
            fields,
        }
    }
}

impl From<ServiceError> for RestError {
    fn from(err: ServiceError) -> Self {
        ApiError::from(err).into()
    }
}

/// The REST error envelope, as the OpenAPI document describes it.
#[derive(Debug, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

/// What went wrong: a code (`invalid`, `unauthorized`, `forbidden`, `not_found`,
/// `conflict`, `unavailable`, `bad_request`, `internal`), a message for people, and for
/// `invalid` each refused field with why.
#[derive(Debug, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct ErrorDetail {
    pub code: String,
    pub message: String,
    pub fields: Vec<FieldError>,
}

/// The refusals every REST route may answer (each in the error envelope): 400 a body that
/// cannot be read, 401 no or a bad token, 403 a role that may not, 404 not found (or not
/// the caller's), 409 a state that does not allow it, 413 a body larger than the route
/// takes, 415 not JSON, 503 busy or the database away (with `Retry-After`). A 422 is
/// listed by each route, with its body.
pub struct Refusals;

impl utoipa::IntoResponses for Refusals {
    fn responses() -> std::collections::BTreeMap<
        String,
        utoipa::openapi::RefOr<utoipa::openapi::response::Response>,
    > {
        documented_refusals(
            &[
                (
                    400,
                    "The request could not be read (malformed JSON, a wrong type)",
                ),
                (401, "No token, or not a valid one"),
                (
                    403,
                    "The caller's role may not do this (or a cross-site request)",
                ),
                (404, "Not found, or not the caller's"),
                (409, "The experiment's state does not allow it"),
                (413, "The body is larger than this route takes"),
                (415, "The body is not application/json"),
                (
                    503,
                    "Busy, or the database is away: retry after the Retry-After seconds",
                ),
            ],
            "ErrorBody",
        )
    }
}

/// Refusals as the OpenAPI document lists them: each status with its description and a JSON
/// body of the schema named `schema` (and a `Retry-After` header on a 429 or 503).
pub(super) fn documented_refusals(
    list: &[(u16, &str)],
    schema: &str,
) -> std::collections::BTreeMap<String, utoipa::openapi::RefOr<utoipa::openapi::response::Response>>
{
    use utoipa::openapi::{ContentBuilder, HeaderBuilder, Ref, ResponseBuilder};
    list.iter()
        .map(|&(status, description)| {
            let mut response = ResponseBuilder::new().description(description).content(
                "application/json",
                ContentBuilder::new()
                    .schema(Some(Ref::from_schema_name(schema)))
                    .build(),
            );
            if status == 429 || status == 503 {
                response = response.header(
                    "Retry-After",
                    HeaderBuilder::new()
                        .schema(utoipa::openapi::schema::Object::with_type(
                            utoipa::openapi::schema::Type::String,
                        ))
                        .description(Some("Seconds to wait before retrying"))
                        .build(),
                );
            }
            (status.to_string(), response.build().into())
        })
        .collect()
}

/// The headers a refusal's status calls for: `Retry-After` when the caller should come back
/// (503, 429), `WWW-Authenticate` on a 401.
pub(super) fn add_refusal_headers(response: &mut Response) {
    let status = response.status();
    if status == StatusCode::SERVICE_UNAVAILABLE || status == StatusCode::TOO_MANY_REQUESTS {
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    }
    if status == StatusCode::UNAUTHORIZED {
        response.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Bearer realm=\"verdict\""),
        );
    }
}

impl IntoResponse for RestError {
    fn into_response(self) -> Response {
        let body = Json(ErrorBody {
            error: ErrorDetail {
                code: self.code,
                message: self.message,
                fields: self.fields,
            },
        });
        let mut response = (self.status, body).into_response();
        add_refusal_headers(&mut response);
        response
    }
}
