//! Results at scale: a full recompute of one experiment from its per-user rollups, and
//! serving the stored snapshot.
//!
//! `DATABASE_URL=… cargo bench --bench results --features ssr`
//! (`bash benches/results.sh` sets up the database and runs it.)
//!
//! The rollups are what the ingestion pipeline maintains (one row per user, updated in the
//! events' transaction); they are generated here with SQL so that 10,000,000 events need not
//! be sent first. 1,000,000 events from 100,000 users → 100,000 rollup rows; 10,000,000
//! events from 1,000,000 users → 1,000,000 rows. Each size is run for two arms (the spec's
//! shape) and four arms (three comparisons with the control), in the same run.

use std::time::Instant;
use verdict::domain::experiment::{Action, ExperimentInput};
use verdict::domain::{Principal, Role};
use verdict::service::{experiments, results};

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
    let sizes: Vec<(i64, i64)> = match std::env::var("RESULTS_BENCH_USERS") {
        Ok(list) => list
            .split(',')
            .filter_map(|n| n.trim().parse().ok())
            .map(|n| (n, 10))
            .collect(),
        Err(_) => vec![(100_000, 10), (1_000_000, 10)],
    };
    for (users, events_per_user, arms) in
        sizes.iter().flat_map(|&(u, e)| [(u, e, 2usize), (u, e, 4)])
    {
        let keys = ["control", "treatment", "c", "d"];
        let keys = &keys[..arms];
        let share = 100 / arms as i64;
        let variants: Vec<serde_json::Value> = keys
            .iter()
            .map(|k| serde_json::json!({"key": k, "name": k}))
            .collect();
        let allocation: serde_json::Map<String, serde_json::Value> = keys
            .iter()
            .map(|k| ((*k).to_owned(), serde_json::json!(share)))
            .collect();
        let input: ExperimentInput = serde_json::from_value(serde_json::json!({
            "tenantId": "acme", "name": format!("results bench {users} {arms} arms"),
            "targetType": "prompt", "targetId": format!("bench-{users}-{}", uuid::Uuid::now_v7()),
            "variants": variants,
            "allocation": allocation,
            "primaryMetric": "quality",
            "successCriteria": {"metric": "quality", "operator": ">", "threshold": 5, "confidenceLevel": 0.95},
            "secondaryMetrics": ["latency", "cost", "error_rate"],
            "minDuration": 7, "minSamplesPerVariant": 1000
        }))?;
        let e = experiments::create(&pool, &root, input)
            .await
            .map_err(|e| anyhow::anyhow!("{e:?}"))?;
        experiments::transition(&pool, &root, e.id, Action::Start, false)
            .await
            .map_err(|e| anyhow::anyhow!("{e:?}"))?;
        let t = Instant::now();
        sqlx::query(
            "insert into user_metrics (experiment_id, tenant_id, user_id, variant, events, errors,
                 quality_n, quality_sum, latency_n, latency_sum, tokens_n, tokens_sum, cost_n,
                 cost_sum, positive, negative, neutral, first_ts, last_ts)
             select $1, 'acme', 'user-' || g, ($4::text[])[1 + g % array_length($4::text[], 1)],
                 $3, (random() * 0.3)::int, $3, $3 * (0.6 + 0.05 * (g % 2) + random() * 0.2),
                 $3, $3 * 1000 * exp(random()), $3, $3 * (800 + random() * 400), $3,
                 $3 * 0.004 * (0.5 + random()), (random() * 3)::int, (random() * 2)::int,
                 (random() * 2)::int, now() - interval '7 days', now()
             from generate_series(1, $2) g",
        )
        .bind(e.id)
        .bind(users)
        .bind(events_per_user)
        .bind(keys)
        .execute(&pool)
        .await?;
        sqlx::query(
            "insert into daily_metrics (experiment_id, day, variant, events, quality_n, quality_mean,
                 quality_m2, latency_n, latency_mean, latency_m2)
             select $1, current_date - d, v, $2 / 28, $2 / 28, 0.65 + random() * 0.05, $2 / 28 * 0.01,
                 $2 / 28, 1500, $2 / 28 * 250000.0
             from generate_series(0, 13) d, unnest($3::text[]) v",
        )
        .bind(e.id)
        .bind(users * events_per_user)
        .bind(keys)
        .execute(&pool)
        .await?;
        sqlx::query("analyze user_metrics").execute(&pool).await?;
        println!(
            "{} events from {users} users in {arms} arms: rollups generated in {:.1} s",
            users * events_per_user,
            t.elapsed().as_secs_f64()
        );
        let e = experiments::get(&pool, &root, e.id)
            .await
            .map_err(|e| anyhow::anyhow!("{e:?}"))?;
        for run in 1..=3 {
            let t = Instant::now();
            let rows = verdict::store::results::user_rows(&pool, e.id).await?.users;
            let days = verdict::store::results::day_rows(&pool, e.id).await?;
            let sql = t.elapsed();
            let t2 = Instant::now();
            let report = verdict::domain::results::compute_arms(
                &e,
                &verdict::domain::results::ObservedArms {
                    users: &rows,
                    days: &days,
                    assigned: None,
                    users_in_both_arms: 0,
                    latency: None,
                },
                None,
                chrono::Utc::now(),
            );
            let rust = t2.elapsed();
            let t3 = Instant::now();
            results::recompute(&pool, &e)
                .await
                .map_err(|e| anyhow::anyhow!("{e:?}"))?;
            let full = t3.elapsed();
            println!(
                "  run {run}: full recompute (read + compute + store) {:.0} ms; of which reading {} rows {:.0} ms, statistics in Rust {:.0} ms; recommendation {:?}",
                full.as_secs_f64() * 1000.0,
                rows.len(),
                sql.as_secs_f64() * 1000.0,
                rust.as_secs_f64() * 1000.0,
                report.comparison.recommendation
            );
        }
        let mut serve = Vec::new();
        for _ in 0..50 {
            let t = Instant::now();
            results::results(&pool, &root, e.id)
                .await
                .map_err(|e| anyhow::anyhow!("{e:?}"))?;
            serve.push(t.elapsed().as_secs_f64() * 1000.0);
        }
        serve.sort_by(f64::total_cmp);
        println!(
            "  serving the stored snapshot: median {:.2} ms, p95 {:.2} ms",
            serve[serve.len() / 2],
            serve[serve.len() * 95 / 100]
        );
    }
    Ok(())
}
