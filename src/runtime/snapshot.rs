//! The snapshot of live experiments and deployments that resolve answers from: loaded from
//! the database, reloaded on the change notifications the database's triggers send (bursts
//! coalesced), and every [`SAFETY_RELOAD`] whatever they say.

use super::Runtime;
use crate::domain::assignment::{Allocation, Targeting, Variant};
use crate::domain::experiment::TargetType;
use crate::domain::resolve::{LiveDeployment, LiveExperiment, Snapshot};
use crate::store;
use anyhow::Context;
use chrono::Utc;
use serde_json::Value;
use serde_json::value::RawValue;
use sqlx::PgPool;
use sqlx::postgres::PgListener;
use std::sync::Arc;
use std::time::Duration;

/// The notification channel the database triggers announce changes on.
pub const CHANNEL: &str = "verdict_changes";
/// Full reload period, whatever the notifications say.
const SAFETY_RELOAD: Duration = Duration::from_secs(30);

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

/// Reads every active experiment and deployment in force into a fresh snapshot.
pub async fn load(pool: &PgPool) -> anyhow::Result<Snapshot> {
    let experiments = store::live::active_experiments(pool)
        .await
        .context("Failed to load active experiments")?
        .into_iter()
        .map(|row| {
            let targeting = targeting(row.targeting)?;
            Ok(LiveExperiment {
                id: row.id,
                tenant_id: row.tenant_id,
                target_type: target_type(&row.target_type)?,
                target_id: row.target_id,
                salt: row.salt,
                start_date: row.start_date,
                allocation: Allocation::new(
                    u8::try_from(row.alloc_control)?,
                    u8::try_from(row.alloc_treatment)?,
                ),
                compiled: targeting.compile(),
                targeting,
                control: raw(&row.control_config)?,
                treatment: raw(&row.treatment_config)?,
            })
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let deployments = store::live::live_deployments(pool)
        .await
        .context("Failed to load deployments")?
        .into_iter()
        .map(|row| {
            let deployment_targeting = targeting(row.targeting)?;
            Ok(LiveDeployment {
                experiment_id: row.experiment_id,
                tenant_id: row.tenant_id,
                target_type: target_type(&row.target_type)?,
                target_id: row.target_id,
                salt: row.salt,
                rollout_percentage: u8::try_from(row.rollout_percentage)?,
                winner: row.winner.parse::<Variant>()?,
                compiled: deployment_targeting.compile(),
                targeting: deployment_targeting,
                configuration: raw(&row.configuration)?,
            })
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    Ok(Snapshot::new(experiments, deployments))
}

impl Runtime {
    /// Reloads the snapshot now; on failure keeps serving the last one and records that it
    /// failed (the reason goes to the log only).
    pub async fn refresh(&self) {
        match load(&self.pool).await {
            Ok(snapshot) => {
                self.snapshot.store(Arc::new(snapshot));
                if let Ok(mut state) = self.state.lock() {
                    state.last_refresh = Some(Utc::now());
                    state.last_error = false;
                }
                self.supervisor.ok(RELOADER);
            }
            Err(err) => {
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
        }
    }

    /// A change notification for `table`.
    fn changed(&self, table: &str) {
        if table == "api_tokens" {
            self.forget_tokens();
        } else {
            self.reload.notify_one();
        }
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
            rt.reload.notify_one();
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
                        rt.reload.notify_one();
                    }
                    tokio::time::sleep(Duration::from_millis(500)).await;
                    break;
                }
            }
        }
    }
}

/// Reloads on notification (coalescing bursts) and every [`SAFETY_RELOAD`].
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
        rt.refresh().await;
    }
}
