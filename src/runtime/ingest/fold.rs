//! The fold: a background task that folds the stored events into the per-user rollups.

use super::{Stats, Task};
use crate::store;
use sqlx::{PgConnection, PgPool};
use std::sync::atomic::Ordering;

/// Most events of one stream one fold takes (a transaction of bounded size; a backlog takes
/// several folds back to back).
const FOLD_AT_MOST: i64 = 200_000;
/// The pause between folds once nothing is left to fold.
const FOLD_EVERY: std::time::Duration = std::time::Duration::from_secs(2);
/// Folds between two clean-ups of finished streams.
const FORGET_EVERY: u32 = 600;

/// Folds the events into the per-user rollups in the background (see `store::fold::fold`),
/// until the ingestion (whose counters `stats` are) or the pool is gone. The longer the pause,
/// the more batches of one user share one upsert; the results read the events not folded yet
/// too, so the pause delays nothing anyone sees. On its own connection, like the writers.
pub(super) async fn fold(pool: PgPool, stats: std::sync::Weak<Stats>, task: Task) {
    let mut conn: Option<PgConnection> = None;
    let mut rounds = 0u32;
    loop {
        if pool.is_closed() {
            break;
        }
        task.sup.checkpoint(task.name);
        let folded = async {
            if conn.is_none() {
                conn = Some(store::events::writer_connection(&pool).await?);
            }
            let c = conn.as_mut().expect("connected above");
            rounds = rounds.wrapping_add(1);
            if rounds.is_multiple_of(FORGET_EVERY) {
                store::fold::forget_finished_streams(c).await?;
            }
            store::fold::fold(c, FOLD_AT_MOST).await
        }
        .await;
        let Some(stats) = stats.upgrade() else { break };
        match folded {
            Ok(Some(f)) => {
                task.sup.ok(task.name);
                stats
                    .folded
                    .fetch_add(f.events - f.quarantined, Ordering::Relaxed);
                stats
                    .quarantined
                    .fetch_add(f.quarantined, Ordering::Relaxed);
                stats.fold_backlog.store(f.events, Ordering::Relaxed);
                if f.quarantined > 0 {
                    tracing::error!(
                        events = f.quarantined,
                        "events that cannot be folded were quarantined (see `verdict quarantine`)"
                    );
                }
                if f.events as i64 >= FOLD_AT_MOST {
                    // A backlog (a stream had more than one fold takes): fold again once the
                    // writers had a turn.
                    drop(stats);
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                    continue;
                }
                *stats.caught_up.lock().unwrap_or_else(|e| e.into_inner()) =
                    Some(std::time::Instant::now());
            }
            Ok(None) => {
                // Another server is folding: it reports its own lag.
                task.sup.ok(task.name);
                *stats.caught_up.lock().unwrap_or_else(|e| e.into_inner()) = None;
            }
            Err(err) => {
                stats.failed_folds.fetch_add(1, Ordering::Relaxed);
                task.sup
                    .failed(task.name, "folding events into the rollups fails; retrying");
                tracing::warn!(error = %err, "folding events into the rollups failed; retrying");
                if let Some(c) = conn.take() {
                    let _ = sqlx::Connection::close(c).await;
                }
            }
        }
        drop(stats);
        tokio::select! {
            () = tokio::time::sleep(FOLD_EVERY) => {}
            () = pool.close_event() => break,
        }
    }
    if let Some(c) = conn {
        let _ = sqlx::Connection::close(c).await;
    }
}
