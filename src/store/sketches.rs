//! The request-level latency sketches (`latency_sketches`): one mergeable quantile sketch
//! per experiment and arm, kept by the fold from the events it folds (in the fold's
//! transaction, under its lock), and read by the results with the requests not folded yet.

use super::streams::{FOLD_LOCK, SEQ_BITS, unfolded_events};
use crate::domain::assignment::Variant;
use crate::domain::stats::QuantileSketch;
use serde_json::Value;
use sqlx::{PgConnection, PgPool};
use std::collections::HashMap;
use std::sync::LazyLock;
use uuid::Uuid;

/// The events of one experiment and arm that a fold just took in: how many, and their
/// latencies (for the arm's request-level sketch; see `store::sketches`).
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct FoldedLatencies {
    pub experiment_id: Uuid,
    pub variant: String,
    pub events: i64,
    pub latencies: Option<Vec<f64>>,
}

/// The last part of a fold's statement: per experiment and arm, the events of `ev` and
/// their latencies.
pub(crate) const LATENCIES_OF_EV: &str = "select ev.experiment_id, ev.variant,
         count(*)::int8 as events,
         array_agg(ev.latency_ms) filter (where ev.latency_ms is not null) as latencies
     from ev group by 1, 2 order by 1, 2";

/// The sketch of arm `variant` in `arms`, added when missing (an unreadable key has none).
fn slot<'a>(
    arms: &'a mut Vec<(Variant, QuantileSketch)>,
    variant: &str,
) -> Option<&'a mut QuantileSketch> {
    let key: Variant = variant.parse().ok()?;
    let at = match arms.iter().position(|(k, _)| *k == key) {
        Some(at) => at,
        None => {
            arms.push((key, QuantileSketch::new()));
            arms.len() - 1
        }
    };
    arms.get_mut(at).map(|(_, s)| s)
}

fn decode(body: Option<Value>) -> Option<QuantileSketch> {
    body.and_then(|b| serde_json::from_value(b).ok())
}

/// Adds the latencies of folded events to their arms' sketches (rows locked in key order).
/// A sketch waiting to be rebuilt (NULL) stays so: the rebuild will count these events.
pub async fn add_latencies(
    conn: &mut PgConnection,
    groups: &[FoldedLatencies],
) -> sqlx::Result<()> {
    let groups: Vec<&FoldedLatencies> = groups
        .iter()
        .filter(|g| g.latencies.as_ref().is_some_and(|l| !l.is_empty()))
        .collect();
    if groups.is_empty() {
        return Ok(());
    }
    let ids: Vec<Uuid> = groups.iter().map(|g| g.experiment_id).collect();
    let variants: Vec<&str> = groups.iter().map(|g| g.variant.as_str()).collect();
    // Every writer of the sketches holds the fold's lock (`FOLD_LOCK`); the row locks are a
    // second guard. Citus takes no row lock in a statement over several shards, and there the
    // fold's lock (an advisory lock on the coordinator, where every Verdict connects) is the
    // guard.
    let stored: HashMap<(Uuid, String), Option<Value>> =
        if super::citus::on_citus(&mut *conn).await? {
            sqlx::query!(
                "select s.experiment_id, s.variant, s.sketch from latency_sketches s
                 join unnest($1::uuid[], $2::text[]) as k(e, v)
                     on s.experiment_id = k.e and s.variant = k.v",
                &ids,
                &variants as &[&str]
            )
            .fetch_all(&mut *conn)
            .await?
            .into_iter()
            .map(|r| ((r.experiment_id, r.variant), r.sketch))
            .collect()
        } else {
            sqlx::query!(
                "select s.experiment_id, s.variant, s.sketch from latency_sketches s
                 join unnest($1::uuid[], $2::text[]) as k(e, v)
                     on s.experiment_id = k.e and s.variant = k.v
                 order by 1, 2 for update of s",
                &ids,
                &variants as &[&str]
            )
            .fetch_all(&mut *conn)
            .await?
            .into_iter()
            .map(|r| ((r.experiment_id, r.variant), r.sketch))
            .collect()
        };
    let mut out_ids = Vec::with_capacity(groups.len());
    let mut out_variants = Vec::with_capacity(groups.len());
    let mut out_requests = Vec::with_capacity(groups.len());
    let mut out_bodies: Vec<Option<Value>> = Vec::with_capacity(groups.len());
    for g in groups {
        let mut sketch = match stored.get(&(g.experiment_id, g.variant.clone())) {
            // Waiting for a rebuild: left for it.
            Some(None) => continue,
            Some(Some(body)) => match decode(Some(body.clone())) {
                Some(s) => s,
                // Unreadable (another version's sketch): marked for a rebuild.
                None => {
                    out_ids.push(g.experiment_id);
                    out_variants.push(g.variant.as_str());
                    out_requests.push(0i64);
                    out_bodies.push(None);
                    continue;
                }
            },
            None => QuantileSketch::new(),
        };
        for &v in g.latencies.iter().flatten() {
            sketch.add(v);
        }
        out_ids.push(g.experiment_id);
        out_variants.push(g.variant.as_str());
        out_requests.push(i64::try_from(sketch.count()).unwrap_or(i64::MAX));
        out_bodies.push(serde_json::to_value(&sketch).ok());
    }
    if out_ids.is_empty() {
        return Ok(());
    }
    sqlx::query!(
        "insert into latency_sketches (experiment_id, variant, requests, sketch)
         select * from unnest($1::uuid[], $2::text[], $3::int8[], $4::jsonb[])
         on conflict (experiment_id, variant) do update
             set requests = excluded.requests, sketch = excluded.sketch",
        &out_ids,
        &out_variants as &[&str],
        &out_requests,
        &out_bodies as &[Option<Value>]
    )
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// The request-level sketches of an experiment's arms, by key: the folded
/// requests' sketches merged with the requests not folded yet, in one snapshot. A sketch
/// waiting to be rebuilt is rebuilt first (under the fold's lock).
pub async fn latency_sketches(
    pool: &PgPool,
    experiment_id: Uuid,
) -> sqlx::Result<Vec<(Variant, QuantileSketch)>> {
    // Dynamic SQL (not `query!`): composed from `unfolded_events`.
    static PENDING: LazyLock<String> = LazyLock::new(|| {
        format!(
            "select e.variant, e.latency_ms from {} where e.latency_ms is not null",
            unfolded_events("and experiment_id = $1", "")
        )
    });
    for _attempt in 0..2 {
        let mut tx = pool.begin().await?;
        sqlx::query!("set transaction isolation level repeatable read, read only")
            .execute(&mut *tx)
            .await?;
        let stored: Vec<(String, Option<Value>)> = sqlx::query!(
            "select variant, sketch from latency_sketches where experiment_id = $1",
            experiment_id
        )
        .fetch_all(&mut *tx)
        .await?
        .into_iter()
        .map(|r| (r.variant, r.sketch))
        .collect();
        if stored
            .iter()
            .any(|(_, body)| decode(body.clone()).is_none())
        {
            tx.commit().await?;
            rebuild(pool, experiment_id).await?;
            continue;
        }
        let mut arms: Vec<(Variant, QuantileSketch)> = Vec::new();
        for (variant, body) in stored {
            if let (Some(s), Some(arm)) = (decode(body), slot(&mut arms, &variant)) {
                *arm = s;
            }
        }
        let pending: Vec<(String, f64)> = sqlx::query_as(PENDING.as_str())
            .bind(experiment_id)
            .fetch_all(&mut *tx)
            .await?;
        tx.commit().await?;
        for (variant, v) in pending {
            if let Some(arm) = slot(&mut arms, &variant) {
                arm.add(v);
            }
        }
        return Ok(arms);
    }
    // Rebuilt, yet still unreadable: nothing to show rather than a wrong figure.
    Ok(Vec::new())
}

/// Makes the experiment's sketches again from its folded events (those before their
/// streams' progress, or from before the streams, and not quarantined), under the fold's
/// lock so that no fold adds to them meanwhile. Read page by page (by event id).
pub async fn rebuild(pool: &PgPool, experiment_id: Uuid) -> sqlx::Result<()> {
    // Dynamic SQL (not `query!`): composed with `SEQ_BITS`.
    static PAGE: LazyLock<String> = LazyLock::new(|| {
        format!(
            "select e.id, e.variant, e.latency_ms from events e
             where e.experiment_id = $1 and e.id > $2 and e.latency_ms is not null
               and not exists (select from fold_quarantine q
                               where q.experiment_id = e.experiment_id and q.event_id = e.id)
               and not exists (select from ingest_streams s
                               where s.stream = e.fold_key >> {SEQ_BITS}
                                 and e.fold_key > (s.stream << {SEQ_BITS}) + s.folded_through)
             order by e.id limit $3"
        )
    });
    const PAGE_ROWS: i64 = 50_000;
    let mut tx = pool.begin().await?;
    sqlx::query!("select pg_advisory_xact_lock($1)", FOLD_LOCK)
        .execute(&mut *tx)
        .await?;
    // Every arm that has a row gets a rebuilt one, empty when it has no latencies.
    let mut arms: Vec<(Variant, QuantileSketch)> = Vec::new();
    for variant in sqlx::query_scalar!(
        "select variant from latency_sketches where experiment_id = $1 order by variant",
        experiment_id
    )
    .fetch_all(&mut *tx)
    .await?
    {
        slot(&mut arms, &variant);
    }
    let mut after = Uuid::nil();
    loop {
        let rows: Vec<(Uuid, String, f64)> = sqlx::query_as(PAGE.as_str())
            .bind(experiment_id)
            .bind(after)
            .bind(PAGE_ROWS)
            .fetch_all(&mut *tx)
            .await?;
        let Some((last, _, _)) = rows.last() else {
            break;
        };
        after = *last;
        let full = rows.len() as i64 == PAGE_ROWS;
        for (_, variant, v) in rows {
            if let Some(arm) = slot(&mut arms, &variant) {
                arm.add(v);
            }
        }
        if !full {
            break;
        }
    }
    for (variant, sketch) in &arms {
        let variant = variant.as_str();
        sqlx::query!(
            "insert into latency_sketches (experiment_id, variant, requests, sketch)
             values ($1, $2, $3, $4)
             on conflict (experiment_id, variant) do update
                 set requests = excluded.requests, sketch = excluded.sketch",
            experiment_id,
            variant,
            i64::try_from(sketch.count()).unwrap_or(i64::MAX),
            serde_json::to_value(sketch).ok()
        )
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    tracing::info!(%experiment_id, "request-level latency sketches rebuilt from the events");
    Ok(())
}
