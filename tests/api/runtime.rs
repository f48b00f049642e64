//! Resolve over HTTP: sticky and deterministic, targeting, excluded traffic, rollout,
//! exposure bookkeeping, and cache invalidation across two servers on one database.

use crate::helpers::{EXPERIMENTS, experiment_body, spawn_app};
use serde_json::{Value, json};
use sqlx::PgPool;
use std::collections::HashMap;
use verdict::domain::Role;

fn variant_of(reply: &Value, target: &str) -> Option<String> {
    reply["assignments"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["targetId"] == target)
        .map(|a| a["variant"].as_str().unwrap().to_owned())
}

#[sqlx::test]
async fn resolve_is_sticky_across_requests_and_server_restarts(pool: PgPool) {
    let app = spawn_app(pool.clone()).await;
    let root = app.root().await;
    let service = app.token(Role::Service, Some("acme")).await;
    let mut body = experiment_body("sticky");
    body["tenantId"] = json!("acme");
    let id = app.live_experiment(&root, &body, 1).await;
    let target = body["targetId"].as_str().unwrap();

    let mut first = HashMap::new();
    for i in 0..50 {
        let user = format!("user-{i}");
        let r = app.resolve(&service, "acme", &user).await;
        assert_eq!(r.status, 200, "{}", r.body);
        let a = &r.body["assignments"][0];
        assert_eq!(a["experimentId"], id.as_str());
        assert_eq!(a["targetType"], "context_template");
        let v = a["variant"].as_str().unwrap().to_owned();
        let expected_config = if v == "control" { "risk-v1" } else { "risk-v2" };
        assert_eq!(a["configuration"]["templateId"], expected_config);
        first.insert(user, v);
    }
    let both = first.values().any(|v| v == "control") && first.values().any(|v| v == "treatment");
    assert!(both, "50 users land in both arms");

    // A second server (a restart, or another replica) answers the same.
    let again = spawn_app(pool).await;
    again.wait_for_live(1).await;
    for (user, v) in &first {
        let r = again.resolve(&service, "acme", user).await;
        assert_eq!(variant_of(&r.body, target).as_ref(), Some(v), "{user}");
    }
}

#[sqlx::test]
async fn targeting_decides_who_is_in_and_excluded_users_get_nothing(pool: PgPool) {
    let app = spawn_app(pool).await;
    let root = app.root().await;
    let mut body = experiment_body("targeted");
    body["tenantId"] = json!("acme");
    body["targeting"] = json!({"intents": ["risk"], "userIds": ["alice", "bob"]});
    let targeted = app.live_experiment(&root, &body, 1).await;
    let mut small = experiment_body("small share");
    small["tenantId"] = json!("acme");
    small["allocation"] = json!({"control": 5, "treatment": 5});
    app.live_experiment(&root, &small, 2).await;
    let service = app.token(Role::Service, Some("acme")).await;
    let resolve = |user: &'static str, intent: Option<&'static str>| {
        let app = &app;
        let service = service.clone();
        async move {
            app.post_as(
                "/api/v1/insights/resolve",
                &service,
                &json!({"tenantId": "acme", "userId": user, "intent": intent}),
            )
            .await
            .body
        }
    };
    assert!(variant_of(&resolve("alice", Some("risk")).await, "template-targeted").is_some());
    assert!(
        variant_of(
            &resolve("alice", Some("summary")).await,
            "template-targeted"
        )
        .is_none()
    );
    assert!(variant_of(&resolve("carol", Some("risk")).await, "template-targeted").is_none());

    let mut included = 0;
    for i in 0..400 {
        let r = app.resolve(&service, "acme", &format!("u{i}")).await;
        included += usize::from(variant_of(&r.body, "template-small share").is_some());
    }
    assert!(
        (15..=70).contains(&included),
        "about 10% of 400 included: {included}"
    );

    // Nothing was stored for users who were not in; alice's assignment was.
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let users: Vec<String> = sqlx::query_scalar(
        "select user_id from assignments where experiment_id = $1::uuid order by user_id",
    )
    .bind(&targeted)
    .fetch_all(&app.pool)
    .await
    .unwrap();
    assert_eq!(users, ["alice"]);
}

#[sqlx::test]
async fn tenants_only_resolve_their_own_users(pool: PgPool) {
    let app = spawn_app(pool).await;
    let acme = app.token(Role::Service, Some("acme")).await;
    let viewer = app.token(Role::Viewer, Some("acme")).await;
    assert_eq!(app.resolve(&acme, "globex", "u").await.status, 403);
    assert_eq!(app.resolve(&viewer, "acme", "u").await.status, 403);
    assert_eq!(app.resolve("vdt_bad", "acme", "u").await.status, 401);
    let bad = app
        .post_as(
            "/api/v1/insights/resolve",
            &acme,
            &json!({"tenantId": "acme"}),
        )
        .await;
    assert_eq!(bad.status, 400, "{}", bad.body);
    let empty = app.resolve(&acme, "acme", "").await;
    assert_eq!(empty.status, 422, "{}", empty.body);
}

#[sqlx::test]
async fn exposures_are_written_behind_the_answer(pool: PgPool) {
    let app = spawn_app(pool).await;
    let root = app.root().await;
    let id = app
        .live_experiment(&root, &experiment_body("exposed"), 1)
        .await;
    let (a, b, c) = tokio::join!(
        app.resolve(&root, "acme", "dora"),
        app.resolve(&root, "acme", "dora"),
        app.resolve(&root, "acme", "dora")
    );
    assert!([a.status, b.status, c.status].iter().all(|s| *s == 200));
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        let row: Option<(String, i64, bool)> = sqlx::query_as(
            "select variant, exposure_count, first_exposure <= last_exposure from assignments
             where experiment_id = $1::uuid and user_id = 'dora' and tenant_id = 'acme'",
        )
        .bind(&id)
        .fetch_optional(&app.pool)
        .await
        .unwrap();
        if let Some((variant, count, ordered)) = &row
            && *count == 3
        {
            assert_eq!(
                Some(variant.clone()),
                variant_of(&a.body, "template-exposed")
            );
            assert!(*ordered);
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "exposures not written: {row:?}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

#[sqlx::test]
async fn a_change_through_one_server_reaches_another_within_a_second(pool: PgPool) {
    let a = spawn_app(pool.clone()).await;
    let b = spawn_app(pool).await;
    let root = a.root().await;
    let id = a.create(&root, &experiment_body("replicated")).await;
    a.wait_for_live(0).await;
    assert_eq!(a.act(&root, &id, "start").await.status, 200);
    let started = std::time::Instant::now();
    b.wait_for_live(1).await;
    let took = started.elapsed();
    assert!(took < std::time::Duration::from_secs(1), "took {took:?}");
    assert!(
        variant_of(
            &b.resolve(&root, "acme", "u1").await.body,
            "template-replicated"
        )
        .is_some()
    );

    assert_eq!(a.act(&root, &id, "pause").await.status, 200);
    b.wait_for_live(0).await;
    assert!(
        variant_of(
            &b.resolve(&root, "acme", "u1").await.body,
            "template-replicated"
        )
        .is_none()
    );
}

#[sqlx::test]
async fn a_deployed_winner_reaches_its_rollout_share_and_everyone_at_100(pool: PgPool) {
    let app = spawn_app(pool).await;
    let root = app.root().await;
    let id = app
        .live_experiment(&root, &experiment_body("rolled"), 1)
        .await;
    app.post_as(
        &format!("{EXPERIMENTS}/{id}/declare-winner"),
        &root,
        &json!({"winner": "treatment"}),
    )
    .await;
    let deploy = |pct: u8| {
        let app = &app;
        let (root, id) = (root.clone(), id.clone());
        async move {
            let r = app
                .post_as(
                    &format!("{EXPERIMENTS}/{id}/deploy-winner"),
                    &root,
                    &json!({"winner": "treatment", "rolloutPercentage": pct}),
                )
                .await;
            assert_eq!(r.status, 200, "{}", r.body);
            tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        }
    };
    deploy(25).await;
    let mut served_at_25 = Vec::new();
    for i in 0..400 {
        let user = format!("u{i}");
        let r = app.resolve(&root, "acme", &user).await;
        let a = r.body["assignments"].as_array().unwrap().first().cloned();
        if let Some(a) = a {
            assert_eq!(a["deployed"], true);
            assert_eq!(a["configuration"]["templateId"], "risk-v2");
            served_at_25.push(user);
        }
    }
    assert!(
        (60..=140).contains(&served_at_25.len()),
        "about 25% of 400: {}",
        served_at_25.len()
    );
    deploy(100).await;
    for i in 0..100 {
        let r = app.resolve(&root, "acme", &format!("u{i}")).await;
        assert_eq!(
            r.body["assignments"].as_array().unwrap().len(),
            1,
            "everyone at 100%"
        );
    }
}

#[sqlx::test]
async fn resolve_keeps_answering_from_memory_when_the_database_is_gone(pool: PgPool) {
    let app = spawn_app(pool.clone()).await;
    let root = app.root().await;
    let service = app.token(Role::Service, Some("acme")).await;
    app.live_experiment(&root, &experiment_body("resilient"), 1)
        .await;
    let before = app.resolve(&service, "acme", "zoe").await;
    assert_eq!(before.status, 200);
    app.get_page("/healthz", Some(&root)).await;

    pool.close().await;

    let after = app.resolve(&service, "acme", "zoe").await;
    assert_eq!(after.status, 200, "{}", after.body);
    assert_eq!(after.body["assignments"], before.body["assignments"]);
    let (status, body, _) = app.get_page("/healthz", Some(&root)).await;
    assert_eq!(status, 503, "{body}");
    let health: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        health["runtime"]["experiments"], 1,
        "the last snapshot still serves"
    );
}

/// The runtime's reload counters (full, one experiment), from the operator's `/healthz`,
/// once they have stood still for 300 ms (no notification still on its way).
async fn reloads(app: &crate::helpers::TestApp, operator: &str) -> (u64, u64) {
    let read = || async {
        let (_, body, _) = app.get_page("/healthz", Some(operator)).await;
        let health: Value = serde_json::from_str(&body).unwrap();
        (
            health["runtime"]["fullReloads"].as_u64().unwrap(),
            health["runtime"]["experimentReloads"].as_u64().unwrap(),
        )
    };
    let mut last = read().await;
    loop {
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        let now = read().await;
        if now == last {
            return now;
        }
        last = now;
    }
}

#[sqlx::test]
async fn a_change_reloads_only_the_experiment_it_names_and_a_drafts_edit_reloads_nothing(
    pool: PgPool,
) {
    let app = spawn_app(pool.clone()).await;
    let root = app.root().await;
    let first = app
        .live_experiment(&root, &experiment_body("first"), 1)
        .await;
    app.live_experiment(&root, &experiment_body("second"), 2)
        .await;
    let draft = app.create(&root, &experiment_body("draft")).await;
    let (full, one) = reloads(&app, &root).await;

    // Changes made elsewhere (another server, or by hand), seen only through notifications.
    // An edit of the draft is invisible to the runtime and sends nothing; the pause that
    // follows it names its experiment, which alone is reloaded.
    for (sql, id) in [
        (
            "update experiments set name = 'renamed draft' where id = $1::uuid",
            &draft,
        ),
        (
            "update experiments set status = 'paused' where id = $1::uuid",
            &first,
        ),
    ] {
        sqlx::query(sql).bind(id).execute(&pool).await.unwrap();
    }
    app.wait_for_live(1).await;
    assert_eq!(reloads(&app, &root).await, (full, one + 1));
    assert!(
        variant_of(
            &app.resolve(&root, "acme", "u1").await.body,
            "template-first"
        )
        .is_none()
    );
    assert!(
        variant_of(
            &app.resolve(&root, "acme", "u1").await.body,
            "template-second"
        )
        .is_some()
    );
}

#[sqlx::test]
async fn a_server_serves_its_own_start_from_its_very_next_resolve(pool: PgPool) {
    let app = spawn_app(pool).await;
    let root = app.root().await;
    let service = app.token(Role::Service, Some("acme")).await;
    // Two servers' worth of traffic is not needed: the server that answered `start` must
    // serve the experiment to the first user after it, without waiting for a notification.
    for round in 0..5 {
        let name = format!("ryw{round}");
        let id = app.create(&root, &experiment_body(&name)).await;
        assert_eq!(app.act(&root, &id, "start").await.status, 200);
        for i in 0..40 {
            let user = format!("{name}-u{i}");
            let r = app.resolve(&service, "acme", &user).await;
            assert!(
                variant_of(&r.body, &format!("template-{name}")).is_some(),
                "user {i} right after the start of {name} got no variant: {}",
                r.body
            );
        }
        assert_eq!(app.act(&root, &id, "pause").await.status, 200);
        let r = app
            .resolve(&service, "acme", &format!("{name}-after"))
            .await;
        assert!(variant_of(&r.body, &format!("template-{name}")).is_none());
    }
}
