use crate::helpers::spawn_app;
use serde_json::json;
use sqlx::PgPool;

#[sqlx::test]
async fn experiment_counts_counts_each_status(pool: PgPool) {
    // Arrange
    let app = spawn_app(pool).await;
    app.insert_experiment("a", "draft").await;
    app.insert_experiment("b", "draft").await;
    app.insert_experiment("c", "active").await;

    // Act
    let (status, body) = app.post_json("/api/fn/experiment_counts", &json!({})).await;

    // Assert
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["draft"], 2);
    assert_eq!(body["active"], 1);
    assert_eq!(body["completed"], 0);
}

#[sqlx::test]
async fn list_experiments_returns_those_of_the_given_statuses_newest_first(pool: PgPool) {
    let app = spawn_app(pool).await;
    app.insert_experiment("first draft", "draft").await;
    app.insert_experiment("running", "active").await;
    app.insert_experiment("second draft", "draft").await;

    let (status, body) = app
        .post_json("/api/fn/list_experiments", &json!({"statuses": ["draft"]}))
        .await;

    assert_eq!(status, 200, "{body}");
    let names: Vec<&str> = body
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["second draft", "first draft"]);
    assert_eq!(body[0]["status"], "draft");
}

#[sqlx::test]
async fn list_experiments_refuses_an_unknown_status_with_a_4xx(pool: PgPool) {
    let app = spawn_app(pool).await;
    let (status, body) = app
        .post_json(
            "/api/fn/list_experiments",
            &json!({"statuses": ["running"]}),
        )
        .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["code"], "bad_request");
    assert!(body["message"].as_str().unwrap().contains("running"));
}

#[sqlx::test]
async fn the_dashboard_page_is_rendered_on_the_server_with_counts(pool: PgPool) {
    let app = spawn_app(pool).await;
    app.insert_experiment("Risky idea", "active").await;
    let (status, html) = app.get("/").await;
    assert_eq!(status, 200);
    assert!(html.contains("A/B Tests"));
    assert!(html.contains("Risky idea"), "the active tab lists it");
}

#[sqlx::test]
async fn an_unknown_page_is_a_404(pool: PgPool) {
    let app = spawn_app(pool).await;
    let (status, html) = app.get("/nope").await;
    assert_eq!(status, 404);
    assert!(html.contains("Page not found"));
}
