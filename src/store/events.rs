//! Writing events: assignments first (created from the deterministic hash when missing),
//! then the events themselves, in the caller's transaction.

use crate::domain::assignment::Variant;
use crate::domain::event::EventDraft;
use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::{PgConnection, PgPool, Postgres, Transaction};
use std::collections::HashMap;
use std::sync::LazyLock;
use uuid::Uuid;

/// A (tenant, experiment, user) key, borrowed from the events of a batch.
pub type Key<'a> = (&'a str, Uuid, &'a str);

/// An assignment as the writers need it: its id, and whether its variant is control.
pub type Assigned = (Uuid, bool);

/// The existing assignment of each row of `x` (columns t, e, u): a lateral subquery per key,
/// which `offset 0` keeps PostgreSQL from flattening into a join (see `begin`).
const PROBE: &str = "cross join lateral (
    select id, variant = 'control' as control from assignments
    where tenant_id = x.t and experiment_id = x.e and user_id = x.u
    offset 0
) a";

/// Starts a writer's transaction. Every look-up the writers make is by primary key, and the
/// plan PostgreSQL caches for a prepared statement is kept for the life of the connection (until
/// the table is next analysed). A plan made while `assignments` was nearly empty went on being
/// used as the table grew: a sequential scan hashed against the batch (188 million rows read
/// in one 20 s benchmark run), or, with hash joins off, the whole primary-key index walked per
/// batch. The look-ups are therefore written as a lateral subquery per key (`offset 0` keeps
/// PostgreSQL from flattening it into a join, so no join order or method is left to choose),
/// and sequential scans are off for the writers' transactions, so that subquery can only be an
/// index probe: each batch costs what it holds, never what the table holds.
pub async fn begin(pool: &PgPool) -> sqlx::Result<Transaction<'static, Postgres>> {
    pool.begin_with("begin; set local enable_seqscan = off")
        .await
}

/// The assignment of each of `keys`, by position (`None`: the user has none). One statement;
/// nothing but ids and a flag comes back (no strings to allocate per user).
pub async fn assignments(
    conn: &mut PgConnection,
    keys: &[Key<'_>],
) -> sqlx::Result<Vec<Option<Assigned>>> {
    let mut found = vec![None; keys.len()];
    if keys.is_empty() {
        return Ok(found);
    }
    static READ: LazyLock<String> = LazyLock::new(|| {
        format!(
            "select x.ord, a.id, a.control
             from unnest($1::text[], $2::uuid[], $3::text[]) with ordinality as x(t, e, u, ord)
             {PROBE}"
        )
    });
    let rows: Vec<(i64, Uuid, bool)> = sqlx::query_as(READ.as_str())
        .bind(keys.iter().map(|k| k.0).collect::<Vec<_>>())
        .bind(keys.iter().map(|k| k.1).collect::<Vec<_>>())
        .bind(keys.iter().map(|k| k.2).collect::<Vec<_>>())
        .fetch_all(conn)
        .await?;
    for (ord, id, control) in rows {
        found[ord as usize - 1] = Some((id, control));
    }
    Ok(found)
}

/// Creates the assignments of `create` (key and variant, in lock order) that do not exist
/// yet, and returns each one created or already committed, by position (existing assignments
/// are never moved). One statement.
pub async fn create_assignments(
    conn: &mut PgConnection,
    create: &[(Key<'_>, &'static str)],
    now: DateTime<Utc>,
) -> sqlx::Result<Vec<Option<Assigned>>> {
    let mut found = vec![None; create.len()];
    if create.is_empty() {
        return Ok(found);
    }
    let ids: Vec<Uuid> = {
        let mut fresh = super::fresh_ids();
        create.iter().map(|_| fresh()).collect()
    };
    // Rows created come back by their (fresh) id, rows that existed by their position (an
    // index probe per key, see `begin`).
    static CREATE: LazyLock<String> = LazyLock::new(|| {
        format!(
            "with x as (
                 select * from unnest($1::text[], $2::uuid[], $3::text[], $4::uuid[], $5::text[])
                     with ordinality as x(t, e, u, i, v, ord)
             ),
             created as (
                 insert into assignments (tenant_id, experiment_id, user_id, id, variant,
                     assigned_at)
                 select t, e, u, i, v, $6 from x order by ord
                 on conflict (tenant_id, experiment_id, user_id) do nothing
                 returning id
             )
             select null::int8, id, null::bool from created
             union all
             select x.ord, a.id, a.control from x {PROBE}"
        )
    });
    let rows: Vec<(Option<i64>, Uuid, Option<bool>)> = sqlx::query_as(CREATE.as_str())
        .bind(create.iter().map(|(k, _)| k.0).collect::<Vec<_>>())
        .bind(create.iter().map(|(k, _)| k.1).collect::<Vec<_>>())
        .bind(create.iter().map(|(k, _)| k.2).collect::<Vec<_>>())
        .bind(&ids)
        .bind(create.iter().map(|(_, v)| *v).collect::<Vec<_>>())
        .bind(now)
        .fetch_all(conn)
        .await?;
    let position: HashMap<Uuid, usize> = ids.iter().enumerate().map(|(i, id)| (*id, i)).collect();
    for (ord, id, control) in rows {
        match (ord, control) {
            (Some(ord), Some(control)) => found[ord as usize - 1] = Some((id, control)),
            _ => {
                if let Some(&i) = position.get(&id) {
                    found[i] = Some((id, create[i].1 == Variant::Control.as_str()));
                }
            }
        }
    }
    Ok(found)
}

/// One event ready to insert.
pub struct EventRow<'a> {
    pub id: Uuid,
    pub assignment_id: Uuid,
    pub variant: &'a str,
    pub draft: &'a EventDraft,
}

/// `unnest($first::t0[], $first+1::t1[], …)`: one array parameter per column type.
fn unnest_params(first: usize, types: &[&str]) -> String {
    let params: Vec<String> = types
        .iter()
        .enumerate()
        .map(|(i, t)| format!("${}::{t}[]", first + i))
        .collect();
    format!("unnest({})", params.join(", "))
}

/// The column types of `events_insert_sql`, in the order `bind_events` binds them.
const EVENT_TYPES: [&str; 19] = [
    "uuid",
    "uuid",
    "text",
    "text",
    "uuid",
    "text",
    "text",
    "float8",
    "float8",
    "int8",
    "float8",
    "text",
    "jsonb",
    "text",
    "text",
    "text",
    "jsonb",
    "timestamptz",
    "text",
];

/// `insert into events … select from unnest(…)` of 19 columns, with parameters from `$first`.
fn events_insert_sql(first: usize) -> String {
    format!(
        "insert into events (id, experiment_id, tenant_id, user_id, assignment_id, variant,
             event_type, quality, latency_ms, tokens_used, cost, user_satisfaction,
             custom_metrics, insight_id, conversation_id, intent, scope, ts, idempotency_key)
         select * from {}
         on conflict (experiment_id, idempotency_key) where idempotency_key is not null
         do nothing",
        unnest_params(first, &EVENT_TYPES)
    )
}

type PgQuery<'q> = sqlx::query::Query<'q, Postgres, sqlx::postgres::PgArguments>;

/// Binds the 19 columns of `events_insert_sql`.
fn bind_events<'q>(query: PgQuery<'q>, rows: &[EventRow<'q>]) -> PgQuery<'q> {
    macro_rules! col {
        ($f:expr) => {
            rows.iter().map($f).collect::<Vec<_>>()
        };
    }
    query
        .bind(col!(|r| r.id))
        .bind(col!(|r| r.draft.experiment_id))
        .bind(col!(|r| r.draft.tenant_id.as_str()))
        .bind(col!(|r| r.draft.user_id.as_str()))
        .bind(col!(|r| r.assignment_id))
        .bind(col!(|r| r.variant))
        .bind(col!(|r| r.draft.event_type.as_str()))
        .bind(col!(|r| r.draft.quality))
        .bind(col!(|r| r.draft.latency_ms))
        .bind(col!(|r| r.draft.tokens_used))
        .bind(col!(|r| r.draft.cost))
        .bind(col!(|r| r.draft.satisfaction.map(|s| s.as_str())))
        .bind(col!(|r| Value::Object(r.draft.custom.clone())))
        .bind(col!(|r| r.draft.insight_id.as_deref()))
        .bind(col!(|r| r.draft.conversation_id.as_deref()))
        .bind(col!(|r| r.draft.intent.as_deref()))
        .bind(col!(|r| r.draft.scope.clone().map(Value::Object)))
        .bind(col!(|r| r.draft.timestamp))
        .bind(col!(|r| r.draft.idempotency_key.as_deref()))
}

static INSERT_EVENTS: LazyLock<String> = LazyLock::new(|| events_insert_sql(1) + " returning id");

/// Inserts events in one statement; an idempotency key already stored for the experiment
/// makes its event a no-op. Returns the ids that were inserted.
pub async fn insert(conn: &mut PgConnection, rows: &[EventRow<'_>]) -> sqlx::Result<Vec<Uuid>> {
    if rows.is_empty() {
        return Ok(vec![]);
    }
    use sqlx::Row;
    let found = bind_events(sqlx::query(INSERT_EVENTS.as_str()), rows)
        .fetch_all(conn)
        .await?;
    found.iter().map(|r| r.try_get(0)).collect()
}

/// The columns `copy` writes, in the order of its tuples (`received_at` takes its default,
/// `idempotency_key` stays null).
const COPY_EVENTS: &str = "copy events (id, experiment_id, tenant_id, user_id, assignment_id,
    variant, event_type, quality, latency_ms, tokens_used, cost, user_satisfaction,
    custom_metrics, insight_id, conversation_id, intent, scope, ts) from stdin (format binary)";
const COPY_FIELDS: i16 = 18;
/// Microseconds from the Unix epoch to PostgreSQL's (2000-01-01).
const PG_EPOCH_MICROS: i64 = 946_684_800_000_000;
/// Bytes buffered before a chunk goes to the server (it parses while the rest is encoded).
const COPY_CHUNK: usize = 1 << 20;

/// Writes events that carry no idempotency key with binary `COPY` (no conflict is possible:
/// ids are fresh UUIDv7s), in the caller's transaction. Much cheaper for the server than an
/// `INSERT` of the same rows: it parses no arrays and writes the heap in multi-row batches.
/// Returns the number of rows written.
pub async fn copy(conn: &mut PgConnection, rows: &[EventRow<'_>]) -> sqlx::Result<u64> {
    if rows.is_empty() {
        return Ok(0);
    }
    let mut copy = conn.copy_in_raw(COPY_EVENTS).await?;
    let mut buf = Vec::with_capacity(COPY_CHUNK + 4096);
    buf.extend_from_slice(b"PGCOPY\n\xff\r\n\0");
    buf.extend_from_slice(&0i32.to_be_bytes()); // flags
    buf.extend_from_slice(&0i32.to_be_bytes()); // header extension length
    for r in rows {
        debug_assert!(r.draft.idempotency_key.is_none());
        encode_row(&mut buf, r);
        if buf.len() >= COPY_CHUNK {
            copy.send(buf.as_slice()).await?;
            buf.clear();
        }
    }
    buf.extend_from_slice(&(-1i16).to_be_bytes()); // trailer
    copy.send(buf.as_slice()).await?;
    copy.finish().await
}

/// One tuple of binary `COPY`: a field count, then each field as its length and bytes
/// (length -1: null).
fn encode_row(buf: &mut Vec<u8>, r: &EventRow<'_>) {
    fn bytes(buf: &mut Vec<u8>, b: &[u8]) {
        buf.extend_from_slice(&(b.len() as i32).to_be_bytes());
        buf.extend_from_slice(b);
    }
    fn null(buf: &mut Vec<u8>) {
        buf.extend_from_slice(&(-1i32).to_be_bytes());
    }
    fn text(buf: &mut Vec<u8>, s: Option<&str>) {
        match s {
            Some(s) => bytes(buf, s.as_bytes()),
            None => null(buf),
        }
    }
    fn float(buf: &mut Vec<u8>, x: Option<f64>) {
        match x {
            Some(x) => bytes(buf, &x.to_be_bytes()),
            None => null(buf),
        }
    }
    /// jsonb: a version byte (1), then the JSON text.
    fn jsonb(buf: &mut Vec<u8>, m: &serde_json::Map<String, Value>) {
        if m.is_empty() {
            bytes(buf, b"\x01{}");
            return;
        }
        let at = buf.len();
        buf.extend_from_slice(&[0; 4]);
        buf.push(1);
        serde_json::to_writer(&mut *buf, m).expect("a JSON map serialises");
        let len = (buf.len() - at - 4) as i32;
        buf[at..at + 4].copy_from_slice(&len.to_be_bytes());
    }
    let d = r.draft;
    buf.extend_from_slice(&COPY_FIELDS.to_be_bytes());
    bytes(buf, r.id.as_bytes());
    bytes(buf, d.experiment_id.as_bytes());
    text(buf, Some(&d.tenant_id));
    text(buf, Some(&d.user_id));
    bytes(buf, r.assignment_id.as_bytes());
    text(buf, Some(r.variant));
    text(buf, Some(d.event_type.as_str()));
    float(buf, d.quality);
    float(buf, d.latency_ms);
    match d.tokens_used {
        Some(t) => bytes(buf, &t.to_be_bytes()),
        None => null(buf),
    }
    float(buf, d.cost);
    text(buf, d.satisfaction.map(|s| s.as_str()));
    jsonb(buf, &d.custom);
    text(buf, d.insight_id.as_deref());
    text(buf, d.conversation_id.as_deref());
    text(buf, d.intent.as_deref());
    match &d.scope {
        Some(s) => jsonb(buf, s),
        None => null(buf),
    }
    let micros = d.timestamp.timestamp_micros() - PG_EPOCH_MICROS;
    bytes(buf, &micros.to_be_bytes());
}

/// What a batch adds to one user's row of `user_metrics`.
#[derive(Debug, Clone)]
pub struct UserDelta<'a> {
    pub experiment_id: Uuid,
    pub tenant_id: &'a str,
    pub user_id: &'a str,
    pub variant: &'static str,
    pub events: i64,
    pub errors: i64,
    /// (count, sum) of quality, citation quality, latency, tokens, cost, and the
    /// pre-experiment covariate (CUPED).
    pub sums: [(i64, f64); 6],
    pub positive: i64,
    pub negative: i64,
    pub neutral: i64,
    pub first: DateTime<Utc>,
    pub last: DateTime<Utc>,
}

/// What a batch adds to one (experiment, day, variant) of `daily_metrics`: (n, mean, M2)
/// of quality and of latency.
#[derive(Debug, Clone)]
pub struct DailyDelta {
    pub experiment_id: Uuid,
    pub day: chrono::NaiveDate,
    pub variant: &'static str,
    pub events: i64,
    pub quality: (i64, f64, f64),
    pub latency: (i64, f64, f64),
}

/// The column types of the `user_metrics` part of `rollups_sql`, as `bind_rollups` binds them.
const USER_DELTA_TYPES: [&str; 23] = [
    "uuid",
    "text",
    "text",
    "text",
    "int8",
    "int8",
    "int8",
    "float8",
    "int8",
    "float8",
    "int8",
    "float8",
    "int8",
    "float8",
    "int8",
    "float8",
    "int8",
    "int8",
    "int8",
    "timestamptz",
    "timestamptz",
    "int8",
    "float8",
];
/// The column types of its `daily_metrics` part (then one more parameter: the shard).
const DAILY_DELTA_TYPES: [&str; 10] = [
    "uuid", "date", "text", "int8", "int8", "float8", "float8", "int8", "float8", "float8",
];

/// The `user_metrics` upsert (parameters `$first` to `$first + 22`) as a CTE named
/// `per_user`, then the `daily_metrics` upsert (the next 10, then the shard) as the
/// statement's body.
fn rollups_sql(first: usize) -> String {
    let per_user = unnest_params(first, &USER_DELTA_TYPES);
    let daily = unnest_params(first + USER_DELTA_TYPES.len(), &DAILY_DELTA_TYPES);
    let shard = first + USER_DELTA_TYPES.len() + DAILY_DELTA_TYPES.len();
    format!(
        "per_user as (
             insert into user_metrics as m (experiment_id, tenant_id, user_id, variant, events,
                 errors, quality_n, quality_sum, citation_n, citation_sum, latency_n, latency_sum,
                 tokens_n, tokens_sum, cost_n, cost_sum, positive, negative, neutral, first_ts,
                 last_ts, pre_n, pre_sum)
             select * from {per_user}
             on conflict (experiment_id, tenant_id, user_id) do update set
                 events = m.events + excluded.events,
                 errors = m.errors + excluded.errors,
                 quality_n = m.quality_n + excluded.quality_n,
                 quality_sum = m.quality_sum + excluded.quality_sum,
                 citation_n = m.citation_n + excluded.citation_n,
                 citation_sum = m.citation_sum + excluded.citation_sum,
                 latency_n = m.latency_n + excluded.latency_n,
                 latency_sum = m.latency_sum + excluded.latency_sum,
                 tokens_n = m.tokens_n + excluded.tokens_n,
                 tokens_sum = m.tokens_sum + excluded.tokens_sum,
                 cost_n = m.cost_n + excluded.cost_n,
                 cost_sum = m.cost_sum + excluded.cost_sum,
                 positive = m.positive + excluded.positive,
                 negative = m.negative + excluded.negative,
                 neutral = m.neutral + excluded.neutral,
                 first_ts = least(m.first_ts, excluded.first_ts),
                 last_ts = greatest(m.last_ts, excluded.last_ts),
                 pre_n = m.pre_n + excluded.pre_n,
                 pre_sum = m.pre_sum + excluded.pre_sum
         )
         insert into daily_metrics as d (experiment_id, day, variant, shard, events, quality_n,
             quality_mean, quality_m2, latency_n, latency_mean, latency_m2)
         select e, dy, v, ${shard}, ev, qn, qm, q2, ln, lm, l2
         from {daily}
             as x(e, dy, v, ev, qn, qm, q2, ln, lm, l2)
         on conflict (experiment_id, day, variant, shard) do update set
             events = d.events + excluded.events,
             quality_mean = case when d.quality_n + excluded.quality_n = 0 then 0 else
                 (d.quality_n * d.quality_mean + excluded.quality_n * excluded.quality_mean)
                 / (d.quality_n + excluded.quality_n) end,
             quality_m2 = d.quality_m2 + excluded.quality_m2 +
                 case when d.quality_n + excluded.quality_n = 0 then 0 else
                 (excluded.quality_mean - d.quality_mean) ^ 2 * d.quality_n * excluded.quality_n
                 / (d.quality_n + excluded.quality_n) end,
             quality_n = d.quality_n + excluded.quality_n,
             latency_mean = case when d.latency_n + excluded.latency_n = 0 then 0 else
                 (d.latency_n * d.latency_mean + excluded.latency_n * excluded.latency_mean)
                 / (d.latency_n + excluded.latency_n) end,
             latency_m2 = d.latency_m2 + excluded.latency_m2 +
                 case when d.latency_n + excluded.latency_n = 0 then 0 else
                 (excluded.latency_mean - d.latency_mean) ^ 2 * d.latency_n * excluded.latency_n
                 / (d.latency_n + excluded.latency_n) end,
             latency_n = d.latency_n + excluded.latency_n"
    )
}

/// Binds the 34 parameters of `rollups_sql`.
fn bind_rollups<'q>(
    query: PgQuery<'q>,
    users: &[UserDelta<'q>],
    days: &[DailyDelta],
    shard: i16,
) -> PgQuery<'q> {
    macro_rules! col {
        ($v:expr, $f:expr) => {
            $v.iter().map($f).collect::<Vec<_>>()
        };
    }
    query
        .bind(col!(users, |r| r.experiment_id))
        .bind(col!(users, |r| r.tenant_id))
        .bind(col!(users, |r| r.user_id))
        .bind(col!(users, |r| r.variant))
        .bind(col!(users, |r| r.events))
        .bind(col!(users, |r| r.errors))
        .bind(col!(users, |r| r.sums[0].0))
        .bind(col!(users, |r| r.sums[0].1))
        .bind(col!(users, |r| r.sums[1].0))
        .bind(col!(users, |r| r.sums[1].1))
        .bind(col!(users, |r| r.sums[2].0))
        .bind(col!(users, |r| r.sums[2].1))
        .bind(col!(users, |r| r.sums[3].0))
        .bind(col!(users, |r| r.sums[3].1))
        .bind(col!(users, |r| r.sums[4].0))
        .bind(col!(users, |r| r.sums[4].1))
        .bind(col!(users, |r| r.positive))
        .bind(col!(users, |r| r.negative))
        .bind(col!(users, |r| r.neutral))
        .bind(col!(users, |r| r.first))
        .bind(col!(users, |r| r.last))
        .bind(col!(users, |r| r.sums[5].0))
        .bind(col!(users, |r| r.sums[5].1))
        .bind(col!(days, |r| r.experiment_id))
        .bind(col!(days, |r| r.day))
        .bind(col!(days, |r| r.variant))
        .bind(col!(days, |r| r.events))
        .bind(col!(days, |r| r.quality.0))
        .bind(col!(days, |r| r.quality.1))
        .bind(col!(days, |r| r.quality.2))
        .bind(col!(days, |r| r.latency.0))
        .bind(col!(days, |r| r.latency.1))
        .bind(col!(days, |r| r.latency.2))
        .bind(shard)
}

static ADD_TO_ROLLUPS: LazyLock<String> = LazyLock::new(|| format!("with {}", rollups_sql(1)));
static INSERT_WITH_ROLLUPS: LazyLock<String> = LazyLock::new(|| {
    format!(
        "with ev as ({}), {}",
        events_insert_sql(1),
        rollups_sql(1 + EVENT_TYPES.len())
    )
});

/// Adds a batch's deltas to `user_metrics` and to the writer's `shard` of `daily_metrics`
/// (merged with Chan's parallel update, exact), in one statement. Rows come sorted by key
/// from the caller: every writer locks in the same order, so none deadlock.
pub async fn add_to_rollups(
    conn: &mut PgConnection,
    users: &[UserDelta<'_>],
    days: &[DailyDelta],
    shard: i16,
) -> sqlx::Result<()> {
    if users.is_empty() && days.is_empty() {
        return Ok(());
    }
    bind_rollups(sqlx::query(ADD_TO_ROLLUPS.as_str()), users, days, shard)
        .execute(conn)
        .await?;
    Ok(())
}

/// Inserts events that carry no idempotency key (so none can be a duplicate) and adds their
/// deltas to the rollups, in one statement: a small batch, as single events under load make,
/// costs one round trip and one statement fewer than `insert` then `add_to_rollups`.
pub async fn insert_with_rollups(
    conn: &mut PgConnection,
    rows: &[EventRow<'_>],
    users: &[UserDelta<'_>],
    days: &[DailyDelta],
    shard: i16,
) -> sqlx::Result<()> {
    debug_assert!(rows.iter().all(|r| r.draft.idempotency_key.is_none()));
    let query = bind_events(sqlx::query(INSERT_WITH_ROLLUPS.as_str()), rows);
    bind_rollups(query, users, days, shard)
        .execute(conn)
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every parameter of the combined statement is numbered once, in the order the binds
    /// come: the events' 19, the per-user deltas' 23, the daily deltas' 10, then the shard.
    #[test]
    fn the_combined_statement_numbers_its_parameters_in_bind_order() {
        let sql = INSERT_WITH_ROLLUPS.as_str();
        let mut numbers: Vec<usize> = sql
            .split('$')
            .skip(1)
            .map(|s| {
                s.chars()
                    .take_while(char::is_ascii_digit)
                    .collect::<String>()
            })
            .map(|n| n.parse().unwrap())
            .collect();
        assert_eq!(numbers.len(), 53);
        assert!(sql.contains("$1::uuid[]") && sql.contains("$19::text[]"));
        assert!(sql.contains("$20::uuid[]") && sql.contains("$42::float8[]"));
        assert!(sql.contains("$43::uuid[]") && sql.contains("$52::float8[]"));
        assert!(sql.contains("select e, dy, v, $53, ev"));
        numbers.sort_unstable();
        assert_eq!(numbers, (1..=53).collect::<Vec<_>>());
        assert!(ADD_TO_ROLLUPS.contains("$1::uuid[]") && ADD_TO_ROLLUPS.contains("v, $34, ev"));
    }
}
