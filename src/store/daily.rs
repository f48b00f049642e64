//! The daily rollups (`daily_metrics`): per day and arm, event-level (n, mean, M2) of quality
//! and latency, merged exactly into the writer's shard.

use super::{PgQuery, unnest_params};
use sqlx::PgConnection;
use std::sync::LazyLock;
use uuid::Uuid;

/// What a batch adds to one (experiment, day, variant) of `daily_metrics`: (n, mean, M2)
/// of quality and of latency.
#[derive(Debug, Clone)]
pub struct DailyDelta {
    pub experiment_id: Uuid,
    pub day: chrono::NaiveDate,
    pub variant: crate::domain::assignment::Variant,
    pub events: i64,
    pub quality: (i64, f64, f64),
    pub latency: (i64, f64, f64),
}

/// The column types of the `daily_metrics` upsert (then one more parameter: the shard).
const DAILY_DELTA_TYPES: [&str; 10] = [
    "uuid", "date", "text", "int8", "int8", "float8", "float8", "int8", "float8", "float8",
];

/// The `daily_metrics` upsert (parameters `$first` to `$first + 9`, then the shard).
// Dynamic SQL (not `query!`): numbered from `first` by `unnest_params`, for other statements.
pub(super) fn daily_sql(first: usize) -> String {
    let daily = unnest_params(first, &DAILY_DELTA_TYPES);
    let shard = first + DAILY_DELTA_TYPES.len();
    format!(
        "insert into daily_metrics as d (experiment_id, day, variant, shard, events, quality_n,
             quality_mean, quality_m2, latency_n, latency_mean, latency_m2)
         select e, dy, v, ${shard}, ev, qn, qm, q2, ln, lm, l2
         from {daily}
             as x(e, dy, v, ev, qn, qm, q2, ln, lm, l2)
         {DAILY_MERGE}"
    )
}

/// How a `daily_metrics` row takes in a delta: counts added, means and M2 merged with Chan's
/// parallel update in δ form (the mean moves by the difference of the means times the new
/// share; M2 gains δ² · n₁ · (n₂ / n)): no product of a count and a mean, so with the bounded
/// values of `domain::limits` no term can overflow.
pub(super) const DAILY_MERGE: &str =
    "on conflict (experiment_id, day, variant, shard) do update set
             events = d.events + excluded.events,
             quality_mean = case when d.quality_n + excluded.quality_n = 0 then 0 else
                 d.quality_mean + (excluded.quality_mean - d.quality_mean)
                 * (excluded.quality_n::float8 / (d.quality_n + excluded.quality_n)) end,
             quality_m2 = d.quality_m2 + excluded.quality_m2 +
                 case when d.quality_n + excluded.quality_n = 0 then 0 else
                 (excluded.quality_mean - d.quality_mean) ^ 2 * d.quality_n
                 * (excluded.quality_n::float8 / (d.quality_n + excluded.quality_n)) end,
             quality_n = d.quality_n + excluded.quality_n,
             latency_mean = case when d.latency_n + excluded.latency_n = 0 then 0 else
                 d.latency_mean + (excluded.latency_mean - d.latency_mean)
                 * (excluded.latency_n::float8 / (d.latency_n + excluded.latency_n)) end,
             latency_m2 = d.latency_m2 + excluded.latency_m2 +
                 case when d.latency_n + excluded.latency_n = 0 then 0 else
                 (excluded.latency_mean - d.latency_mean) ^ 2 * d.latency_n
                 * (excluded.latency_n::float8 / (d.latency_n + excluded.latency_n)) end,
             latency_n = d.latency_n + excluded.latency_n";

/// Binds the 11 parameters of `daily_sql`.
pub(super) fn bind_daily<'q>(query: PgQuery<'q>, days: &[DailyDelta], shard: i16) -> PgQuery<'q> {
    query
        .bind(col!(days, |r| r.experiment_id))
        .bind(col!(days, |r| r.day))
        .bind(col!(days, |r| r.variant.as_str().to_owned()))
        .bind(col!(days, |r| r.events))
        .bind(col!(days, |r| r.quality.0))
        .bind(col!(days, |r| r.quality.1))
        .bind(col!(days, |r| r.quality.2))
        .bind(col!(days, |r| r.latency.0))
        .bind(col!(days, |r| r.latency.1))
        .bind(col!(days, |r| r.latency.2))
        .bind(shard)
}

// Dynamic SQL (not `query!`): built by `daily_sql`, bound column by column by `bind_daily`.
pub(super) static ADD_TO_DAILY: LazyLock<String> = LazyLock::new(|| daily_sql(1));
/// Merges a batch's daily deltas into the writer's `shard` of `daily_metrics` (rows sorted
/// by key by the caller: every writer locks in the same order, so none deadlock). The
/// per-user rollups are not the writers' business: the fold makes them from the events.
pub async fn add_to_daily(
    conn: &mut PgConnection,
    days: &[DailyDelta],
    shard: i16,
) -> sqlx::Result<()> {
    if days.is_empty() {
        return Ok(());
    }
    bind_daily(sqlx::query(ADD_TO_DAILY.as_str()), days, shard)
        .execute(conn)
        .await?;
    Ok(())
}
