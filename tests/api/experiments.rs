//! Creating, reading, listing and editing experiments over REST.

use crate::helpers::{EXPERIMENTS, experiment_body, spawn_app};
use serde_json::json;
use sqlx::PgPool;
use verdict::domain::Role;

#[sqlx::test]
async fn creating_an_experiment_answers_201_with_a_draft(pool: PgPool) {
    let app = spawn_app(pool).await;
    let root = app.root().await;

    let r = app
        .post_as(EXPERIMENTS, &root, &experiment_body("Risk template"))
        .await;

    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(r.body["status"], "draft");
    assert!(
        r.body["message"]
            .as_str()
            .unwrap()
            .contains("Risk template")
    );
    let id = r.body["experimentId"].as_str().unwrap();
    let got = app.get_as(&format!("{EXPERIMENTS}/{id}"), &root).await;
    assert_eq!(got.status, 200);
    let e = &got.body;
    assert_eq!(e["name"], "Risk template");
    assert_eq!(e["tenantId"], "system");
    assert_eq!(e["targetType"], "context_template");
    assert_eq!(e["control"]["configuration"]["templateId"], "risk-v1");
    assert_eq!(e["allocation"], json!({"control": 50, "treatment": 50}));
    assert_eq!(e["successCriteria"]["operator"], ">");
    assert_eq!(e["successCriteria"]["confidenceLevel"], 0.95);
    assert_eq!(e["secondaryMetrics"], json!(["latency"]));
    assert_eq!(e["minDuration"], 7);
    assert_eq!(e["minSamplesPerVariant"], 1000);
    assert_eq!(e["status"], "draft");
    assert_eq!(e["startDate"], json!(null));
    assert!(e["createdBy"].as_str().unwrap().contains("vdt_"));
    assert!(e.get("salt").is_none(), "the salt stays on the server");
}

#[sqlx::test]
async fn an_admin_creates_in_its_own_tenant_only(pool: PgPool) {
    let app = spawn_app(pool).await;
    let admin = app.token(Role::Admin, Some("acme")).await;
    let id = app.create(&admin, &experiment_body("mine")).await;
    let e = app.get_as(&format!("{EXPERIMENTS}/{id}"), &admin).await;
    assert_eq!(e.body["tenantId"], "acme");

    let mut body = experiment_body("theirs");
    body["tenantId"] = json!("globex");
    let r = app.post_as(EXPERIMENTS, &admin, &body).await;
    assert_eq!(r.status, 422, "{}", r.body);
    assert_eq!(r.fields(), ["tenantId"]);
}

#[sqlx::test]
async fn every_violated_rule_is_reported_with_its_field_in_one_response(pool: PgPool) {
    let app = spawn_app(pool).await;
    let root = app.root().await;
    let mut body = experiment_body("x");
    body["name"] = json!("");
    body["allocation"] = json!({"control": 70, "treatment": 40});
    body["successCriteria"]["confidenceLevel"] = json!(1.5);
    body["primaryMetric"] = json!("clicks");
    body["minDuration"] = json!(0);

    let r = app.post_as(EXPERIMENTS, &root, &body).await;

    assert_eq!(r.status, 422, "{}", r.body);
    assert_eq!(r.body["error"]["code"], "invalid");
    let mut fields = r.fields();
    fields.sort();
    assert_eq!(
        fields,
        [
            "allocation",
            "minDuration",
            "name",
            "primaryMetric",
            "successCriteria.confidenceLevel"
        ]
    );
    let count: i64 = sqlx::query_scalar("select count(*) from experiments")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(count, 0, "nothing is stored");
}

#[sqlx::test]
async fn a_body_that_does_not_parse_is_a_400_naming_the_problem(pool: PgPool) {
    let app = spawn_app(pool).await;
    let root = app.root().await;

    let mut body = experiment_body("x");
    body["minDurationDays"] = json!(3);
    let r = app.post_as(EXPERIMENTS, &root, &body).await;
    assert_eq!(r.status, 400, "unknown field: {}", r.body);
    assert!(
        r.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("minDurationDays")
    );

    let r = app.post_as(EXPERIMENTS, &root, &json!({"name": 42})).await;
    assert_eq!(r.status, 400, "{}", r.body);
    assert_eq!(r.body["error"]["code"], "bad_request");

    let raw = app
        .client
        .post(format!("{}{EXPERIMENTS}", app.address))
        .bearer_auth(&root)
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(raw.status().as_u16(), 400);
}

#[sqlx::test]
async fn an_unknown_or_malformed_id_is_a_404(pool: PgPool) {
    let app = spawn_app(pool).await;
    let root = app.root().await;
    for id in ["not-a-uuid", "018f0000-0000-7000-8000-000000000999"] {
        let r = app.get_as(&format!("{EXPERIMENTS}/{id}"), &root).await;
        assert_eq!(r.status, 404, "{id}: {}", r.body);
        assert_eq!(r.body["error"]["code"], "not_found");
    }
}

#[sqlx::test]
async fn the_list_filters_by_status_and_tenant_and_counts_per_status(pool: PgPool) {
    let app = spawn_app(pool).await;
    let root = app.root().await;
    let acme = app.token(Role::Admin, Some("acme")).await;
    let a = app.create(&acme, &experiment_body("a")).await;
    app.create(&acme, &experiment_body("b")).await;
    app.create(&root, &experiment_body("system-wide")).await;
    app.act(&acme, &a, "start").await;

    let all = app.get_as(EXPERIMENTS, &root).await;
    assert_eq!(all.status, 200);
    assert_eq!(all.body["total"], 3);
    assert_eq!(all.body["counts"]["draft"], 2);
    assert_eq!(all.body["counts"]["active"], 1);

    let drafts = app
        .get_as(&format!("{EXPERIMENTS}?status=draft&tenantId=acme"), &root)
        .await;
    assert_eq!(drafts.body["total"], 1);
    assert_eq!(drafts.body["experiments"][0]["name"], "b");

    let theirs = app.get_as(EXPERIMENTS, &acme).await;
    assert_eq!(theirs.body["total"], 2, "an admin sees its tenant only");

    let bad = app
        .get_as(&format!("{EXPERIMENTS}?status=running"), &root)
        .await;
    assert_eq!(bad.status, 422);
    assert_eq!(bad.fields(), ["status"]);
}

#[sqlx::test]
async fn a_draft_can_be_edited_in_everything(pool: PgPool) {
    let app = spawn_app(pool).await;
    let root = app.root().await;
    let id = app.create(&root, &experiment_body("x")).await;

    let r = app
        .send(
            "PATCH",
            &format!("{EXPERIMENTS}/{id}"),
            Some(&root),
            Some(&json!({
                "name": "Renamed",
                "allocation": {"control": 10, "treatment": 20},
                "treatment": {"configuration": {"templateId": "risk-v3"}},
                "successCriteria": {"threshold": 10}
            })),
        )
        .await;

    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["name"], "Renamed");
    assert_eq!(
        r.body["allocation"],
        json!({"control": 10, "treatment": 20})
    );
    assert_eq!(r.body["treatment"]["name"], "With history");
    assert_eq!(
        r.body["treatment"]["configuration"]["templateId"],
        "risk-v3"
    );
    assert_eq!(r.body["successCriteria"]["threshold"], 10.0);
    assert_eq!(r.body["version"], 2);
}

#[sqlx::test]
async fn after_start_only_texts_and_a_same_ratio_ramp_may_change(pool: PgPool) {
    let app = spawn_app(pool).await;
    let root = app.root().await;
    let mut body = experiment_body("x");
    body["allocation"] = json!({"control": 10, "treatment": 10});
    let id = app.create(&root, &body).await;
    app.act(&root, &id, "start").await;
    let path = format!("{EXPERIMENTS}/{id}");

    let texts = app
        .send(
            "PATCH",
            &path,
            Some(&root),
            Some(&json!({"description": "Clearer"})),
        )
        .await;
    assert_eq!(texts.status, 200, "{}", texts.body);

    let frozen = app
        .send(
            "PATCH",
            &path,
            Some(&root),
            Some(&json!({"treatment": {"name": "Other"}, "minDuration": 3})),
        )
        .await;
    assert_eq!(frozen.status, 422, "{}", frozen.body);
    assert_eq!(frozen.fields(), ["treatment", "minDuration"]);

    let skewed = app
        .send(
            "PATCH",
            &path,
            Some(&root),
            Some(&json!({"allocation": {"control": 10, "treatment": 30}})),
        )
        .await;
    assert_eq!(skewed.status, 422, "{}", skewed.body);
    assert_eq!(skewed.fields(), ["allocation"]);

    let ramp = app
        .send(
            "PATCH",
            &path,
            Some(&root),
            Some(&json!({"allocation": {"control": 25, "treatment": 25}})),
        )
        .await;
    assert_eq!(ramp.status, 200, "{}", ramp.body);
    assert_eq!(
        ramp.body["allocation"],
        json!({"control": 25, "treatment": 25})
    );

    let shrink = app
        .send(
            "PATCH",
            &path,
            Some(&root),
            Some(&json!({"allocation": {"control": 5, "treatment": 5}})),
        )
        .await;
    assert_eq!(shrink.status, 422, "{}", shrink.body);
}

#[sqlx::test]
async fn every_change_is_in_the_audit_log_with_who_and_what(pool: PgPool) {
    let app = spawn_app(pool).await;
    let root = app.root().await;
    let id = app.create(&root, &experiment_body("x")).await;
    app.send(
        "PATCH",
        &format!("{EXPERIMENTS}/{id}"),
        Some(&root),
        Some(&json!({"name": "y"})),
    )
    .await;
    app.act(&root, &id, "start").await;
    app.act(&root, &id, "pause").await;

    let r = app
        .get_as(&format!("{EXPERIMENTS}/{id}/audit"), &root)
        .await;

    assert_eq!(r.status, 200);
    let entries = r.body["entries"].as_array().unwrap();
    let actions: Vec<&str> = entries
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(actions, ["create", "update", "start", "pause"]);
    assert_eq!(entries[1]["before"], json!({"name": "x"}));
    assert_eq!(entries[1]["after"], json!({"name": "y"}));
    assert_eq!(entries[3]["after"]["status"], "paused");
    assert!(
        entries
            .iter()
            .all(|e| e["actor"].as_str().unwrap().contains("vdt_"))
    );
}

#[sqlx::test]
async fn the_same_operations_work_as_server_functions(pool: PgPool) {
    let app = spawn_app(pool).await;
    let root = app.root().await;
    let created = app
        .post_as(
            "/api/fn/create_experiment",
            &root,
            &json!({"input": experiment_body("via fn")}),
        )
        .await;
    assert_eq!(created.status, 200, "{}", created.body);
    let id = created.body["id"].as_str().unwrap().to_owned();

    let started = app
        .post_as(
            "/api/fn/change_status",
            &root,
            &json!({"id": id, "action": "start"}),
        )
        .await;
    assert_eq!(started.body["status"], "active", "{}", started.body);

    let invalid = app
        .post_as(
            "/api/fn/create_experiment",
            &root,
            &json!({"input": {"name": ""}}),
        )
        .await;
    assert_eq!(invalid.status, 422, "{}", invalid.body);
    assert_eq!(invalid.body["code"], "invalid");

    let refused = app
        .post_as(
            "/api/fn/change_status",
            &root,
            &json!({"id": id, "action": "start"}),
        )
        .await;
    assert_eq!(refused.status, 409, "{}", refused.body);
}
