//! How one group of events is written, all or nothing: their users' assignments (from the
//! cache, the database, or created), the events, and what they add to the daily rollups.

use super::assignment_cache::AssignmentCache;
use super::{Outcome, PreparedEvent};
use crate::domain::assignment::Variant;
use crate::domain::event::EventDraft;
use crate::domain::stats::Summary;
use crate::store;
use crate::store::assignments::{Assigned, Key};
use crate::store::daily::DailyDelta;
use crate::store::events::EventRow;
use crate::store::streams::FoldStream;
use anyhow::Context;
use chrono::Utc;
use sqlx::PgConnection;
use std::collections::{HashMap, HashSet};
use uuid::Uuid;

/// Fewest events without an idempotency key that are written by COPY rather than INSERT.
pub(super) const COPY_AT_LEAST: usize = 64;

/// The batch's users, each with the variant its first event hashes to, sorted in lock order
/// (one order for every writer and the exposure writer: no deadlocks), and each event's user
/// as a position among them. Keys are borrowed from the events: nothing is copied per event.
fn users_of<'a>(events: &[&'a PreparedEvent]) -> (Vec<(Key<'a>, Option<Variant>)>, Vec<usize>) {
    let mut users: Vec<(Key<'a>, Option<Variant>)> = Vec::new();
    let mut user_of: Vec<usize> = Vec::with_capacity(events.len());
    {
        let mut seen: HashMap<Key<'a>, usize> = HashMap::with_capacity(events.len());
        for e in events {
            let key = Key {
                tenant: e.draft.tenant_id.as_str(),
                experiment: e.draft.experiment_id,
                user: e.draft.user_id.as_str(),
            };
            let next = users.len();
            let u = *seen.entry(key).or_insert(next);
            if u == next {
                users.push((key, e.fallback));
            }
            user_of.push(u);
        }
    }
    let mut order: Vec<usize> = (0..users.len()).collect();
    order.sort_unstable_by(|a, b| users[*a].0.cmp(&users[*b].0));
    let mut rank = vec![0; users.len()];
    for (r, u) in order.iter().enumerate() {
        rank[*u] = r;
    }
    let users = order.iter().map(|u| users[*u]).collect();
    for u in &mut user_of {
        *u = rank[*u];
    }
    (users, user_of)
}

/// Writes `events`, all or nothing; returns their outcomes in order. A small batch without
/// idempotency keys (single events under load) goes in one statement that commits by itself;
/// anything else, or a small batch that statement had to give back, in a transaction of a
/// few statements.
///
/// `stream` has room for twice as many keys as there are events (a small batch given back
/// takes new keys the second time).
pub(super) async fn write(
    conn: &mut PgConnection,
    stream: &mut FoldStream,
    cache: &AssignmentCache,
    events: &[&PreparedEvent],
    shard: i16,
) -> anyhow::Result<Vec<Outcome>> {
    let small =
        events.len() < COPY_AT_LEAST && events.iter().all(|e| e.draft.idempotency_key.is_none());
    // On Citus the one statement's parts would run one after the other, from the coordinator:
    // nothing is saved, and its lateral look-ups are refused there (docs/SCALING.md).
    if small && !store::citus::on_citus(conn).await? {
        match write_small(conn, stream, cache, events, shard).await {
            Ok(outcomes) => return Ok(outcomes),
            Err(err) if store::events::is_retry(&err) => {}
            Err(err) => {
                return Err(anyhow::Error::new(err).context("Failed to write a small batch"));
            }
        }
    }
    write_batch(conn, stream, cache, events, shard).await
}

/// The next fold key of `stream`, which the writer made room for (see `write`).
fn next_key(stream: &mut FoldStream) -> i64 {
    stream
        .next_key()
        .expect("the writer takes a new stream before this one runs out")
}

/// `write` for a small batch without idempotency keys, in the one statement of
/// `store::events::ingest_small`.
async fn write_small(
    conn: &mut PgConnection,
    stream: &mut FoldStream,
    cache: &AssignmentCache,
    events: &[&PreparedEvent],
    shard: i16,
) -> sqlx::Result<Vec<Outcome>> {
    use store::events::{SmallEvent, SmallUser};
    let (users, user_of) = users_of(events);
    let keys: Vec<Key<'_>> = users.iter().map(|(k, _)| *k).collect();
    let cached = cache.get(&keys);
    let (small_users, small_events) = {
        // (The generator is not Send: it must not live across an await.)
        let mut ids = store::fresh_ids();
        let small_users: Vec<SmallUser<'_>> = users
            .iter()
            .zip(&cached)
            .map(|((key, fallback), known)| match known {
                Some(Assigned { id, variant }) => SmallUser {
                    key: *key,
                    id: *id,
                    variant: Some(variant.as_str()),
                    known: true,
                },
                None => SmallUser {
                    key: *key,
                    id: ids(),
                    variant: fallback.as_ref().map(|v| v.as_str()),
                    known: false,
                },
            })
            .collect();
        let small_events: Vec<SmallEvent<'_>> = events
            .iter()
            .zip(&user_of)
            .map(|(e, u)| SmallEvent {
                id: ids(),
                user: *u,
                fold_key: next_key(stream),
                draft: &e.draft,
            })
            .collect();
        (small_users, small_events)
    };
    let assigned =
        store::events::ingest_small(conn, &small_users, &small_events, Utc::now(), shard).await?;
    cache.put(
        (0..keys.len())
            .filter(|i| cached[*i].is_none())
            .filter_map(|i| assigned[i].map(|a| (keys[i], a))),
    );
    Ok(small_events
        .iter()
        .map(|e| match assigned[e.user] {
            Some(Assigned { variant, .. }) => Outcome::Stored {
                event_id: e.id,
                variant,
            },
            None => Outcome::NotAssigned,
        })
        .collect())
}

/// `write` in one transaction of a few statements: assignments read or created, events by
/// binary `COPY` (or `INSERT … ON CONFLICT DO NOTHING` for those with an idempotency key, or
/// when few), and their daily rollups.
async fn write_batch(
    conn: &mut PgConnection,
    stream: &mut FoldStream,
    cache: &AssignmentCache,
    events: &[&PreparedEvent],
    shard: i16,
) -> anyhow::Result<Vec<Outcome>> {
    let now = Utc::now();
    let (users, user_of) = users_of(events);
    let keys: Vec<Key<'_>> = users.iter().map(|(k, _)| *k).collect();
    let mut tx = sqlx::Connection::begin(&mut *conn)
        .await
        .context("Failed to begin")?;
    // Assignments seen committed before come from memory; the rest from the database.
    let mut assignments = cache.get(&keys);
    let unknown: Vec<usize> = (0..keys.len())
        .filter(|i| assignments[*i].is_none())
        .collect();
    // Users the cache lacks: those in the experiment by the hash are created or read in one
    // statement (one round trip matters for small batches); the others can only be read.
    let missing: Vec<(usize, (Key<'_>, Variant))> = unknown
        .iter()
        .filter_map(|i| users[*i].1.map(|v| (*i, (users[*i].0, v))))
        .collect();
    let read_only: Vec<usize> = unknown
        .iter()
        .copied()
        .filter(|i| users[*i].1.is_none())
        .collect();
    read_assignments(&mut tx, &keys, &read_only, &mut assignments).await?;
    if !missing.is_empty() {
        let create: Vec<(Key<'_>, Variant)> = missing.iter().map(|(_, c)| *c).collect();
        let created = store::assignments::create_assignments(&mut tx, &create, now)
            .await
            .context("Failed to create assignments")?;
        for ((i, _), a) in missing.iter().zip(created) {
            assignments[*i] = a;
        }
        // An assignment another writer committed while this statement ran is not in its
        // snapshot: look again for those (rare) before calling anyone unassigned.
        let unseen: Vec<usize> = missing
            .iter()
            .map(|(i, _)| *i)
            .filter(|i| assignments[*i].is_none())
            .collect();
        read_assignments(&mut tx, &keys, &unseen, &mut assignments).await?;
    }
    let mut rows = Vec::with_capacity(events.len());
    // Per event: its id, variant, and whether it carries an idempotency key.
    let mut plan: Vec<Option<(Uuid, Variant, bool)>> = Vec::with_capacity(events.len());
    {
        // (The generator is not Send: it must not live across an await.)
        let mut ids = store::fresh_ids();
        for (e, u) in events.iter().zip(&user_of) {
            match &assignments[*u] {
                Some(Assigned {
                    id: assignment_id,
                    variant,
                }) => {
                    let (assignment_id, variant) = (*assignment_id, variant);
                    let id = ids();
                    rows.push(EventRow {
                        id,
                        assignment_id,
                        variant: variant.as_str(),
                        fold_key: next_key(stream),
                        draft: &e.draft,
                    });
                    plan.push(Some((id, *variant, e.draft.idempotency_key.is_some())));
                }
                None => plan.push(None),
            }
        }
    }
    // Events without an idempotency key cannot conflict: they go in by binary COPY. Those
    // with one keep `INSERT … ON CONFLICT DO NOTHING`, which tells which keys were new.
    let (keyed, unkeyed): (Vec<EventRow<'_>>, Vec<EventRow<'_>>) = rows
        .into_iter()
        .partition(|r| r.draft.idempotency_key.is_some());
    // What the stored events add to the daily rollups: all events without a key, and those
    // with a key the database took as new.
    let deltas = |inserted: &HashSet<Uuid>| {
        daily_deltas(events.iter().zip(&plan).filter_map(|(e, p)| {
            p.filter(|(id, _, keyed)| !keyed || inserted.contains(id))
                .map(|(_, variant, _)| (&e.draft, variant))
        }))
    };
    let inserted: HashSet<Uuid> = if keyed.is_empty() && unkeyed.len() < COPY_AT_LEAST {
        // A small batch without keys that `write_small` gave back (an assignment created by
        // someone else at the same moment): nothing can be a duplicate, so the events and
        // their daily rollups go in one statement.
        let days = deltas(&HashSet::new());
        if !unkeyed.is_empty() {
            store::events::insert_with_daily(&mut tx, &unkeyed, &days, shard)
                .await
                .context("Failed to insert events and update their rollups")?;
        }
        HashSet::new()
    } else {
        // COPY costs one more round trip than a statement: few events without a key go with
        // the keyed ones into the INSERT, where they cannot conflict either.
        let (keyed, unkeyed) = if unkeyed.len() < COPY_AT_LEAST {
            (keyed.into_iter().chain(unkeyed).collect(), Vec::new())
        } else {
            (keyed, unkeyed)
        };
        let copied = store::copy::copy(&mut tx, &unkeyed)
            .await
            .context("Failed to copy events")?;
        anyhow::ensure!(
            copied == unkeyed.len() as u64,
            "COPY wrote {copied} of {} events",
            unkeyed.len()
        );
        let inserted: HashSet<Uuid> = store::events::insert(&mut tx, &keyed)
            .await
            .context("Failed to insert events")?
            .into_iter()
            .collect();
        let days = deltas(&inserted);
        store::daily::add_to_daily(&mut tx, &days, shard)
            .await
            .context("Failed to update the daily rollups")?;
        inserted
    };
    tx.commit().await.context("Failed to commit events")?;
    // Only now are the assignments this batch created committed (a rolled-back batch must
    // leave none in memory).
    cache.put(
        unknown
            .iter()
            .filter_map(|i| assignments[*i].map(|a| (keys[*i], a))),
    );

    Ok(plan
        .into_iter()
        .map(|p| match p {
            None => Outcome::NotAssigned,
            Some((id, variant, keyed)) if !keyed || inserted.contains(&id) => Outcome::Stored {
                event_id: id,
                variant,
            },
            Some((_, variant, _)) => Outcome::Duplicate { variant },
        })
        .collect())
}

/// Reads the assignments of the users at `positions` (of `keys`) into `assignments`.
async fn read_assignments(
    tx: &mut sqlx::PgConnection,
    keys: &[Key<'_>],
    positions: &[usize],
    assignments: &mut [Option<Assigned>],
) -> anyhow::Result<()> {
    if positions.is_empty() {
        return Ok(());
    }
    let wanted: Vec<Key<'_>> = positions.iter().map(|i| keys[*i]).collect();
    let found = store::assignments::assignments(tx, &wanted)
        .await
        .context("Failed to read assignments")?;
    for (i, a) in positions.iter().zip(found) {
        assignments[*i] = a;
    }
    Ok(())
}

/// (n, mean, M2) of a summary, as the daily rollups store them.
fn moments(s: &Summary) -> (i64, f64, f64) {
    (i64::try_from(s.n).unwrap_or(i64::MAX), s.mean, s.m2)
}

/// What the stored events add to the daily rollups, sorted by key (one lock order for every
/// writer).
fn daily_deltas<'a>(stored: impl Iterator<Item = (&'a EventDraft, Variant)>) -> Vec<DailyDelta> {
    use std::collections::BTreeMap;
    let mut days: BTreeMap<(Uuid, chrono::NaiveDate, Variant), (i64, Summary, Summary)> =
        BTreeMap::new();
    for (d, variant) in stored {
        let day = days
            .entry((d.experiment_id, d.timestamp.date_naive(), variant))
            .or_default();
        day.0 += 1;
        if let Some(q) = d.quality {
            day.1.add(q);
        }
        if let Some(l) = d.latency_ms {
            day.2.add(l);
        }
    }
    days.into_iter()
        .map(
            |((experiment_id, day, variant), (events, q, l))| DailyDelta {
                experiment_id,
                day,
                variant,
                events,
                quality: moments(&q),
                latency: moments(&l),
            },
        )
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::event::EventType;
    use chrono::TimeZone;

    fn event(tenant: &str, experiment: u128, user: &str, quality: Option<f64>) -> PreparedEvent {
        PreparedEvent {
            draft: EventDraft {
                experiment_id: Uuid::from_u128(experiment),
                tenant_id: tenant.into(),
                user_id: user.into(),
                event_type: EventType::Feedback,
                quality,
                latency_ms: Some(100.0),
                tokens_used: None,
                cost: None,
                satisfaction: None,
                custom: Default::default(),
                insight_id: None,
                conversation_id: None,
                intent: None,
                scope: None,
                timestamp: Utc.with_ymd_and_hms(2026, 12, 3, 10, 0, 0).unwrap(),
                idempotency_key: None,
            },
            fallback: Some(Variant::Treatment),
        }
    }

    /// A batch's users are found once each, every event points at its user, and the users
    /// come in lock order (tenant, experiment, user) whatever order the events came in.
    #[test]
    fn a_batchs_users_are_deduplicated_and_sorted_in_lock_order() {
        let evs = [
            event("b", 1, "u2", None),
            event("a", 2, "u1", None),
            event("b", 1, "u2", None),
            event("a", 1, "u9", None),
        ];
        let refs: Vec<&PreparedEvent> = evs.iter().collect();
        let (users, user_of) = users_of(&refs);
        let keys: Vec<(&str, u128, &str)> = users
            .iter()
            .map(|(k, _)| (k.tenant, k.experiment.as_u128(), k.user))
            .collect();
        assert_eq!(keys, vec![("a", 1, "u9"), ("a", 2, "u1"), ("b", 1, "u2")]);
        assert_eq!(user_of, vec![2, 1, 2, 0]);
        assert!(users.iter().all(|(_, v)| *v == Some(Variant::Treatment)));
    }

    /// The daily deltas are per (experiment, day, arm): events counted, and (n, mean, M2) of
    /// the values present, as `stats::Summary` computes them.
    #[test]
    fn daily_deltas_summarise_each_day_and_arm() {
        let evs = [
            event("a", 1, "u1", Some(0.5)),
            event("a", 1, "u2", Some(1.0)),
            event("a", 1, "u3", None),
        ];
        let deltas = daily_deltas(evs.iter().map(|e| (&e.draft, Variant::Control)));
        assert_eq!(deltas.len(), 1);
        let d = &deltas[0];
        assert_eq!(d.events, 3);
        assert_eq!(d.quality, (2, 0.75, 0.125));
        assert_eq!(d.latency, (3, 100.0, 0.0));
        let split = daily_deltas(
            evs.iter()
                .zip([Variant::Control, Variant::Treatment, Variant::Treatment])
                .map(|(e, v)| (&e.draft, v)),
        );
        assert_eq!(split.len(), 2);
        assert_eq!(split[0].variant, Variant::Control);
    }
}
