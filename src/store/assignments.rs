//! Where an assignment is stored: the writers' reads and creates (the deterministic hash's
//! variant, created when missing, never moved), and the exposure bookkeeping of the runtime.

use crate::domain::assignment::Variant;
use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgPool};
use std::collections::HashMap;
use std::sync::LazyLock;
use uuid::Uuid;

/// A (tenant, experiment, user) key, borrowed from the events of a batch.
/// Ordered by tenant, experiment, user: the lock order of every writer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Key<'a> {
    pub tenant: &'a str,
    pub experiment: Uuid,
    pub user: &'a str,
}

/// An assignment as the writers need it: its id and its arm.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Assigned {
    /// The assignment's id (the events' `assignment_id`).
    pub id: Uuid,
    /// Its arm.
    pub variant: Variant,
}

/// The existing assignment of each row of `x` (columns t, e, u): a lateral subquery per key,
/// which `offset 0` keeps PostgreSQL from flattening into a join (see `writer_connection`).
const PROBE: &str = "cross join lateral (
    select id, variant from assignments
    where tenant_id = x.t and experiment_id = x.e and user_id = x.u
    offset 0
) a";

/// `PROBE` for Citus, which cannot push a lateral subquery with `OFFSET` down to the shards:
/// a join on the whole key, which it runs on each shard (each worker's planner probes the
/// primary key per row of a small batch).
const CITUS_PROBE: &str = "join lateral (
    select id, variant, tenant_id, experiment_id, user_id from assignments
) a on a.tenant_id = x.t and a.experiment_id = x.e and a.user_id = x.u";

/// The assignment of each of `keys`, by position (`None`: the user has none). One statement;
/// ids and arm keys come back.
pub async fn assignments(
    conn: &mut PgConnection,
    keys: &[Key<'_>],
) -> sqlx::Result<Vec<Option<Assigned>>> {
    let citus = super::citus::on_citus(&mut *conn).await?;
    assignments_as(conn, keys, citus).await
}

/// `assignments` in the statement form for Citus (`citus`) or for plain PostgreSQL.
pub async fn assignments_as(
    conn: &mut PgConnection,
    keys: &[Key<'_>],
    citus: bool,
) -> sqlx::Result<Vec<Option<Assigned>>> {
    let mut found = vec![None; keys.len()];
    if keys.is_empty() {
        return Ok(found);
    }
    // Dynamic SQL (not `query!`): composed with the `PROBE` subquery it shares with `CREATE`.
    static READ: LazyLock<String> = LazyLock::new(|| {
        format!(
            "select x.ord, a.id, a.variant
             from unnest($1::text[], $2::uuid[], $3::text[]) with ordinality as x(t, e, u, ord)
             {PROBE}"
        )
    });
    // Dynamic SQL (not `query!`): `READ` with `CITUS_PROBE`.
    static CITUS_READ: LazyLock<String> = LazyLock::new(|| READ.replace(PROBE, CITUS_PROBE));
    let sql = if citus { &CITUS_READ } else { &READ };
    let rows: Vec<(i64, Uuid, String)> = sqlx::query_as(sql.as_str())
        .bind(keys.iter().map(|k| k.tenant).collect::<Vec<_>>())
        .bind(keys.iter().map(|k| k.experiment).collect::<Vec<_>>())
        .bind(keys.iter().map(|k| k.user).collect::<Vec<_>>())
        .fetch_all(conn)
        .await?;
    for (ord, id, variant) in rows {
        found[ord as usize - 1] = Some(Assigned {
            id,
            variant: super::variant(&variant)?,
        });
    }
    Ok(found)
}

/// Creates the assignments of `create` (key and variant, in lock order) that do not exist
/// yet, and returns each one created or already committed, by position (existing assignments
/// are never moved). One statement.
pub async fn create_assignments(
    conn: &mut PgConnection,
    create: &[(Key<'_>, Variant)],
    now: DateTime<Utc>,
) -> sqlx::Result<Vec<Option<Assigned>>> {
    let citus = super::citus::on_citus(&mut *conn).await?;
    create_assignments_as(conn, create, now, citus).await
}

/// `create_assignments` in the statement form for Citus (`citus`) or for plain PostgreSQL. On
/// Citus the statement's parts run one after the other, so the probe sees the assignments just
/// created too: those come back twice, by id and by position, which is the same answer.
pub async fn create_assignments_as(
    conn: &mut PgConnection,
    create: &[(Key<'_>, Variant)],
    now: DateTime<Utc>,
    citus: bool,
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
    // Dynamic SQL (not `query!`): composed with the `PROBE` subquery it shares with `READ`.
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
             select null::int8, id, null::text from created
             union all
             select x.ord, a.id, a.variant from x {PROBE}"
        )
    });
    // Dynamic SQL (not `query!`): `CREATE` with `CITUS_PROBE`.
    static CITUS_CREATE: LazyLock<String> = LazyLock::new(|| CREATE.replace(PROBE, CITUS_PROBE));
    let sql = if citus { &CITUS_CREATE } else { &CREATE };
    let rows: Vec<(Option<i64>, Uuid, Option<String>)> = sqlx::query_as(sql.as_str())
        .bind(create.iter().map(|(k, _)| k.tenant).collect::<Vec<_>>())
        .bind(create.iter().map(|(k, _)| k.experiment).collect::<Vec<_>>())
        .bind(create.iter().map(|(k, _)| k.user).collect::<Vec<_>>())
        .bind(&ids)
        .bind(create.iter().map(|(_, v)| v.as_str()).collect::<Vec<_>>())
        .bind(now)
        .fetch_all(conn)
        .await?;
    let position: HashMap<Uuid, usize> = ids.iter().enumerate().map(|(i, id)| (*id, i)).collect();
    for (ord, id, variant) in rows {
        match (ord, variant) {
            (Some(ord), Some(variant)) => {
                found[ord as usize - 1] = Some(Assigned {
                    id,
                    variant: super::variant(&variant)?,
                })
            }
            _ => {
                if let Some(&i) = position.get(&id) {
                    found[i] = Some(Assigned {
                        id,
                        variant: create[i].1,
                    });
                }
            }
        }
    }
    Ok(found)
}

/// Exposures of one (tenant, experiment, user), summed over a batch.
pub struct ExposureRow<'a> {
    pub tenant_id: &'a str,
    pub experiment_id: Uuid,
    pub user_id: &'a str,
    pub variant: Variant,
    pub first: DateTime<Utc>,
    pub last: DateTime<Utc>,
    pub count: i64,
}

/// Creates or updates the assignments of a batch of exposures in one statement. The keys
/// of `rows` must be distinct (the caller sums per key).
pub async fn upsert_exposures(pool: &PgPool, rows: &[ExposureRow<'_>]) -> sqlx::Result<u64> {
    let tenants: Vec<&str> = rows.iter().map(|r| r.tenant_id).collect();
    let experiments: Vec<Uuid> = rows.iter().map(|r| r.experiment_id).collect();
    let users: Vec<&str> = rows.iter().map(|r| r.user_id).collect();
    let ids: Vec<Uuid> = {
        let mut fresh = super::fresh_ids();
        rows.iter().map(|_| fresh()).collect()
    };
    let variants: Vec<&str> = rows.iter().map(|r| r.variant.as_str()).collect();
    let firsts: Vec<DateTime<Utc>> = rows.iter().map(|r| r.first).collect();
    let lasts: Vec<DateTime<Utc>> = rows.iter().map(|r| r.last).collect();
    let counts: Vec<i64> = rows.iter().map(|r| r.count).collect();
    let done = sqlx::query!(
        "insert into assignments (tenant_id, experiment_id, user_id, id, variant, assigned_at,
                                  first_exposure, last_exposure, exposure_count)
         select t, e, u, i, v, f, f, l, c
         from unnest($1::text[], $2::uuid[], $3::text[], $4::uuid[], $5::text[],
                     $6::timestamptz[], $7::timestamptz[], $8::bigint[]) as x(t, e, u, i, v, f, l, c)
         on conflict (tenant_id, experiment_id, user_id) do update set
             first_exposure = least(coalesce(assignments.first_exposure, excluded.first_exposure),
                                    excluded.first_exposure),
             last_exposure = greatest(assignments.last_exposure, excluded.last_exposure),
             exposure_count = assignments.exposure_count + excluded.exposure_count",
        &tenants as &[&str],
        &experiments,
        &users as &[&str],
        &ids,
        &variants as &[&str],
        &firsts,
        &lasts,
        &counts
    )
    .execute(pool)
    .await?;
    Ok(done.rows_affected())
}
