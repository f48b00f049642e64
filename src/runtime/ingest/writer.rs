//! The writer tasks: each takes every job queued (up to a batch), writes them in one group
//! commit and answers each; when the database refuses a group, each job is written again on
//! its own, so only the refused one is refused.

use super::assignment_cache::AssignmentCache;
use super::write::write;
use super::{Failure, Outcome, PreparedEvent, Queue, Stats, Task};
use crate::store;
use crate::store::streams::FoldStream;
use anyhow::Context;
use sqlx::{PgConnection, PgPool};
use std::sync::Arc;
use std::sync::atomic::Ordering;

/// Most events written by one transaction.
const MAX_BATCH: usize = 20_000;

/// A writer's connection and its stream of fold keys, opened at its first batch and again
/// after a failure that was not about the data.
type WriterConn = Option<(PgConnection, FoldStream)>;

/// One writer; `shard` is its own slice of the daily rollup rows (no lock queue between
/// writers on a hot row). It keeps one connection of its own (see
/// `store::events::writer_connection`), with a stream of fold keys for it (a new one hourly
/// too, so a stream older than a day is known finished), and stops when the queue closes or
/// the pool does.
///
/// When a group commit fails on the data (a value the database refuses), every submission
/// of it is written again on its own: only the one the database refuses is refused, the
/// others are stored. When it fails otherwise (the database is away), every submission gets
/// "unavailable, retry" and the connection is opened anew.
pub(super) async fn writer(
    pool: PgPool,
    queue: Queue,
    stats: Arc<Stats>,
    cache: Arc<AssignmentCache>,
    shard: i16,
    task: Task,
) {
    let mut rx = queue.lock().await;
    let mut conn: WriterConn = None;
    loop {
        let mut jobs = Vec::new();
        {
            let first = tokio::select! {
                job = rx.recv() => job,
                () = pool.close_event() => None,
            };
            let Some(first) = first else { break };
            let mut size = first.events.len();
            jobs.push(first);
            while size < MAX_BATCH {
                match rx.try_recv() {
                    Ok(job) => {
                        size += job.events.len();
                        jobs.push(job);
                    }
                    Err(_) => break,
                }
            }
        }
        task.sup.checkpoint(task.name);
        let events: Vec<&PreparedEvent> = jobs.iter().flat_map(|j| j.events.iter()).collect();
        let written = attempt(&pool, &mut conn, &cache, &events, shard).await;
        drop(events);
        match written {
            Ok(outcomes) => {
                task.sup.ok(task.name);
                count_stored(&stats, &outcomes);
                let mut outcomes = outcomes.into_iter();
                for job in jobs {
                    let mine = outcomes.by_ref().take(job.events.len()).collect();
                    let _ = job.reply.send(Ok(mine));
                }
            }
            Err(Failure::Refused) if jobs.len() > 1 => {
                // Each on its own: only what the database refuses is refused.
                stats.failed.fetch_add(1, Ordering::Relaxed);
                for job in jobs {
                    stats.isolated.fetch_add(1, Ordering::Relaxed);
                    let events: Vec<&PreparedEvent> = job.events.iter().collect();
                    let alone = attempt(&pool, &mut conn, &cache, &events, shard).await;
                    drop(events);
                    match &alone {
                        Ok(outcomes) => count_stored(&stats, outcomes),
                        Err(Failure::Refused) => {
                            stats.refused.fetch_add(1, Ordering::Relaxed);
                        }
                        Err(Failure::Unavailable) => {}
                    }
                    let _ = job.reply.send(alone);
                }
                task.sup.ok(task.name);
            }
            Err(failure) => {
                stats.failed.fetch_add(1, Ordering::Relaxed);
                if failure == Failure::Refused {
                    stats.refused.fetch_add(1, Ordering::Relaxed);
                    task.sup.ok(task.name);
                } else {
                    task.sup
                        .failed(task.name, "writing events fails (is the database up?)");
                }
                for job in jobs {
                    let _ = job.reply.send(Err(failure));
                }
            }
        }
    }
    if let Some((c, _)) = conn.take() {
        let _ = sqlx::Connection::close(c).await;
    }
}

fn count_stored(stats: &Stats, outcomes: &[Outcome]) {
    let stored = outcomes
        .iter()
        .filter(|o| matches!(o, Outcome::Stored { .. }))
        .count();
    stats.stored.fetch_add(stored as u64, Ordering::Relaxed);
}

/// Writes `events` on the writer's connection (opening it first when needed), all or
/// nothing. A failure about the data keeps the connection (its transaction rolled back);
/// any other closes it, and the next attempt opens a new one with a new stream.
async fn attempt(
    pool: &PgPool,
    conn: &mut WriterConn,
    cache: &AssignmentCache,
    events: &[&PreparedEvent],
    shard: i16,
) -> Result<Vec<Outcome>, Failure> {
    let written = async {
        if conn.is_none() {
            let mut c = store::events::writer_connection(pool)
                .await
                .context("Failed to connect")?;
            let stream = store::streams::new_stream(&mut c)
                .await
                .context("Failed to register a stream")?;
            *conn = Some((c, stream));
        }
        let (c, stream) = conn.as_mut().expect("connected above");
        // (A batch may take its keys twice: see `write`.)
        if stream.room() < 2 * events.len() as i64 || stream.started.elapsed() > STREAM_FOR {
            *stream = store::streams::new_stream(c)
                .await
                .context("Failed to register a stream")?;
        }
        write(c, stream, cache, events, shard).await
    }
    .await;
    written.map_err(|err| {
        let data = err
            .downcast_ref::<sqlx::Error>()
            .is_some_and(store::fold::is_data_error);
        tracing::error!(
            error = format!("{err:#}"),
            events = events.len(),
            "event batch failed; nothing of it was stored"
        );
        if data {
            Failure::Refused
        } else {
            *conn = None;
            Failure::Unavailable
        }
    })
}

/// How long a writer keeps one stream of fold keys.
const STREAM_FOR: std::time::Duration = std::time::Duration::from_secs(3600);
