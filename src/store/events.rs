//! Writing events: the rows, the statements that insert them (one per batch, or the one
//! statement of a small batch that creates its assignments, events and daily rollups), and
//! the writers' connections. The binary `COPY` path is `store::copy`, the daily rollups
//! `store::daily`, the per-user fold `store::fold`.

use super::assignments::{Assigned, Key};
use super::daily::{DAILY_MERGE, DailyDelta, bind_daily, daily_sql};
use super::{PgQuery, unnest_params};
use crate::domain::event::EventDraft;
use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::{PgConnection, PgPool};
use std::sync::LazyLock;
use uuid::Uuid;

/// One event ready to insert.
pub struct EventRow<'a> {
    pub id: Uuid,
    pub assignment_id: Uuid,
    pub variant: &'a str,
    /// Its place in its writer's stream (see `FoldStream`).
    pub fold_key: i64,
    pub draft: &'a EventDraft,
}

/// The column types of `events_insert_sql`, in the order `bind_events` binds them.
pub(super) fn event_types() -> Vec<&'static str> {
    [
        &["uuid", "uuid", "text", "text", "uuid", "text"][..],
        &EVENT_FIELD_TYPES,
        &["text", "int8"],
    ]
    .concat()
}

/// `insert into events … select from unnest(…)` of 20 columns, with parameters from `$first`.
// Dynamic SQL (not `query!`): numbered from `first` by `unnest_params`, for other statements.
pub(super) fn events_insert_sql(first: usize) -> String {
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

/// Binds the 20 columns of `events_insert_sql`.
pub(super) fn bind_events<'q>(query: PgQuery<'q>, rows: &[EventRow<'q>]) -> PgQuery<'q> {
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

// Dynamic SQL (not `query!`): built by `events_insert_sql`, bound by `bind_events`.
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

/// A user of a small batch, for `ingest_small`.
pub struct SmallUser<'a> {
    pub key: Key<'a>,
    /// The assignment's id: the one known (`known`), or a fresh one for the assignment to
    /// create.
    pub id: Uuid,
    /// The variant: the one known, the one to create the assignment with, or `None` when the
    /// user can only have an assignment already (the events then need one).
    pub variant: Option<&'a str>,
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
// Dynamic SQL (not `query!`): its events' columns from `unnest_params`, `EVENT_FIELD_TYPES`.
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
         select ord, id, variant from asg
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
        .bind(col!(users, |u| u.key.tenant))
        .bind(col!(users, |u| u.key.experiment))
        .bind(col!(users, |u| u.key.user))
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
        let (ord, id, variant): (i64, Option<Uuid>, Option<&str>) =
            (row.try_get(0)?, row.try_get(1)?, row.try_get(2)?);
        if let (Some(id), Some(variant)) = (id, variant) {
            found[ord as usize - 1] = Some(Assigned {
                id,
                variant: super::variant(variant)?,
            });
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

// Dynamic SQL (not `query!`): joins `events_insert_sql` and `daily_sql`, numbered in bind order.
static INSERT_WITH_DAILY: LazyLock<String> = LazyLock::new(|| {
    format!(
        "with ev as ({}) {}",
        events_insert_sql(1),
        daily_sql(1 + event_types().len())
    )
});

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::daily::ADD_TO_DAILY;

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
}
