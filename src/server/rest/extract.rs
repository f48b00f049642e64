//! Extractors whose failures answer in the REST error envelope.

use super::RestError;
use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequest, Request};
use serde::de::DeserializeOwned;
use uuid::Uuid;

/// A JSON body; a body that does not parse is a 400 naming what is wrong.
pub struct Body<T>(pub T);

impl<S, T> FromRequest<S> for Body<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = RestError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(value)) => Ok(Body(value)),
            Err(rejection) => Err(rejection_error(rejection)),
        }
    }
}

fn rejection_error(rejection: JsonRejection) -> RestError {
    let status = match rejection {
        JsonRejection::MissingJsonContentType(_) => axum::http::StatusCode::UNSUPPORTED_MEDIA_TYPE,
        JsonRejection::BytesRejection(ref r) => r.status(),
        _ => axum::http::StatusCode::BAD_REQUEST,
    };
    RestError::bad_request(status, rejection.body_text())
}

/// An experiment id from the path; anything that is not a UUID names no experiment (404).
pub fn experiment_id(raw: &str) -> Result<Uuid, RestError> {
    Uuid::parse_str(raw).map_err(|_| crate::service::ServiceError::NotFound.into())
}
