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
