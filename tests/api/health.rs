use crate::helpers::spawn_app;
use serde_json::Value;
use sqlx::PgPool;

#[sqlx::test]
async fn healthz_answers_200_when_the_database_is_reachable(pool: PgPool) {
    let app = spawn_app(pool).await;
    let (status, body, _) = app.get_page("/healthz", None).await;
    assert_eq!(status, 200);
    let body: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(body["status"], "ok");
}

#[sqlx::test]
async fn health_is_public_in_its_status_only_and_in_detail_for_an_operator(pool: PgPool) {
    let app = spawn_app(pool).await;
    let (_, public, _) = app.get_page("/healthz", None).await;
    let public: Value = serde_json::from_str(&public).unwrap();
    assert_eq!(public.as_object().unwrap().len(), 1, "{public}");

    let admin = app.token(verdict::domain::Role::Admin, Some("acme")).await;
    let (_, tenant_view, _) = app.get_page("/healthz", Some(&admin)).await;
    let tenant_view: Value = serde_json::from_str(&tenant_view).unwrap();
    assert_eq!(tenant_view, public, "a tenant's admin is not the operator");

    let root = app.root().await;
    let (status, detail, _) = app.get_page("/healthz", Some(&root)).await;
    assert_eq!(status, 200);
    let detail: Value = serde_json::from_str(&detail).unwrap();
    assert_eq!(detail["status"], "ok");
    assert_eq!(detail["database"], "ok");
    assert_eq!(detail["problems"], serde_json::json!([]));
    let tasks = detail["runtime"]["tasks"].as_object().unwrap();
    for task in [
        "ingest-writer-small",
        "ingest-writer-large",
        "fold",
        "exposure-writer",
        "change-listener",
        "snapshot-reload",
        "results-refresh",
        "session-purge",
    ] {
        assert_eq!(tasks[task]["healthy"], true, "{task}: {detail}");
    }
}

#[sqlx::test]
async fn healthz_answers_503_without_the_databases_words_when_it_is_gone(pool: PgPool) {
    let app = spawn_app(pool.clone()).await;
    let root = app.root().await;
    app.get_page("/healthz", Some(&root)).await;
    pool.close().await;
    let (status, body, _) = app.get_page("/healthz", None).await;
    assert_eq!(status, 503);
    let body: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(body, serde_json::json!({"status": "unavailable"}));
    // The operator (checked a moment ago, so known while the database is away) is told why,
    // in Verdict's words: no driver or SQL text.
    let (status, detail, _) = app.get_page("/healthz", Some(&root)).await;
    assert_eq!(status, 503);
    let detail: Value = serde_json::from_str(&detail).unwrap();
    assert_eq!(detail["database"], "unavailable", "{detail}");
    let text = detail.to_string().to_lowercase();
    assert!(text.contains("the database is unreachable"), "{detail}");
    for leak in [
        "sqlx",
        "pool",
        "connection refused",
        "error returned from database",
    ] {
        assert!(!text.contains(leak), "{leak} in {detail}");
    }
}
