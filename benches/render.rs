//! Server render time of the admin UI's pages: the dashboard with 200 experiments, and the
//! results page of an experiment with 1,000,000 events (served from its stored snapshot,
//! charts drawn per request), with two arms and with eight (the same events spread over
//! eight arms: a column per arm, seven comparisons, charts of eight series). The app runs in-process exactly as `verdict serve` builds it
//! (background tasks included) and is asked over HTTP on loopback, one request at a time.
//!
//! `DATABASE_URL=… cargo bench --bench render --features ssr`
//! (`bash benches/render.sh` sets up the database and runs it.)

use std::time::{Duration, Instant};
use verdict::domain::experiment::{Action, ExperimentInput};
use verdict::domain::{Principal, Role};
use verdict::server::{Application, Settings};
use verdict::service::{experiments, results, tokens};

/// The arms of the eight-arm experiment.
const EIGHT: [&str; 8] = ["control", "b", "c", "d", "e", "f", "g", "h"];

/// An experiment of the eight arms `EIGHT`, 12 % of traffic each.
fn input_eight(name: &str, target: &str) -> anyhow::Result<ExperimentInput> {
    let mut v = serde_json::to_value(input(name, target)?)?;
    let o = v
        .as_object_mut()
        .ok_or_else(|| anyhow::anyhow!("not an object"))?;
    o.remove("control");
    o.remove("treatment");
    o.insert(
        "variants".into(),
        EIGHT
            .iter()
            .map(|k| serde_json::json!({"key": k, "name": format!("Template {k}"), "configuration": {"templateId": k}}))
            .collect(),
    );
    o.insert(
        "allocation".into(),
        EIGHT
            .iter()
            .map(|k| ((*k).to_owned(), serde_json::json!(12)))
            .collect(),
    );
    Ok(serde_json::from_value(v)?)
}

/// 1,000,000 events from 100,000 users over 14 days, spread over `arms` by user (rollups
/// generated with SQL, as benches/results.rs does).
async fn fill(pool: &sqlx::PgPool, id: uuid::Uuid, arms: &[&str]) -> anyhow::Result<()> {
    let arms: Vec<String> = arms.iter().map(|a| (*a).to_owned()).collect();
    sqlx::query(
        "insert into user_metrics (experiment_id, tenant_id, user_id, variant, events, errors,
             quality_n, quality_sum, latency_n, latency_sum, tokens_n, tokens_sum, cost_n,
             cost_sum, positive, negative, neutral, first_ts, last_ts)
         select $1, 'acme', 'user-' || g, ($2::text[])[1 + g % cardinality($2::text[])],
             10, (random() * 0.3)::int, 10, 10 * (0.6 + 0.05 * (g % 2) + random() * 0.2),
             10, 10 * 1000 * exp(random()), 10, 10 * (800 + random() * 400), 10,
             10 * 0.004 * (0.5 + random()), (random() * 3)::int, (random() * 2)::int,
             (random() * 2)::int, now() - interval '7 days', now()
         from generate_series(1, 100000) g",
    )
    .bind(id)
    .bind(&arms)
    .execute(pool)
    .await?;
    sqlx::query(
        "insert into daily_metrics (experiment_id, day, variant, events, quality_n, quality_mean,
             quality_m2, latency_n, latency_mean, latency_m2)
         select $1, current_date - d, v, 71428 / cardinality($2::text[]),
             71428 / cardinality($2::text[]), 0.65 + random() * 0.05, 357.14,
             71428 / cardinality($2::text[]), 1500, 35714 * 250000.0
         from generate_series(0, 13) d, unnest($2::text[]) v",
    )
    .bind(id)
    .bind(&arms)
    .execute(pool)
    .await?;
    Ok(())
}

fn input(name: &str, target: &str) -> anyhow::Result<ExperimentInput> {
    Ok(serde_json::from_value(serde_json::json!({
        "tenantId": "acme", "name": name,
        "description": "A context template that includes more historical data",
        "hypothesis": "History improves quality by 5%",
        "targetType": "context_template", "targetId": target,
        "control": {"name": "Current", "configuration": {"templateId": "v1"}},
        "treatment": {"name": "With history", "configuration": {"templateId": "v2"}},
        "allocation": {"control": 50, "treatment": 50},
        "primaryMetric": "quality",
        "successCriteria": {"metric": "quality", "operator": ">", "threshold": 5, "confidenceLevel": 0.95},
        "secondaryMetrics": ["latency", "cost"],
        "minDuration": 7, "minSamplesPerVariant": 1000
    }))?)
}

/// Median, p95 and size of `n` sequential GETs of `path`.
async fn measure(
    client: &reqwest::Client,
    base: &str,
    token: &str,
    path: &str,
    n: usize,
) -> anyhow::Result<(f64, f64, usize)> {
    let mut times = Vec::with_capacity(n);
    let mut size = 0;
    for i in 0..n + 5 {
        let t = Instant::now();
        let r = client
            .get(format!("{base}{path}"))
            .bearer_auth(token)
            .header("accept", "text/html")
            .send()
            .await?;
        anyhow::ensure!(r.status() == 200, "{path}: {}", r.status());
        let body = r.text().await?;
        let elapsed = t.elapsed().as_secs_f64() * 1000.0;
        // The first few warm the connection pool and caches.
        if i >= 5 {
            times.push(elapsed);
            size = body.len();
        }
    }
    times.sort_by(f64::total_cmp);
    Ok((times[n / 2], times[n * 95 / 100], size))
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let url = std::env::var("DATABASE_URL")?;
    let pool = verdict::server::db::connect(&url).await?;
    verdict::server::db::migrate(&pool).await?;
    let root = Principal {
        token_id: uuid::Uuid::nil(),
        role: Role::SuperAdmin,
        tenant_id: None,
        actor: "bench".into(),
    };
    let err = |e: verdict::service::ServiceError| anyhow::anyhow!("{e:?}");
    let run = uuid::Uuid::now_v7();

    // 200 experiments: 100 active, 50 drafts, 50 completed (each started one with a results
    // snapshot).
    let t = Instant::now();
    for i in 0..200 {
        let e = experiments::create(
            &pool,
            &root,
            input(&format!("experiment {i}"), &format!("t-{run}-{i}"))?,
        )
        .await
        .map_err(err)?;
        if i % 4 != 0 {
            experiments::transition(&pool, &root, e.id, Action::Start, false)
                .await
                .map_err(err)?;
            let live = experiments::get(&pool, &root, e.id).await.map_err(err)?;
            results::recompute(&pool, &live).await.map_err(err)?;
            if i % 4 == 1 {
                experiments::transition(&pool, &root, e.id, Action::Stop, false)
                    .await
                    .map_err(err)?;
            }
        }
    }
    println!("200 experiments made in {:.1} s", t.elapsed().as_secs_f64());

    // One experiment with 1,000,000 events from 100,000 users (rollups generated with SQL, as
    // benches/results.rs does), and its snapshot.
    let big = experiments::create(
        &pool,
        &root,
        input("one million events", &format!("big-{run}"))?,
    )
    .await
    .map_err(err)?;
    experiments::transition(&pool, &root, big.id, Action::Start, false)
        .await
        .map_err(err)?;
    fill(&pool, big.id, &["control", "treatment"]).await?;
    let eight = experiments::create(
        &pool,
        &root,
        input_eight("one million events, eight arms", &format!("eight-{run}"))?,
    )
    .await
    .map_err(err)?;
    experiments::transition(&pool, &root, eight.id, Action::Start, false)
        .await
        .map_err(err)?;
    fill(&pool, eight.id, &EIGHT).await?;
    sqlx::query("analyze").execute(&pool).await?;
    let big = experiments::get(&pool, &root, big.id).await.map_err(err)?;
    results::recompute(&pool, &big).await.map_err(err)?;
    let eight = experiments::get(&pool, &root, eight.id)
        .await
        .map_err(err)?;
    results::recompute(&pool, &eight).await.map_err(err)?;

    let token = tokens::create(&pool, Role::SuperAdmin, None, "render bench")
        .await
        .map_err(err)?
        .secret;
    let settings = Settings {
        database_url: String::new(),
        addr: "127.0.0.1:0".parse()?,
        require_approval: false,
        insecure_cookies: false,
    };
    let app = Application::build(&settings, pool.clone()).await?;
    let base = format!("http://127.0.0.1:{}", app.port());
    tokio::spawn(app.run_until_stopped());
    tokio::time::sleep(Duration::from_secs(1)).await;
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()?;

    for (what, path) in [
        ("dashboard, All tab (201 cards)", "/?tab=all".to_owned()),
        (
            "dashboard, Active tab (101 cards)",
            "/?tab=active".to_owned(),
        ),
        (
            "results page, 1,000,000 events (snapshot + 3 charts)",
            format!("/experiments/{}", big.id),
        ),
        (
            "results page, 1,000,000 events, eight arms (snapshot + 3 charts of 8 series)",
            format!("/experiments/{}", eight.id),
        ),
        ("creation wizard, step 1", "/experiments/new".to_owned()),
    ] {
        let (median, p95, size) = measure(&client, &base, &token, &path, 100).await?;
        println!(
            "{what}: median {median:.1} ms, p95 {p95:.1} ms, {:.0} KiB of HTML",
            size as f64 / 1024.0
        );
    }
    Ok(())
}
