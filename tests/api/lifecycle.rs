//! The lifecycle over REST: transitions, refusals, concurrency, overlap, approval, deploy.

use crate::helpers::{EXPERIMENTS, experiment_body, spawn_app, spawn_app_with};
use serde_json::json;
use sqlx::PgPool;
use verdict::domain::Role;

#[sqlx::test]
async fn start_answers_the_start_and_estimated_end_dates(pool: PgPool) {
    let app = spawn_app(pool).await;
    let root = app.root().await;
    let id = app.create(&root, &experiment_body("x")).await;

    let r = app.act(&root, &id, "start").await;

    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["experimentId"], id.as_str());
    assert_eq!(r.body["status"], "active");
    let start: chrono::DateTime<chrono::Utc> =
        serde_json::from_value(r.body["startDate"].clone()).unwrap();
    let end: chrono::DateTime<chrono::Utc> =
        serde_json::from_value(r.body["estimatedEndDate"].clone()).unwrap();
    assert_eq!(end - start, chrono::Duration::days(7));
}

#[sqlx::test]
async fn the_whole_lifecycle_walks_through_every_status(pool: PgPool) {
    let app = spawn_app(pool).await;
    let root = app.root().await;
    let id = app.create(&root, &experiment_body("x")).await;
    for (action, status) in [
        ("start", "active"),
        ("pause", "paused"),
        ("resume", "active"),
        ("stop", "completed"),
    ] {
        let r = app.act(&root, &id, action).await;
        assert_eq!(r.status, 200, "{action}: {}", r.body);
        assert_eq!(r.body["status"], status, "{action}");
    }
    let deployed = app
        .post_as(
            &format!("{EXPERIMENTS}/{id}/deploy-winner"),
            &root,
            &json!({"winner": "treatment", "rolloutPercentage": 25, "notes": "canary"}),
        )
        .await;
    assert_eq!(deployed.status, 200, "{}", deployed.body);
    assert_eq!(deployed.body["status"], "winner_deployed");
    assert_eq!(deployed.body["deployment"]["rolloutPercentage"], 25);
    assert_eq!(
        deployed.body["deployment"]["configuration"]["templateId"],
        "risk-v2"
    );
    assert_eq!(
        deployed.body["deployment"]["targetType"],
        "context_template"
    );
}

#[sqlx::test]
async fn every_transition_the_lifecycle_does_not_allow_is_a_409_with_the_status(pool: PgPool) {
    let app = spawn_app(pool).await;
    let root = app.root().await;
    // (how to reach the status, actions that must be refused there)
    let cases: Vec<(&[&str], &[&str])> = vec![
        (&[], &["pause", "resume", "stop"]),
        (&["start"], &["start", "resume"]),
        (&["start", "pause"], &["start", "pause"]),
        (
            &["start", "stop"],
            &["start", "pause", "resume", "stop", "cancel"],
        ),
        (&["cancel"], &["start", "pause", "resume", "stop", "cancel"]),
    ];
    for (path, refused) in cases {
        let id = app.create(&root, &experiment_body("x")).await;
        for step in path {
            assert_eq!(app.act(&root, &id, step).await.status, 200, "{step}");
        }
        let status = app.get_as(&format!("{EXPERIMENTS}/{id}"), &root).await.body["status"]
            .as_str()
            .unwrap()
            .to_owned();
        for action in refused {
            let r = app.act(&root, &id, action).await;
            assert_eq!(r.status, 409, "{action} in {status}: {}", r.body);
            assert_eq!(r.body["error"]["code"], "conflict");
            let message = r.body["error"]["message"].as_str().unwrap();
            assert!(message.contains(&status), "{message}");
        }
        let declare = app
            .post_as(
                &format!("{EXPERIMENTS}/{id}/declare-winner"),
                &root,
                &json!({"winner": "treatment"}),
            )
            .await;
        let expected = if matches!(status.as_str(), "active" | "paused") {
            200
        } else {
            409
        };
        assert_eq!(declare.status, expected, "declare-winner in {status}");
    }
    let draft = app.create(&root, &experiment_body("never ran")).await;
    let deploy = app
        .post_as(
            &format!("{EXPERIMENTS}/{draft}/deploy-winner"),
            &root,
            &json!({"winner": "treatment"}),
        )
        .await;
    assert_eq!(deploy.status, 409, "deploy a draft: {}", deploy.body);
}

#[sqlx::test]
async fn two_concurrent_starts_succeed_exactly_once(pool: PgPool) {
    let app = spawn_app(pool).await;
    let root = app.root().await;
    for round in 0..5 {
        let id = app
            .create(&root, &experiment_body(&format!("race {round}")))
            .await;
        let (a, b) = tokio::join!(app.act(&root, &id, "start"), app.act(&root, &id, "start"));
        let mut statuses = [a.status, b.status];
        statuses.sort();
        assert_eq!(statuses, [200, 409], "round {round}");
        let starts: i64 = sqlx::query_scalar(
            "select count(*) from audit_log where experiment_id = $1::uuid and action = 'start'",
        )
        .bind(&id)
        .fetch_one(&app.pool)
        .await
        .unwrap();
        assert_eq!(starts, 1);
    }
}

#[sqlx::test]
async fn an_experiment_on_a_target_already_under_test_does_not_start(pool: PgPool) {
    let app = spawn_app(pool).await;
    let root = app.root().await;
    let mut body = experiment_body("first");
    body["targetId"] = json!("shared-template");
    let first = app.create(&root, &body).await;
    body["name"] = json!("second");
    let second = app.create(&root, &body).await;
    body["name"] = json!("other users");
    body["targeting"] = json!({"tenantIds": ["acme"], "intents": ["summary"]});
    let third = app.create(&root, &body).await;

    assert_eq!(app.act(&root, &first, "start").await.status, 200);
    let r = app.act(&root, &second, "start").await;
    assert_eq!(r.status, 409, "{}", r.body);
    assert!(
        r.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("first")
    );
    // The first is system-wide and untargeted, so it covers the third's traffic too.
    assert_eq!(app.act(&root, &third, "start").await.status, 409);

    app.act(&root, &first, "stop").await;
    assert_eq!(app.act(&root, &second, "start").await.status, 200);
}

#[sqlx::test]
async fn with_approval_required_start_waits_for_another_super_admin(pool: PgPool) {
    let app = spawn_app_with(pool, true).await;
    let creator = app.root().await;
    let other = app.root().await;
    let admin = app.token(Role::Admin, Some("acme")).await;
    let id = app.create(&creator, &experiment_body("x")).await;

    let r = app.act(&creator, &id, "start").await;
    assert_eq!(r.status, 409, "{}", r.body);
    assert!(
        r.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("approv")
    );

    assert_eq!(
        app.act(&creator, &id, "approve").await.status,
        409,
        "not by its creator"
    );
    assert_eq!(
        app.act(&admin, &id, "approve").await.status,
        403,
        "not by an admin"
    );
    let approved = app.act(&other, &id, "approve").await;
    assert_eq!(approved.status, 200, "{}", approved.body);
    assert!(
        approved.body["approvedBy"]
            .as_str()
            .unwrap()
            .contains("vdt_")
    );

    // Editing the variants clears the approval.
    let edited = app
        .send(
            "PATCH",
            &format!("{EXPERIMENTS}/{id}"),
            Some(&creator),
            Some(&json!({"treatment": {"configuration": {"templateId": "v9"}}})),
        )
        .await;
    assert_eq!(edited.body["approvedBy"], json!(null), "{}", edited.body);
    assert_eq!(app.act(&creator, &id, "start").await.status, 409);

    app.act(&other, &id, "approve").await;
    assert_eq!(app.act(&creator, &id, "start").await.status, 200);
}

#[sqlx::test]
async fn deploying_again_widens_the_rollout_and_never_narrows_it(pool: PgPool) {
    let app = spawn_app(pool).await;
    let root = app.root().await;
    let id = app.create(&root, &experiment_body("x")).await;
    app.act(&root, &id, "start").await;
    let declared = app
        .post_as(
            &format!("{EXPERIMENTS}/{id}/declare-winner"),
            &root,
            &json!({"winner": "treatment"}),
        )
        .await;
    assert_eq!(declared.body["status"], "completed");
    let deploy = |pct: serde_json::Value, winner: &'static str| {
        let app = &app;
        let root = root.clone();
        let id = id.clone();
        async move {
            app.post_as(
                &format!("{EXPERIMENTS}/{id}/deploy-winner"),
                &root,
                &json!({"winner": winner, "rolloutPercentage": pct}),
            )
            .await
        }
    };
    assert_eq!(deploy(json!(0), "treatment").await.status, 422);
    assert_eq!(deploy(json!(101), "treatment").await.status, 422);
    assert_eq!(deploy(json!(2.5), "treatment").await.status, 422);
    assert_eq!(
        deploy(json!(25), "control").await.status,
        409,
        "not the declared winner"
    );
    assert_eq!(deploy(json!(25), "treatment").await.status, 200);
    assert_eq!(
        deploy(json!(10), "treatment").await.status,
        409,
        "never narrows"
    );
    assert_eq!(deploy(json!(100), "treatment").await.status, 200);

    let r = app
        .get_as(&format!("{EXPERIMENTS}/{id}/deployments"), &root)
        .await;
    let pcts: Vec<i64> = r.body["deployments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["rolloutPercentage"].as_i64().unwrap())
        .collect();
    assert_eq!(pcts, [100, 25]);
}

/// The runtime's tables carry no foreign keys to `experiments` (they cost a MultiXact per
/// ingestion transaction); the database refuses to delete an experiment instead, so its
/// assignments and events can never be orphaned.
#[sqlx::test]
async fn an_experiment_cannot_be_deleted_so_its_events_are_never_orphaned(pool: PgPool) {
    let app = spawn_app(pool.clone()).await;
    let root = app.root().await;
    let service = app.token(Role::Service, Some("acme")).await;
    let id = app
        .live_experiment(&root, &experiment_body("kept"), 1)
        .await;
    app.resolve(&service, "acme", "olga").await;
    let r = app
        .post_as(
            &format!("/api/v1/insights/experiments/{id}/events"),
            &service,
            &json!({"userId": "olga", "eventType": "feedback", "metrics": {"quality": 0.9}}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);

    let refused = sqlx::query("delete from experiments where id = $1::uuid")
        .bind(&id)
        .execute(&pool)
        .await
        .expect_err("deleting an experiment must be refused");
    let message = refused.to_string();
    assert!(message.contains("never deleted"), "{message}");
    let (events, assignments): (i64, i64) = sqlx::query_as(
        "select (select count(*) from events where experiment_id = $1::uuid),
                (select count(*) from assignments where experiment_id = $1::uuid)",
    )
    .bind(&id)
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!((events, assignments), (1, 1));
    let r = app.get_as(&format!("{EXPERIMENTS}/{id}"), &root).await;
    assert_eq!(r.status, 200, "{}", r.body);
}
