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
    let ingest = verdict::runtime::ingest::Ingest::start_with_capacity(
        pool,
        3,
        &verdict::runtime::supervise::Supervisor::new(),
    );
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
    /// The server process, killed however the test ends (a failed assertion too).
    struct Server(std::process::Child);
    impl Drop for Server {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let mut child = Server(
        std::process::Command::new(env!("CARGO_BIN_EXE_verdict"))
            .arg("serve")
            .env("DATABASE_URL", &url)
            .env("LEPTOS_SITE_ADDR", format!("127.0.0.1:{port}"))
            .env("RUST_LOG", "error")
            .spawn()
            .expect("the server starts"),
    );
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
    child.0.kill().expect("killed"); // SIGKILL: no graceful shutdown
    child.0.wait().unwrap();
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
    // The killed server's connections end as PostgreSQL notices them gone: wait for that,
    // so the test's database can be dropped after it.
    for _ in 0..200 {
        let others: i64 = sqlx::query_scalar(
            "select count(*) from pg_stat_activity
             where datname = current_database() and pid <> pg_backend_pid()",
        )
        .fetch_one(&pool)
        .await
        .unwrap();
        if others < i64::from(pool.size()) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

/// Large batches mixing events without an idempotency key (written by binary COPY) and with
/// one (INSERT … ON CONFLICT), sent twice: every field of a copied event is stored as sent,
/// the keyed ones are stored once, and the rollups count exactly what the events table holds.
#[sqlx::test]
async fn large_mixed_batches_store_every_field_and_keep_the_rollups_exact(pool: PgPool) {
    let app = spawn_app(pool).await;
    let root = app.root().await;
    let service = app.token(Role::Service, Some("acme")).await;
    let id = app
        .live_experiment(&root, &experiment_body("copy"), 1)
        .await;
    // A time after the experiment started, with microseconds (what PostgreSQL keeps).
    let ts = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
    let batch: Vec<Value> = (0..3000)
        .map(|i| {
            let mut e = json!({"experimentId": id, "userId": format!("user-{}", i % 700),
                "eventType": if i % 10 == 0 { "error" } else { "feedback" },
                "metrics": {"quality": (i % 11) as f64 / 10.0, "latency": 100 + i,
                            "tokensUsed": i, "cost": 0.001 * i as f64,
                            "userSatisfaction": (["positive", "negative", "neutral"][i % 3]),
                            "citation_quality": 0.25, "pre_experiment": 2.5},
                "context": {"insightId": format!("ins-{i}"), "conversationId": "conv",
                            "intent": "risk", "scope": {"project": i, "name": "ü \"q\""}},
                "timestamp": ts});
            if i % 3 == 0 {
                e["idempotencyKey"] = json!(format!("key-{i}"));
            }
            if i % 7 == 0 {
                // Sparse events: no metrics, no context, no timestamp.
                e = json!({"experimentId": id, "userId": format!("user-{}", i % 700),
                           "eventType": "exposure"});
                if i % 2 == 0 {
                    e["idempotencyKey"] = json!(format!("key-{i}"));
                }
            }
            e
        })
        .collect();
    let keyed = batch
        .iter()
        .filter(|e| e.get("idempotencyKey").is_some())
        .count() as i64;
    let unkeyed = batch.len() as i64 - keyed;

    let first = app
        .post_as(
            "/api/v1/insights/events/batch",
            &service,
            &json!({"events": batch}),
        )
        .await;
    assert_eq!(first.status, 200, "{}", first.body);
    assert_eq!(first.body["stored"], 3000, "{}", first.body);
    let second = app
        .post_as(
            "/api/v1/insights/events/batch",
            &service,
            &json!({"events": batch}),
        )
        .await;
    assert_eq!(second.status, 200, "{}", second.body);
    assert_eq!(second.body["stored"], unkeyed);
    assert_eq!(second.body["duplicates"], keyed);
    for (i, r) in second.body["results"]
        .as_array()
        .unwrap()
        .iter()
        .enumerate()
    {
        let expected = if batch[i].get("idempotencyKey").is_some() {
            "duplicate"
        } else {
            "stored"
        };
        assert_eq!(r["status"], expected, "event {i}: {r}");
        assert_eq!(r["index"], i);
    }
    assert_eq!(stored(&app.pool, &id).await, 3000 + unkeyed);

    // A copied event holds what was sent, field by field.
    let copied = first.body["results"][1]["eventId"].as_str().unwrap();
    #[derive(sqlx::FromRow)]
    struct Stored {
        tenant_id: String,
        user_id: String,
        event_type: String,
        quality: Option<f64>,
        latency_ms: Option<f64>,
        tokens_used: Option<i64>,
        cost: Option<f64>,
        user_satisfaction: Option<String>,
        custom_metrics: Value,
        insight_id: Option<String>,
        conversation_id: Option<String>,
        intent: Option<String>,
        scope: Option<Value>,
        ts: chrono::DateTime<chrono::Utc>,
        idempotency_key: Option<String>,
        assigned: bool,
    }
    let row: Stored = sqlx::query_as(
        "select e.tenant_id, e.user_id, e.event_type, e.quality, e.latency_ms, e.tokens_used,
                e.cost, e.user_satisfaction, e.custom_metrics, e.insight_id, e.conversation_id,
                e.intent, e.scope, e.ts, e.idempotency_key,
                e.assignment_id = a.id and e.variant = a.variant as assigned
         from events e join assignments a on a.tenant_id = e.tenant_id
             and a.experiment_id = e.experiment_id and a.user_id = e.user_id
         where e.id = $1::uuid",
    )
    .bind(copied)
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!(row.tenant_id, "acme");
    assert_eq!(row.user_id, "user-1");
    assert_eq!(row.event_type, "feedback");
    assert_eq!(row.quality, Some(0.1));
    assert_eq!(row.latency_ms, Some(101.0));
    assert_eq!(row.tokens_used, Some(1));
    assert_eq!(row.cost, Some(0.001));
    assert_eq!(row.user_satisfaction.as_deref(), Some("negative"));
    assert_eq!(
        row.custom_metrics,
        json!({"citation_quality": 0.25, "pre_experiment": 2.5})
    );
    assert_eq!(row.insight_id.as_deref(), Some("ins-1"));
    assert_eq!(row.conversation_id.as_deref(), Some("conv"));
    assert_eq!(row.intent.as_deref(), Some("risk"));
    assert_eq!(row.scope, Some(json!({"project": 1, "name": "ü \"q\""})));
    assert_eq!(row.ts, ts.parse::<chrono::DateTime<chrono::Utc>>().unwrap());
    assert_eq!(row.idempotency_key, None);
    assert!(row.assigned, "the event carries its user's assignment");
    let sparse = first.body["results"][7]["eventId"].as_str().unwrap();
    let row: (Option<f64>, Value, Option<Value>, Option<String>) = sqlx::query_as(
        "select quality, custom_metrics, scope, insight_id from events where id = $1::uuid",
    )
    .bind(sparse)
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!(row, (None, json!({}), None, None));

    // The rollups agree with the events, user by user and day by day, once every event is
    // folded into the per-user ones.
    app.fold_everything().await;
    let mismatched: i64 = sqlx::query_scalar(
        "with e as (
             select tenant_id, user_id, count(*) as n,
                    count(*) filter (where event_type = 'error') as errors,
                    count(quality) as qn, coalesce(sum(quality), 0) as qs,
                    count(latency_ms) as ln, count(tokens_used) as tn, count(cost) as cn,
                    count((custom_metrics ->> 'citation_quality')::float8) as citn,
                    count((custom_metrics ->> 'pre_experiment')::float8) as pren,
                    count(*) filter (where user_satisfaction = 'positive') as pos,
                    count(*) filter (where user_satisfaction = 'negative') as neg,
                    count(*) filter (where user_satisfaction = 'neutral') as neu
             from events where experiment_id = $1::uuid group by tenant_id, user_id)
         select count(*) from e full join user_metrics m
             on m.experiment_id = $1::uuid and m.tenant_id = e.tenant_id and m.user_id = e.user_id
         where m.events is distinct from e.n or m.errors is distinct from e.errors
            or m.quality_n is distinct from e.qn or abs(m.quality_sum - e.qs) > 1e-9
            or m.latency_n is distinct from e.ln or m.tokens_n is distinct from e.tn
            or m.cost_n is distinct from e.cn or m.citation_n is distinct from e.citn
            or m.pre_n is distinct from e.pren or m.positive is distinct from e.pos
            or m.negative is distinct from e.neg or m.neutral is distinct from e.neu",
    )
    .bind(&id)
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!(mismatched, 0, "user_metrics disagrees with the events");
    let users: i64 =
        sqlx::query_scalar("select count(*) from user_metrics where experiment_id = $1::uuid")
            .bind(&id)
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert_eq!(users, 700);
    let (daily, events): (i64, i64) = sqlx::query_as(
        "select (select sum(events)::int8 from daily_metrics where experiment_id = $1::uuid),
                (select count(*) from events where experiment_id = $1::uuid)",
    )
    .bind(&id)
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!(daily, events);
}

/// A single event for a user whose assignment another transaction is creating at that very
/// moment (here: with the variant the hash does not give, as a resolve under an earlier
/// allocation could have): the event waits for it, and is stored with that assignment and its
/// variant, not a second one.
#[sqlx::test]
async fn an_assignment_being_created_elsewhere_is_the_one_an_event_gets(pool: PgPool) {
    use verdict::domain::assignment::{Allocation, Variant, assign};
    let app = spawn_app(pool).await;
    let root = app.root().await;
    let service = app.token(Role::Service, Some("acme")).await;
    let id = app
        .live_experiment(&root, &experiment_body("raced"), 1)
        .await;
    let salt: String = sqlx::query_scalar("select salt from experiments where id = $1::uuid")
        .bind(&id)
        .fetch_one(&app.pool)
        .await
        .unwrap();
    let hashed = assign(&salt, "racer", &Allocation::new(50, 50)).unwrap();
    let other = if hashed == Variant::Control {
        "treatment"
    } else {
        "control"
    };
    let assignment = uuid::Uuid::now_v7();
    let mut elsewhere = app.pool.begin().await.unwrap();
    sqlx::query(
        "insert into assignments (tenant_id, experiment_id, user_id, id, variant, assigned_at)
         values ('acme', $1::uuid, 'racer', $2, $3, now())",
    )
    .bind(&id)
    .bind(assignment)
    .bind(other)
    .execute(&mut *elsewhere)
    .await
    .unwrap();

    let path = events_path(&id);
    let event = json!({"userId": "racer", "eventType": "conversion", "metrics": {"quality": 0.5}});
    let send = app.post_as(&path, &service, &event);
    let commit = async {
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        elsewhere.commit().await.unwrap();
    };
    let (r, ()) = tokio::join!(send, commit);
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(r.body["variant"], other);
    let (stored_assignment, variant): (uuid::Uuid, String) =
        sqlx::query_as("select assignment_id, variant from events where id = $1::uuid")
            .bind(r.body["eventId"].as_str().unwrap())
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert_eq!((stored_assignment, variant.as_str()), (assignment, other));
    let assignments: i64 = sqlx::query_scalar(
        "select count(*) from assignments where experiment_id = $1::uuid and user_id = 'racer'",
    )
    .bind(&id)
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!(assignments, 1);
    // The rollups (folded or not) count the user once, in that variant.
    let rows = verdict::store::results::user_rows(&app.pool, id.parse().unwrap())
        .await
        .unwrap()
        .users;
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].variant.as_str(), other);
    assert_eq!(rows[0].events, 1);
}
