//! The auth matrix: 4 roles × own/other tenant × every route, and browser sessions.

use crate::helpers::{EXPERIMENTS, TestApp, experiment_body, spawn_app};
use serde_json::json;
use sqlx::PgPool;
use verdict::domain::Role;

/// Every route, and whether it changes something.
fn routes(id: &str) -> Vec<(&'static str, String, bool)> {
    let e = |rest: &str| format!("{EXPERIMENTS}/{id}{rest}");
    vec![
        ("GET", EXPERIMENTS.to_owned(), false),
        ("GET", e(""), false),
        ("GET", e("/results"), false),
        ("GET", e("/audit"), false),
        ("GET", e("/deployments"), false),
        ("POST", EXPERIMENTS.to_owned(), true),
        ("PATCH", e(""), true),
        ("POST", e("/start"), true),
        ("POST", e("/pause"), true),
        ("POST", e("/resume"), true),
        ("POST", e("/stop"), true),
        ("POST", e("/cancel"), true),
        ("POST", e("/declare-winner"), true),
        ("POST", e("/approve"), true),
        ("POST", e("/deploy-winner"), true),
    ]
}

/// A body that is valid enough that auth, not validation, decides.
fn body_for(path: &str) -> serde_json::Value {
    if path.ends_with("declare-winner") || path.ends_with("deploy-winner") {
        json!({"winner": "treatment"})
    } else if path == EXPERIMENTS {
        experiment_body("made in the matrix")
    } else if path.ends_with("start")
        || path.ends_with("pause")
        || path.ends_with("resume")
        || path.ends_with("stop")
        || path.ends_with("cancel")
        || path.ends_with("approve")
    {
        json!({})
    } else {
        json!({"description": "edited"})
    }
}

async fn call(app: &TestApp, method: &str, path: &str, token: Option<&str>) -> u16 {
    let body = (method != "GET").then(|| body_for(path));
    app.send(method, path, token, body.as_ref()).await.status
}

#[sqlx::test]
async fn without_or_with_a_bad_token_every_route_is_401(pool: PgPool) {
    let app = spawn_app(pool).await;
    let root = app.root().await;
    let id = app.create(&root, &experiment_body("x")).await;
    let revoked = app.token(Role::Admin, Some("acme")).await;
    verdict::service::tokens::revoke(&app.pool, &revoked)
        .await
        .unwrap();
    for (method, path, _) in routes(&id) {
        assert_eq!(
            call(&app, method, &path, None).await,
            401,
            "{method} {path}"
        );
        assert_eq!(
            call(&app, method, &path, Some("vdt_nope")).await,
            401,
            "{method} {path}"
        );
        assert_eq!(
            call(&app, method, &path, Some(&revoked)).await,
            401,
            "{method} {path} revoked"
        );
    }
    let r = app.send("GET", EXPERIMENTS, None, None).await;
    assert_eq!(r.body["error"]["code"], "unauthorized");
    assert!(r.headers.contains_key("www-authenticate"));
}

#[sqlx::test]
async fn each_role_may_do_what_it_should_in_its_tenant_and_nothing_in_another(pool: PgPool) {
    let app = spawn_app(pool).await;
    let root = app.root().await;
    let mut tokens = Vec::new();
    for role in [Role::Admin, Role::Viewer, Role::Service] {
        tokens.push((role, "acme", app.token(role, Some("acme")).await));
        tokens.push((role, "globex", app.token(role, Some("globex")).await));
    }
    for (role, tenant, token) in &tokens {
        // A fresh acme experiment for each caller, so earlier calls do not change the answer.
        let mut body = experiment_body(&format!("{role:?} {tenant}"));
        body["tenantId"] = json!("acme");
        let id = app.create(&root, &body).await;
        for (method, path, mutating) in routes(&id) {
            let status = call(&app, method, &path, Some(token)).await;
            let own = *tenant == "acme";
            let listing = path == EXPERIMENTS;
            let expected: &[u16] = match role {
                Role::Service => &[403],
                Role::Viewer if mutating => &[403],
                Role::Viewer => {
                    if own || listing {
                        &[200]
                    } else {
                        &[404]
                    }
                }
                Role::Admin if path.ends_with("/approve") => &[403],
                Role::Admin if own || (listing && method == "POST") => {
                    // Allowed: the answer is success or a lifecycle refusal, never an auth error.
                    &[200, 201, 409]
                }
                Role::Admin if listing => &[200],
                Role::Admin => &[404],
                Role::SuperAdmin => unreachable!(),
            };
            assert!(
                expected.contains(&status),
                "{role:?} of {tenant}: {method} {path} answered {status}, expected {expected:?}"
            );
        }
    }
    // A super_admin reaches everything.
    let id = app.create(&root, &experiment_body("root's")).await;
    for (method, path, _) in routes(&id) {
        let status = call(&app, method, &path, Some(&root)).await;
        assert!(
            [200, 201, 409].contains(&status),
            "super_admin: {method} {path} answered {status}"
        );
    }
}

#[sqlx::test]
async fn another_tenants_experiment_does_not_show_in_lists_or_counts(pool: PgPool) {
    let app = spawn_app(pool).await;
    let acme = app.token(Role::Viewer, Some("acme")).await;
    let globex = app.token(Role::Admin, Some("globex")).await;
    app.create(&globex, &experiment_body("secret")).await;
    let r = app.get_as(EXPERIMENTS, &acme).await;
    assert_eq!(r.body["total"], 0);
    assert_eq!(r.body["counts"]["draft"], 0);
    let r = app
        .get_as(&format!("{EXPERIMENTS}?tenantId=globex"), &acme)
        .await;
    assert_eq!(
        r.body["total"], 0,
        "a tenant filter does not widen a tenant's view"
    );
}

#[sqlx::test]
async fn signing_in_sets_a_strict_http_only_session_cookie_that_works_until_sign_out(pool: PgPool) {
    let app = spawn_app(pool).await;
    let admin = app.token(Role::Admin, Some("acme")).await;
    let service = app.token(Role::Service, Some("acme")).await;

    let bad = app
        .post_json("/api/fn/sign_in", &json!({"token": "vdt_wrong"}))
        .await;
    assert_eq!(bad.0, 401);
    let svc = app
        .post_json("/api/fn/sign_in", &json!({"token": service}))
        .await;
    assert_eq!(svc.0, 403, "service tokens cannot sign in");

    let r = app
        .client
        .post(format!("{}/api/fn/sign_in", app.address))
        .json(&json!({"token": admin}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let cookie = r.headers()["set-cookie"].to_str().unwrap().to_owned();
    assert!(cookie.starts_with("__Host-verdict_session="), "{cookie}");
    assert!(
        cookie.contains("HttpOnly")
            && cookie.contains("SameSite=Strict")
            && cookie.contains("Secure")
            && cookie.contains("Path=/"),
        "{cookie}"
    );
    let session = cookie.split(';').next().unwrap().to_owned();

    let with_cookie = |path: &'static str| {
        let app = &app;
        let session = session.clone();
        async move {
            app.client
                .get(format!("{}{path}", app.address))
                .header("cookie", session)
                .header("accept", "text/html")
                .send()
                .await
                .unwrap()
        }
    };
    assert_eq!(with_cookie(EXPERIMENTS).await.status().as_u16(), 200);
    let page = with_cookie("/").await;
    assert_eq!(page.status().as_u16(), 200);
    assert!(page.text().await.unwrap().contains("Sign out"));

    let out = app
        .client
        .post(format!("{}/api/fn/sign_out", app.address))
        .header("cookie", &session)
        .header("origin", &app.address)
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(out.status().as_u16(), 200);
    assert!(
        out.headers()["set-cookie"]
            .to_str()
            .unwrap()
            .contains("Max-Age=0")
    );
    assert_eq!(with_cookie(EXPERIMENTS).await.status().as_u16(), 401);
    assert_eq!(with_cookie("/").await.status().as_u16(), 303);
}
