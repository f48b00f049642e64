use crate::helpers::{experiment_body, spawn_app};
use serde_json::json;
use sqlx::PgPool;
use verdict::domain::Role;

#[sqlx::test]
async fn experiment_counts_counts_each_status_the_caller_sees(pool: PgPool) {
    // Arrange
    let app = spawn_app(pool).await;
    let admin = app.token(Role::Admin, Some("acme")).await;
    let other = app.token(Role::Admin, Some("globex")).await;
    let a = app.create(&admin, &experiment_body("a")).await;
    app.create(&admin, &experiment_body("b")).await;
    app.create(&other, &experiment_body("c")).await;
    app.act(&admin, &a, "start").await;

    // Act
    let r = app
        .post_as("/api/fn/experiment_counts", &admin, &json!({}))
        .await;

    // Assert
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["draft"], 1);
    assert_eq!(r.body["active"], 1);
    assert_eq!(r.body["completed"], 0);
}

#[sqlx::test]
async fn list_experiments_returns_those_of_the_given_statuses_newest_first(pool: PgPool) {
    let app = spawn_app(pool).await;
    let root = app.root().await;
    app.create(&root, &experiment_body("first draft")).await;
    let running = app.create(&root, &experiment_body("running")).await;
    app.act(&root, &running, "start").await;
    app.create(&root, &experiment_body("second draft")).await;

    let r = app
        .post_as(
            "/api/fn/list_experiments",
            &root,
            &json!({"statuses": ["draft"]}),
        )
        .await;

    assert_eq!(r.status, 200, "{}", r.body);
    let names: Vec<&str> = r
        .body
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["second draft", "first draft"]);
}

#[sqlx::test]
async fn a_server_function_refuses_an_unknown_status_with_a_400(pool: PgPool) {
    let app = spawn_app(pool).await;
    let root = app.root().await;
    let r = app
        .post_as(
            "/api/fn/list_experiments",
            &root,
            &json!({"statuses": ["running"]}),
        )
        .await;
    assert_eq!(r.status, 400, "{}", r.body);
    assert_eq!(r.body["code"], "bad_request");
    assert!(r.body["message"].as_str().unwrap().contains("running"));
}

#[sqlx::test]
async fn server_functions_need_a_signed_in_caller(pool: PgPool) {
    let app = spawn_app(pool).await;
    let (status, body) = app.post_json("/api/fn/experiment_counts", &json!({})).await;
    assert_eq!(status, 401, "{body}");
    assert_eq!(body["code"], "unauthorized");
}

#[sqlx::test]
async fn the_dashboard_page_is_rendered_on_the_server_for_a_signed_in_user(pool: PgPool) {
    let app = spawn_app(pool).await;
    let root = app.root().await;
    let id = app.create(&root, &experiment_body("Risky idea")).await;
    app.act(&root, &id, "start").await;
    let (status, html, _) = app.get_page("/", Some(&root)).await;
    assert_eq!(status, 200);
    assert!(html.contains("A/B Tests"));
    assert!(html.contains("Risky idea"), "the active tab lists it");
}

#[sqlx::test]
async fn a_signed_out_visitor_is_redirected_to_sign_in(pool: PgPool) {
    let app = spawn_app(pool).await;
    let (status, _, headers) = app.get_page("/", None).await;
    assert_eq!(status, 302);
    assert_eq!(headers["location"], "/login");
    let (status, html, _) = app.get_page("/login", None).await;
    assert_eq!(status, 200);
    assert!(html.contains("API token"));
}

#[sqlx::test]
async fn an_unknown_page_is_a_404(pool: PgPool) {
    let app = spawn_app(pool).await;
    let (status, html, _) = app.get_page("/nope", None).await;
    assert_eq!(status, 404);
    assert!(html.contains("Page not found"));
}
