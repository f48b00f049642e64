use crate::helpers::spawn_app;
use sqlx::PgPool;

#[sqlx::test]
async fn healthz_answers_200_when_the_database_is_reachable(pool: PgPool) {
    let app = spawn_app(pool).await;
    let (status, body, _) = app.get_page("/healthz", None).await;
    assert_eq!(status, 200);
    let body: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(body["status"], "ok");
    assert_eq!(body["database"], "ok");
}

#[sqlx::test]
async fn healthz_answers_503_with_the_reason_when_the_database_is_gone(pool: PgPool) {
    let app = spawn_app(pool.clone()).await;
    pool.close().await;
    let (status, body, _) = app.get_page("/healthz", None).await;
    assert_eq!(status, 503);
    let body: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(body["status"], "unavailable");
    assert!(
        body["database"].as_str().unwrap().contains("unreachable"),
        "{body}"
    );
}
