//! OpenFeature's remote evaluation protocol (OFREP) over HTTP: the same answer as resolve
//! for every user, reasons and metadata, targeting from the context, deployed winners, the
//! bulk route's ETag and 304, exposure bookkeeping, and every refusal in OFREP's shape.

use crate::helpers::{EXPERIMENTS, Reply, TestApp, experiment_body, spawn_app};
use serde_json::{Value, json};
use sqlx::PgPool;
use verdict::domain::Role;
use verdict::server::rest::{OfrepBulk, OfrepEvaluation, OfrepFailure};

const FLAGS: &str = "/ofrep/v1/evaluate/flags";

/// How a request authenticates.
#[derive(Clone, Copy)]
enum Auth<'a> {
    Bearer(&'a str),
    ApiKey(&'a str),
    None,
}

/// POSTs `body` (raw bytes, `content_type`) to an OFREP route.
async fn post_raw(
    app: &TestApp,
    path: &str,
    auth: Auth<'_>,
    content_type: &str,
    body: Vec<u8>,
    if_none_match: Option<&str>,
) -> Reply {
    let mut request = app
        .client
        .post(format!("{}{path}", app.address))
        .header("content-type", content_type)
        .body(body);
    request = match auth {
        Auth::Bearer(token) => request.bearer_auth(token),
        Auth::ApiKey(token) => request.header("x-api-key", token),
        Auth::None => request,
    };
    if let Some(tag) = if_none_match {
        request = request.header("if-none-match", tag);
    }
    TestApp::reply(request).await
}

/// Evaluates flag `key` for `context` with a bearer token.
async fn evaluate(app: &TestApp, token: &str, key: &str, context: Value) -> Reply {
    post_raw(
        app,
        &format!("{FLAGS}/{key}"),
        Auth::Bearer(token),
        "application/json",
        json!({ "context": context }).to_string().into_bytes(),
        None,
    )
    .await
}

/// Evaluates every flag for `context`, with an optional `If-None-Match`.
async fn evaluate_all(app: &TestApp, token: &str, context: Value, tag: Option<&str>) -> Reply {
    post_raw(
        app,
        FLAGS,
        Auth::Bearer(token),
        "application/json",
        json!({ "context": context }).to_string().into_bytes(),
        tag,
    )
    .await
}

/// The assignment resolve gives for `target_id`, if any.
fn resolved<'a>(reply: &'a Reply, target_id: &str) -> Option<&'a Value> {
    reply.body["assignments"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["targetId"] == target_id)
}

/// Checks that an OFREP evaluation says what resolve's assignment says (or the default).
fn assert_same(flag: &Value, assignment: Option<&Value>, key: &str) {
    // The shape the OpenAPI document gives.
    serde_json::from_value::<OfrepEvaluation>(flag.clone()).expect("a documented evaluation");
    assert_eq!(flag["key"], key, "{flag}");
    match assignment {
        Some(a) => {
            let deployed = a["deployed"].as_bool().unwrap();
            assert_eq!(flag["value"], a["configuration"], "{flag} vs {a}");
            assert_eq!(flag["variant"], a["variant"], "{flag} vs {a}");
            assert_eq!(flag["reason"], if deployed { "STATIC" } else { "SPLIT" });
            assert_eq!(flag["metadata"]["deployed"], deployed);
            if !deployed {
                assert_eq!(flag["metadata"]["experimentId"], a["experimentId"]);
            }
        }
        None => {
            assert_eq!(flag["reason"], "DEFAULT", "{flag}");
            assert_eq!(flag["variant"], "default");
            assert!(
                flag.get("value").is_none(),
                "no value: the caller's default"
            );
        }
    }
}

async fn acme_experiment(app: &TestApp, root: &str, name: &str, extra: Value, live: u64) -> String {
    let mut body = experiment_body(name);
    body["tenantId"] = json!("acme");
    for (k, v) in extra.as_object().unwrap() {
        body[k] = v.clone();
    }
    app.live_experiment(root, &body, live).await
}

#[sqlx::test]
async fn every_user_gets_from_an_evaluation_exactly_what_resolve_gives(pool: PgPool) {
    let app = spawn_app(pool).await;
    let root = app.root().await;
    let service = app.token(Role::Service, Some("acme")).await;
    let full = acme_experiment(&app, &root, "full", json!({}), 1).await;
    acme_experiment(
        &app,
        &root,
        "small",
        json!({"allocation": {"control": 10, "treatment": 10}}),
        2,
    )
    .await;
    let (mut split, mut defaulted) = (0, 0);
    for i in 0..300 {
        let user = format!("user-{i}");
        let resolve = app.resolve(&service, "acme", &user).await;
        assert_eq!(resolve.status, 200);
        for name in ["full", "small"] {
            let key = format!("context_template:template-{name}");
            let flag = evaluate(&app, &service, &key, json!({"targetingKey": user})).await;
            assert_eq!(flag.status, 200, "{}", flag.body);
            assert_eq!(flag.headers["content-type"], "application/json");
            let assignment = resolved(&resolve, &format!("template-{name}"));
            assert_same(&flag.body, assignment, &key);
            if name == "full" {
                assert_eq!(flag.body["metadata"]["experimentId"], full.as_str());
            }
            if assignment.is_some() {
                split += 1
            } else {
                defaulted += 1
            }
        }
    }
    assert!(
        split > 300 && defaulted > 100,
        "{split} in an arm, {defaulted} not"
    );
    // The token in X-API-Key (OFREP's other scheme) answers the same.
    let by_key = post_raw(
        &app,
        &format!("{FLAGS}/context_template:template-full"),
        Auth::ApiKey(&service),
        "application/json; charset=utf-8",
        br#"{"context": {"targetingKey": "user-1", "email": "ignored@example.com"}}"#.to_vec(),
        None,
    )
    .await;
    let bearer = evaluate(
        &app,
        &service,
        "context_template:template-full",
        json!({"targetingKey": "user-1"}),
    )
    .await;
    assert_eq!(by_key.status, 200, "{}", by_key.body);
    assert_eq!(by_key.body, bearer.body);
}

#[sqlx::test]
async fn the_contexts_tenant_intent_and_scope_target_as_resolves_do(pool: PgPool) {
    let app = spawn_app(pool).await;
    let root = app.root().await;
    let service = app.token(Role::Service, Some("acme")).await;
    acme_experiment(
        &app,
        &root,
        "aimed",
        json!({"targeting": {"intents": ["risk"], "scopes": [{"project": "apollo"}]}}),
        1,
    )
    .await;
    let key = "context_template:template-aimed";
    let reason = |context: Value| {
        let (app, service) = (&app, service.clone());
        async move { evaluate(app, &service, key, context).await.body["reason"].clone() }
    };
    let aimed = json!({"targetingKey": "u1", "intent": "risk", "scope": {"project": "apollo", "team": "x"}});
    assert_eq!(reason(aimed.clone()).await, "SPLIT");
    let mut with_tenant = aimed.clone();
    with_tenant["tenantId"] = json!("acme");
    assert_eq!(reason(with_tenant).await, "SPLIT", "its own tenant, named");
    let mut other_intent = aimed.clone();
    other_intent["intent"] = json!("summary");
    assert_eq!(reason(other_intent).await, "DEFAULT");
    assert_eq!(
        reason(json!({"targetingKey": "u1", "intent": "risk"})).await,
        "DEFAULT",
        "no scope"
    );
    // Resolve agrees, request for request.
    let r = app
        .post_as(
            "/api/v1/insights/resolve",
            &service,
            &json!({"tenantId": "acme", "userId": "u1", "intent": "risk",
                    "scope": {"project": "apollo", "team": "x"}}),
        )
        .await;
    let flag = evaluate(&app, &service, key, aimed).await;
    assert_same(&flag.body, resolved(&r, "template-aimed"), key);
    // A token of every tenant names the tenant in the context.
    let as_root = evaluate(
        &app,
        &root,
        key,
        json!({"targetingKey": "u1", "tenantId": "acme", "intent": "risk",
               "scope": {"project": "apollo"}}),
    )
    .await;
    assert_eq!(as_root.body["reason"], "SPLIT", "{}", as_root.body);
    // Another tenant's context does not reach acme's flag.
    let globex = evaluate(
        &app,
        &root,
        key,
        json!({"targetingKey": "u1", "tenantId": "globex", "intent": "risk"}),
    )
    .await;
    assert_eq!(globex.status, 404, "{}", globex.body);
    assert_eq!(globex.body["errorCode"], "FLAG_NOT_FOUND");
}

#[sqlx::test]
async fn a_deployed_winner_is_static_at_its_rollout_share(pool: PgPool) {
    let app = spawn_app(pool).await;
    let root = app.root().await;
    let service = app.token(Role::Service, Some("acme")).await;
    let id = acme_experiment(&app, &root, "rolled", json!({}), 1).await;
    app.post_as(
        &format!("{EXPERIMENTS}/{id}/declare-winner"),
        &root,
        &json!({"winner": "treatment"}),
    )
    .await;
    let r = app
        .post_as(
            &format!("{EXPERIMENTS}/{id}/deploy-winner"),
            &root,
            &json!({"winner": "treatment", "rolloutPercentage": 25}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    app.wait_for_live(0).await;
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let key = "context_template:template-rolled";
    let mut served = 0;
    for i in 0..400 {
        let user = format!("u{i}");
        let flag = evaluate(&app, &service, key, json!({"targetingKey": user})).await;
        assert_eq!(flag.status, 200, "{}", flag.body);
        let resolve = app.resolve(&service, "acme", &user).await;
        let assignment = resolved(&resolve, "template-rolled");
        assert_same(&flag.body, assignment, key);
        if assignment.is_some() {
            served += 1;
            assert_eq!(flag.body["value"]["templateId"], "risk-v2");
            assert_eq!(flag.body["metadata"]["experimentId"], id.as_str());
        }
    }
    assert!((60..=140).contains(&served), "about 25% of 400: {served}");
}

#[sqlx::test]
async fn bulk_evaluation_lists_every_flag_and_its_etag_makes_a_second_fetch_a_304(pool: PgPool) {
    let app = spawn_app(pool).await;
    let root = app.root().await;
    let service = app.token(Role::Service, Some("acme")).await;
    acme_experiment(&app, &root, "one", json!({}), 1).await;
    let two = acme_experiment(
        &app,
        &root,
        "two",
        json!({"targetType": "prompt", "targetId": "checkout-summary"}),
        2,
    )
    .await;
    let mut system = experiment_body("everyone");
    system["tenantId"] = json!("system");
    app.live_experiment(&root, &system, 3).await;
    let mut other = experiment_body("other");
    other["tenantId"] = json!("globex");
    app.live_experiment(&root, &other, 4).await;

    let context = json!({"targetingKey": "dora"});
    let first = evaluate_all(&app, &service, context.clone(), None).await;
    assert_eq!(first.status, 200, "{}", first.body);
    serde_json::from_value::<OfrepBulk>(first.body.clone()).expect("a documented answer");
    let etag = first.headers["etag"].to_str().unwrap().to_owned();
    let mut keys: Vec<&str> = first.body["flags"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["key"].as_str().unwrap())
        .collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        [
            "context_template:template-everyone",
            "context_template:template-one",
            "prompt:checkout-summary"
        ],
        "acme's flags and the system's, not globex's"
    );
    // Each flag is what a single evaluation and resolve give.
    let resolve = app.resolve(&service, "acme", "dora").await;
    for flag in first.body["flags"].as_array().unwrap() {
        let key = flag["key"].as_str().unwrap();
        let single = evaluate(&app, &service, key, context.clone()).await;
        assert_eq!(&single.body, flag);
        let target_id = key.split_once(':').unwrap().1;
        assert_same(flag, resolved(&resolve, target_id), key);
    }

    let again = evaluate_all(&app, &service, context.clone(), Some(&etag)).await;
    assert_eq!(again.status, 304);
    assert_eq!(again.body, Value::Null, "no body");
    assert_eq!(again.headers["etag"], etag.as_str());
    // Another user's answer is another tag.
    let bob = evaluate_all(&app, &service, json!({"targetingKey": "bob"}), Some(&etag)).await;
    assert_eq!(bob.status, 200);
    assert_ne!(bob.headers["etag"], etag.as_str());
    // A change to the live experiments changes the tag.
    assert_eq!(app.act(&root, &two, "pause").await.status, 200);
    app.wait_for_live(3).await;
    let changed = evaluate_all(&app, &service, context, Some(&etag)).await;
    assert_eq!(changed.status, 200);
    assert_eq!(changed.body["flags"].as_array().unwrap().len(), 2);
    assert_ne!(changed.headers["etag"], etag.as_str());
}

#[sqlx::test]
async fn an_evaluation_records_the_exposure_of_its_flag_only(pool: PgPool) {
    let app = spawn_app(pool).await;
    let root = app.root().await;
    let service = app.token(Role::Service, Some("acme")).await;
    let one = acme_experiment(&app, &root, "one", json!({}), 1).await;
    let two = acme_experiment(&app, &root, "two", json!({}), 2).await;
    for _ in 0..2 {
        let r = evaluate(
            &app,
            &service,
            "context_template:template-one",
            json!({"targetingKey": "erin"}),
        )
        .await;
        assert_eq!(r.status, 200);
    }
    let bulk = evaluate_all(&app, &service, json!({"targetingKey": "finn"}), None).await;
    assert_eq!(bulk.status, 200);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        let rows: Vec<(String, String, i64)> = sqlx::query_as(
            "select experiment_id::text, user_id, exposure_count from assignments
             order by user_id, experiment_id::text",
        )
        .fetch_all(&app.pool)
        .await
        .unwrap();
        let mut expected = vec![
            (one.clone(), "erin".to_owned(), 2),
            (one.clone(), "finn".to_owned(), 1),
            (two.clone(), "finn".to_owned(), 1),
        ];
        expected.sort_by(|a, b| (&a.1, &a.0).cmp(&(&b.1, &b.0)));
        if rows == expected {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "exposures: {rows:?}, expected {expected:?}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

/// A request and the refusal it must get: path, auth, content type, body → status,
/// errorCode, and a word its errorDetails must hold.
type Refusal<'a> = (
    String,
    Auth<'a>,
    &'static str,
    Vec<u8>,
    u16,
    &'static str,
    &'static str,
);

#[sqlx::test]
async fn every_refusal_is_in_ofreps_shape_and_names_what_is_wrong(pool: PgPool) {
    let app = spawn_app(pool).await;
    let root = app.root().await;
    let service = app.token(Role::Service, Some("acme")).await;
    let viewer = app.token(Role::Viewer, Some("acme")).await;
    acme_experiment(&app, &root, "known", json!({}), 1).await;
    let key = "context_template:template-known";
    let path = format!("{FLAGS}/{key}");
    let j = |v: Value| v.to_string().into_bytes();
    let ok = j(json!({"context": {"targetingKey": "u"}}));

    let json = "application/json";
    let bearer = Auth::Bearer(&service);
    // Bodies the service token sends to the known flag: status, errorCode, a word of the details.
    let bodies: Vec<(Vec<u8>, u16, &str, &str)> = vec![
        (j(json!({})), 400, "TARGETING_KEY_MISSING", "targetingKey"),
        (
            j(json!({"context": {"email": "a@b"}})),
            400,
            "TARGETING_KEY_MISSING",
            "targetingKey",
        ),
        (
            j(json!({"context": "u"})),
            400,
            "INVALID_CONTEXT",
            "context",
        ),
        (
            j(json!({"context": {"targetingKey": 5}})),
            400,
            "INVALID_CONTEXT",
            "targetingKey",
        ),
        (
            j(json!({"context": {"targetingKey": "x".repeat(1001)}})),
            400,
            "INVALID_CONTEXT",
            "targetingKey",
        ),
        (
            j(json!({"context": {"targetingKey": "u", "intent": ""}})),
            400,
            "INVALID_CONTEXT",
            "intent",
        ),
        (
            j(json!({"context": {"targetingKey": "u", "scope": [1]}})),
            400,
            "INVALID_CONTEXT",
            "scope",
        ),
        (b"{\"context\": ".to_vec(), 400, "PARSE_ERROR", "JSON"),
        (
            j(json!({"context": {"targetingKey": "u", "tenantId": "globex"}})),
            403,
            "GENERAL",
            "tenant",
        ),
        (vec![b' '; 70_000], 413, "GENERAL", "larger"),
    ];
    let mut cases: Vec<Refusal<'_>> = bodies
        .into_iter()
        .map(|(body, status, code, word)| (path.clone(), bearer, json, body, status, code, word))
        .collect();
    // Other flags, callers, content types, and the bulk route.
    let big = vec![b' '; 4 << 20];
    cases.extend([
        (
            format!("{FLAGS}/prompt:nothing"),
            bearer,
            json,
            ok.clone(),
            404,
            "FLAG_NOT_FOUND",
            "target",
        ),
        (
            format!("{FLAGS}/no-colon"),
            bearer,
            json,
            ok.clone(),
            404,
            "FLAG_NOT_FOUND",
            "targetType:targetId",
        ),
        (
            path.clone(),
            Auth::Bearer(&root),
            json,
            ok.clone(),
            400,
            "INVALID_CONTEXT",
            "tenantId",
        ),
        (
            path.clone(),
            Auth::Bearer(&viewer),
            json,
            ok.clone(),
            403,
            "GENERAL",
            "tenant",
        ),
        // Refused before the body is read: a viewer's large body is never buffered.
        (
            path.clone(),
            Auth::Bearer(&viewer),
            json,
            big,
            403,
            "GENERAL",
            "tenant",
        ),
        (
            path.clone(),
            Auth::Bearer("vdt_bad"),
            json,
            ok.clone(),
            401,
            "GENERAL",
            "token",
        ),
        (
            path.clone(),
            Auth::ApiKey("vdt_bad"),
            json,
            ok.clone(),
            401,
            "GENERAL",
            "token",
        ),
        (
            path.clone(),
            Auth::None,
            json,
            ok.clone(),
            401,
            "GENERAL",
            "token",
        ),
        (
            path.clone(),
            bearer,
            "text/plain",
            ok.clone(),
            415,
            "GENERAL",
            "application/json",
        ),
        (
            FLAGS.to_owned(),
            bearer,
            json,
            j(json!({"context": {}})),
            400,
            "TARGETING_KEY_MISSING",
            "targetingKey",
        ),
        (
            FLAGS.to_owned(),
            bearer,
            json,
            b"[]".to_vec(),
            400,
            "PARSE_ERROR",
            "object",
        ),
        (
            FLAGS.to_owned(),
            Auth::None,
            json,
            ok.clone(),
            401,
            "GENERAL",
            "token",
        ),
    ]);
    for (path, auth, content_type, body, status, code, word) in cases {
        let r = post_raw(&app, &path, auth, content_type, body, None).await;
        assert_eq!(r.status, status, "{path}: {}", r.body);
        assert_eq!(r.body["errorCode"], code, "{path}: {}", r.body);
        serde_json::from_value::<OfrepFailure>(r.body.clone()).expect("a documented refusal");
        let details = r.body["errorDetails"].as_str().unwrap();
        assert!(details.contains(word), "{path}: {details:?} names {word}");
        let single = path != FLAGS;
        // A single evaluation's refusal names its key once the caller is known (as the JS
        // provider needs to read it), a bulk one has none.
        if single && status != 401 && status != 403 {
            assert!(r.body["key"].is_string(), "{path}: {}", r.body);
        }
        if !single {
            assert!(r.body.get("key").is_none());
        }
        if status == 401 {
            assert!(r.headers.contains_key("www-authenticate"));
        }
    }
}

#[sqlx::test]
async fn a_token_that_cannot_be_checked_is_told_to_retry_with_429(pool: PgPool) {
    let app = spawn_app(pool.clone()).await;
    let root = app.root().await;
    acme_experiment(&app, &root, "known", json!({}), 1).await;
    // A token the server has never seen, while its database is gone: it cannot be checked.
    let unseen = app.token(Role::Service, Some("acme")).await;
    pool.close().await;
    let r = evaluate(
        &app,
        &unseen,
        "context_template:template-known",
        json!({"targetingKey": "u"}),
    )
    .await;
    assert_eq!(r.status, 429, "{}", r.body);
    assert_eq!(r.headers["retry-after"], "1");
    assert_eq!(r.body["errorCode"], "GENERAL");
}
