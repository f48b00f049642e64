//! The snapshot of live experiments and deployments that resolve answers from: loaded from
//! the database, patched one experiment at a time on the change notifications the
//! database's triggers send (`experiment:<id>`; bursts coalesced), and reloaded whole every
//! [`SAFETY_RELOAD`] whatever they say, and whenever notifications may have been missed.

use super::Runtime;
use crate::domain::assignment::{Allocation, Targeting, Variant};
use crate::domain::experiment::{LayerSlice, TargetType, layer_id, layer_salt};
use crate::domain::resolve::{LiveDeployment, LiveExperiment, Snapshot};
use crate::store;
use anyhow::Context;
use chrono::Utc;
use serde_json::Value;
use serde_json::value::RawValue;
use sqlx::PgPool;
use sqlx::postgres::PgListener;
use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;
use uuid::Uuid;

/// The notification channel the database triggers announce changes on.
pub const CHANNEL: &str = "verdict_changes";
/// Full reload period, whatever the notifications say.
const SAFETY_RELOAD: Duration = Duration::from_secs(30);
/// More experiments named in one burst than this are reloaded by one full reload.
const MAX_EXPERIMENT_RELOADS: usize = 16;

/// The names of the runtime's own tasks under the supervisor.
pub(super) const LISTENER: &str = "change-listener";
pub(super) const RELOADER: &str = "snapshot-reload";

fn raw(value: &Value) -> anyhow::Result<Arc<RawValue>> {
    Ok(Arc::from(RawValue::from_string(serde_json::to_string(
        value,
    )?)?))
}

fn targeting(value: Value) -> anyhow::Result<Targeting> {
    serde_json::from_value(value).context("Stored targeting is not valid")
}

fn target_type(name: &str) -> anyhow::Result<TargetType> {
    name.parse::<TargetType>().map_err(anyhow::Error::msg)
}

/// One arm of the `variants` column, as resolve needs it.
#[derive(serde::Deserialize)]
struct LiveArm {
    key: Variant,
    configuration: Value,
    share: u8,
}

fn live_experiment(row: store::live::LiveExperimentRow) -> anyhow::Result<LiveExperiment> {
    let targeting = targeting(row.targeting)?;
    let arms: Vec<LiveArm> =
        serde_json::from_value(row.variants).context("Stored arms are not valid")?;
    let shares: Vec<(Variant, u8)> = arms.iter().map(|a| (a.key, a.share)).collect();
    let target_type = target_type(&row.target_type)?;
    let slice = LayerSlice {
        start: u16::try_from(row.layer_slice_start)?,
        end: u16::try_from(row.layer_slice_end)?,
    };
    let layer = layer_id(
        &row.tenant_id,
        row.layer.as_deref(),
        target_type,
        &row.target_id,
    );
    Ok(LiveExperiment {
        layer_salt: layer_salt(&layer).into_boxed_str(),
        slice,
        id: row.id,
        tenant_id: row.tenant_id,
        target_type,
        target_id: row.target_id,
        salt: row.salt,
        start_date: row.start_date,
        allocation: Allocation::from_arms(&shares)
            .with_context(|| format!("{} arms stored", shares.len()))?,
        compiled: targeting.compile(),
        targeting,
        arms: arms
            .iter()
            .map(|a| raw(&a.configuration))
            .collect::<anyhow::Result<_>>()?,
    })
}

fn live_deployment(row: store::live::LiveDeploymentRow) -> anyhow::Result<LiveDeployment> {
    let targeting = targeting(row.targeting)?;
    Ok(LiveDeployment {
        experiment_id: row.experiment_id,
        tenant_id: row.tenant_id,
        target_type: target_type(&row.target_type)?,
        target_id: row.target_id,
        salt: row.salt,
        rollout_percentage: u8::try_from(row.rollout_percentage)?,
        winner: row.winner.parse::<Variant>()?,
        compiled: targeting.compile(),
        targeting,
        configuration: raw(&row.configuration)?,
        deployed_at: row.deployed_at,
    })
}

/// What is live: the active experiments, the active holdouts, and the deployments.
type Live = (
    Vec<LiveExperiment>,
    Vec<LiveExperiment>,
    Vec<LiveDeployment>,
);

/// The live experiments, holdouts and deployments: all of them, or (`only`) one
/// experiment's.
async fn load_live(pool: &PgPool, only: Option<Uuid>) -> anyhow::Result<Live> {
    let (mut experiments, mut holdouts) = (Vec::new(), Vec::new());
    for row in store::live::active_experiments(pool, only)
        .await
        .context("Failed to load active experiments")?
    {
        let holdout = row.kind == "holdout";
        let live = live_experiment(row)?;
        if holdout {
            holdouts.push(live);
        } else {
            experiments.push(live);
        }
    }
    let deployments = store::live::live_deployments(pool, only)
        .await
        .context("Failed to load deployments")?
        .into_iter()
        .map(live_deployment)
        .collect::<anyhow::Result<Vec<_>>>()?;
    Ok((experiments, holdouts, deployments))
}

/// Reads every active experiment, holdout and deployment in force into a fresh snapshot.
pub async fn load(pool: &PgPool) -> anyhow::Result<Snapshot> {
    let (experiments, holdouts, deployments) = load_live(pool, None).await?;
    Ok(Snapshot::new(experiments, deployments).with_holdouts(holdouts))
}

/// What the change notifications asked for since the last reload.
#[derive(Debug, Default)]
pub(super) struct PendingChanges {
    /// Everything (a notification that names no experiment, or some may have been missed).
    full: bool,
    /// These experiments only.
    experiments: HashSet<Uuid>,
}

/// What a change notification's payload asks for.
#[derive(Debug, PartialEq, Eq)]
enum Change {
    /// One experiment's live state (`experiment:<id>`).
    Experiment(Uuid),
    /// The tokens (`api_tokens`).
    Tokens,
    /// Anything else: reload everything.
    Everything,
}

impl Change {
    fn of(payload: &str) -> Change {
        if payload == "api_tokens" {
            return Change::Tokens;
        }
        match payload.strip_prefix("experiment:").map(str::parse) {
            Some(Ok(id)) => Change::Experiment(id),
            _ => Change::Everything,
        }
    }
}

impl Runtime {
    /// Reloads the whole snapshot now; on failure keeps serving the last one and records
    /// that it failed (the reason goes to the log only).
    pub async fn refresh(&self) {
        let _writing = self.snapshot_writes.lock().await;
        match load(&self.pool).await {
            Ok(snapshot) => {
                self.full_reloads.fetch_add(1, Ordering::Relaxed);
                self.snapshot.store(Arc::new(snapshot));
                self.reloaded();
            }
            Err(err) => self.reload_failed(&err),
        }
    }

    /// Reloads experiment `id`'s live state (whether it is active, its deployment) into the
    /// snapshot, leaving every other experiment as it is. Answers once the snapshot holds
    /// it: a change made through this server is served by its next resolve. On failure the
    /// last snapshot stays, and a full reload is asked for.
    pub async fn reload_experiment(&self, id: Uuid) {
        let _writing = self.snapshot_writes.lock().await;
        match load_live(&self.pool, Some(id)).await {
            Ok((experiments, holdouts, deployments)) => {
                let current = self.snapshot.load_full();
                let next = current
                    .with_experiment(
                        id,
                        experiments.into_iter().next(),
                        deployments.into_iter().next(),
                    )
                    .with_holdout(id, holdouts.into_iter().next());
                self.experiment_reloads.fetch_add(1, Ordering::Relaxed);
                self.snapshot.store(Arc::new(next));
                self.reloaded();
            }
            Err(err) => {
                self.reload_failed(&err);
                self.pending().full = true;
                self.reload.notify_one();
            }
        }
    }

    fn reloaded(&self) {
        if let Ok(mut state) = self.state.lock() {
            state.last_refresh = Some(Utc::now());
            state.last_error = false;
        }
        self.supervisor.ok(RELOADER);
    }

    fn reload_failed(&self, err: &anyhow::Error) {
        tracing::warn!(
            error = format!("{err:#}"),
            "runtime cache refresh failed; serving the last snapshot"
        );
        if let Ok(mut state) = self.state.lock() {
            state.last_error = true;
        }
        self.supervisor.failed(
            RELOADER,
            "reloading the live experiments fails; serving the last snapshot",
        );
    }

    fn pending(&self) -> std::sync::MutexGuard<'_, PendingChanges> {
        self.pending.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A change notification with `payload`.
    fn changed(&self, payload: &str) {
        match Change::of(payload) {
            Change::Tokens => return self.forget_tokens(),
            Change::Experiment(id) => {
                self.pending().experiments.insert(id);
            }
            Change::Everything => self.pending().full = true,
        }
        self.reload.notify_one();
    }

    /// Notifications may have been missed: reload everything.
    fn missed_changes(&self) {
        self.pending().full = true;
        self.reload.notify_one();
    }

    fn set_listening(&self, on: bool) {
        if let Ok(mut state) = self.state.lock() {
            state.listening = on;
        }
    }
}

/// Follows the change notifications; reconnects with a pause when the connection drops.
pub(super) async fn listen(runtime: std::sync::Weak<Runtime>) {
    loop {
        let Some(rt) = runtime.upgrade() else { return };
        rt.supervisor.checkpoint(LISTENER);
        let pool = rt.pool.clone();
        drop(rt);
        if pool.is_closed() {
            return;
        }
        let mut listener = match PgListener::connect_with(&pool).await {
            Ok(l) => l,
            Err(err) => {
                tracing::warn!(error = %err, "cannot listen for changes; retrying");
                tokio::time::sleep(Duration::from_secs(2)).await;
                continue;
            }
        };
        if let Err(err) = listener.listen(CHANNEL).await {
            tracing::warn!(error = %err, "cannot listen for changes; retrying");
            tokio::time::sleep(Duration::from_secs(2)).await;
            continue;
        }
        if let Some(rt) = runtime.upgrade() {
            rt.set_listening(true);
            // Anything may have changed while not listening.
            rt.missed_changes();
        }
        loop {
            // The listener keeps a pooled connection checked out: give it back as soon as
            // the pool closes (shutdown, or the end of a test).
            let received = tokio::select! {
                r = listener.try_recv() => r,
                _ = pool.close_event() => return,
            };
            match received {
                Ok(Some(notification)) => match runtime.upgrade() {
                    Some(rt) => {
                        rt.supervisor.checkpoint(LISTENER);
                        rt.changed(notification.payload());
                    }
                    None => return,
                },
                Ok(None) | Err(_) => {
                    // The connection was lost; notifications may have been missed.
                    if let Some(rt) = runtime.upgrade() {
                        rt.set_listening(false);
                        rt.distrust_tokens();
                        rt.missed_changes();
                    }
                    tokio::time::sleep(Duration::from_millis(500)).await;
                    break;
                }
            }
        }
    }
}

/// Reloads on notification (coalescing bursts): the experiments the notifications named,
/// or everything when one named none, when many were named, and every [`SAFETY_RELOAD`].
pub(super) async fn reload_loop(runtime: std::sync::Weak<Runtime>) {
    loop {
        let Some(rt) = runtime.upgrade() else { return };
        if rt.pool.is_closed() {
            return;
        }
        rt.supervisor.checkpoint(RELOADER);
        let notified = tokio::time::timeout(SAFETY_RELOAD, rt.reload.notified()).await;
        if notified.is_ok() {
            // Let a burst of changes settle into one reload.
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let PendingChanges { full, experiments } = std::mem::take(&mut *rt.pending());
        if notified.is_err() || full || experiments.len() > MAX_EXPERIMENT_RELOADS {
            rt.refresh().await;
        } else {
            for id in experiments {
                rt.reload_experiment(id).await;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_payload_naming_an_experiment_asks_for_it_alone_and_anything_else_for_everything() {
        let id = Uuid::now_v7();
        assert_eq!(
            Change::of(&format!("experiment:{id}")),
            Change::Experiment(id)
        );
        assert_eq!(Change::of("api_tokens"), Change::Tokens);
        // The payloads of the triggers before migration 17, and anything unreadable.
        for payload in [
            "experiments",
            "deployments",
            "experiment:",
            "experiment:x",
            "",
        ] {
            assert_eq!(Change::of(payload), Change::Everything, "{payload:?}");
        }
    }
}
