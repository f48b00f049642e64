//! Events over HTTP: validation, assignment, idempotency, batches, and durability when the
//! server is killed mid-batch.

use crate::helpers::{EXPERIMENTS, experiment_body, spawn_app};
use serde_json::{Value, json};
use sqlx::PgPool;
use verdict::domain::Role;

fn events_path(id: &str) -> String {
    format!("/api/v1/insights/experiments/{id}/events")
}

async fn stored(pool: &PgPool, id: &str) -> i64 {
    sqlx::query_scalar("select count(*) from events where experiment_id = $1::uuid")
        .bind(id)
        .fetch_one(pool)
        .await
        .unwrap()
}

#[sqlx::test]
async fn an_event_is_stored_with_the_users_assigned_variant_not_the_clients(pool: PgPool) {
    let app = spawn_app(pool).await;
    let root = app.root().await;
    let service = app.token(Role::Service, Some("acme")).await;
    let id = app
        .live_experiment(&root, &experiment_body("tracked"), 1)
        .await;
    let resolved = app.resolve(&service, "acme", "erin").await;
    let assigned = resolved.body["assignments"][0]["variant"].clone();

    let r = app
        .post_as(
            &events_path(&id),
            &service,
            &json!({"userId": "erin", "eventType": "feedback",
                    "metrics": {"quality": 0.9, "latency": 850, "tokensUsed": 1200, "cost": 0.004,
                                "userSatisfaction": "positive", "citation_quality": 0.7},
                    "context": {"insightId": "ins-1", "conversationId": "c-1", "intent": "risk"}}),
        )
        .await;

    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(r.body["status"], "stored");
    assert_eq!(r.body["variant"], assigned);
    let row: (
        String,
        String,
        Option<f64>,
        Option<i64>,
        Option<String>,
        Value,
    ) = sqlx::query_as(
        "select variant, event_type, quality, tokens_used, user_satisfaction, custom_metrics
         from events where id = $1::uuid",
    )
    .bind(r.body["eventId"].as_str().unwrap())
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!(json!(row.0), assigned);
    assert_eq!(row.1, "feedback");
    assert_eq!(row.2, Some(0.9));
    assert_eq!(row.3, Some(1200));
    assert_eq!(row.4.as_deref(), Some("positive"));
    assert_eq!(row.5["citation_quality"], 0.7);
}

#[sqlx::test]
async fn each_invalid_field_is_refused_by_name_and_nothing_is_stored(pool: PgPool) {
    let app = spawn_app(pool).await;
    let root = app.root().await;
    let service = app.token(Role::Service, Some("acme")).await;
    let id = app
        .live_experiment(&root, &experiment_body("strict"), 1)
        .await;
    let future = (chrono::Utc::now() + chrono::Duration::minutes(10)).to_rfc3339();
    let past = (chrono::Utc::now() - chrono::Duration::days(3)).to_rfc3339();
    let cases = [
        (
            json!({"userId": "u", "eventType": "exposure", "metrics": {"quality": 1.2}}),
            "metrics.quality",
        ),
        (
            json!({"userId": "u", "eventType": "exposure", "metrics": {"latency": -5}}),
            "metrics.latency",
        ),
        (
            json!({"userId": "u", "eventType": "exposure", "metrics": {"cost": -1}}),
            "metrics.cost",
        ),
        (
            json!({"userId": "u", "eventType": "exposure", "metrics": {"tokensUsed": -1}}),
            "metrics.tokensUsed",
        ),
        (
            json!({"userId": "u", "eventType": "exposure", "timestamp": future}),
            "timestamp",
        ),
        (
            json!({"userId": "u", "eventType": "exposure", "timestamp": past}),
            "timestamp",
        ),
        (json!({"userId": "u", "eventType": "clicked"}), "eventType"),
        (
            json!({"userId": "u", "eventType": "exposure", "variant": "treatment"}),
            "variant",
        ),
        (json!({"eventType": "exposure"}), "userId"),
    ];
    for (event, field) in cases {
        let r = app.post_as(&events_path(&id), &service, &event).await;
        assert_eq!(r.status, 422, "{event}: {}", r.body);
        assert_eq!(r.fields(), [field], "{event}");
    }
    assert_eq!(stored(&app.pool, &id).await, 0);
}

#[sqlx::test]
async fn events_of_experiments_that_are_not_running_are_refused(pool: PgPool) {
    let app = spawn_app(pool).await;
    let root = app.root().await;
    let draft = app.create(&root, &experiment_body("draft")).await;
    let event = json!({"userId": "u", "eventType": "exposure", "tenantId": "acme"});
    let r = app.post_as(&events_path(&draft), &root, &event).await;
    assert_eq!(r.status, 409, "{}", r.body);
    assert!(
        r.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("draft")
    );
    let r = app
        .post_as(
            &events_path("018f0000-0000-7000-8000-00000000dead"),
            &root,
            &event,
        )
        .await;
    assert_eq!(r.status, 404, "{}", r.body);
}

#[sqlx::test]
async fn a_user_outside_the_experiment_has_no_events_that_count(pool: PgPool) {
    let app = spawn_app(pool).await;
    let root = app.root().await;
    let mut body = experiment_body("vip only");
    body["targeting"] = json!({"userIds": ["vip"]});
    let id = app.live_experiment(&root, &body, 1).await;
    let r = app
        .post_as(
            &events_path(&id),
            &root,
            &json!({"userId": "nobody", "eventType": "exposure", "tenantId": "acme"}),
        )
        .await;
    assert_eq!(r.status, 422, "{}", r.body);
    assert_eq!(r.fields(), ["userId"]);
    // A targeted user counts even before resolve wrote their assignment.
    let r = app
        .post_as(
            &events_path(&id),
            &root,
            &json!({"userId": "vip", "eventType": "exposure", "tenantId": "acme"}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
}

#[sqlx::test]
async fn the_same_idempotency_key_twice_stores_one_event(pool: PgPool) {
    let app = spawn_app(pool).await;
    let root = app.root().await;
    let service = app.token(Role::Service, Some("acme")).await;
    let id = app
        .live_experiment(&root, &experiment_body("once"), 1)
        .await;
    let event = json!({"userId": "u1", "eventType": "conversion", "idempotencyKey": "order-42"});
    let first = app.post_as(&events_path(&id), &service, &event).await;
    let second = app.post_as(&events_path(&id), &service, &event).await;
    assert_eq!(first.status, 201, "{}", first.body);
    assert_eq!(second.status, 200, "{}", second.body);
    assert_eq!(second.body["status"], "duplicate");
    let batch = app
        .post_as(
            "/api/v1/insights/events/batch",
            &service,
            &json!({"events": [
                {"experimentId": id, "userId": "u2", "eventType": "conversion", "idempotencyKey": "k"},
                {"experimentId": id, "userId": "u2", "eventType": "conversion", "idempotencyKey": "k"}
            ]}),
        )
        .await;
    assert_eq!(batch.body["stored"], 1, "{}", batch.body);
    assert_eq!(batch.body["duplicates"], 1);
    assert_eq!(stored(&app.pool, &id).await, 2);
}

#[sqlx::test]
async fn a_batch_stores_the_good_events_and_reports_each_bad_one(pool: PgPool) {
    let app = spawn_app(pool).await;
    let root = app.root().await;
    let service = app.token(Role::Service, Some("acme")).await;
    let id = app
        .live_experiment(&root, &experiment_body("batch"), 1)
        .await;
    let r = app
        .post_as(
            "/api/v1/insights/events/batch",
            &service,
            &json!({"events": [
                {"experimentId": id, "userId": "a", "eventType": "exposure", "metrics": {"quality": 0.5}},
                {"experimentId": id, "userId": "b", "eventType": "exposure", "metrics": {"quality": 5}},
                {"experimentId": "018f0000-0000-7000-8000-00000000dead", "userId": "c", "eventType": "exposure"},
                {"userId": "d", "eventType": "exposure"},
                {"experimentId": id, "userId": "e", "eventType": "error", "tenantId": "globex"},
                "not an object",
                {"experimentId": id, "userId": "f", "eventType": "error"}
            ]}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["stored"], 2);
    assert_eq!(r.body["rejected"], 5);
    let results = r.body["results"].as_array().unwrap();
    let statuses: Vec<&str> = results
        .iter()
        .map(|x| x["status"].as_str().unwrap())
        .collect();
    assert_eq!(
        statuses,
        [
            "stored", "rejected", "rejected", "rejected", "rejected", "rejected", "stored"
        ]
    );
    let field = |i: usize| {
        results[i]["errors"][0]["field"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    assert_eq!(field(1), "events[1].metrics.quality");
    assert_eq!(field(2), "events[2].experimentId");
    assert_eq!(field(3), "events[3].experimentId");
    assert_eq!(field(4), "events[4].tenantId");
    assert_eq!(field(5), "events[5].");
    assert_eq!(stored(&app.pool, &id).await, 2);

    let too_many: Vec<Value> = (0..10_001)
        .map(|i| json!({"experimentId": id, "userId": format!("u{i}"), "eventType": "exposure"}))
        .collect();
    let r = app
        .post_as(
            "/api/v1/insights/events/batch",
            &service,
            &json!({"events": too_many}),
        )
        .await;
    assert_eq!(r.status, 422);
    assert_eq!(r.fields(), ["events"]);
}

#[sqlx::test]
async fn a_full_ingestion_queue_answers_busy_instead_of_dropping(pool: PgPool) {
    let ingest = verdict::runtime::ingest::Ingest::start_with_capacity(pool, 3);
    let events: Vec<_> = (0..4).map(|_| sample_event()).collect();
    let err = ingest.submit(events).await.unwrap_err();
    assert!(matches!(err, verdict::runtime::ingest::IngestError::Busy));
    assert_eq!(ingest.health().busy_refusals, 1);
}

fn sample_event() -> verdict::runtime::ingest::PreparedEvent {
    verdict::runtime::ingest::PreparedEvent {
        draft: verdict::domain::event::parse_event(
            &json!({"userId": "u", "eventType": "exposure"}),
            &verdict::domain::event::EventFrame {
                experiment_id: Some(uuid::Uuid::now_v7()),
                caller_tenant: Some("acme"),
                now: chrono::Utc::now(),
            },
            "",
        )
        .unwrap(),
        fallback: None,
    }
}

#[sqlx::test]
async fn every_acknowledged_event_survives_the_server_being_killed_mid_batch(pool: PgPool) {
    // Arrange: the real binary, over this test's database.
    let options = pool.connect_options();
    let url = match options.get_socket() {
        Some(dir) => format!(
            "postgres://{}@localhost/{}?host={}&port={}",
            options.get_username(),
            options.get_database().unwrap(),
            dir.display(),
            options.get_port()
        ),
        None => format!(
            "postgres://{}@{}:{}/{}",
            options.get_username(),
            options.get_host(),
            options.get_port(),
            options.get_database().unwrap()
        ),
    };
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_verdict"))
        .arg("serve")
        .env("DATABASE_URL", &url)
        .env("LEPTOS_SITE_ADDR", format!("127.0.0.1:{port}"))
        .env("RUST_LOG", "error")
        .spawn()
        .expect("the server starts");
    let app = crate::helpers::TestApp {
        address: format!("http://127.0.0.1:{port}"),
        pool: pool.clone(),
        client: reqwest::Client::new(),
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while app
        .client
        .get(format!("{}/healthz", app.address))
        .send()
        .await
        .is_err()
    {
        assert!(
            std::time::Instant::now() < deadline,
            "server did not come up"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let root = app.root().await;
    let id = app
        .live_experiment(&root, &experiment_body("durable"), 1)
        .await;

    // Act: 16 clients send batches and single events; the server is killed meanwhile.
    let acked = std::sync::Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let mut clients = Vec::new();
    for c in 0..16 {
        let (client, address, root, id, acked) = (
            app.client.clone(),
            app.address.clone(),
            root.clone(),
            id.clone(),
            acked.clone(),
        );
        clients.push(tokio::spawn(async move {
            for round in 0.. {
                let events: Vec<Value> = (0..50)
                    .map(|i| {
                        json!({"experimentId": id, "userId": format!("c{c}-u{i}"),
                                    "tenantId": "acme", "eventType": "exposure",
                                    "idempotencyKey": format!("c{c}-r{round}-{i}")})
                    })
                    .collect();
                let sent = client
                    .post(format!("{address}/api/v1/insights/events/batch"))
                    .bearer_auth(&root)
                    .json(&json!({"events": events}))
                    .send()
                    .await;
                let Ok(response) = sent else { return };
                if response.status().as_u16() != 200 {
                    continue;
                }
                let Ok(body) = response.json::<Value>().await else {
                    return;
                };
                let mut acked = acked.lock().unwrap();
                for r in body["results"].as_array().unwrap() {
                    if r["status"] == "stored" {
                        acked.push(r["eventId"].as_str().unwrap().to_owned());
                    }
                }
            }
        }));
    }
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    child.kill().expect("killed"); // SIGKILL: no graceful shutdown
    child.wait().unwrap();
    for c in clients {
        let _ = c.await;
    }

    // Assert: everything acknowledged is in the database.
    let acked = acked.lock().unwrap().clone();
    assert!(
        acked.len() > 100,
        "the load ran before the kill: {} acked",
        acked.len()
    );
    let found: i64 = sqlx::query_scalar("select count(*) from events where id = any($1::uuid[])")
        .bind(
            acked
                .iter()
                .map(|s| uuid::Uuid::parse_str(s).unwrap())
                .collect::<Vec<_>>(),
        )
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(found as usize, acked.len(), "acknowledged events lost");
    let _ = EXPERIMENTS;
}
