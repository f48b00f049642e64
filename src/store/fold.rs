//! The per-user fold: the background fold that sums the events after each writer stream's
//! progress (`streams`) into `user_metrics` (and their latencies into the
//! request-level sketches), and the quarantine of events it cannot fold.

use super::sketches::FoldedLatencies;
use super::streams::{FOLD_LOCK, SEQ_BITS, after_progress, unfolded_events};
use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgPool};
use std::sync::LazyLock;
use uuid::Uuid;

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
    let citus = super::citus::on_citus(&mut *conn).await?;
    fold_as(conn, limit, citus).await
}

/// The events after their streams' progress, as `ev` with their stream (`s.stream, e.*`), in
/// the form for Citus: the streams (a reference table) joined with the events, which Citus
/// runs on every shard, and the first `limit` keys of all in key order. Keys order by stream,
/// then by count, so those are a prefix of each stream's events after its progress, as the
/// fold needs (it moves each stream's progress to the last it took); the oldest streams are
/// folded first. (The plain form takes up to `limit` per stream with a lateral subquery,
/// which Citus refuses.)
fn citus_window(columns: &str) -> String {
    format!(
        "select {columns} from ingest_streams s join events e on {}
         order by e.fold_key limit $1",
        after_progress().replace("fold_key", "e.fold_key")
    )
}

/// `fold` in the statement form for Citus (`citus`) or for plain PostgreSQL.
pub async fn fold_as(
    conn: &mut PgConnection,
    limit: i64,
    citus: bool,
) -> sqlx::Result<Option<Folded>> {
    // Dynamic SQL (not `query!`): `unfolded_events`, `add_to_user_metrics`, `LATENCIES_OF_EV`.
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
    // Dynamic SQL (not `query!`): `FOLD` with the window of `citus_window`.
    static CITUS_FOLD: LazyLock<String> = LazyLock::new(|| {
        format!(
            "with ev as materialized ({}),
             folded as ({}),
             progress as (
                 update ingest_streams t
                 set folded_through = p.through - (t.stream << {SEQ_BITS})
                 from (select stream, max(fold_key) as through from ev group by stream) p
                 where t.stream = p.stream
             )
             {}",
            citus_window("s.stream, e.*"),
            add_to_user_metrics("ev"),
            super::sketches::LATENCIES_OF_EV
        )
    });
    let sql = if citus { &CITUS_FOLD } else { &FOLD };
    let mut tx = sqlx::Connection::begin(&mut *conn).await?;
    let locked: bool = sqlx::query_scalar!(
        r#"select pg_try_advisory_xact_lock($1) as "locked!""#,
        FOLD_LOCK
    )
    .fetch_one(&mut *tx)
    .await?;
    if !locked {
        return Ok(None);
    }
    sqlx::query!("savepoint whole").execute(&mut *tx).await?;
    let folded = match sqlx::query_as::<_, FoldedLatencies>(sql.as_str())
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
            sqlx::query!("rollback to savepoint whole")
                .execute(&mut *tx)
                .await?;
            tracing::warn!(error = %err, "some events cannot be folded; finding them");
            fold_around_poison(&mut tx, limit, citus).await?
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
async fn fold_around_poison(
    conn: &mut PgConnection,
    limit: i64,
    citus: bool,
) -> sqlx::Result<Folded> {
    // Dynamic SQL (not `query!`): composed from `unfolded_events` and `OUT_OF_BOUNDS`.
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
    // Dynamic SQL (not `query!`): `WINDOW` with the window of `citus_window`.
    static CITUS_WINDOW: LazyLock<String> = LazyLock::new(|| {
        format!(
            "create temporary table fold_window on commit drop as
             select dense_rank() over (order by experiment_id, tenant_id, user_id) as ord,
                    stream, experiment_id, id, tenant_id, user_id, fold_key, in_bounds
             from ({}) w",
            citus_window(&format!(
                "s.stream, e.experiment_id, e.id, e.tenant_id, e.user_id, e.fold_key,
                 not ({OUT_OF_BOUNDS}) as in_bounds"
            ))
        )
    });
    // Not `query!`: it reads `fold_window`, a temporary table, unknown to the macros.
    static OUT_OF_BOUNDS_FIRST: &str = "with q as (
             insert into fold_quarantine (experiment_id, event_id, tenant_id, user_id, reason)
             select experiment_id, id, tenant_id, user_id,
                    'a value is outside the bounds Verdict now accepts'
             from fold_window where not in_bounds
             on conflict do nothing
             returning 1
         )
         select count(*) from q";
    // Dynamic SQL (not `query!`): composed from `add_to_user_metrics` and `LATENCIES_OF_EV`.
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
    // Dynamic SQL (not `query!`): `RANGE` for Citus, which joins its distributed events with
    // no temporary table: the window's part is read first (a CTE it runs on its own).
    static CITUS_RANGE: LazyLock<String> = LazyLock::new(|| {
        format!(
            "with w as materialized (
                 select experiment_id, id from fold_window
                 where ord between $1 and $2 and in_bounds
             ),
             ev as materialized (
                 select e.* from w join events e on e.experiment_id = w.experiment_id and e.id = w.id
             ),
             folded as ({})
             {}",
            add_to_user_metrics("ev"),
            super::sketches::LATENCIES_OF_EV
        )
    });
    let range = if citus { &CITUS_RANGE } else { &RANGE };
    sqlx::query(if citus { &CITUS_WINDOW } else { &WINDOW })
        .bind(limit)
        .execute(&mut *conn)
        .await?;
    // Not `query!`: `fold_window` is a temporary table, unknown to the macros.
    sqlx::query("create index on fold_window (ord)")
        .execute(&mut *conn)
        .await?;
    // Not `query!`: `fold_window` is a temporary table, unknown to the macros.
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
        sqlx::query!("savepoint part").execute(&mut *conn).await?;
        match sqlx::query_as::<_, FoldedLatencies>(range.as_str())
            .bind(a)
            .bind(b)
            .fetch_all(&mut *conn)
            .await
        {
            Ok(groups) => {
                sqlx::query!("release savepoint part")
                    .execute(&mut *conn)
                    .await?;
                super::sketches::add_latencies(&mut *conn, &groups).await?;
            }
            Err(err) if is_data_error(&err) => {
                sqlx::query!("rollback to savepoint part")
                    .execute(&mut *conn)
                    .await?;
                if a == b {
                    let reason = err
                        .as_database_error()
                        .map(|e| e.message().to_owned())
                        .unwrap_or_else(|| err.to_string());
                    // Not `query!`: `fold_window` is a temporary table, unknown to the macros.
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
    // Dynamic SQL (not `query!`): reads `fold_window` (temporary) and is composed with `SEQ_BITS`.
    static PROGRESS: LazyLock<String> = LazyLock::new(|| {
        format!(
            "update ingest_streams t
             set folded_through = p.through - (t.stream << {SEQ_BITS})
             from (select stream, max(fold_key) as through from fold_window group by stream) p
             where t.stream = p.stream"
        )
    });
    if citus {
        // Citus updates its reference table from no temporary table: the progress is read
        // first, and sent back as arrays.
        // The statement below writes `SEQ_BITS` as the literal a `query!` needs.
        const _: () = assert!(SEQ_BITS == 40);
        // Not `query!`: `fold_window` is a temporary table, unknown to the macros.
        let (streams, through): (Vec<i64>, Vec<i64>) = sqlx::query_as::<_, (i64, i64)>(
            "select stream, max(fold_key) from fold_window group by stream",
        )
        .fetch_all(&mut *conn)
        .await?
        .into_iter()
        .unzip();
        sqlx::query!(
            "update ingest_streams t set folded_through = p.through - (t.stream << 40)
             from unnest($1::int8[], $2::int8[]) as p(stream, through)
             where t.stream = p.stream",
            &streams,
            &through
        )
        .execute(&mut *conn)
        .await?;
    } else {
        sqlx::query(PROGRESS.as_str()).execute(&mut *conn).await?;
    }
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
    sqlx::query_as!(
        Quarantined,
        "select experiment_id, event_id, tenant_id, user_id, reason, quarantined_at
         from fold_quarantine order by quarantined_at, experiment_id, event_id limit $1",
        limit
    )
    .fetch_all(pool)
    .await
}

/// How many events are quarantined.
pub async fn quarantined_count(pool: &PgPool) -> sqlx::Result<i64> {
    sqlx::query_scalar!(r#"select count(*) as "count!" from fold_quarantine"#)
        .fetch_one(pool)
        .await
}

/// Folds the quarantined events again (once an operator has repaired them in `events`) and
/// takes them out of the quarantine, in one transaction under the fold's lock. Fails, leaving
/// them quarantined, when they still cannot be folded. Returns how many were released.
pub async fn release_quarantined(pool: &PgPool) -> sqlx::Result<u64> {
    // Dynamic SQL (not `query!`): composed from `add_to_user_metrics`.
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
    sqlx::query!("select pg_advisory_xact_lock($1)", FOLD_LOCK)
        .execute(&mut *tx)
        .await?;
    // Dynamic SQL (not `query!`): composed from `LATENCIES_OF_EV`.
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
    let citus = super::citus::on_citus(&mut *conn).await?;
    forget_finished_streams_as(conn, citus).await
}

/// `forget_finished_streams` in the statement form for Citus (`citus`) or for plain
/// PostgreSQL. Citus refuses a correlated subquery over the events in a statement that
/// changes the streams (a reference table): there the streams that still have events after
/// their progress are found by a join, and taken away from the old ones.
pub async fn forget_finished_streams_as(conn: &mut PgConnection, citus: bool) -> sqlx::Result<u64> {
    // Dynamic SQL (not `query!`): composed from `after_progress`.
    static CITUS_FORGET: LazyLock<String> = LazyLock::new(|| {
        format!(
            "delete from ingest_streams where stream in (
                 select stream from ingest_streams where created_at < now() - interval '1 day'
                 except
                 select s.stream from ingest_streams s join events e on {}
             )",
            after_progress().replace("fold_key", "e.fold_key")
        )
    });
    if citus {
        return Ok(sqlx::query(CITUS_FORGET.as_str())
            .execute(conn)
            .await?
            .rows_affected());
    }
    // Dynamic SQL (not `query!`): composed from `after_progress`.
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
