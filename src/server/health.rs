use super::AppState;
use crate::domain::Role;
use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use serde_json::{Value, json};
use std::time::Duration;

/// What `/healthz` answers. Anyone gets `status` alone; a super_admin also the rest.
#[derive(serde::Serialize, utoipa::ToSchema)]
#[allow(dead_code)]
pub struct Health {
    pub status: HealthStatus,
    /// Why it is not `ok`, in Verdict's words (operator only).
    pub problems: Option<Vec<String>>,
    /// `ok` or `unavailable` (operator only).
    pub database: Option<String>,
    #[serde(rename = "quarantinedEvents")]
    pub quarantined_events: Option<i64>,
    /// The runtime's counters and each background task's state (operator only).
    #[schema(value_type = Option<Object>)]
    pub runtime: Option<Value>,
}

#[derive(serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
#[allow(dead_code)]
pub enum HealthStatus {
    Ok,
    Degraded,
    Unavailable,
}

/// `GET /healthz`: `ok` (200) when the database answers and every background task is well;
/// `degraded` (200) with the reasons when the database answers but a task is failing or was
/// just restarted, the fold lags, events are quarantined, or the live experiments in memory
/// are stale; `unavailable` (503) when the database does not answer.
///
/// Anyone sees the status alone. A super_admin's token (the operator's) also sees the
/// reasons, the runtime's counters and each task's restarts. No database or driver text is
/// ever part of the answer: that goes to the server's log.
#[utoipa::path(get, path = "/healthz", tag = "health", security((), ("bearer" = [])),
    responses((status = 200, description = "ok or degraded", body = Health),
              (status = 503, description = "The database does not answer", body = Health)))]
pub async fn healthz(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> (StatusCode, Json<Value>) {
    let probe = sqlx::query_scalar!(r#"select 1 as "one!""#).fetch_one(&state.pool);
    let database = match tokio::time::timeout(Duration::from_secs(3), probe).await {
        Ok(Ok(_)) => None,
        Ok(Err(err)) => {
            tracing::warn!(error = %err, "health check: the database is unreachable");
            Some("the database is unreachable")
        }
        Err(_) => {
            tracing::warn!("health check: the database did not answer within 3 s");
            Some("the database did not answer within 3 s")
        }
    };
    let mut problems: Vec<String> = database.iter().map(|s| (*s).to_owned()).collect();
    problems.extend(state.runtime.problems());
    let quarantined = match database {
        None => crate::store::fold::quarantined_count(&state.pool)
            .await
            .ok(),
        Some(_) => None,
    };
    if let Some(n) = quarantined.filter(|n| *n > 0) {
        problems.push(format!(
            "{n} events could not be folded and are quarantined (see `verdict quarantine`)"
        ));
    }
    let (code, status) = match (database, problems.is_empty()) {
        (Some(_), _) => (StatusCode::SERVICE_UNAVAILABLE, "unavailable"),
        (None, true) => (StatusCode::OK, "ok"),
        (None, false) => (StatusCode::OK, "degraded"),
    };
    if !problems.is_empty() {
        tracing::warn!(status, problems = ?problems, "health check");
    }
    // Only a bearer token is looked at here (the page is for monitors and operators), and
    // an unknown one is simply not an operator.
    let operator = match super::auth::bearer(&headers) {
        Ok(Some(token)) => state
            .runtime
            .authenticate(token)
            .await
            .is_ok_and(|who| who.role == Role::SuperAdmin),
        _ => false,
    };
    if !operator {
        return (code, Json(json!({ "status": status })));
    }
    (
        code,
        Json(json!({
            "status": status,
            "problems": problems,
            "database": if database.is_none() { "ok" } else { "unavailable" },
            "quarantinedEvents": quarantined,
            "runtime": state.runtime.health(),
        })),
    )
}
