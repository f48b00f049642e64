use crate::domain::FieldError;

/// What a use case can fail with. Each variant maps to one HTTP status; `Unexpected` keeps
/// its cause chain for the log and reaches clients only as an opaque 500.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    #[error("invalid input")]
    Invalid(Vec<FieldError>),
    #[error("not signed in")]
    Unauthorized,
    #[error("not allowed")]
    Forbidden,
    #[error("not found")]
    NotFound,
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    Unavailable(String),
    /// Too much load right now: retry after a moment (503 with Retry-After).
    #[error("busy; retry shortly")]
    Busy,
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}
