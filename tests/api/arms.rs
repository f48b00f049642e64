//! More than two arms over HTTP: the general form is accepted and returned beside the
//! spec's two-arm shape, users split across every arm in its share and stay there, a
//! running experiment ramps only at the same ratio, the results carry every arm, and any
//! arm can be declared and deployed.

use crate::helpers::{EXPERIMENTS, TestApp, experiment_body, spawn_app};
use serde_json::{Value, json};
use sqlx::PgPool;
use std::collections::HashMap;
use verdict::domain::Role;

/// A three-arm create body: control, `concise` and `cited`.
fn three_arms(name: &str) -> Value {
    let mut body = experiment_body(name);
    let o = body.as_object_mut().unwrap();
    o.remove("control");
    o.remove("treatment");
    o.insert("tenantId".into(), json!("acme"));
    o.insert(
        "variants".into(),
        json!([
            {"key": "control", "name": "Current prompt", "configuration": {"prompt": "p0"}},
            {"key": "concise", "name": "Concise", "configuration": {"prompt": "p1"}},
            {"key": "cited", "name": "With citations", "configuration": {"prompt": "p2"}}
        ]),
    );
    o.insert(
        "allocation".into(),
        json!({"control": 20, "concise": 20, "cited": 20}),
    );
    body
}

/// The chi-square statistic of `observed` against equal shares.
fn chi_square_equal(observed: &[u64]) -> f64 {
    let n: u64 = observed.iter().sum();
    let expected = n as f64 / observed.len() as f64;
    observed
        .iter()
        .map(|&o| (o as f64 - expected).powi(2) / expected)
        .sum()
}

async fn resolve_all(app: &TestApp, token: &str, users: usize) -> HashMap<String, Option<Value>> {
    let mut out = HashMap::new();
    for i in 0..users {
        let user = format!("user-{i}");
        let r = app.resolve(token, "acme", &user).await;
        assert_eq!(r.status, 200, "{}", r.body);
        let a = r.body["assignments"].as_array().unwrap().first().cloned();
        out.insert(user, a);
    }
    out
}

#[sqlx::test]
async fn a_three_arm_experiment_is_returned_in_both_shapes(pool: PgPool) {
    let app = spawn_app(pool).await;
    let root = app.root().await;
    let id = app.create(&root, &three_arms("three")).await;
    let r = app.get_as(&format!("{EXPERIMENTS}/{id}"), &root).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let e = &r.body;
    let keys: Vec<&str> = e["variants"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["key"].as_str().unwrap())
        .collect();
    assert_eq!(keys, ["control", "concise", "cited"]);
    assert_eq!(e["control"]["name"], "Current prompt");
    assert_eq!(e["treatment"]["name"], "Concise");
    assert_eq!(
        e["allocation"],
        json!({"control": 20, "concise": 20, "cited": 20})
    );
    // The spec's two-arm shape comes back exactly as it went in, with `variants` beside it.
    let two = app.create(&root, &experiment_body("two")).await;
    let r = app.get_as(&format!("{EXPERIMENTS}/{two}"), &root).await;
    assert_eq!(
        r.body["allocation"],
        json!({"control": 50, "treatment": 50})
    );
    assert_eq!(r.body["control"]["configuration"]["templateId"], "risk-v1");
    assert_eq!(
        r.body["treatment"]["configuration"]["templateId"],
        "risk-v2"
    );
    assert_eq!(r.body["variants"][1]["key"], "treatment");
}

#[sqlx::test]
async fn bad_arms_are_refused_by_field_and_nothing_is_stored(pool: PgPool) {
    let app = spawn_app(pool).await;
    let root = app.root().await;
    let cases: Vec<(Value, &str)> = vec![
        (
            {
                let mut b = three_arms("dup");
                b["variants"][2]["key"] = json!("concise");
                b
            },
            "variants[2].key",
        ),
        (
            {
                let mut b = three_arms("badkey");
                b["variants"][1]["key"] = json!("not a key");
                b
            },
            "variants[1].key",
        ),
        (
            {
                let mut b = three_arms("sum");
                b["allocation"]["cited"] = json!(61);
                b
            },
            "allocation",
        ),
        (
            {
                let mut b = three_arms("missing");
                b["allocation"].as_object_mut().unwrap().remove("cited");
                b
            },
            "allocation.cited",
        ),
        (
            {
                let mut b = three_arms("stray");
                b["allocation"]["treatment"] = json!(5);
                b
            },
            "allocation.treatment",
        ),
        (
            {
                let mut b = three_arms("nine");
                let nine: Vec<Value> = (0..9)
                    .map(|i| json!({"key": format!("a{i}"), "name": "n"}))
                    .collect();
                b["variants"] = json!(nine);
                b
            },
            "variants",
        ),
        (
            {
                let mut b = three_arms("both");
                b["control"] = json!({"name": "x"});
                b
            },
            "control",
        ),
    ];
    for (body, field) in cases {
        let r = app.post_as(EXPERIMENTS, &root, &body).await;
        assert_eq!(r.status, 422, "{field}: {}", r.body);
        assert!(
            r.fields().contains(&field.to_owned()),
            "{field}: {}",
            r.body
        );
    }
    let stored: i64 = sqlx::query_scalar("select count(*) from experiments")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(stored, 0);
}

#[sqlx::test]
async fn users_split_across_every_arm_in_its_share_and_stay_there(pool: PgPool) {
    let app = spawn_app(pool).await;
    let root = app.root().await;
    let service = app.token(Role::Service, Some("acme")).await;
    let id = app.live_experiment(&root, &three_arms("split"), 1).await;

    let first = resolve_all(&app, &service, 3_000).await;
    let mut counts: HashMap<String, u64> = HashMap::new();
    for a in first.values().flatten() {
        assert_eq!(a["experimentId"], id.as_str());
        let key = a["variant"].as_str().unwrap().to_owned();
        let expected = match key.as_str() {
            "control" => "p0",
            "concise" => "p1",
            "cited" => "p2",
            other => panic!("unknown arm {other}"),
        };
        assert_eq!(a["configuration"]["prompt"], expected);
        *counts.entry(key).or_default() += 1;
    }
    // 60 % of users are in, split evenly over three arms: chi-square with 2 df, p > 0.001.
    let inside: u64 = counts.values().sum();
    assert!((1_650..=1_950).contains(&inside), "{inside} of 3000 inside");
    let observed: Vec<u64> = ["control", "concise", "cited"]
        .iter()
        .map(|k| counts.get(*k).copied().unwrap_or(0))
        .collect();
    assert!(chi_square_equal(&observed) < 13.82, "{observed:?}");

    // Sticky, and a same-ratio ramp (20/20/20 → 30/30/30) moves nobody who had an arm.
    let r = app
        .send(
            "PATCH",
            &format!("{EXPERIMENTS}/{id}"),
            Some(&root),
            Some(&json!({"allocation": {"control": 30, "concise": 30, "cited": 30}})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    // A ramp at another ratio is refused by field.
    let r = app
        .send(
            "PATCH",
            &format!("{EXPERIMENTS}/{id}"),
            Some(&root),
            Some(&json!({"allocation": {"control": 30, "concise": 40, "cited": 30}})),
        )
        .await;
    assert_eq!(r.status, 422, "{}", r.body);
    assert_eq!(r.fields(), ["allocation"]);
    let after = resolve_all(&app, &service, 3_000).await;
    let mut gained = 0;
    for (user, before) in &first {
        match (before, &after[user]) {
            (Some(b), Some(a)) => assert_eq!(b["variant"], a["variant"], "{user} moved"),
            (Some(_), None) => panic!("{user} lost their arm"),
            (None, Some(_)) => gained += 1,
            (None, None) => {}
        }
    }
    assert!(gained > 600, "the ramp brought in {gained} users");
}

#[sqlx::test]
async fn results_have_every_arm_and_any_arm_can_be_declared_and_deployed(pool: PgPool) {
    let app = spawn_app(pool).await;
    let root = app.root().await;
    let id = app.live_experiment(&root, &three_arms("judged"), 1).await;
    // Events of 300 users.
    let mut events = Vec::new();
    for i in 0..300 {
        events.push(
            json!({"experimentId": id, "userId": format!("user-{i}"), "tenantId": "acme",
            "eventType": "feedback", "metrics": {"quality": 0.5, "latency": 900.0}}),
        );
    }
    let r = app
        .post_as(
            "/api/v1/insights/events/batch",
            &root,
            &json!({"events": events}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let arms_of: Vec<String> = r.body["results"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|x| x["variant"].as_str().map(str::to_owned))
        .collect();
    for arm in ["control", "concise", "cited"] {
        assert!(arms_of.iter().any(|a| a == arm), "no user in {arm}");
    }

    let r = app
        .get_as(&format!("{EXPERIMENTS}/{id}/results"), &root)
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let arms = r.body["arms"]
        .as_array()
        .expect("arms beside the spec's shape");
    let keys: Vec<&str> = arms.iter().map(|a| a["key"].as_str().unwrap()).collect();
    assert_eq!(keys, ["control", "concise", "cited"]);
    assert_eq!(arms[0]["control"], true);
    assert!(arms[0].get("versusControl").is_none());
    let total: u64 = arms
        .iter()
        .map(|a| a["results"]["samples"].as_u64().unwrap())
        .sum();
    // Users outside the 60 % in the experiment have no assignment, so no events that count.
    assert_eq!(total, arms_of.len() as u64);
    for a in &arms[1..] {
        let c = &a["versusControl"]["comparison"];
        // Each comparison at the Bonferroni level for two comparisons: 1 − 0.05/2.
        assert!((c["confidenceLevel"].as_f64().unwrap() - 0.975).abs() < 1e-12);
    }
    // The spec's shape is still there, at the experiment's own confidence level.
    assert_eq!(r.body["comparison"]["confidenceLevel"], 0.95);
    assert!(r.body["control"]["samples"].is_u64());
    let reasons = r.body["detail"]["reasons"].to_string();
    assert!(reasons.contains("Bonferroni"), "{reasons}");

    // An arm that is not one is refused by name; the third arm can be deployed.
    let r = app
        .post_as(
            &format!("{EXPERIMENTS}/{id}/deploy-winner"),
            &root,
            &json!({"winner": "treatment", "rolloutPercentage": 100}),
        )
        .await;
    assert_eq!(r.status, 422, "{}", r.body);
    assert_eq!(r.fields(), ["winner"]);
    let r = app.act(&root, &id, "stop").await;
    assert_eq!(r.status, 200, "{}", r.body);
    let r = app
        .post_as(
            &format!("{EXPERIMENTS}/{id}/deploy-winner"),
            &root,
            &json!({"winner": "cited", "rolloutPercentage": 100}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let e = app.get_as(&format!("{EXPERIMENTS}/{id}"), &root).await;
    assert_eq!(e.body["winner"], "cited");
    assert_eq!(e.body["status"], "winner_deployed");
    // Everyone now gets the third arm's configuration.
    app.wait_for_live(0).await;
    let service = app.token(Role::Service, Some("acme")).await;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        let r = app.resolve(&service, "acme", "someone-new").await;
        if let Some(a) = r.body["assignments"].as_array().and_then(|a| a.first()) {
            assert_eq!(a["variant"], "cited");
            assert_eq!(a["configuration"]["prompt"], "p2");
            assert_eq!(a["deployed"], true);
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the deployment never answered"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}
