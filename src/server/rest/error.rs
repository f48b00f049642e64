use crate::api::ApiError;
use crate::domain::FieldError;
use crate::service::ServiceError;
use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

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

impl IntoResponse for RestError {
    fn into_response(self) -> Response {
        let body = Json(json!({
            "error": {"code": self.code, "message": self.message, "fields": self.fields}
        }));
        let mut response = (self.status, body).into_response();
        if self.status == StatusCode::SERVICE_UNAVAILABLE {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        }
        if self.status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"verdict\""),
            );
        }
        response
    }
}
