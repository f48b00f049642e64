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
    let names: Vec<&str> = r.body["experiments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["second draft", "first draft"]);
    assert_eq!(r.body["nextCursor"], serde_json::Value::Null);
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
async fn an_unknown_page_is_a_404(pool: PgPool) {
    let app = spawn_app(pool).await;
    let (status, html, _) = app.get_page("/nope", None).await;
    assert_eq!(status, 404);
    assert!(html.contains("Page not found"));
}

#[sqlx::test]
async fn the_wizard_page_is_rendered_on_the_server(pool: PgPool) {
    let app = spawn_app(pool).await;
    let root = app.root().await;
    let (status, html, _) = app.get_page("/experiments/new", Some(&root)).await;
    assert_eq!(status, 200);
    assert!(html.contains("Create A/B Test"));
    assert!(html.contains("Step 1 of 5: Basic Info"));
    let (status, html, _) = app.get_page("/experiments/new?step=4", Some(&root)).await;
    assert_eq!(status, 200);
    assert!(html.contains("Treatment is successful if"));
    assert!(html.contains("improves by more than"));
}

#[sqlx::test]
async fn estimate_completion_uses_the_power_calculation_and_the_tenants_recent_traffic(
    pool: PgPool,
) {
    let app = spawn_app(pool).await;
    let admin = app.token(Role::Admin, Some("acme")).await;
    let service = app.token(Role::Service, Some("acme")).await;
    let mut planned = experiment_body("planned");
    planned["minSamplesPerVariant"] = json!(100);

    // No traffic yet: the minimum duration alone, and the power calculation's users per arm
    // (quality's prior; "improves by more than 5 %" sized for a true +10 % (the default MDE),
    // one-sided at 95 % with 80 % power under the always-valid test that decides: 939).
    let r = app
        .post_as(
            "/api/fn/estimate_completion",
            &admin,
            &json!({ "input": planned }),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["fromTraffic"], false);
    assert_eq!(r.body["days"], 7.0);
    assert_eq!(r.body["requiredPerVariant"], 939);
    assert_eq!(r.body["powerPerVariant"], 939);

    // 70 users of acme reach a live experiment: 10 a day over the last week, 5 a day in
    // each arm of a 50/50 split → 939 / 5 days.
    app.live_experiment(&admin, &experiment_body("live"), 1)
        .await;
    for i in 0..70 {
        let r = app.resolve(&service, "acme", &format!("user-{i}")).await;
        assert_eq!(r.status, 200, "{}", r.body);
    }
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let body = loop {
        let r = app
            .post_as(
                "/api/fn/estimate_completion",
                &admin,
                &json!({ "input": planned }),
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.body);
        if r.body["usersPerDay"] == json!(10.0) {
            break r.body;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the exposures never arrived: {}",
            r.body
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    };
    assert_eq!(body["fromTraffic"], true);
    assert!(
        (body["days"].as_f64().unwrap() - 187.8).abs() < 1e-9,
        "{body}"
    );

    // Another tenant's traffic does not count for it.
    let other = app.token(Role::Admin, Some("globex")).await;
    let r = app
        .post_as(
            "/api/fn/estimate_completion",
            &other,
            &json!({ "input": planned }),
        )
        .await;
    assert_eq!(r.body["fromTraffic"], false, "{}", r.body);
}

#[sqlx::test]
async fn estimate_completion_refuses_bad_input_with_the_fields_and_viewers(pool: PgPool) {
    let app = spawn_app(pool).await;
    let admin = app.token(Role::Admin, Some("acme")).await;
    let mut bad = experiment_body("bad");
    bad["allocation"] = json!({"control": 80, "treatment": 40});
    bad["minDuration"] = json!(0);
    let r = app
        .post_as(
            "/api/fn/estimate_completion",
            &admin,
            &json!({ "input": bad }),
        )
        .await;
    assert_eq!(r.status, 422, "{}", r.body);
    assert_eq!(r.body["code"], "invalid");
    let fields: Vec<&str> = r.body["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["field"].as_str().unwrap())
        .collect();
    assert_eq!(fields, ["allocation", "minDuration"]);

    let viewer = app.token(Role::Viewer, Some("acme")).await;
    let r = app
        .post_as(
            "/api/fn/estimate_completion",
            &viewer,
            &json!({ "input": experiment_body("x") }),
        )
        .await;
    assert_eq!(r.status, 403, "{}", r.body);
}
