use crate::domain::assignment::{Allocation, Targeting, Variant};
use crate::domain::experiment::{
    Arm, Experiment, ExperimentKind, ExperimentListItem, ExperimentSpec, LayerSlice, Metric,
    Operator, SuccessCriteria, TargetType,
};
use crate::domain::{ExperimentStatus, StatusCounts};
use chrono::{DateTime, Utc};
use serde_json::{Map, Value};
use sqlx::{PgConnection, PgExecutor, PgPool};
use uuid::Uuid;

fn decode<E: std::error::Error + Send + Sync + 'static>(e: E) -> sqlx::Error {
    sqlx::Error::Decode(Box::new(e))
}

fn decode_msg(msg: String) -> sqlx::Error {
    sqlx::Error::Decode(msg.into())
}

struct ExperimentRow {
    tenant_id: String,
    id: Uuid,
    name: String,
    description: String,
    hypothesis: String,
    target_type: String,
    target_id: String,
    variants: Value,
    targeting: Value,
    primary_metric: String,
    success_metric: String,
    success_operator: String,
    success_threshold: f64,
    minimum_detectable_effect: Option<f64>,
    confidence_level: f64,
    secondary_metrics: Vec<String>,
    auto_pause_on_guardrail: bool,
    status: String,
    start_date: Option<DateTime<Utc>>,
    end_date: Option<DateTime<Utc>>,
    min_duration_days: i32,
    min_samples_per_variant: i32,
    results: Option<Value>,
    winner: Option<String>,
    created_by: String,
    approved_by: Option<String>,
    salt: String,
    version: i64,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
    layer: Option<String>,
    layer_share: Option<i16>,
    layer_slice_start: Option<i16>,
    layer_slice_end: Option<i16>,
    kind: String,
}

fn object(value: Value) -> Map<String, Value> {
    match value {
        Value::Object(map) => map,
        _ => Map::new(),
    }
}

/// One element of the `variants` column.
#[derive(serde::Serialize, serde::Deserialize)]
struct StoredArm {
    key: Variant,
    name: String,
    configuration: Value,
    share: u8,
}

/// The arms and their allocation from the `variants` column.
fn arms(column: Value) -> sqlx::Result<(Vec<Arm>, Allocation)> {
    let stored: Vec<StoredArm> = serde_json::from_value(column).map_err(decode)?;
    let shares: Vec<(Variant, u8)> = stored.iter().map(|a| (a.key, a.share)).collect();
    let allocation = Allocation::from_arms(&shares)
        .ok_or_else(|| decode_msg(format!("{} arms", shares.len())))?;
    let arms = stored
        .into_iter()
        .map(|a| Arm {
            key: a.key,
            name: a.name,
            configuration: object(a.configuration),
        })
        .collect();
    Ok((arms, allocation))
}

/// The `variants` column of a spec: every arm with its share.
fn arms_column(s: &ExperimentSpec) -> sqlx::Result<Value> {
    let stored: Vec<StoredArm> = s
        .variants
        .iter()
        .map(|a| StoredArm {
            key: a.key,
            name: a.name.clone(),
            configuration: Value::Object(a.configuration.clone()),
            share: s.allocation.share_of(a.key).unwrap_or(0),
        })
        .collect();
    serde_json::to_value(stored).map_err(|e| sqlx::Error::Encode(Box::new(e)))
}

impl ExperimentRow {
    fn into_domain(self) -> sqlx::Result<(Experiment, String)> {
        let (variants, allocation) = arms(self.variants)?;
        let spec = ExperimentSpec {
            name: self.name,
            description: self.description,
            hypothesis: self.hypothesis,
            target_type: self.target_type.parse::<TargetType>().map_err(decode_msg)?,
            target_id: self.target_id,
            variants,
            allocation,
            targeting: serde_json::from_value::<Targeting>(self.targeting).map_err(decode)?,
            primary_metric: self.primary_metric.parse::<Metric>().map_err(decode)?,
            success_criteria: SuccessCriteria {
                metric: self.success_metric.parse::<Metric>().map_err(decode)?,
                operator: Operator::from_symbol(&self.success_operator)
                    .ok_or_else(|| decode_msg(format!("operator {}", self.success_operator)))?,
                threshold: self.success_threshold,
                confidence_level: self.confidence_level,
                minimum_detectable_effect: self.minimum_detectable_effect,
            },
            secondary_metrics: self
                .secondary_metrics
                .iter()
                .map(|m| m.parse::<Metric>().map_err(decode))
                .collect::<sqlx::Result<_>>()?,
            min_duration: u16::try_from(self.min_duration_days).map_err(decode)?,
            min_samples_per_variant: u32::try_from(self.min_samples_per_variant).map_err(decode)?,
            auto_pause_on_guardrail: self.auto_pause_on_guardrail,
            layer: self.layer,
            layer_share: self
                .layer_share
                .map(u8::try_from)
                .transpose()
                .map_err(decode)?,
        };
        let layer_slice = match (self.layer_slice_start, self.layer_slice_end) {
            (Some(start), Some(end)) => Some(LayerSlice {
                start: u16::try_from(start).map_err(decode)?,
                end: u16::try_from(end).map_err(decode)?,
            }),
            _ => None,
        };
        let experiment = Experiment {
            id: self.id,
            tenant_id: self.tenant_id,
            spec,
            status: self.status.parse().map_err(decode)?,
            start_date: self.start_date,
            end_date: self.end_date,
            layer_slice,
            results: self.results,
            winner: self.winner.as_deref().map(super::variant).transpose()?,
            created_by: self.created_by,
            approved_by: self.approved_by,
            created_at: self.created_at,
            updated_at: self.updated_at,
            version: self.version,
            kind: match self.kind.as_str() {
                "holdout" => ExperimentKind::Holdout,
                _ => ExperimentKind::Experiment,
            },
        };
        Ok((experiment, self.salt))
    }
}

/// An experiment with the salt of its assignment hash (which the API never shows).
pub struct StoredExperiment {
    pub experiment: Experiment,
    pub salt: String,
}

fn stored(row: ExperimentRow) -> sqlx::Result<StoredExperiment> {
    let (experiment, salt) = row.into_domain()?;
    Ok(StoredExperiment { experiment, salt })
}

/// Inserts a new experiment, created by the token `created_by_token`.
/// The columns of an experiment's definition that need encoding, encoded once for both
/// `insert` and `update` (the statements list the columns; the compiler checks each list
/// against the schema).
struct Columns {
    target_type: &'static str,
    variants: Value,
    targeting: Value,
    primary_metric: &'static str,
    success_metric: &'static str,
    success_operator: &'static str,
    secondary_metrics: Vec<&'static str>,
    status: &'static str,
    min_duration_days: i32,
    min_samples_per_variant: i32,
}

impl Columns {
    fn of(e: &Experiment) -> sqlx::Result<Columns> {
        let s = &e.spec;
        Ok(Columns {
            target_type: s.target_type.as_str(),
            variants: arms_column(s)?,
            targeting: serde_json::to_value(&s.targeting)
                .map_err(|e| sqlx::Error::Encode(Box::new(e)))?,
            primary_metric: s.primary_metric.db_name(),
            success_metric: s.success_criteria.metric.db_name(),
            success_operator: s.success_criteria.operator.symbol(),
            secondary_metrics: s.secondary_metrics.iter().map(|m| m.db_name()).collect(),
            status: e.status.as_str(),
            min_duration_days: i32::from(s.min_duration),
            min_samples_per_variant: i32::try_from(s.min_samples_per_variant).unwrap_or(i32::MAX),
        })
    }
}

pub async fn insert(
    conn: &mut PgConnection,
    e: &Experiment,
    salt: &str,
    created_by_token: Uuid,
) -> sqlx::Result<()> {
    let (s, c) = (&e.spec, Columns::of(e)?);
    sqlx::query!(
        "insert into experiments (tenant_id, id, name, description, hypothesis, target_type,
             target_id, variants, targeting, primary_metric, success_metric,
             success_operator, success_threshold, confidence_level, secondary_metrics,
             auto_pause_on_guardrail, status, min_duration_days, min_samples_per_variant,
             created_by, salt, created_at, updated_at, created_by_token,
             minimum_detectable_effect, layer, layer_share, kind, start_date,
             layer_slice_start, layer_slice_end)
         values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17,
             $18, $19, $20, $21, $22, $22, $23, $24, $25, $26, $27, $28, $29, $30)",
        e.tenant_id,
        e.id,
        s.name,
        s.description,
        s.hypothesis,
        c.target_type,
        s.target_id,
        c.variants,
        c.targeting,
        c.primary_metric,
        c.success_metric,
        c.success_operator,
        s.success_criteria.threshold,
        s.success_criteria.confidence_level,
        &c.secondary_metrics as &[&str],
        s.auto_pause_on_guardrail,
        c.status,
        c.min_duration_days,
        c.min_samples_per_variant,
        e.created_by,
        salt,
        e.created_at,
        created_by_token,
        s.success_criteria.minimum_detectable_effect,
        s.layer,
        s.layer_share.map(i16::from),
        e.kind.as_str(),
        e.start_date,
        e.layer_slice.map(|l| l.start as i16),
        e.layer_slice.map(|l| l.end as i16),
    )
    .execute(conn)
    .await?;
    Ok(())
}

/// The token that created experiment `id` (`None` for experiments created before this was
/// recorded).
pub async fn creator_token(conn: &mut PgConnection, id: Uuid) -> sqlx::Result<Option<Uuid>> {
    sqlx::query_scalar!("select created_by_token from experiments where id = $1", id)
        .fetch_one(conn)
        .await
}

/// Writes every changeable column of `e` and bumps its version; returns the stored row.
pub async fn update(conn: &mut PgConnection, e: &Experiment) -> sqlx::Result<Experiment> {
    let (s, c) = (&e.spec, Columns::of(e)?);
    let row = sqlx::query_as!(
        ExperimentRow,
        "update experiments set name = $2, description = $3, hypothesis = $4,
             target_type = $5, target_id = $6, variants = $7, targeting = $8,
             primary_metric = $9, success_metric = $10, success_operator = $11,
             success_threshold = $12, confidence_level = $13, secondary_metrics = $14,
             auto_pause_on_guardrail = $15, status = $16, start_date = $17, end_date = $18,
             min_duration_days = $19, min_samples_per_variant = $20, results = $21,
             winner = $22, approved_by = $23, minimum_detectable_effect = $24,
             layer = $25, layer_share = $26, layer_slice_start = $27, layer_slice_end = $28,
             version = version + 1
         where id = $1
         returning tenant_id, id, name, description, hypothesis, target_type, target_id,
             variants, targeting, primary_metric, success_metric, success_operator,
             success_threshold, confidence_level, minimum_detectable_effect, secondary_metrics,
             auto_pause_on_guardrail, status, start_date, end_date, min_duration_days,
             min_samples_per_variant, results, winner, created_by, approved_by, salt, version,
             created_at, updated_at, layer, layer_share, layer_slice_start, layer_slice_end,
             kind",
        e.id,
        s.name,
        s.description,
        s.hypothesis,
        c.target_type,
        s.target_id,
        c.variants,
        c.targeting,
        c.primary_metric,
        c.success_metric,
        c.success_operator,
        s.success_criteria.threshold,
        s.success_criteria.confidence_level,
        &c.secondary_metrics as &[&str],
        s.auto_pause_on_guardrail,
        c.status,
        e.start_date,
        e.end_date,
        c.min_duration_days,
        c.min_samples_per_variant,
        e.results,
        e.winner.as_ref().map(|w| w.as_str()),
        e.approved_by,
        s.success_criteria.minimum_detectable_effect,
        s.layer,
        s.layer_share.map(i16::from),
        e.layer_slice.map(|l| l.start as i16),
        e.layer_slice.map(|l| l.end as i16),
    )
    .fetch_one(conn)
    .await?;
    Ok(row.into_domain()?.0)
}

/// One experiment by id.
pub async fn get<'e>(
    executor: impl PgExecutor<'e>,
    id: Uuid,
) -> sqlx::Result<Option<StoredExperiment>> {
    sqlx::query_as!(
        ExperimentRow,
        "select tenant_id, id, name, description, hypothesis, target_type, target_id,
             variants, targeting, primary_metric, success_metric, success_operator,
             success_threshold, confidence_level, minimum_detectable_effect, secondary_metrics,
             auto_pause_on_guardrail, status, start_date, end_date, min_duration_days,
             min_samples_per_variant, results, winner, created_by, approved_by, salt, version,
             created_at, updated_at, layer, layer_share, layer_slice_start, layer_slice_end,
             kind
         from experiments where id = $1",
        id
    )
    .fetch_optional(executor)
    .await?
    .map(stored)
    .transpose()
}

/// One experiment by id, locked for the rest of the transaction: concurrent changes to it
/// wait, then see its new state.
pub async fn get_for_update(
    conn: &mut PgConnection,
    id: Uuid,
) -> sqlx::Result<Option<StoredExperiment>> {
    sqlx::query_as!(
        ExperimentRow,
        "select tenant_id, id, name, description, hypothesis, target_type, target_id,
             variants, targeting, primary_metric, success_metric, success_operator,
             success_threshold, confidence_level, minimum_detectable_effect, secondary_metrics,
             auto_pause_on_guardrail, status, start_date, end_date, min_duration_days,
             min_samples_per_variant, results, winner, created_by, approved_by, salt, version,
             created_at, updated_at, layer, layer_share, layer_slice_start, layer_slice_end,
             kind
         from experiments where id = $1 for update",
        id
    )
    .fetch_optional(conn)
    .await?
    .map(stored)
    .transpose()
}

/// Serialises changes to the live experiments of one target within the transaction, so two
/// experiments on the same target cannot both start.
pub async fn lock_target(
    conn: &mut PgConnection,
    target_type: TargetType,
    target_id: &str,
) -> sqlx::Result<()> {
    sqlx::query!(
        "select pg_advisory_xact_lock(hashtextextended($1, 0))",
        format!("{}/{}", target_type.as_str(), target_id)
    )
    .execute(conn)
    .await?;
    Ok(())
}

/// The active or paused experiments testing `target_type`/`target_id`, except `except`.
pub async fn live_on_target(
    conn: &mut PgConnection,
    target_type: TargetType,
    target_id: &str,
    except: Uuid,
) -> sqlx::Result<Vec<Experiment>> {
    sqlx::query_as!(
        ExperimentRow,
        "select tenant_id, id, name, description, hypothesis, target_type, target_id,
             variants, targeting, primary_metric, success_metric, success_operator,
             success_threshold, confidence_level, minimum_detectable_effect, secondary_metrics,
             auto_pause_on_guardrail, status, start_date, end_date, min_duration_days,
             min_samples_per_variant, results, winner, created_by, approved_by, salt, version,
             created_at, updated_at, layer, layer_share, layer_slice_start, layer_slice_end,
             kind
         from experiments
         where target_type = $1 and target_id = $2 and status in ('active', 'paused') and id <> $3
           and kind = 'experiment'",
        target_type.as_str(),
        target_id,
        except
    )
    .fetch_all(conn)
    .await?
    .into_iter()
    .map(|row| row.into_domain().map(|(e, _)| e))
    .collect()
}

/// The active or paused experiments in the named layer `key` of `tenant` (any target), except
/// `except`.
pub async fn live_in_named_layer(
    conn: &mut PgConnection,
    tenant: &str,
    key: &str,
    except: Uuid,
) -> sqlx::Result<Vec<Experiment>> {
    sqlx::query_as!(
        ExperimentRow,
        "select tenant_id, id, name, description, hypothesis, target_type, target_id,
             variants, targeting, primary_metric, success_metric, success_operator,
             success_threshold, confidence_level, minimum_detectable_effect, secondary_metrics,
             auto_pause_on_guardrail, status, start_date, end_date, min_duration_days,
             min_samples_per_variant, results, winner, created_by, approved_by, salt, version,
             created_at, updated_at, layer, layer_share, layer_slice_start, layer_slice_end,
             kind
         from experiments
         where tenant_id = $1 and layer = $2 and status in ('active', 'paused') and id <> $3",
        tenant,
        key,
        except
    )
    .fetch_all(conn)
    .await?
    .into_iter()
    .map(|row| row.into_domain().map(|(e, _)| e))
    .collect()
}

/// Serialises starts in one named layer within the transaction (after the target's lock:
/// always in that order), so two experiments on different targets cannot take one slice.
pub async fn lock_layer(conn: &mut PgConnection, layer_id: &str) -> sqlx::Result<()> {
    sqlx::query!(
        "select pg_advisory_xact_lock(hashtextextended($1, 0))",
        format!("layer:{layer_id}")
    )
    .execute(conn)
    .await?;
    Ok(())
}

/// The holdouts of `tenant` (all when `None`), newest first.
pub async fn holdouts(pool: &PgPool, tenant: Option<&str>) -> sqlx::Result<Vec<Experiment>> {
    sqlx::query_as!(
        ExperimentRow,
        "select tenant_id, id, name, description, hypothesis, target_type, target_id,
             variants, targeting, primary_metric, success_metric, success_operator,
             success_threshold, confidence_level, minimum_detectable_effect, secondary_metrics,
             auto_pause_on_guardrail, status, start_date, end_date, min_duration_days,
             min_samples_per_variant, results, winner, created_by, approved_by, salt, version,
             created_at, updated_at, layer, layer_share, layer_slice_start, layer_slice_end,
             kind
         from experiments
         where kind = 'holdout' and ($1::text is null or tenant_id = $1)
         order by created_at desc, id desc",
        tenant
    )
    .fetch_all(pool)
    .await?
    .into_iter()
    .map(|row| row.into_domain().map(|(e, _)| e))
    .collect()
}

/// Serialises the creation of holdouts of one tenant within the transaction.
pub async fn lock_holdouts(conn: &mut PgConnection, tenant: &str) -> sqlx::Result<()> {
    sqlx::query!(
        "select pg_advisory_xact_lock(hashtextextended($1, 0))",
        format!("holdout:{tenant}")
    )
    .execute(conn)
    .await?;
    Ok(())
}

/// The live (active or paused) holdout of `tenant`, if any.
pub async fn live_holdout(conn: &mut PgConnection, tenant: &str) -> sqlx::Result<Option<Uuid>> {
    sqlx::query_scalar!(
        "select id from experiments
         where kind = 'holdout' and tenant_id = $1 and status in ('active', 'paused')",
        tenant
    )
    .fetch_optional(conn)
    .await
}

/// How many experiments are in each status; `tenant` limits it to one tenant.
pub async fn count_by_status(pool: &PgPool, tenant: Option<&str>) -> sqlx::Result<StatusCounts> {
    let rows = sqlx::query!(
        r#"select status, count(*) as "count!" from experiments
         where $1::text is null or tenant_id = $1 group by status"#,
        tenant
    )
    .fetch_all(pool)
    .await?;
    let mut counts = StatusCounts::default();
    for (status, n) in rows.into_iter().map(|r| (r.status, r.count)) {
        counts.add(
            status.parse().map_err(decode)?,
            u64::try_from(n).unwrap_or(0),
        );
    }
    Ok(counts)
}

struct ListRow {
    id: Uuid,
    tenant_id: String,
    name: String,
    description: String,
    target_type: String,
    status: String,
    start_date: Option<DateTime<Utc>>,
    created_at: DateTime<Utc>,
    primary_metric: String,
    min_samples_per_variant: i32,
    min_duration_days: i32,
    control_samples: Option<i64>,
    treatment_samples: Option<i64>,
    primary_lift: Option<f64>,
    significance: Option<f64>,
    recommendation: Option<String>,
    winner: Option<String>,
}

/// The experiments in any of `statuses` (all when empty), of `tenant` (all when `None`),
/// newest first: at most `limit`, after the experiment `after` in that order (a page's
/// cursor is its last experiment's id).
pub async fn list(
    pool: &PgPool,
    statuses: &[ExperimentStatus],
    tenant: Option<&str>,
    after: Option<Uuid>,
    limit: i64,
) -> sqlx::Result<Vec<ExperimentListItem>> {
    let names: Vec<&str> = statuses.iter().map(|s| s.as_str()).collect();
    sqlx::query_as!(
        ListRow,
        "select e.id, e.tenant_id, e.name, e.description, e.target_type, e.status, e.start_date,
                e.created_at, e.primary_metric, e.min_samples_per_variant, e.min_duration_days,
                (s.body -> 'control' ->> 'samples')::int8 as control_samples,
                (s.body -> 'treatment' ->> 'samples')::int8 as treatment_samples,
                (s.body -> 'detail' -> 'metrics' -> 0 ->> 'relativeLift')::float8 as primary_lift,
                (s.body -> 'comparison' ->> 'statisticalSignificance')::float8 as significance,
                s.body -> 'comparison' ->> 'recommendation' as recommendation, e.winner
         from experiments e left join result_snapshots s on s.experiment_id = e.id
         where (cardinality($1::text[]) = 0 or e.status = any($1))
           and ($2::text is null or e.tenant_id = $2)
           and ($3::uuid is null or (e.created_at, e.id) <
                (select c.created_at, c.id from experiments c where c.id = $3))
         order by e.created_at desc, e.id desc
         limit $4",
        &names as &[&str],
        tenant,
        after,
        limit
    )
    .fetch_all(pool)
    .await?
    .into_iter()
    .map(|r| {
        Ok(ExperimentListItem {
            id: r.id,
            tenant_id: r.tenant_id,
            name: r.name,
            description: r.description,
            target_type: r.target_type,
            status: r.status.parse().map_err(decode)?,
            start_date: r.start_date,
            created_at: r.created_at,
            primary_metric: r.primary_metric,
            min_samples_per_variant: u32::try_from(r.min_samples_per_variant).unwrap_or(0),
            min_duration: u16::try_from(r.min_duration_days).unwrap_or(0),
            control_samples: r.control_samples.and_then(|n| u64::try_from(n).ok()),
            treatment_samples: r.treatment_samples.and_then(|n| u64::try_from(n).ok()),
            primary_lift: r.primary_lift,
            significance: r.significance,
            recommendation: r.recommendation,
            winner: r.winner.as_deref().map(super::variant).transpose()?,
        })
    })
    .collect()
}

/// Distinct users a day that were assigned to any experiment in the last 7 days, of one
/// tenant's users (`None`: of every tenant).
pub async fn recent_users_per_day(pool: &PgPool, tenant: Option<&str>) -> sqlx::Result<f64> {
    let users: i64 = sqlx::query_scalar!(
        r#"select count(*) as "count!" from (
             select distinct tenant_id, user_id from assignments
             where assigned_at > now() - interval '7 days'
               and ($1::text is null or tenant_id = $1)
         ) u"#,
        tenant
    )
    .fetch_one(pool)
    .await?;
    Ok(users as f64 / 7.0)
}
