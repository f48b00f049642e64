use super::AppState;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde_json::{Value, json};
use std::time::Duration;

/// `GET /healthz`: 200 when the database answers, 503 with the reason when it does not.
/// `runtime` tells whether the in-memory snapshot is fresh (resolve keeps answering from
/// the last one when it is not).
pub async fn healthz(State(state): State<AppState>) -> (StatusCode, Json<Value>) {
    let probe = sqlx::query("select 1").execute(&state.pool);
    let runtime = state.runtime.health();
    match tokio::time::timeout(Duration::from_secs(3), probe).await {
        Ok(Ok(_)) => (
            StatusCode::OK,
            Json(json!({"status": "ok", "database": "ok", "runtime": runtime})),
        ),
        Ok(Err(err)) => unavailable(format!("database unreachable: {err}"), runtime),
        Err(_) => unavailable("database did not answer within 3 s".to_owned(), runtime),
    }
}

fn unavailable(
    reason: String,
    runtime: crate::runtime::RuntimeHealth,
) -> (StatusCode, Json<Value>) {
    tracing::warn!(%reason, "health check failed");
    (
        StatusCode::SERVICE_UNAVAILABLE,
        Json(json!({"status": "unavailable", "database": reason, "runtime": runtime})),
    )
}
