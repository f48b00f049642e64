//! The AbTestLayer puts the resolved configurations into request extensions.

use crate::helpers::{experiment_body, spawn_app};
use axum::Router;
use axum::body::Body;
use axum::extract::Extension;
use axum::routing::get;
use sqlx::PgPool;
use tower::ServiceExt;
use verdict::domain::experiment::TargetType;
use verdict::middleware::{AbTestLayer, AbTestVariants, Subject};

#[sqlx::test]
async fn the_layer_hands_each_request_its_users_configuration(pool: PgPool) {
    let app = spawn_app(pool.clone()).await;
    let root = app.root().await;
    app.live_experiment(&root, &experiment_body("mw"), 1).await;
    let runtime = verdict::runtime::Runtime::start(pool).await;
    let service = Router::new()
        .route(
            "/",
            get(|Extension(v): Extension<AbTestVariants>| async move {
                v.configuration(TargetType::ContextTemplate)
                    .map(|c| c["templateId"].as_str().unwrap().to_owned())
                    .unwrap_or_else(|| "default".into())
            }),
        )
        .layer(AbTestLayer::new(
            runtime,
            |req: &axum::http::Request<Body>| {
                let user = req.headers().get("x-user-id")?.to_str().ok()?;
                Some(Subject::new("acme", user))
            },
        ));

    let mut seen = std::collections::HashSet::new();
    for i in 0..40 {
        let request = axum::http::Request::get("/")
            .header("x-user-id", format!("u{i}"))
            .body(Body::empty())
            .unwrap();
        let response = service.clone().oneshot(request).await.unwrap();
        let body = axum::body::to_bytes(response.into_body(), 1024)
            .await
            .unwrap();
        seen.insert(String::from_utf8(body.to_vec()).unwrap());
    }
    assert_eq!(
        seen,
        ["risk-v1", "risk-v2"]
            .map(String::from)
            .into_iter()
            .collect(),
        "users get both arms' templates"
    );

    let anonymous = service
        .oneshot(axum::http::Request::get("/").body(Body::empty()).unwrap())
        .await
        .unwrap();
    let body = axum::body::to_bytes(anonymous.into_body(), 1024)
        .await
        .unwrap();
    assert_eq!(&body[..], b"default");
}

#[sqlx::test]
async fn a_user_id_postgresql_cannot_store_costs_no_one_else_their_bookkeeping(pool: PgPool) {
    // The layer runs in another service's process, with no HTTP route's checks: a NUL in a
    // user id would have failed the whole exposure batch it was written in.
    let app = spawn_app(pool.clone()).await;
    let root = app.root().await;
    let id = app
        .live_experiment(&root, &experiment_body("mw-nul"), 1)
        .await;
    let runtime = verdict::runtime::Runtime::start(pool.clone()).await;
    let service = Router::new()
        .route("/", get(|| async { "ok" }))
        .layer(AbTestLayer::new(
            runtime.clone(),
            |req: &axum::http::Request<Body>| {
                let user = req.headers().get("x-user-id")?.to_str().ok()?;
                Some(Subject::new("acme", user.replace("NUL", "\u{0}")))
            },
        ));
    for user in ["before", "bad-NUL", "after"] {
        let request = axum::http::Request::get("/")
            .header("x-user-id", user)
            .body(Body::empty())
            .unwrap();
        service.clone().oneshot(request).await.unwrap();
    }
    // Until the bad record is accounted for one way or the other (left out, or its batch
    // failed after the writer's retries), and the others are written.
    let mut stored: Vec<String> = Vec::new();
    for _ in 0..100 {
        stored = sqlx::query_scalar(
            "select user_id from assignments where experiment_id = $1::uuid order by user_id",
        )
        .bind(&id)
        .fetch_all(&pool)
        .await
        .unwrap();
        let h = runtime.health();
        if stored.len() >= 2 && (h.exposures_dropped > 0 || h.exposure_batches_failed > 0) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(stored, ["after", "before"]);
    assert_eq!(runtime.health().exposure_batches_failed, 0);
    assert_eq!(runtime.health().exposures_dropped, 1);
}
