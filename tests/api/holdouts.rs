//! Holdouts over REST: a held-out user resolves to nothing (not even a deployed winner), the
//! others as before; the held-out share is near its percent; the holdout's results compare
//! the held-out users with the exposed ones.

use crate::helpers::*;
use serde_json::{Value, json};
use sqlx::PgPool;
use verdict::domain::Role;

const HOLDOUTS: &str = "/api/v1/admin/insights/holdouts";

#[sqlx::test]
async fn a_held_out_user_gets_nothing_and_the_holdout_compares_them_with_the_exposed(pool: PgPool) {
    let app = spawn_app(pool).await;
    let admin = app.token(Role::Admin, Some("acme")).await;
    let service = app.token(Role::Service, Some("acme")).await;
    // A deployed winner on one target, a live experiment on another.
    let mut deployed = experiment_body("shipped");
    deployed["allocation"] = json!({"control": 50, "treatment": 50});
    let shipped = app.live_experiment(&admin, &deployed, 1).await;
    let r = app
        .post_as(
            &format!("{EXPERIMENTS}/{shipped}/declare-winner"),
            &admin,
            &json!({"winner": "treatment"}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let r = app
        .post_as(
            &format!("{EXPERIMENTS}/{shipped}/deploy-winner"),
            &admin,
            &json!({"winner": "treatment", "rolloutPercentage": 100}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    app.live_experiment(&admin, &experiment_body("running"), 1)
        .await;

    // Refused input, by field; a system-wide holdout is a super_admin's.
    let r = app
        .post_as(
            HOLDOUTS,
            &admin,
            &json!({"name": "h", "holdoutPercent": 60}),
        )
        .await;
    assert_eq!(r.status, 422, "{}", r.body);
    assert_eq!(r.fields(), ["holdoutPercent"]);
    let r = app
        .post_as(
            HOLDOUTS,
            &admin,
            &json!({"name": "h", "holdoutPercent": 20, "tenantId": "system"}),
        )
        .await;
    assert_eq!(r.status, 422, "{}", r.body);

    let r = app
        .post_as(
            HOLDOUTS,
            &admin,
            &json!({"name": "Q1 holdout", "holdoutPercent": 20}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(r.body["kind"], "holdout");
    assert_eq!(r.body["status"], "active");
    let holdout = r.body["id"].as_str().unwrap().to_owned();
    let again = app
        .post_as(
            HOLDOUTS,
            &admin,
            &json!({"name": "second", "holdoutPercent": 5}),
        )
        .await;
    assert_eq!(
        again.status, 409,
        "one live holdout per tenant: {}",
        again.body
    );
    let listed = app.get_as(HOLDOUTS, &admin).await;
    assert_eq!(listed.body["holdouts"][0]["id"], json!(holdout));

    // 2,000 users: a held-out one gets no assignment at all; the others the deployed winner
    // (and maybe the running experiment), each told their holdout arm.
    let users = 2000;
    let mut held = Vec::new();
    for u in 0..users {
        let user = format!("user-{u}");
        let r = app.resolve(&service, "acme", &user).await;
        assert_eq!(r.status, 200, "{}", r.body);
        let h = &r.body["holdouts"];
        assert_eq!(h.as_array().unwrap().len(), 1, "{}", r.body);
        assert_eq!(h[0]["experimentId"], json!(holdout));
        let assignments = r.body["assignments"].as_array().unwrap();
        match h[0]["variant"].as_str().unwrap() {
            "holdout" => {
                assert!(assignments.is_empty(), "held out: {}", r.body);
                held.push(user.clone());
            }
            "exposed" => assert!(
                assignments
                    .iter()
                    .any(|a| a["deployed"] == true && a["targetId"] == "template-shipped"),
                "exposed users get the deployed winner: {}",
                r.body
            ),
            other => panic!("arm {other}"),
        }
        if u < 200 {
            let second = app.resolve(&service, "acme", &user).await;
            assert_eq!(second.body, r.body, "sticky");
        }
    }
    // 20 % of 2,000: 400, sd 17.9; 4 sd either way.
    assert!(
        (328..=472).contains(&held.len()),
        "held out: {}",
        held.len()
    );
    // Another tenant has no holdout.
    let other = app.token(Role::Service, Some("globex")).await;
    let r = app.resolve(&other, "globex", &held[0]).await;
    assert_eq!(r.body.get("holdouts"), None, "{}", r.body);

    // Outcome events under the holdout's id: the results compare holdout with exposed.
    let mut events = Vec::new();
    for u in 0..300 {
        let user = format!("user-{u}");
        let quality = if held.contains(&user) { 0.5 } else { 0.7 };
        events.push(
            json!({"experimentId": holdout, "userId": user, "tenantId": "acme",
                           "eventType": "feedback", "metrics": {"quality": quality}}),
        );
    }
    let r = app
        .post_as(
            "/api/v1/insights/events/batch",
            &service,
            &json!({"events": events}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["rejected"], 0, "{}", r.body);
    let results = app
        .get_as(&format!("{EXPERIMENTS}/{holdout}/results"), &admin)
        .await;
    assert_eq!(results.status, 200, "{}", results.body);
    let text = results.body.to_string();
    assert!(
        text.contains("\"holdout\"") && text.contains("\"exposed\""),
        "{text}"
    );
    let held_in_300 = held
        .iter()
        .filter(|u| u[5..].parse::<usize>().unwrap() < 300)
        .count();
    assert_eq!(
        results.body["control"]["samples"],
        json!(held_in_300),
        "{text}"
    );
    assert_eq!(
        results.body["treatment"]["samples"],
        json!(300 - held_in_300)
    );
    let mean = |arm: &str| results.body[arm]["metrics"]["quality"]["mean"].as_f64();
    assert_eq!(
        mean("control"),
        Some(0.5),
        "the held-out arm is the control"
    );
    assert_eq!(mean("treatment"), Some(0.7));

    // Stopped: held-out users are served as everyone else.
    let r = app
        .post_as(&format!("{HOLDOUTS}/{holdout}/stop"), &admin, &json!({}))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["status"], "completed");
    let r = app.resolve(&service, "acme", &held[0]).await;
    assert_eq!(r.body.get("holdouts"), None::<&Value>);
    assert!(!r.body["assignments"].as_array().unwrap().is_empty());
    // An experiment is not a holdout to stop.
    let r = app
        .post_as(&format!("{HOLDOUTS}/{shipped}/stop"), &admin, &json!({}))
        .await;
    assert_eq!(r.status, 404);
}
