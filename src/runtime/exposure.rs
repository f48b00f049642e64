//! Exposure bookkeeping, written in batches behind the resolve answers.

use crate::domain::assignment::Variant;
use crate::store::runtime::{ExposureRow, upsert_exposures};
use chrono::{DateTime, Utc};
use sqlx::PgPool;
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio::sync::mpsc;
use uuid::Uuid;

/// One resolve's assignment of a user.
#[derive(Debug, Clone)]
pub struct ExposureRecord {
    pub tenant_id: String,
    pub experiment_id: Uuid,
    pub user_id: String,
    pub variant: Variant,
    pub at: DateTime<Utc>,
}

/// Most exposures waiting at once; past that, new ones are counted and dropped (resolve never
/// waits for bookkeeping). Events carry what the analysis needs; exposures only count.
pub const QUEUE: usize = 200_000;
/// Most distinct users written by one statement.
const BATCH: usize = 5_000;

/// Counters shown by /healthz.
#[derive(Debug, Default)]
pub struct ExposureStats {
    pub written: AtomicU64,
    pub dropped: AtomicU64,
    pub failed_batches: AtomicU64,
}

/// Sums a batch per (tenant, experiment, user): one row each, as one upsert needs.
pub fn summarise(batch: Vec<ExposureRecord>) -> Vec<ExposureRow> {
    let mut by_key: HashMap<(String, Uuid, String), ExposureRow> = HashMap::new();
    for r in batch {
        let key = (r.tenant_id, r.experiment_id, r.user_id);
        match by_key.get_mut(&key) {
            Some(row) => {
                row.first = row.first.min(r.at);
                row.last = row.last.max(r.at);
                row.count += 1;
            }
            None => {
                let row = ExposureRow {
                    tenant_id: key.0.clone(),
                    experiment_id: key.1,
                    user_id: key.2.clone(),
                    variant: r.variant.as_str(),
                    first: r.at,
                    last: r.at,
                    count: 1,
                };
                by_key.insert(key, row);
            }
        }
    }
    by_key.into_values().collect()
}

/// Writes what is queued, batch by batch, until the queue closes.
pub async fn run_writer(
    pool: PgPool,
    mut rx: mpsc::Receiver<ExposureRecord>,
    stats: Arc<ExposureStats>,
) {
    let mut batch = Vec::with_capacity(BATCH);
    loop {
        batch.clear();
        if rx.recv_many(&mut batch, BATCH).await == 0 {
            return; // closed and drained
        }
        let rows = summarise(std::mem::take(&mut batch));
        let n = rows.len() as u64;
        let mut attempt = 0;
        loop {
            match upsert_exposures(&pool, &rows).await {
                Ok(_) => {
                    stats.written.fetch_add(n, Ordering::Relaxed);
                    break;
                }
                Err(err) if attempt < 3 => {
                    attempt += 1;
                    tracing::warn!(error = %err, attempt, "exposure batch failed; retrying");
                    tokio::time::sleep(Duration::from_millis(200 * attempt)).await;
                }
                Err(err) => {
                    stats.failed_batches.fetch_add(1, Ordering::Relaxed);
                    tracing::error!(error = %err, users = n, "exposure batch lost after retries");
                    break;
                }
            }
        }
    }
}
