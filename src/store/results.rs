//! Reading the rollups the results are computed from, and the stored snapshots.

use crate::domain::assignment::Variant;
use crate::domain::results::{DayRow, Feedback, UserRow};
use crate::domain::stats::Summary;
use chrono::{DateTime, NaiveDate, Utc};
use serde_json::Value;
use sqlx::PgPool;
use uuid::Uuid;

use super::variant;

#[derive(sqlx::FromRow)]
struct UserMetricsRow {
    variant: String,
    mixed: bool,
    events: i64,
    errors: i64,
    quality_n: i64,
    quality_sum: f64,
    citation_n: i64,
    citation_sum: f64,
    latency_n: i64,
    latency_sum: f64,
    tokens_n: i64,
    tokens_sum: f64,
    cost_n: i64,
    cost_sum: f64,
    positive: i64,
    negative: i64,
    neutral: i64,
    pre_n: i64,
    pre_sum: f64,
}

fn count(n: i64) -> u64 {
    u64::try_from(n).unwrap_or(0)
}

/// The users of an experiment as the results count them.
#[derive(Debug, Clone, Default)]
pub struct UserRows {
    /// One row per user with events in one arm.
    pub users: Vec<UserRow>,
    /// Users whose events name both arms: left out of `users`.
    pub in_both_arms: u64,
}

/// One row per user of the experiment: the rollups of `user_metrics`, with the events the
/// background fold has not summed there yet added in (one consistent snapshot: an event is
/// counted either folded or not yet, never both). Users without such events, nearly all of
/// them, are read as stored; only those with some are summed. Users seen in both arms are
/// counted and left out.
pub async fn user_rows(pool: &PgPool, experiment_id: Uuid) -> sqlx::Result<UserRows> {
    use crate::store::fold::{USER_AGGREGATES, USER_ROLLUP_COLUMNS};
    use crate::store::streams::unfolded_events;
    /// The rollup columns the results use (not the first and last times: a million users'
    /// timestamps are a tenth of the read).
    fn read_columns() -> Vec<&'static str> {
        USER_ROLLUP_COLUMNS
            .split(',')
            .map(str::trim)
            .filter(|c| !c.ends_with("_ts"))
            .collect()
    }
    // Dynamic SQL (not `query!`): composed of the fold's column lists and `unfolded_events`.
    static USER_ROWS: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
        let summed: Vec<String> = read_columns()
            .iter()
            .map(|c| format!("p.{c} + coalesce(m.{c}, 0)"))
            .collect();
        format!(
            "with pending as materialized (
                 select e.tenant_id, e.user_id, min(e.variant) as variant,
                        min(e.variant) <> max(e.variant) as mixed, {USER_AGGREGATES}
                 from {}
                 group by e.tenant_id, e.user_id
             )
             select variant, mixed, {} from user_metrics m
             where experiment_id = $1 and not exists (
                 select from pending p where p.tenant_id = m.tenant_id and p.user_id = m.user_id)
             union all
             select p.variant,
                    p.mixed or coalesce(m.mixed, false) or coalesce(m.variant <> p.variant, false),
                    {}
             from pending p
             left join user_metrics m
                 on m.experiment_id = $1 and m.tenant_id = p.tenant_id and m.user_id = p.user_id",
            unfolded_events("and experiment_id = $1", ""),
            read_columns().join(", "),
            summed.join(", ")
        )
    });
    // Dynamic SQL (not `query!`): composed from `unfolded_events`.
    static ANY_UNFOLDED: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
        format!(
            "select exists (select from {})",
            unfolded_events("and experiment_id = $1", "")
        )
    });
    // Dynamic SQL (not `query!`): its columns come from `USER_ROLLUP_COLUMNS`.
    static FOLDED_ONLY: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
        format!(
            "select variant, mixed, {} from user_metrics where experiment_id = $1",
            read_columns().join(", ")
        )
    });
    // Most reads find nothing unfolded (the fold runs every two seconds): those read the rows
    // as stored, without matching a million users against an empty set (which doubled the
    // read). One snapshot for the check and the read, so a fold in between cannot count an
    // event twice or not at all.
    let mut tx = pool.begin().await?;
    sqlx::query!("set transaction isolation level repeatable read, read only")
        .execute(&mut *tx)
        .await?;
    let unfolded: bool = sqlx::query_scalar(ANY_UNFOLDED.as_str())
        .bind(experiment_id)
        .fetch_one(&mut *tx)
        .await?;
    let sql = if unfolded {
        USER_ROWS.as_str()
    } else {
        FOLDED_ONLY.as_str()
    };
    let rows = sqlx::query_as::<_, UserMetricsRow>(sql)
        .bind(experiment_id)
        .fetch_all(&mut *tx)
        .await?;
    tx.commit().await?;
    let in_both_arms = rows.iter().filter(|r| r.mixed).count() as u64;
    let users = rows
        .into_iter()
        .filter(|r| !r.mixed)
        .map(|r| -> sqlx::Result<UserRow> {
            Ok(UserRow {
                variant: variant(&r.variant)?,
                events: count(r.events),
                errors: count(r.errors),
                sums: [
                    (count(r.quality_n), r.quality_sum),
                    (count(r.citation_n), r.citation_sum),
                    (count(r.latency_n), r.latency_sum),
                    (count(r.tokens_n), r.tokens_sum),
                    (count(r.cost_n), r.cost_sum),
                ],
                feedback: Feedback {
                    positive: count(r.positive),
                    negative: count(r.negative),
                    neutral: count(r.neutral),
                },
                covariate: (r.pre_n > 0).then(|| r.pre_sum / r.pre_n as f64),
            })
        })
        .collect::<sqlx::Result<_>>()?;
    Ok(UserRows {
        users,
        in_both_arms,
    })
}

/// Users assigned to each arm of the experiment: the sample-ratio check's denominator (an
/// index-only count over `assignments_experiment_idx`).
pub async fn assigned_counts(
    pool: &PgPool,
    experiment_id: Uuid,
) -> sqlx::Result<Vec<(Variant, u64)>> {
    let rows = sqlx::query!(
        r#"select variant, count(*) as "count!" from assignments where experiment_id = $1
         group by variant"#,
        experiment_id
    )
    .fetch_all(pool)
    .await?;
    rows.into_iter()
        .map(|r| Ok((variant(&r.variant)?, count(r.count))))
        .collect()
}

/// The daily quality rollups of the experiment, the writers' shards merged exactly.
pub async fn day_rows(pool: &PgPool, experiment_id: Uuid) -> sqlx::Result<Vec<DayRow>> {
    let rows = sqlx::query!(
        "select day, variant, quality_n, quality_mean, quality_m2 from daily_metrics
         where experiment_id = $1 order by day, variant",
        experiment_id
    )
    .fetch_all(pool)
    .await?;
    let mut merged: std::collections::BTreeMap<(NaiveDate, String), Summary> =
        std::collections::BTreeMap::new();
    for r in rows {
        let (day, v, n, mean, m2) = (r.day, r.variant, r.quality_n, r.quality_mean, r.quality_m2);
        let shard = Summary {
            n: count(n),
            mean,
            m2,
        };
        let slot = merged.entry((day, v)).or_insert(Summary::EMPTY);
        *slot = slot.merge(&shard);
    }
    merged
        .into_iter()
        .map(|((day, v), s)| {
            Ok(DayRow {
                day,
                variant: variant(&v)?,
                quality: (s.n, s.mean, s.m2),
            })
        })
        .collect()
}

/// The stored snapshot of an experiment's results.
pub async fn snapshot(
    pool: &PgPool,
    experiment_id: Uuid,
) -> sqlx::Result<Option<(DateTime<Utc>, Value)>> {
    Ok(sqlx::query!(
        "select computed_at, body from result_snapshots where experiment_id = $1",
        experiment_id
    )
    .fetch_optional(pool)
    .await?
    .map(|r| (r.computed_at, r.body)))
}

/// Stores (replaces) the snapshot of an experiment's results.
pub async fn put_snapshot(
    pool: &PgPool,
    experiment_id: Uuid,
    computed_at: DateTime<Utc>,
    body: &Value,
) -> sqlx::Result<()> {
    sqlx::query!(
        "insert into result_snapshots (experiment_id, computed_at, body) values ($1, $2, $3)
         on conflict (experiment_id) do update set computed_at = excluded.computed_at,
             body = excluded.body",
        experiment_id,
        computed_at,
        body
    )
    .execute(pool)
    .await?;
    Ok(())
}

/// Stores the final results on the experiment document (spec: Experiment.results).
pub async fn set_final_results(
    pool: &PgPool,
    experiment_id: Uuid,
    results: &Value,
) -> sqlx::Result<()> {
    sqlx::query!(
        "update experiments set results = $2 where id = $1",
        experiment_id,
        results
    )
    .execute(pool)
    .await?;
    Ok(())
}

/// The ids of the experiments whose results the background job keeps fresh.
pub async fn live_experiment_ids(pool: &PgPool) -> sqlx::Result<Vec<Uuid>> {
    sqlx::query_scalar!(
        "select id from experiments where status in ('active', 'paused') order by id"
    )
    .fetch_all(pool)
    .await
}
