//! Layers over REST against real PostgreSQL: experiments on one target share its layer in
//! disjoint slices, a user is in at most one of them, a full layer refuses a start with its
//! free share, a completed experiment frees its slice, and experiments started before layers
//! keep every user.

use crate::helpers::*;
use serde_json::{Value, json};
use sqlx::PgPool;
use std::collections::HashMap;
use verdict::domain::Role;
use verdict::domain::assignment::{Allocation, assign};
use verdict::domain::experiment::{layer_bucket, layer_salt};

const FREE: &str = "/api/v1/admin/insights/layers/free";

fn on_target(name: &str, target: &str, share: Option<u8>) -> Value {
    let mut body = experiment_body(name);
    body["targetId"] = json!(target);
    if let Some(share) = share {
        body["layerShare"] = json!(share);
    }
    body
}

/// The experiment answering `target` for each user (None: no experiment).
async fn answers(
    app: &TestApp,
    token: &str,
    target: &str,
    users: usize,
) -> Vec<Option<(String, String)>> {
    let mut out = Vec::with_capacity(users);
    for u in 0..users {
        let r = app.resolve(token, "acme", &format!("user-{u}")).await;
        assert_eq!(r.status, 200, "{}", r.body);
        let hits: Vec<&Value> = r.body["assignments"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|a| a["targetId"] == target)
            .collect();
        assert!(hits.len() <= 1, "one answer per target: {}", r.body);
        out.push(hits.first().map(|a| {
            (
                a["experimentId"].as_str().unwrap_or_default().to_owned(),
                a["variant"].as_str().unwrap().to_owned(),
            )
        }));
    }
    out
}

#[sqlx::test]
async fn two_experiments_with_half_a_layer_each_split_its_users_and_a_third_waits_for_a_free_slice(
    pool: PgPool,
) {
    let app = spawn_app(pool).await;
    let root = app.root().await;
    let service = app.token(Role::Service, Some("acme")).await;
    let target = "shared-template";
    let a = app
        .live_experiment(&root, &on_target("A", target, Some(50)), 1)
        .await;
    let started = app.act(&root, &a, "pause").await;
    assert_eq!(started.status, 200);
    assert_eq!(app.act(&root, &a, "resume").await.status, 200);
    let b = app
        .live_experiment(&root, &on_target("B", target, Some(50)), 2)
        .await;
    let slice = |id: &str| {
        let app = &app;
        let root = root.clone();
        let id = id.to_owned();
        async move { app.get_as(&format!("{EXPERIMENTS}/{id}"), &root).await.body["layerSlice"].clone() }
    };
    assert_eq!(slice(&a).await, json!({"start": 0, "end": 5000}));
    assert_eq!(slice(&b).await, json!({"start": 5000, "end": 10000}));

    // 4,000 users: each in exactly one of them (the layer is full, and each experiment's
    // allocation takes all of its slice), by their layer bucket, near half and half.
    let users = 4000;
    let first = answers(&app, &service, target, users).await;
    let salt = layer_salt(&format!("target:context_template/{target}"));
    let mut counts: HashMap<String, usize> = HashMap::new();
    for (u, answer) in first.iter().enumerate() {
        let (experiment, _) = answer.as_ref().expect("every user is in one of them");
        *counts.entry(experiment.clone()).or_default() += 1;
        let bucket = layer_bucket(&salt, &format!("user-{u}"));
        let expected = if bucket < 5000 { &a } else { &b };
        assert_eq!(experiment, expected, "user-{u}, layer bucket {bucket}");
    }
    let (na, nb) = (counts[&a] as f64, counts[&b] as f64);
    let expected = users as f64 / 2.0;
    let chi2 = (na - expected).powi(2) / expected + (nb - expected).powi(2) / expected;
    assert!(
        chi2 < 10.83,
        "A {na}, B {nb}: chi-square {chi2} (1 df, p < 0.001)"
    );
    // Sticky: the same experiment and arm again.
    let again = answers(&app, &service, target, 800).await;
    assert_eq!(again[..], first[..800]);
    // The exposures agree: no user was assigned in both.
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    let in_both: i64 = sqlx::query_scalar(
        "select count(*) from (select user_id from assignments
          where experiment_id in ($1::uuid, $2::uuid) group by user_id having count(*) > 1) x",
    )
    .bind(&a)
    .bind(&b)
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!(in_both, 0);

    // The wizard's view: nothing free, both slices named.
    let free = app
        .get_as(
            &format!("{FREE}?targetType=context_template&targetId={target}"),
            &root,
        )
        .await;
    assert_eq!(free.status, 200, "{}", free.body);
    assert_eq!(
        free.body["layer"],
        format!("target:context_template/{target}")
    );
    assert_eq!(free.body["freeShare"], json!(0.0));
    assert_eq!(free.body["occupied"][0]["name"], "A");
    assert_eq!(free.body["occupied"][1]["experimentId"], json!(b));

    // A third: refused with the layer and its free share named.
    let c = app.create(&root, &on_target("C", target, Some(50))).await;
    let refused = app.act(&root, &c, "start").await;
    assert_eq!(refused.status, 409, "{}", refused.body);
    let message = refused.body["error"]["message"].as_str().unwrap();
    assert!(
        message.contains(&format!("target:context_template/{target}")),
        "{message}"
    );
    assert!(message.contains("0% of its traffic is free"), "{message}");
    assert!(
        message.contains("\"A\"") && message.contains("\"B\""),
        "{message}"
    );

    // A completes: its slice is free again, and the third takes it.
    assert_eq!(app.act(&root, &a, "stop").await.status, 200);
    let free = app
        .get_as(
            &format!("{FREE}?targetType=context_template&targetId={target}"),
            &root,
        )
        .await;
    assert_eq!(free.body["freeShare"], json!(50.0), "{}", free.body);
    let started = app.act(&root, &c, "start").await;
    assert_eq!(started.status, 200, "{}", started.body);
    assert_eq!(
        started.body["experiment"]["layerSlice"],
        json!({"start": 0, "end": 5000})
    );
    app.wait_for_live(2).await;
    let after = answers(&app, &service, target, 400).await;
    for (u, answer) in after.iter().enumerate() {
        let (experiment, _) = answer.as_ref().unwrap();
        let bucket = layer_bucket(&salt, &format!("user-{u}"));
        assert_eq!(experiment, if bucket < 5000 { &c } else { &b });
    }
}

#[sqlx::test]
async fn without_a_share_an_experiment_takes_the_largest_free_gap_and_a_full_layer_refuses(
    pool: PgPool,
) {
    let app = spawn_app(pool).await;
    let root = app.root().await;
    let target = "t";
    let a = app
        .live_experiment(&root, &on_target("A", target, Some(30)), 1)
        .await;
    let b = app.create(&root, &on_target("B", target, None)).await;
    let r = app.act(&root, &b, "start").await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        r.body["experiment"]["layerSlice"],
        json!({"start": 3000, "end": 10000})
    );
    assert_eq!(r.body["experiment"]["layerShare"], Value::Null);
    let c = app.create(&root, &on_target("C", target, Some(1))).await;
    let r = app.act(&root, &c, "start").await;
    assert_eq!(r.status, 409, "{}", r.body);
    // Too big for the free gap: the largest is named.
    app.act(&root, &b, "cancel").await;
    let d = app.create(&root, &on_target("D", target, Some(80))).await;
    let r = app.act(&root, &d, "start").await;
    assert_eq!(r.status, 409, "{}", r.body);
    assert!(
        r.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("70% of its traffic is free"),
        "{}",
        r.body
    );
    let _ = a;
}

#[sqlx::test]
async fn experiments_that_may_share_users_on_a_target_in_different_layers_stay_refused(
    pool: PgPool,
) {
    let app = spawn_app(pool).await;
    let root = app.root().await;
    app.live_experiment(&root, &on_target("own layer", "t", Some(10)), 1)
        .await;
    let mut named = on_target("named", "t", Some(10));
    named["layer"] = json!("checkout");
    let id = app.create(&root, &named).await;
    let r = app.act(&root, &id, "start").await;
    assert_eq!(r.status, 409, "{}", r.body);
    assert!(
        r.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("must share a layer"),
        "{}",
        r.body
    );
    // A tenant's experiment on the target reaches no other tenant: another tenant's
    // experiment there takes the whole layer for its own users, as before layers.
    let acme = app.token(Role::Admin, Some("acme")).await;
    let globex = app.token(Role::Admin, Some("globex")).await;
    let mine = app.create(&acme, &on_target("acme", "u", None)).await;
    let theirs = app.create(&globex, &on_target("globex", "u", None)).await;
    assert_eq!(app.act(&acme, &mine, "start").await.status, 200);
    let r = app.act(&globex, &theirs, "start").await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        r.body["experiment"]["layerSlice"],
        json!({"start": 0, "end": 10000})
    );
    // The wizard of acme sees its own experiment only.
    let free = app
        .get_as(
            &format!("{FREE}?targetType=context_template&targetId=u"),
            &acme,
        )
        .await;
    assert_eq!(free.status, 200, "{}", free.body);
    assert_eq!(free.body["occupied"].as_array().unwrap().len(), 1);
    assert_eq!(free.body["occupied"][0]["name"], "acme");
}

#[sqlx::test]
async fn a_named_layer_keeps_experiments_on_different_targets_apart(pool: PgPool) {
    let app = spawn_app(pool).await;
    let root = app.root().await;
    let service = app.token(Role::Service, Some("acme")).await;
    let mut x = on_target("X", "t1", Some(60));
    x["layer"] = json!("checkout");
    let x = app.live_experiment(&root, &x, 1).await;
    let mut y = on_target("Y", "t2", Some(60));
    y["layer"] = json!("checkout");
    let y_id = app.create(&root, &y).await;
    let r = app.act(&root, &y_id, "start").await;
    assert_eq!(r.status, 409, "{}", r.body);
    let message = r.body["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("\"checkout\"") && message.contains("40%"),
        "{message}"
    );
    let free = app
        .get_as(
            &format!("{FREE}?targetType=context_template&targetId=t2&layer=checkout"),
            &root,
        )
        .await;
    assert_eq!(free.body["layer"], "named:system/checkout", "{}", free.body);
    assert_eq!(free.body["freeShare"], json!(40.0));
    let r = app
        .send(
            "PATCH",
            &format!("{EXPERIMENTS}/{y_id}"),
            Some(&root),
            Some(&json!({"layerShare": 40})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(app.act(&root, &y_id, "start").await.status, 200);
    app.wait_for_live(2).await;
    let (mut in_x, mut in_y) = (0, 0);
    for u in 0..1000 {
        let r = app.resolve(&service, "acme", &format!("user-{u}")).await;
        let ids: Vec<&str> = r.body["assignments"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|a| a["experimentId"].as_str())
            .collect();
        assert!(
            ids.len() <= 1,
            "in at most one experiment of the layer: {}",
            r.body
        );
        in_x += usize::from(ids.contains(&x.as_str()));
        in_y += usize::from(ids.contains(&y_id.as_str()));
    }
    assert_eq!(in_x + in_y, 1000);
    assert!((520..680).contains(&in_x), "about 60%: {in_x}");
}

#[sqlx::test]
async fn a_layer_or_share_that_is_not_one_is_refused_by_field(pool: PgPool) {
    let app = spawn_app(pool).await;
    let root = app.root().await;
    let mut body = experiment_body("bad");
    body["layer"] = json!("no spaces");
    body["layerShare"] = json!(0);
    let r = app.post_as(EXPERIMENTS, &root, &body).await;
    assert_eq!(r.status, 422, "{}", r.body);
    assert_eq!(r.fields(), ["layer", "layerShare"]);
    body["layerShare"] = json!(12.5);
    body["layer"] = json!("x".repeat(65));
    let r = app.post_as(EXPERIMENTS, &root, &body).await;
    assert_eq!(r.fields(), ["layer", "layerShare"]);
    // The layer cannot move once started.
    let id = app.live_experiment(&root, &experiment_body("ok"), 1).await;
    let r = app
        .send(
            "PATCH",
            &format!("{EXPERIMENTS}/{id}"),
            Some(&root),
            Some(&json!({"layer": "other", "layerShare": 10})),
        )
        .await;
    assert_eq!(r.status, 422, "{}", r.body);
    assert_eq!(r.fields(), ["layer", "layerShare"]);
    // The free share's parameters, each by name; never a 500.
    for (query, field) in [
        ("targetId=x", "targetType"),
        ("targetType=nope&targetId=x", "targetType"),
        ("targetType=prompt", "targetId"),
        ("targetType=prompt&targetId=x&layer=a%20b", "layer"),
    ] {
        let r = app.get_as(&format!("{FREE}?{query}"), &root).await;
        assert_eq!(r.status, 422, "{query}: {}", r.body);
        assert!(
            r.fields().contains(&field.to_owned()),
            "{query}: {}",
            r.body
        );
    }
    let viewer = app.token(Role::Viewer, Some("acme")).await;
    let r = app
        .get_as(
            &format!("{FREE}?targetType=prompt&targetId=x&tenantId=globex"),
            &viewer,
        )
        .await;
    assert_eq!(r.status, 422, "another tenant's layer: {}", r.body);
}

/// An experiment that was live before the layers migration: started at migration 18, then
/// migrated, it holds the whole layer and every user keeps the arm they had.
#[sqlx::test(migrations = false)]
async fn an_experiment_started_before_layers_keeps_every_user(pool: PgPool) {
    let mut before = sqlx::migrate!("./migrations");
    let all = before.migrations.clone();
    before.migrations = all
        .iter()
        .filter(|m| m.version <= 20261205000018)
        .cloned()
        .collect::<Vec<_>>()
        .into();
    before.run(&pool).await.unwrap();
    let id = uuid::Uuid::now_v7();
    let salt = "0123456789abcdef0123456789abcdef";
    sqlx::query(
        "insert into experiments (id, tenant_id, name, target_type, target_id, variants,
             primary_metric, success_metric, success_operator, success_threshold,
             confidence_level, status, start_date, min_duration_days, min_samples_per_variant,
             created_by, salt)
         values ($1, 'system', 'old', 'prompt', 'p', $2, 'quality', 'quality', '>', 5, 0.95,
                 'active', now() - interval '1 day', 7, 100, 'test', $3)",
    )
    .bind(id)
    .bind(json!([
        {"key": "control", "name": "A", "configuration": {"v": 1}, "share": 30},
        {"key": "treatment", "name": "B", "configuration": {"v": 2}, "share": 30}
    ]))
    .bind(salt)
    .execute(&pool)
    .await
    .unwrap();
    sqlx::migrate!("./migrations").run(&pool).await.unwrap();

    let app = spawn_app(pool).await;
    app.wait_for_live(1).await;
    let root = app.root().await;
    let e = app.get_as(&format!("{EXPERIMENTS}/{id}"), &root).await;
    assert_eq!(
        e.body["layerSlice"],
        json!({"start": 0, "end": 10000}),
        "{}",
        e.body
    );
    let service = app.token(Role::Service, Some("acme")).await;
    let allocation = Allocation::new(30, 30);
    for u in 0..1000 {
        let user = format!("user-{u}");
        let r = app.resolve(&service, "acme", &user).await;
        let got = r.body["assignments"]
            .as_array()
            .unwrap()
            .first()
            .map(|a| a["variant"].as_str().unwrap().to_owned());
        let had = assign(salt, &user, &allocation).map(|v| v.as_str().to_owned());
        assert_eq!(got, had, "{user}");
    }
}
