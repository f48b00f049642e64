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

impl ServiceError {
    /// The error as a command-line tool reports it: the refused fields with why, the cause
    /// chain of an unexpected failure, or what the error says.
    pub fn into_anyhow(self) -> anyhow::Error {
        match self {
            ServiceError::Invalid(fields) => anyhow::anyhow!(
                "{}",
                fields
                    .iter()
                    .map(|f| format!("{}: {}", f.field, f.message))
                    .collect::<Vec<_>>()
                    .join("; ")
            ),
            ServiceError::Unexpected(e) => e,
            other => anyhow::anyhow!("{other}"),
        }
    }
}
