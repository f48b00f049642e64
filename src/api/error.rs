use crate::domain::FieldError;
use leptos::server_fn::codec::JsonEncoding;
use leptos::server_fn::error::{FromServerFnError, ServerFnErrorErr};
use serde::{Deserialize, Serialize};

/// The error every server function returns. It crosses the wire as JSON, so the UI can act
/// on it (show field messages next to fields, send the user to sign in, …). Details of
/// unexpected failures stay in the server's log: the client sees `Internal`.
#[derive(Debug, Clone, PartialEq, thiserror::Error, Serialize, Deserialize)]
#[serde(tag = "code", rename_all = "snake_case")]
pub enum ApiError {
    #[error("invalid input: {}", summary(fields))]
    Invalid { fields: Vec<FieldError> },
    #[error("sign in first")]
    Unauthorized,
    #[error("not allowed")]
    Forbidden,
    #[error("not found")]
    NotFound,
    #[error("{message}")]
    Conflict { message: String },
    #[error("{message}")]
    Unavailable { message: String },
    #[error("something went wrong on the server; it has been logged")]
    Internal,
    /// The request could not be read (malformed JSON, a wrong type, an unknown value).
    #[error("{message}")]
    BadRequest { message: String },
    /// The call failed on the way (network, or an answer that could not be read).
    #[error("{message}")]
    Transport { message: String },
}

fn summary(fields: &[FieldError]) -> String {
    fields
        .iter()
        .map(|f| format!("{}: {}", f.field, f.message))
        .collect::<Vec<_>>()
        .join("; ")
}

impl ApiError {
    /// The HTTP status this error is answered with.
    pub fn status_code(&self) -> u16 {
        match self {
            Self::Invalid { .. } => 422,
            Self::Unauthorized => 401,
            Self::Forbidden => 403,
            Self::NotFound => 404,
            Self::Conflict { .. } => 409,
            Self::Unavailable { .. } => 503,
            Self::Internal => 500,
            Self::BadRequest { .. } => 400,
            Self::Transport { .. } => 502,
        }
    }
}

impl FromServerFnError for ApiError {
    type Encoder = JsonEncoding;

    fn from_server_fn_error(value: ServerFnErrorErr) -> Self {
        match value {
            // The arguments did not deserialize: the caller's mistake.
            ServerFnErrorErr::Args(message) | ServerFnErrorErr::Deserialization(message) => {
                Self::BadRequest {
                    message: format!("the request body is not valid: {message}"),
                }
            }
            other => Self::Transport {
                message: other.to_string(),
            },
        }
    }
}

/// The wire form of a use case's failure: the api layer knows both, the service layer only
/// its own error (server only: the browser never sees a `ServiceError`).
#[cfg(feature = "ssr")]
impl From<crate::service::ServiceError> for ApiError {
    /// The one place where unexpected errors are logged, with their whole cause chain.
    fn from(err: crate::service::ServiceError) -> Self {
        match err {
            crate::service::ServiceError::Invalid(fields) => ApiError::Invalid { fields },
            crate::service::ServiceError::Unauthorized => ApiError::Unauthorized,
            crate::service::ServiceError::Forbidden => ApiError::Forbidden,
            crate::service::ServiceError::NotFound => ApiError::NotFound,
            crate::service::ServiceError::Conflict(message) => ApiError::Conflict { message },
            crate::service::ServiceError::Unavailable(message) => ApiError::Unavailable { message },
            crate::service::ServiceError::Busy => ApiError::Unavailable {
                message: "Verdict is busy ingesting; retry in a second".into(),
            },
            crate::service::ServiceError::Unexpected(cause) => {
                tracing::error!(error = format!("{cause:#}"), "unexpected error");
                ApiError::Internal
            }
        }
    }
}
