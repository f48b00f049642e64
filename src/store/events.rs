//! Writing events: assignments first (created from the deterministic hash when missing),
//! then the events themselves, in the caller's transaction.

use crate::domain::assignment::Variant;
use crate::domain::event::EventDraft;
use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::{PgConnection, PgPool, Postgres};
use std::collections::HashMap;
use std::sync::LazyLock;
use uuid::Uuid;

/// A (tenant, experiment, user) key, borrowed from the events of a batch.
pub type Key<'a> = (&'a str, Uuid, &'a str);

/// An assignment as the writers need it: its id, and whether its variant is control.
pub type Assigned = (Uuid, bool);

/// The existing assignment of each row of `x` (columns t, e, u): a lateral subquery per key,
/// which `offset 0` keeps PostgreSQL from flattening into a join (see `writer_connection`).
const PROBE: &str = "cross join lateral (
    select id, variant = 'control' as control from assignments
    where tenant_id = x.t and experiment_id = x.e and user_id = x.u
    offset 0
) a";

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
    // index probe per key, see `writer_connection`).
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
    /// Its place in its writer's stream (see `FoldStream`).
    pub fold_key: i64,
    pub draft: &'a EventDraft,
}

/// Bits of a `fold_key` that number the events of one stream.
pub(crate) const SEQ_BITS: u32 = 40;

/// A writer's stream of events: every event it writes gets the next `fold_key`, `stream <<
/// 40 | seq`. A writer writes one transaction at a time on one connection, so within a stream
/// the keys commit in order: once the fold has seen a key committed, every smaller key of that
/// stream has either committed or never will, and the fold can keep how far it got per stream
/// (`ingest_streams.folded_through`) instead of marking each event. A writer takes a new stream
/// on every connection (a batch whose commit was cut off cannot then overtake the next one).
#[derive(Debug)]
pub struct FoldStream {
    stream: i64,
    seq: i64,
    pub started: std::time::Instant,
}

impl FoldStream {
    /// The next key of the stream; `None` once it is used up (take a new stream).
    pub fn next_key(&mut self) -> Option<i64> {
        if self.seq + 1 >= 1 << SEQ_BITS {
            return None;
        }
        self.seq += 1;
        Some((self.stream << SEQ_BITS) | self.seq)
    }

    /// Keys left in the stream.
    pub fn room(&self) -> i64 {
        (1 << SEQ_BITS) - 1 - self.seq
    }
}

/// Registers a new stream of events for a writer.
pub async fn new_stream(conn: &mut PgConnection) -> sqlx::Result<FoldStream> {
    let stream: i64 =
        sqlx::query_scalar("insert into ingest_streams default values returning stream")
            .fetch_one(conn)
            .await?;
    Ok(FoldStream {
        stream,
        seq: 0,
        started: std::time::Instant::now(),
    })
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
fn event_types() -> Vec<&'static str> {
    [
        &["uuid", "uuid", "text", "text", "uuid", "text"][..],
        &EVENT_FIELD_TYPES,
        &["text", "int8"],
    ]
    .concat()
}

/// `insert into events … select from unnest(…)` of 20 columns, with parameters from `$first`.
fn events_insert_sql(first: usize) -> String {
    format!(
        "insert into events (id, experiment_id, tenant_id, user_id, assignment_id, variant,
             event_type, quality, latency_ms, tokens_used, cost, user_satisfaction,
             custom_metrics, insight_id, conversation_id, intent, scope, ts, idempotency_key,
             fold_key)
         select * from {}
         on conflict (experiment_id, tenant_id, idempotency_key)
         where idempotency_key is not null
         do nothing",
        unnest_params(first, &event_types())
    )
}

type PgQuery<'q> = sqlx::query::Query<'q, Postgres, sqlx::postgres::PgArguments>;

macro_rules! col {
    ($v:expr, $f:expr) => {
        $v.iter().map($f).collect::<Vec<_>>()
    };
}

/// Binds the 20 columns of `events_insert_sql`.
fn bind_events<'q>(query: PgQuery<'q>, rows: &[EventRow<'q>]) -> PgQuery<'q> {
    let query = query
        .bind(col!(rows, |r| r.id))
        .bind(col!(rows, |r| r.draft.experiment_id))
        .bind(col!(rows, |r| r.draft.tenant_id.as_str()))
        .bind(col!(rows, |r| r.draft.user_id.as_str()))
        .bind(col!(rows, |r| r.assignment_id))
        .bind(col!(rows, |r| r.variant));
    let query = bind_event_fields(query, &col!(rows, |r| r.draft));
    query
        .bind(col!(rows, |r| r.draft.idempotency_key.as_deref()))
        .bind(col!(rows, |r| r.fold_key))
}

/// The types of an event's own fields, as `bind_event_fields` binds them (event type to
/// timestamp).
const EVENT_FIELD_TYPES: [&str; 12] = [
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
];

/// Binds the 12 columns of the events' own fields (`EVENT_FIELD_TYPES`), shared by every
/// statement that inserts events.
fn bind_event_fields<'q>(query: PgQuery<'q>, drafts: &[&'q EventDraft]) -> PgQuery<'q> {
    query
        .bind(col!(drafts, |d| d.event_type.as_str()))
        .bind(col!(drafts, |d| d.quality))
        .bind(col!(drafts, |d| d.latency_ms))
        .bind(col!(drafts, |d| d.tokens_used))
        .bind(col!(drafts, |d| d.cost))
        .bind(col!(drafts, |d| d.satisfaction.map(|s| s.as_str())))
        .bind(col!(drafts, |d| Value::Object(d.custom.clone())))
        .bind(col!(drafts, |d| d.insight_id.as_deref()))
        .bind(col!(drafts, |d| d.conversation_id.as_deref()))
        .bind(col!(drafts, |d| d.intent.as_deref()))
        .bind(col!(drafts, |d| d.scope.clone().map(Value::Object)))
        .bind(col!(drafts, |d| d.timestamp))
}

static INSERT_EVENTS: LazyLock<String> = LazyLock::new(|| events_insert_sql(1) + " returning id");

/// Inserts events in one statement; an idempotency key already stored for the experiment and
/// tenant makes its event a no-op. Returns the ids that were inserted.
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
    custom_metrics, insight_id, conversation_id, intent, scope, ts, fold_key)
    from stdin (format binary)";
const COPY_FIELDS: i16 = 19;
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
    bytes(buf, &r.fold_key.to_be_bytes());
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

/// The column types of the `daily_metrics` upsert (then one more parameter: the shard).
const DAILY_DELTA_TYPES: [&str; 10] = [
    "uuid", "date", "text", "int8", "int8", "float8", "float8", "int8", "float8", "float8",
];

/// The `daily_metrics` upsert (parameters `$first` to `$first + 9`, then the shard).
fn daily_sql(first: usize) -> String {
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
const DAILY_MERGE: &str = "on conflict (experiment_id, day, variant, shard) do update set
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
fn bind_daily<'q>(query: PgQuery<'q>, days: &[DailyDelta], shard: i16) -> PgQuery<'q> {
    query
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

static ADD_TO_DAILY: LazyLock<String> = LazyLock::new(|| daily_sql(1));
static INSERT_WITH_DAILY: LazyLock<String> = LazyLock::new(|| {
    format!(
        "with ev as ({}) {}",
        events_insert_sql(1),
        daily_sql(1 + event_types().len())
    )
});

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

/// Inserts events that carry no idempotency key (so none can be a duplicate) and merges
/// their daily deltas, in one statement.
pub async fn insert_with_daily(
    conn: &mut PgConnection,
    rows: &[EventRow<'_>],
    days: &[DailyDelta],
    shard: i16,
) -> sqlx::Result<()> {
    debug_assert!(rows.iter().all(|r| r.draft.idempotency_key.is_none()));
    let query = bind_events(sqlx::query(INSERT_WITH_DAILY.as_str()), rows);
    bind_daily(query, days, shard).execute(conn).await?;
    Ok(())
}

/// A user of a small batch, for `ingest_small`.
pub struct SmallUser<'a> {
    pub key: Key<'a>,
    /// The assignment's id: the one known (`known`), or a fresh one for the assignment to
    /// create.
    pub id: Uuid,
    /// The variant: the one known, the one to create the assignment with, or `None` when the
    /// user can only have an assignment already (the events then need one).
    pub variant: Option<&'static str>,
    /// The assignment is known committed (the writers' cache): nothing to look up.
    pub known: bool,
}

/// An event of a small batch: its id, its user (a position in the users), its key in the
/// writer's stream, its fields.
pub struct SmallEvent<'a> {
    pub id: Uuid,
    pub user: usize,
    pub fold_key: i64,
    pub draft: &'a EventDraft,
}

/// The one statement of `ingest_small`. Its parameters: the users (`$1`–`$6`) and the time
/// of new assignments (`$7`), the events (`$8`–`$22`), the writer's shard (`$23`).
static INGEST_SMALL: LazyLock<String> = LazyLock::new(|| {
    format!(
        "with x as (
             select * from unnest($1::text[], $2::uuid[], $3::text[], $4::uuid[], $5::text[],
                 $6::bool[]) with ordinality as x(t, e, u, i, v, k, ord)
         ),
         created as (
             insert into assignments (tenant_id, experiment_id, user_id, id, variant,
                 assigned_at)
             select t, e, u, i, v, $7 from x where not k and v is not null order by ord
             on conflict (tenant_id, experiment_id, user_id) do nothing
             returning id
         ),
         asg as (
             select x.ord, x.t, x.e, x.u, x.v is not null and not x.k as creating,
                    case when x.k or c.id is not null then x.i else a.id end as id,
                    case when x.k or c.id is not null then x.v else a.variant end as variant
             from x
             left join created c on c.id = x.i
             left join lateral (
                 select id, variant from assignments
                 where not x.k and tenant_id = x.t and experiment_id = x.e and user_id = x.u
                 offset 0
             ) a on true
         ),
         ev as (
             insert into events (id, experiment_id, tenant_id, user_id, assignment_id, variant,
                 event_type, quality, latency_ms, tokens_used, cost, user_satisfaction,
                 custom_metrics, insight_id, conversation_id, intent, scope, ts, fold_key)
             select r.id, asg.e, asg.t, asg.u, asg.id, asg.variant, r.ty, r.q, r.l, r.tok,
                    r.c, r.s, r.cm, r.ins, r.conv, r.it, r.sc, r.ts, r.fk
             from {} as r(id, uord, ty, q, l, tok, c, s, cm, ins, conv, it, sc, ts, fk)
             join asg on asg.ord = r.uord
             where asg.id is not null
             returning experiment_id, ts, variant, quality, latency_ms
         ),
         daily as (
             insert into daily_metrics as d (experiment_id, day, variant, shard, events,
                 quality_n, quality_mean, quality_m2, latency_n, latency_mean, latency_m2)
             select experiment_id, (ts at time zone 'UTC')::date, variant, $23, count(*),
                    count(quality), coalesce(avg(quality), 0),
                    coalesce(var_pop(quality) * count(quality), 0),
                    count(latency_ms), coalesce(avg(latency_ms), 0),
                    coalesce(var_pop(latency_ms) * count(latency_ms), 0)
             from ev group by 1, 2, 3 order by 1, 2, 3
             {DAILY_MERGE}
         )
         select ord, id, variant = 'control' from asg
         where verdict_retry_if(id is null and creating)",
        unnest_params(
            8,
            &[&["uuid", "int8"][..], &EVENT_FIELD_TYPES, &["int8"]].concat()
        ),
    )
});

/// Writes a small batch of events without idempotency keys in one statement, which commits by
/// itself (the caller holds no transaction): the users' missing assignments created from the
/// hash (an existing one is used as it is, whatever its variant), the events, and the daily
/// rollups computed from the events as stored. One round trip, where `begin`,
/// `create_assignments`, `insert_with_daily` and `commit` take four. Returns each user's
/// assignment (`None`: the user has none, so their events were not stored).
///
/// When another transaction was creating one of these assignments at the same moment, the
/// statement cannot see it: it then fails as a serialization failure (see `is_retry`) and
/// nothing of it stays; the caller writes the batch again the longer way.
pub async fn ingest_small(
    conn: &mut PgConnection,
    users: &[SmallUser<'_>],
    events: &[SmallEvent<'_>],
    now: DateTime<Utc>,
    shard: i16,
) -> sqlx::Result<Vec<Option<Assigned>>> {
    debug_assert!(events.iter().all(|e| e.draft.idempotency_key.is_none()));
    let ord = |i: usize| i as i64 + 1;
    let query = sqlx::query(INGEST_SMALL.as_str())
        .bind(col!(users, |u| u.key.0))
        .bind(col!(users, |u| u.key.1))
        .bind(col!(users, |u| u.key.2))
        .bind(col!(users, |u| u.id))
        .bind(col!(users, |u| u.variant))
        .bind(col!(users, |u| u.known))
        .bind(now)
        .bind(col!(events, |r| r.id))
        .bind(col!(events, |r| ord(r.user)));
    let query = bind_event_fields(query, &col!(events, |r| r.draft));
    let rows = query
        .bind(col!(events, |r| r.fold_key))
        .bind(shard)
        .fetch_all(conn)
        .await?;
    let mut found = vec![None; users.len()];
    for row in rows {
        use sqlx::Row;
        let (ord, id, control): (i64, Option<Uuid>, Option<bool>) =
            (row.try_get(0)?, row.try_get(1)?, row.try_get(2)?);
        if let (Some(id), Some(control)) = (id, control) {
            found[ord as usize - 1] = Some((id, control));
        }
    }
    Ok(found)
}

/// Whether `err` is the serialization failure `ingest_small` raises to be written again.
pub fn is_retry(err: &sqlx::Error) -> bool {
    err.as_database_error()
        .and_then(|e| e.code())
        .is_some_and(|code| code == "40001")
}

/// A connection for one of the ingestion writers (or the fold), which keeps it: every look-up
/// they make is by key, and PostgreSQL keeps the plan of a prepared statement for the life of
/// the connection (until the table is next analysed). A plan made while `assignments` was
/// nearly empty went on being used as the table grew: a sequential scan hashed against the
/// batch (188 million rows read in one 20 s benchmark run), or, with hash joins off, the whole
/// primary-key index walked per batch. The look-ups are therefore written as a lateral
/// subquery per key (`offset 0` keeps PostgreSQL from flattening it into a join, so no join
/// order or method is left to choose), and sequential scans are off on this connection, so
/// that subquery can only be an index probe: each batch costs what it holds, never what the
/// table holds. JIT compilation is off too (see `server::db::connect`). The connection is the
/// writer's own, outside the pool (which it would otherwise hold one of for good); it has the
/// pool's settings otherwise.
pub async fn writer_connection(pool: &PgPool) -> sqlx::Result<PgConnection> {
    use sqlx::Connection;
    let options = (*pool.connect_options())
        .clone()
        .options([("enable_seqscan", "off"), ("jit", "off")]);
    PgConnection::connect_with(&options).await
}

/// The events not folded into `user_metrics` yet, as `e` (all columns of `events`), for the
/// streams as `s`: per stream, the keys after the last one folded (an index range scan).
/// `filter` narrows them (`and …`), `limit` bounds each stream's share.
pub(crate) fn unfolded_events(filter: &str, limit: &str) -> String {
    format!(
        "ingest_streams s cross join lateral (
             select * from events
             where {} {filter}
             order by fold_key {limit}
             offset 0
         ) e",
        after_progress()
    )
}

/// The events of stream `s` after its progress: the keys of the stream above the last one
/// folded.
fn after_progress() -> String {
    format!(
        "fold_key > (s.stream << {SEQ_BITS}) + s.folded_through
         and fold_key < ((s.stream + 1) << {SEQ_BITS})"
    )
}

/// A user's rollup columns (those of `user_metrics` after the key and variant) as aggregates
/// of their events `e`: counts, sums, feedback counts, first and last time.
pub(crate) const USER_AGGREGATES: &str = "count(*)::int8 as events,
    count(*) filter (where e.event_type = 'error') as errors,
    count(e.quality) as quality_n, coalesce(sum(e.quality), 0) as quality_sum,
    count((e.custom_metrics ->> 'citation_quality')::float8) as citation_n,
    coalesce(sum((e.custom_metrics ->> 'citation_quality')::float8), 0) as citation_sum,
    count(e.latency_ms) as latency_n, coalesce(sum(e.latency_ms), 0) as latency_sum,
    count(e.tokens_used) as tokens_n, coalesce(sum(e.tokens_used), 0)::float8 as tokens_sum,
    count(e.cost) as cost_n, coalesce(sum(e.cost), 0) as cost_sum,
    count(*) filter (where e.user_satisfaction = 'positive') as positive,
    count(*) filter (where e.user_satisfaction = 'negative') as negative,
    count(*) filter (where e.user_satisfaction = 'neutral') as neutral,
    min(e.ts) as first_ts, max(e.ts) as last_ts,
    count((e.custom_metrics ->> 'pre_experiment')::float8) as pre_n,
    coalesce(sum((e.custom_metrics ->> 'pre_experiment')::float8), 0) as pre_sum";

/// The rollup columns of `user_metrics` after the key and variant, in `USER_AGGREGATES` order.
pub(crate) const USER_ROLLUP_COLUMNS: &str = "events, errors, quality_n, quality_sum,
    citation_n, citation_sum, latency_n, latency_sum, tokens_n, tokens_sum, cost_n, cost_sum,
    positive, negative, neutral, first_ts, last_ts, pre_n, pre_sum";

/// Key of the advisory lock a fold holds: one fold at a time across all replicas.
pub const FOLD_LOCK: i64 = 0x7665_7264_6963_7401;

/// Whether an event `e` holds a value outside the bounds of `domain::limits` (the same as
/// the CHECK constraints of `events`), which only rows stored by older versions can.
const OUT_OF_BOUNDS: &str = "coalesce(e.quality not between 0 and 1, false)
    or coalesce(e.latency_ms > 86400000, false)
    or coalesce(e.tokens_used > 100000000, false)
    or coalesce(e.cost > 1000000, false)
    or (e.custom_metrics <> '{}'::jsonb and jsonb_path_exists(e.custom_metrics,
        '$.* ? (@.type() != \"number\" || @ > 1000000000 || @ < -1000000000)'))";

/// The upsert that adds the per-user sums of the events `ev` (all columns of `events`) to
/// `user_metrics`: one row per user, however many events and batches named them. A user
/// whose events name both arms is marked `mixed` (the results leave such users out).
fn add_to_user_metrics(ev: &str) -> String {
    format!(
        "insert into user_metrics as m (experiment_id, tenant_id, user_id, variant, mixed,
             {USER_ROLLUP_COLUMNS})
         select e.experiment_id, e.tenant_id, e.user_id, min(e.variant),
                min(e.variant) <> max(e.variant),
                {USER_AGGREGATES}
         from {ev} e
         group by e.experiment_id, e.tenant_id, e.user_id
         order by e.experiment_id, e.tenant_id, e.user_id
         on conflict (experiment_id, tenant_id, user_id) do update set
             mixed = m.mixed or excluded.mixed or m.variant <> excluded.variant,
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
             pre_sum = m.pre_sum + excluded.pre_sum"
    )
}

/// The events of one experiment and arm that a fold just took in: how many, and their
/// latencies (for the arm's request-level sketch; see `store::sketches`).
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct FoldedLatencies {
    pub experiment_id: Uuid,
    pub variant: String,
    pub events: i64,
    pub latencies: Option<Vec<f64>>,
}

/// What one fold did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Folded {
    /// Events taken from after their streams' progress (folded or quarantined).
    pub events: u64,
    /// Of those, the events that could not be folded and went to `fold_quarantine`.
    pub quarantined: u64,
}

/// Whether `err` is about the data (a value out of range, a failed check), not the
/// connection or the server: the same statement on the same rows would fail again.
pub fn is_data_error(err: &sqlx::Error) -> bool {
    err.as_database_error()
        .and_then(|e| e.code())
        .is_some_and(|code| code.starts_with("22") || code.starts_with("23"))
}

/// Folds up to `limit` events per stream that are not in `user_metrics` yet into it: summed
/// per user (one upsert per user however many events and batches named them), and each
/// stream's progress moved to the last event folded, in one transaction (an event is counted
/// once by every reader: either folded, or among the events after its stream's progress).
/// Returns what was folded, or `None` when another fold holds the lock.
///
/// When the events cannot all be summed (a sum out of range, from values stored before the
/// bounds of `domain::limits`), the fold finds the events that cannot by halving the window
/// (a statement per half, each in a savepoint), folds all the others, and puts those few in
/// `fold_quarantine`: everyone else's events keep being folded, and the progress moves past
/// the quarantined ones, so no result reads them until they are repaired and released.
pub async fn fold(conn: &mut PgConnection, limit: i64) -> sqlx::Result<Option<Folded>> {
    static FOLD: LazyLock<String> = LazyLock::new(|| {
        format!(
            "with ev as materialized (
                 select s.stream, e.* from {}
             ),
             folded as ({}),
             progress as (
                 update ingest_streams t
                 set folded_through = p.through - (t.stream << {SEQ_BITS})
                 from (select stream, max(fold_key) as through from ev group by stream) p
                 where t.stream = p.stream
             )
             {}",
            unfolded_events("", "limit $1"),
            add_to_user_metrics("ev"),
            super::sketches::LATENCIES_OF_EV
        )
    });
    let mut tx = sqlx::Connection::begin(&mut *conn).await?;
    let locked: bool = sqlx::query_scalar("select pg_try_advisory_xact_lock($1)")
        .bind(FOLD_LOCK)
        .fetch_one(&mut *tx)
        .await?;
    if !locked {
        return Ok(None);
    }
    sqlx::query("savepoint whole").execute(&mut *tx).await?;
    let folded = match sqlx::query_as::<_, FoldedLatencies>(FOLD.as_str())
        .bind(limit)
        .fetch_all(&mut *tx)
        .await
    {
        Ok(groups) => {
            super::sketches::add_latencies(&mut tx, &groups).await?;
            Folded {
                events: groups
                    .iter()
                    .map(|g| u64::try_from(g.events).unwrap_or(0))
                    .sum(),
                quarantined: 0,
            }
        }
        Err(err) if is_data_error(&err) => {
            sqlx::query("rollback to savepoint whole")
                .execute(&mut *tx)
                .await?;
            tracing::warn!(error = %err, "some events cannot be folded; finding them");
            fold_around_poison(&mut tx, limit).await?
        }
        Err(err) => return Err(err),
    };
    tx.commit().await?;
    Ok(Some(folded))
}

/// The fold's careful path (see `fold`): the window of events a fold takes. Those with a
/// value outside today's bounds (`domain::limits`, stored by older versions) are quarantined
/// first; the others are numbered by user and folded range by range of users, a range that
/// fails is halved, and a single user whose events still fail has them quarantined with the
/// database's reason. A user's rollup row is thus never left holding part of a poison.
async fn fold_around_poison(conn: &mut PgConnection, limit: i64) -> sqlx::Result<Folded> {
    static WINDOW: LazyLock<String> = LazyLock::new(|| {
        format!(
            "create temporary table fold_window on commit drop as
             select dense_rank() over (
                        order by e.experiment_id, e.tenant_id, e.user_id) as ord,
                    s.stream, e.experiment_id, e.id, e.tenant_id, e.user_id, e.fold_key,
                    not ({OUT_OF_BOUNDS}) as in_bounds
             from {}",
            unfolded_events("", "limit $1")
        )
    });
    static OUT_OF_BOUNDS_FIRST: &str = "with q as (
             insert into fold_quarantine (experiment_id, event_id, tenant_id, user_id, reason)
             select experiment_id, id, tenant_id, user_id,
                    'a value is outside the bounds Verdict now accepts'
             from fold_window where not in_bounds
             on conflict do nothing
             returning 1
         )
         select count(*) from q";
    static RANGE: LazyLock<String> = LazyLock::new(|| {
        format!(
            "with ev as materialized (
                 select e.* from fold_window w
                 join events e on e.experiment_id = w.experiment_id and e.id = w.id
                 where w.ord between $1 and $2 and w.in_bounds
             ),
             folded as ({})
             {}",
            add_to_user_metrics("ev"),
            super::sketches::LATENCIES_OF_EV
        )
    });
    sqlx::query(WINDOW.as_str())
        .bind(limit)
        .execute(&mut *conn)
        .await?;
    sqlx::query("create index on fold_window (ord)")
        .execute(&mut *conn)
        .await?;
    let (n, users): (i64, i64) =
        sqlx::query_as("select count(*), coalesce(max(ord), 0) from fold_window")
            .fetch_one(&mut *conn)
            .await?;
    let first: i64 = sqlx::query_scalar(OUT_OF_BOUNDS_FIRST)
        .fetch_one(&mut *conn)
        .await?;
    let mut quarantined = u64::try_from(first).unwrap_or(0);
    let mut ranges = vec![(1i64, users)];
    while let Some((a, b)) = ranges.pop() {
        if a > b {
            continue;
        }
        sqlx::query("savepoint part").execute(&mut *conn).await?;
        match sqlx::query_as::<_, FoldedLatencies>(RANGE.as_str())
            .bind(a)
            .bind(b)
            .fetch_all(&mut *conn)
            .await
        {
            Ok(groups) => {
                sqlx::query("release savepoint part")
                    .execute(&mut *conn)
                    .await?;
                super::sketches::add_latencies(&mut *conn, &groups).await?;
            }
            Err(err) if is_data_error(&err) => {
                sqlx::query("rollback to savepoint part")
                    .execute(&mut *conn)
                    .await?;
                if a == b {
                    let reason = err
                        .as_database_error()
                        .map(|e| e.message().to_owned())
                        .unwrap_or_else(|| err.to_string());
                    quarantined += sqlx::query(
                        "insert into fold_quarantine (experiment_id, event_id, tenant_id,
                             user_id, reason)
                         select experiment_id, id, tenant_id, user_id, $2 from fold_window
                         where ord = $1 and in_bounds
                         on conflict do nothing",
                    )
                    .bind(a)
                    .bind(reason)
                    .execute(&mut *conn)
                    .await?
                    .rows_affected();
                } else {
                    let mid = a + (b - a) / 2;
                    ranges.push((mid + 1, b));
                    ranges.push((a, mid));
                }
            }
            Err(err) => return Err(err),
        }
    }
    static PROGRESS: LazyLock<String> = LazyLock::new(|| {
        format!(
            "update ingest_streams t
             set folded_through = p.through - (t.stream << {SEQ_BITS})
             from (select stream, max(fold_key) as through from fold_window group by stream) p
             where t.stream = p.stream"
        )
    });
    sqlx::query(PROGRESS.as_str()).execute(&mut *conn).await?;
    Ok(Folded {
        events: u64::try_from(n).unwrap_or(0),
        quarantined,
    })
}

/// A quarantined event, as `verdict quarantine` lists it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Quarantined {
    pub experiment_id: Uuid,
    pub event_id: Uuid,
    pub tenant_id: String,
    pub user_id: String,
    pub reason: String,
    pub quarantined_at: DateTime<Utc>,
}

/// The quarantined events, oldest first (at most `limit`).
pub async fn quarantined(pool: &PgPool, limit: i64) -> sqlx::Result<Vec<Quarantined>> {
    sqlx::query_as(
        "select experiment_id, event_id, tenant_id, user_id, reason, quarantined_at
         from fold_quarantine order by quarantined_at, experiment_id, event_id limit $1",
    )
    .bind(limit)
    .fetch_all(pool)
    .await
}

/// How many events are quarantined.
pub async fn quarantined_count(pool: &PgPool) -> sqlx::Result<i64> {
    sqlx::query_scalar("select count(*) from fold_quarantine")
        .fetch_one(pool)
        .await
}

/// Folds the quarantined events again (once an operator has repaired them in `events`) and
/// takes them out of the quarantine, in one transaction under the fold's lock. Fails, leaving
/// them quarantined, when they still cannot be folded. Returns how many were released.
pub async fn release_quarantined(pool: &PgPool) -> sqlx::Result<u64> {
    static RELEASE: LazyLock<String> = LazyLock::new(|| {
        format!(
            "with ev as materialized (
                 select e.* from fold_quarantine q
                 join events e on e.experiment_id = q.experiment_id and e.id = q.event_id
             ),
             folded as ({}),
             released as (delete from fold_quarantine returning 1)
             select count(*) from released",
            add_to_user_metrics("ev")
        )
    });
    let mut tx = pool.begin().await?;
    sqlx::query("select pg_advisory_xact_lock($1)")
        .bind(FOLD_LOCK)
        .execute(&mut *tx)
        .await?;
    static LATENCIES: LazyLock<String> = LazyLock::new(|| {
        format!(
            "with ev as materialized (
                 select e.* from fold_quarantine q
                 join events e on e.experiment_id = q.experiment_id and e.id = q.event_id
             )
             {}",
            super::sketches::LATENCIES_OF_EV
        )
    });
    let groups: Vec<FoldedLatencies> = sqlx::query_as(LATENCIES.as_str())
        .fetch_all(&mut *tx)
        .await?;
    let released: i64 = sqlx::query_scalar(RELEASE.as_str())
        .fetch_one(&mut *tx)
        .await?;
    super::sketches::add_latencies(&mut tx, &groups).await?;
    tx.commit().await?;
    Ok(u64::try_from(released).unwrap_or(0))
}

/// Forgets the streams of writers long gone (a writer takes a new stream at least hourly)
/// whose events are all folded.
pub async fn forget_finished_streams(conn: &mut PgConnection) -> sqlx::Result<u64> {
    static FORGET: LazyLock<String> = LazyLock::new(|| {
        format!(
            "delete from ingest_streams s
             where created_at < now() - interval '1 day'
               and not exists (select from events where {})",
            after_progress()
        )
    });
    Ok(sqlx::query(FORGET.as_str())
        .execute(conn)
        .await?
        .rows_affected())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every parameter of the combined statement is numbered once, in the order the binds
    /// come: the events' 20, the daily deltas' 10, then the shard.
    #[test]
    fn the_combined_statement_numbers_its_parameters_in_bind_order() {
        let sql = INSERT_WITH_DAILY.as_str();
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
        assert_eq!(numbers.len(), 31);
        assert!(sql.contains("$1::uuid[]") && sql.contains("$20::int8[]"));
        assert!(sql.contains("$21::uuid[]") && sql.contains("$30::float8[]"));
        assert!(sql.contains("select e, dy, v, $31, ev"));
        numbers.sort_unstable();
        assert_eq!(numbers, (1..=31).collect::<Vec<_>>());
        assert!(ADD_TO_DAILY.contains("$1::uuid[]") && ADD_TO_DAILY.contains("v, $11, ev"));
        let small = INGEST_SMALL.as_str();
        assert!(small.contains("$8::uuid[]") && small.contains("$22::int8[]"));
        assert!(small.contains("variant, $23, count(*)"));
    }

    /// A stream's keys carry the stream in their high bits and count up from 1 below them.
    #[test]
    fn fold_keys_count_up_within_their_stream() {
        let mut s = FoldStream {
            stream: 3,
            seq: 0,
            started: std::time::Instant::now(),
        };
        assert_eq!(s.next_key(), Some((3 << 40) + 1));
        assert_eq!(s.next_key(), Some((3 << 40) + 2));
        s.seq = (1 << 40) - 2;
        assert_eq!(s.room(), 1);
        assert_eq!(s.next_key(), Some((4 << 40) - 1));
        assert_eq!(
            s.next_key(),
            None,
            "the next key would be the next stream's"
        );
    }
}
