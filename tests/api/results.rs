//! Results over HTTP: figures from the events, the per-user analysis unit, final results on
//! completion, and the guardrail circuit breaker.

use crate::helpers::{EXPERIMENTS, TestApp, experiment_body, spawn_app};
use serde_json::{Value, json};
use sqlx::PgPool;
use std::collections::HashMap;

/// Sends one event per (user, value) through the batch route; returns each user's variant.
async fn send(app: &TestApp, token: &str, events: Vec<Value>) -> HashMap<String, String> {
    let users: Vec<String> = events
        .iter()
        .map(|e| e["userId"].as_str().unwrap().to_owned())
        .collect();
    let r = app
        .post_as(
            "/api/v1/insights/events/batch",
            token,
            &json!({"events": events}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["rejected"], 0, "{}", r.body);
    users
        .into_iter()
        .zip(r.body["results"].as_array().unwrap())
        .map(|(u, x)| (u, x["variant"].as_str().unwrap().to_owned()))
        .collect()
}

fn event(id: &str, user: &str, quality: f64, latency: f64, feedback: &str) -> Value {
    json!({"experimentId": id, "userId": user, "tenantId": "acme", "eventType": "feedback",
           "metrics": {"quality": quality, "latency": latency, "userSatisfaction": feedback,
                       "pre_experiment": quality - 0.05}})
}

#[sqlx::test]
async fn results_are_per_user_means_with_tests_charts_and_a_recommendation(pool: PgPool) {
    let app = spawn_app(pool).await;
    let root = app.root().await;
    let id = app
        .live_experiment(&root, &experiment_body("measured"), 1)
        .await;

    // 60 users with two events each: a user's value is the mean of their two.
    let mut events = Vec::new();
    for i in 0..60 {
        let user = format!("user-{i}");
        let base = 0.5 + (i % 10) as f64 / 40.0;
        events.push(event(&id, &user, base, 800.0 + i as f64, "positive"));
        events.push(event(&id, &user, base + 0.1, 1200.0 + i as f64, "neutral"));
    }
    let variants = send(&app, &root, events).await;

    let r = app
        .get_as(&format!("{EXPERIMENTS}/{id}/results"), &root)
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let body = &r.body;
    assert!(!body.to_string().contains("NaN"));
    let control_users: Vec<usize> = (0..60)
        .filter(|i| variants[&format!("user-{i}")] == "control")
        .collect();
    assert_eq!(body["control"]["samples"], control_users.len());
    assert_eq!(body["treatment"]["samples"], 60 - control_users.len());
    assert_eq!(body["control"]["events"], 2 * control_users.len());
    let expected_mean = control_users
        .iter()
        .map(|i| 0.5 + (i % 10) as f64 / 40.0 + 0.05)
        .sum::<f64>()
        / control_users.len() as f64;
    let got = body["control"]["metrics"]["quality"]["mean"]
        .as_f64()
        .unwrap();
    assert!(
        (got - expected_mean).abs() < 1e-9,
        "{got} vs {expected_mean}"
    );
    assert_eq!(
        body["control"]["metrics"]["satisfaction"]["positive"],
        control_users.len()
    );
    let comparison = &body["comparison"];
    assert!(comparison["qualityImprovement"].is_number());
    assert_eq!(comparison["confidenceLevel"], 0.95);
    assert_eq!(
        comparison["recommendation"], "inconclusive",
        "below the minimums"
    );
    let detail = &body["detail"];
    assert_eq!(detail["sequential"], true);
    assert!(detail["metrics"][0]["welchDof"].is_number());
    assert!(detail["metrics"][0]["sequentialPValue"].is_number());
    assert!(
        detail["reasons"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r.as_str().unwrap().contains("minimum samples"))
    );
    assert!(detail["power"]["requiredPerVariant"].is_number());
    assert_eq!(
        detail["cuped"]["users"], 60,
        "events carried a pre-experiment value"
    );
    assert_eq!(detail["cuped"]["metric"], "quality");
    let charts = &body["charts"];
    assert!(!charts["qualityOverTime"].as_array().unwrap().is_empty());
    let bins = &charts["latencyDistribution"];
    assert_eq!(
        bins["control"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c.as_u64().unwrap())
            .sum::<u64>(),
        control_users.len() as u64
    );
    assert_eq!(
        charts["satisfactionBreakdown"]["categories"],
        json!(["positive", "neutral", "negative"])
    );

    // The same as a server function.
    let f = app
        .post_as("/api/fn/experiment_results", &root, &json!({"id": id}))
        .await;
    assert_eq!(f.status, 200, "{}", f.body);
    assert_eq!(f.body["control"]["samples"], body["control"]["samples"]);
}

#[sqlx::test]
async fn completing_an_experiment_stores_its_final_results(pool: PgPool) {
    let app = spawn_app(pool).await;
    let root = app.root().await;
    let id = app
        .live_experiment(&root, &experiment_body("final"), 1)
        .await;
    let events = (0..20)
        .map(|i| event(&id, &format!("u{i}"), 0.7, 900.0, "positive"))
        .collect();
    send(&app, &root, events).await;
    let r = app
        .post_as(
            &format!("{EXPERIMENTS}/{id}/declare-winner"),
            &root,
            &json!({"winner": "treatment"}),
        )
        .await;
    assert_eq!(r.status, 200);
    let e = app.get_as(&format!("{EXPERIMENTS}/{id}"), &root).await.body;
    let results = &e["results"];
    assert_eq!(results["winner"], "treatment");
    assert_eq!(
        results["control"]["samples"].as_u64().unwrap()
            + results["treatment"]["samples"].as_u64().unwrap(),
        20
    );
    assert!(results["control"]["metrics"]["quality"]["p99"].is_number());
    assert!(results["completedAt"].is_string());
    let r = app
        .get_as(&format!("{EXPERIMENTS}/{id}/results"), &root)
        .await;
    assert_eq!(r.body["status"], "completed");
    // The always-valid test that decided while it ran decides once it has ended too, so
    // stopping by hand after peeking does not switch to a test whose p-value was on screen.
    assert_eq!(
        r.body["detail"]["sequential"], true,
        "an ended experiment keeps the test that decided while it ran"
    );
    assert!(
        r.body["detail"]["decidedBy"]
            .as_str()
            .unwrap()
            .contains("always-valid"),
        "{}",
        r.body["detail"]
    );
}

#[sqlx::test]
async fn a_breached_guardrail_pauses_an_experiment_that_asked_for_it(pool: PgPool) {
    let app = spawn_app(pool.clone()).await;
    let root = app.root().await;
    let mut body = experiment_body("guarded");
    body["secondaryMetrics"] = json!(["latency"]);
    body["autoPauseOnGuardrail"] = json!(true);
    let id = app.live_experiment(&root, &body, 1).await;
    // First learn each user's variant, then give the treatment much slower answers.
    let probe = (0..200).map(|i| json!({"experimentId": id, "userId": format!("u{i}"), "tenantId": "acme", "eventType": "exposure"})).collect();
    let variants = send(&app, &root, probe).await;
    let events = (0..200)
        .map(|i| {
            let user = format!("u{i}");
            let slow = variants[&user] == "treatment";
            let latency = if slow { 3000.0 } else { 1000.0 } + (i % 17) as f64 * 10.0;
            event(&id, &user, 0.7, latency, "neutral")
        })
        .collect();
    send(&app, &root, events).await;

    let refreshed = verdict::service::jobs::refresh_running(&pool)
        .await
        .unwrap();

    assert_eq!(refreshed.refreshed, 1);
    assert!(refreshed.failed.is_empty());
    let e = app.get_as(&format!("{EXPERIMENTS}/{id}"), &root).await.body;
    assert_eq!(e["status"], "paused");
    let audit = app
        .get_as(&format!("{EXPERIMENTS}/{id}/audit"), &root)
        .await
        .body;
    let last = audit["entries"].as_array().unwrap().last().unwrap().clone();
    assert!(
        last["action"]
            .as_str()
            .unwrap()
            .starts_with("auto_pause: guardrail: latency"),
        "{last}"
    );
    assert_eq!(last["actor"], "verdict (guardrail)");
}

/// The events of experiment `id` not folded into the per-user rollups yet.
async fn unfolded(app: &TestApp, id: &str) -> i64 {
    sqlx::query_scalar(
        "select count(*) from ingest_streams s join events e
             on e.fold_key > (s.stream << 40) + s.folded_through
            and e.fold_key < (s.stream + 1) << 40
         where e.experiment_id = $1::uuid",
    )
    .bind(id)
    .fetch_one(&app.pool)
    .await
    .unwrap()
}

/// The experiment's per-user rows as the results read them, in a fixed order.
async fn user_rows(app: &TestApp, id: &str) -> Vec<String> {
    let rows = verdict::store::results::user_rows(&app.pool, id.parse().unwrap())
        .await
        .unwrap()
        .users;
    let mut rows: Vec<String> = rows.iter().map(|r| format!("{r:?}")).collect();
    rows.sort();
    rows
}

/// The per-user rollups are folded from the events in the background: the results read the
/// events not folded yet too, so they are the same before the fold and after it, and a user
/// with both folded and unfolded events is counted whole.
#[sqlx::test]
async fn results_count_events_not_yet_folded_and_the_fold_changes_nothing(pool: PgPool) {
    let app = spawn_app(pool).await;
    let root = app.root().await;
    let id = app
        .live_experiment(&root, &experiment_body("folded"), 1)
        .await;
    // Values exact in binary, so sums in any order are equal to the bit.
    let batch = || -> Vec<Value> {
        (0..30)
            .map(|i| {
                let q = 0.25 * (i % 4) as f64;
                event(&id, &format!("user-{i}"), q, 100.0 + i as f64, "positive")
            })
            .collect()
    };
    // While this connection holds the fold's lock, no fold runs.
    let mut holder = app.pool.acquire().await.unwrap();
    sqlx::query("select pg_advisory_lock($1)")
        .bind(verdict::store::streams::FOLD_LOCK)
        .execute(&mut *holder)
        .await
        .unwrap();
    send(&app, &root, batch()).await;
    send(&app, &root, batch()).await;
    assert_eq!(unfolded(&app, &id).await, 60);
    let before = user_rows(&app, &id).await;
    assert_eq!(before.len(), 30);
    assert!(
        before.iter().all(|r| r.contains("events: 2,")),
        "{before:?}"
    );
    let mut conn = app.pool.acquire().await.unwrap();
    assert_eq!(
        verdict::store::fold::fold(&mut conn, i64::MAX)
            .await
            .unwrap(),
        None,
        "a fold does nothing while another holds the lock"
    );

    sqlx::query("select pg_advisory_unlock($1)")
        .bind(verdict::store::streams::FOLD_LOCK)
        .execute(&mut *holder)
        .await
        .unwrap();
    app.fold_everything().await;
    assert_eq!(unfolded(&app, &id).await, 0);
    let folded: i64 = sqlx::query_scalar(
        "select count(*) from user_metrics where experiment_id = $1::uuid and events = 2",
    )
    .bind(&id)
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!(folded, 30, "one row per user, both batches in it");
    assert_eq!(user_rows(&app, &id).await, before);

    // Folded and unfolded together: a third batch, not folded yet.
    sqlx::query("select pg_advisory_lock($1)")
        .bind(verdict::store::streams::FOLD_LOCK)
        .execute(&mut *holder)
        .await
        .unwrap();
    send(&app, &root, batch()).await;
    let mixed = user_rows(&app, &id).await;
    assert_eq!(mixed.len(), 30);
    assert!(mixed.iter().all(|r| r.contains("events: 3,")), "{mixed:?}");
    // (Any snapshot the background job stored earlier would be served instead: drop it.)
    sqlx::query("delete from result_snapshots where experiment_id = $1::uuid")
        .bind(&id)
        .execute(&app.pool)
        .await
        .unwrap();
    let r = app
        .get_as(&format!("{EXPERIMENTS}/{id}/results"), &root)
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let samples = r.body["control"]["samples"].as_u64().unwrap()
        + r.body["treatment"]["samples"].as_u64().unwrap();
    let events = r.body["control"]["events"].as_u64().unwrap()
        + r.body["treatment"]["events"].as_u64().unwrap();
    assert_eq!((samples, events), (30, 90));
}

/// Results recomputed now (any stored snapshot dropped first).
async fn fresh_results(app: &TestApp, token: &str, id: &str) -> Value {
    sqlx::query("delete from result_snapshots where experiment_id = $1::uuid")
        .bind(id)
        .execute(&app.pool)
        .await
        .unwrap();
    let r = app
        .get_as(&format!("{EXPERIMENTS}/{id}/results"), token)
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    r.body
}

/// The exact lower order statistic x₍⌊p(n−1)⌋₎ of `values`.
fn lower_quantile(values: &mut [f64], p: f64) -> f64 {
    values.sort_by(f64::total_cmp);
    values[(p * (values.len() - 1) as f64).floor() as usize]
}

/// Request-level latency: every request counts (not the users' means), read from the sketches
/// the fold keeps plus the requests not folded yet, the same before and after the fold, and
/// rebuilt from the events when a sketch is missing (experiments from before the sketches)
/// or unreadable.
#[sqlx::test]
async fn request_latency_percentiles_count_every_request_folded_or_not(pool: PgPool) {
    let app = spawn_app(pool).await;
    let root = app.root().await;
    let id = app
        .live_experiment(&root, &experiment_body("requests"), 1)
        .await;
    // 40 users, each with 10 requests: one slow request in ten. A user's mean hides the slow
    // request; the request p95 does not.
    let batch = |round: usize| -> Vec<Value> {
        (0..40)
            .map(|u| {
                let slow = round == 9;
                let latency = if slow {
                    5000.0 + u as f64
                } else {
                    200.0 + (u * 7 + round) as f64
                };
                event(&id, &format!("u{u}"), 0.7, latency, "neutral")
            })
            .collect()
    };
    let mut holder = app.pool.acquire().await.unwrap();
    sqlx::query("select pg_advisory_lock($1)")
        .bind(verdict::store::streams::FOLD_LOCK)
        .execute(&mut *holder)
        .await
        .unwrap();
    let mut variants = HashMap::new();
    for round in 0..10 {
        variants = send(&app, &root, batch(round)).await;
    }
    let mut exact: HashMap<&str, Vec<f64>> = HashMap::new();
    for round in 0..10 {
        for e in batch(round) {
            let arm = variants[e["userId"].as_str().unwrap()].as_str();
            let arm = if arm == "control" {
                "control"
            } else {
                "treatment"
            };
            exact
                .entry(arm)
                .or_default()
                .push(e["metrics"]["latency"].as_f64().unwrap());
        }
    }
    let check = |body: &Value| {
        let r = &body["detail"]["requestLatency"];
        for arm in ["control", "treatment"] {
            let mut values = exact[arm].clone();
            assert_eq!(r[arm]["requests"], values.len(), "{r}");
            for (key, p) in [("p50", 0.5), ("p95", 0.95)] {
                let want = lower_quantile(&mut values, p);
                let got = r[arm][key]["value"].as_f64().unwrap();
                assert!(
                    (got - want).abs() <= 0.01 * want,
                    "{arm} {key}: {got} vs {want}"
                );
            }
            // The user-level p95 (of per-user means) is far below the request p95.
            let user_p95 = body[arm]["metrics"]["latency"]["p95"].as_f64().unwrap();
            assert!(user_p95 < 1500.0, "{user_p95}");
            assert!(r[arm]["p95"]["value"].as_f64().unwrap() > 4000.0);
        }
        assert!(r["p95Difference"]["ci"]["lower"].is_number(), "{r}");
        assert_eq!(r["relativeAccuracy"], 0.01);
        r.clone()
    };
    let before = check(&fresh_results(&app, &root, &id).await);
    sqlx::query("select pg_advisory_unlock($1)")
        .bind(verdict::store::streams::FOLD_LOCK)
        .execute(&mut *holder)
        .await
        .unwrap();
    app.fold_everything().await;
    let stored: i64 = sqlx::query_scalar(
        "select coalesce(sum(requests), 0)::int8 from latency_sketches where experiment_id = $1::uuid",
    )
    .bind(&id)
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!(stored, 400, "the fold keeps every request in the sketches");
    assert_eq!(check(&fresh_results(&app, &root, &id).await), before);

    // As the migration leaves an experiment with older events: rebuilt from the events.
    sqlx::query(
        "update latency_sketches set sketch = null, requests = 0 where experiment_id = $1::uuid",
    )
    .bind(&id)
    .execute(&app.pool)
    .await
    .unwrap();
    assert_eq!(check(&fresh_results(&app, &root, &id).await), before);
    // A sketch that cannot be read back (hand-edited, another version): rebuilt too.
    sqlx::query(
        "update latency_sketches set sketch = '{\"sketch\": {\"bins\": 3}}'
         where experiment_id = $1::uuid and variant = 'control'",
    )
    .bind(&id)
    .execute(&app.pool)
    .await
    .unwrap();
    assert_eq!(check(&fresh_results(&app, &root, &id).await), before);
    // While a sketch waits for its rebuild, the fold leaves it to the rebuild (no double count).
    sqlx::query("update latency_sketches set sketch = null where experiment_id = $1::uuid")
        .bind(&id)
        .execute(&app.pool)
        .await
        .unwrap();
    send(&app, &root, batch(0)).await;
    app.fold_everything().await;
    let r = fresh_results(&app, &root, &id).await;
    let requests = r["detail"]["requestLatency"]["control"]["requests"]
        .as_u64()
        .unwrap()
        + r["detail"]["requestLatency"]["treatment"]["requests"]
            .as_u64()
            .unwrap();
    assert_eq!(requests, 440);
}

/// A user whose events name both arms (only events stored by hand or by older versions can)
/// is left out of every figure and counted.
#[sqlx::test]
async fn a_user_seen_in_both_arms_is_left_out_and_counted(pool: PgPool) {
    let app = spawn_app(pool).await;
    let root = app.root().await;
    let id = app
        .live_experiment(&root, &experiment_body("both arms"), 1)
        .await;
    let events = (0..20)
        .map(|i| event(&id, &format!("u{i}"), 0.7, 900.0, "positive"))
        .collect();
    let variants = send(&app, &root, events).await;
    app.fold_everything().await;
    // An event of u0 stored by hand under the other arm, folded later.
    let other = if variants["u0"] == "control" {
        "treatment"
    } else {
        "control"
    };
    sqlx::query(
        "insert into events (id, experiment_id, tenant_id, user_id, assignment_id, variant,
             event_type, quality, latency_ms, custom_metrics, ts)
         select gen_random_uuid(), experiment_id, tenant_id, user_id, assignment_id, $2,
                event_type, quality, latency_ms, custom_metrics, ts
         from events where experiment_id = $1::uuid and user_id = 'u0' limit 1",
    )
    .bind(&id)
    .bind(other)
    .execute(&app.pool)
    .await
    .unwrap();
    sqlx::query(
        "update user_metrics set mixed = true where experiment_id = $1::uuid and user_id = 'u0'",
    )
    .bind(&id)
    .execute(&app.pool)
    .await
    .unwrap();
    let body = fresh_results(&app, &root, &id).await;
    let samples = body["control"]["samples"].as_u64().unwrap()
        + body["treatment"]["samples"].as_u64().unwrap();
    assert_eq!(samples, 19);
    assert_eq!(body["detail"]["usersInBothArms"], 1);
    assert!(
        body["detail"]["reasons"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r.as_str().unwrap().contains("both arms")),
        "{}",
        body["detail"]["reasons"]
    );
}

/// The fold marks a user whose folded events name both arms, whichever batch brings the
/// other arm.
#[sqlx::test]
async fn the_fold_marks_a_user_whose_events_name_both_arms(pool: PgPool) {
    let app = spawn_app(pool).await;
    let root = app.root().await;
    let id = app
        .live_experiment(&root, &experiment_body("fold marks"), 1)
        .await;
    let variants = send(
        &app,
        &root,
        vec![
            event(&id, "a", 0.7, 900.0, "positive"),
            event(&id, "b", 0.7, 900.0, "positive"),
        ],
    )
    .await;
    app.fold_everything().await;
    let flip = |v: &str| {
        if v == "control" {
            "treatment"
        } else {
            "control"
        }
    };
    // A later event of `a` under the other arm, with a fold key after the stream's progress
    // (as the writers number them), so the next fold takes it.
    sqlx::query(
        "insert into events (id, experiment_id, tenant_id, user_id, assignment_id, variant,
             event_type, quality, latency_ms, custom_metrics, ts, fold_key)
         select gen_random_uuid(), e.experiment_id, e.tenant_id, e.user_id, e.assignment_id, $2,
                e.event_type, e.quality, e.latency_ms, e.custom_metrics, e.ts, e.fold_key + 1000
         from events e where e.experiment_id = $1::uuid and e.user_id = 'a'
         order by e.fold_key desc limit 1",
    )
    .bind(&id)
    .bind(flip(&variants["a"]))
    .execute(&app.pool)
    .await
    .unwrap();
    app.fold_everything().await;
    let marked: Vec<(String, bool)> = sqlx::query_as(
        "select user_id, mixed from user_metrics where experiment_id = $1::uuid order by 1",
    )
    .bind(&id)
    .fetch_all(&app.pool)
    .await
    .unwrap();
    assert_eq!(marked, vec![("a".into(), true), ("b".into(), false)]);
    let body = fresh_results(&app, &root, &id).await;
    assert_eq!(body["detail"]["usersInBothArms"], 1);
}
