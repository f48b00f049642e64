//! Supervision of the background tasks (ingestion writers, fold, exposure writer, change
//! listener, reloads, results refresh, session purge): each runs under a supervisor that
//! restarts it after a panic (with a pause that grows while it keeps panicking), counts the
//! restarts, and keeps what `/healthz` needs to say whether it is healthy. A task also tells
//! its supervisor when its work keeps failing (a database error, say) and when it works
//! again, so that health reports a task that is failing without panicking too.

use serde::Serialize;
use std::collections::BTreeMap;
use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A restart this recent makes the task (and so health) degraded.
const RECENT_RESTART: Duration = Duration::from_secs(60);
/// Longest pause before a restart.
const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// One supervised task's state.
#[derive(Debug, Default)]
struct TaskState {
    restarts: u64,
    last_restart: Option<Instant>,
    last_panic: Option<String>,
    /// Consecutive failed rounds of its work (reset by a good one).
    failing: u64,
    /// Why the last round failed (the task's own words, not a database's).
    failure: Option<String>,
    stopped: bool,
}

/// What `/healthz` shows of one task.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TaskHealth {
    pub restarts: u64,
    /// Seconds since the last restart, if any.
    pub restarted_seconds_ago: Option<u64>,
    pub last_panic: Option<String>,
    pub consecutive_failures: u64,
    pub failure: Option<String>,
    pub healthy: bool,
}

/// The supervisor of a server's background tasks. Cheap to share (`Arc`).
#[derive(Default)]
pub struct Supervisor {
    tasks: Mutex<BTreeMap<&'static str, TaskState>>,
    /// Fault injection for the tests: the names of tasks to panic at their next round.
    panic_next: Mutex<Vec<&'static str>>,
    any_panic_pending: AtomicBool,
}

impl Supervisor {
    pub fn new() -> Arc<Supervisor> {
        Arc::new(Supervisor::default())
    }

    /// Runs the task `make()` builds under supervision: after a panic it is built and run
    /// again; when it returns (its pool closed, its queue gone) it stays stopped.
    pub fn spawn<F, Fut>(self: &Arc<Self>, name: &'static str, make: F)
    where
        F: Fn() -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        self.with(name, |_| {});
        let this = Arc::clone(self);
        tokio::spawn(async move {
            let mut backoff = Duration::from_millis(50);
            loop {
                match tokio::spawn(make()).await {
                    Ok(()) => {
                        this.with(name, |t| t.stopped = true);
                        return;
                    }
                    Err(err) if err.is_panic() => {
                        let message = panic_message(err.into_panic());
                        tracing::error!(task = name, panic = %message, "background task panicked; restarting");
                        this.with(name, |t| {
                            t.restarts += 1;
                            t.last_restart = Some(Instant::now());
                            t.last_panic = Some(message);
                        });
                        tokio::time::sleep(backoff).await;
                        backoff = (backoff * 2).min(MAX_BACKOFF);
                    }
                    Err(_) => {
                        this.with(name, |t| t.stopped = true);
                        return;
                    }
                }
            }
        });
    }

    fn with(&self, name: &'static str, f: impl FnOnce(&mut TaskState)) {
        let mut tasks = self.tasks.lock().unwrap_or_else(|e| e.into_inner());
        f(tasks.entry(name).or_default());
    }

    /// The task `name` finished a round of its work well.
    pub fn ok(&self, name: &'static str) {
        self.with(name, |t| {
            t.failing = 0;
            t.failure = None;
        });
    }

    /// A round of the task `name` failed, for `why` (said in Verdict's words).
    pub fn failed(&self, name: &'static str, why: &str) {
        self.with(name, |t| {
            t.failing += 1;
            t.failure = Some(why.to_owned());
        });
    }

    /// Each task's health, by name.
    pub fn health(&self) -> BTreeMap<&'static str, TaskHealth> {
        let tasks = self.tasks.lock().unwrap_or_else(|e| e.into_inner());
        tasks
            .iter()
            .map(|(name, t)| {
                let recent = t
                    .last_restart
                    .is_some_and(|at| at.elapsed() < RECENT_RESTART);
                (
                    *name,
                    TaskHealth {
                        restarts: t.restarts,
                        restarted_seconds_ago: t.last_restart.map(|at| at.elapsed().as_secs()),
                        last_panic: t.last_panic.clone(),
                        consecutive_failures: t.failing,
                        failure: t.failure.clone(),
                        healthy: !recent && t.failing == 0 && !t.stopped,
                    },
                )
            })
            .collect()
    }

    /// Why the tasks are not all healthy, one reason per unhealthy task (empty: all are).
    pub fn problems(&self) -> Vec<String> {
        self.health()
            .into_iter()
            .filter(|(_, h)| !h.healthy)
            .map(|(name, h)| match (&h.failure, h.restarted_seconds_ago) {
                (Some(why), _) => format!("{name}: {why}"),
                (None, Some(ago)) if ago < RECENT_RESTART.as_secs() => {
                    format!("{name}: restarted {ago} s ago after a panic")
                }
                _ => format!("{name}: stopped"),
            })
            .collect()
    }

    /// Fault injection for the tests: the task `name` panics at its next round.
    pub fn inject_panic(&self, name: &'static str) {
        self.panic_next
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(name);
        self.any_panic_pending.store(true, Ordering::Release);
    }

    /// Called by each task at the top of every round: panics when a test asked for it.
    pub fn checkpoint(&self, name: &'static str) {
        if !self.any_panic_pending.load(Ordering::Acquire) {
            return;
        }
        let mut pending = self.panic_next.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(at) = pending.iter().position(|n| *n == name) {
            pending.remove(at);
            self.any_panic_pending
                .store(!pending.is_empty(), Ordering::Release);
            drop(pending);
            panic!("fault injected into the {name} task");
        }
    }
}

fn panic_message(payload: Box<dyn std::any::Any + Send>) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "a panic without a message".to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_task_that_panics_is_restarted_and_counted() {
        let sup = Supervisor::new();
        let runs = Arc::new(std::sync::atomic::AtomicU32::new(0));
        let (s, r) = (sup.clone(), runs.clone());
        sup.spawn("demo", move || {
            let (s, r) = (s.clone(), r.clone());
            async move {
                r.fetch_add(1, Ordering::SeqCst);
                loop {
                    s.checkpoint("demo");
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
            }
        });
        tokio::time::sleep(Duration::from_millis(20)).await;
        sup.inject_panic("demo");
        for _ in 0..100 {
            if runs.load(Ordering::SeqCst) == 2 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert_eq!(
            runs.load(Ordering::SeqCst),
            2,
            "started again after the panic"
        );
        let h = &sup.health()["demo"];
        assert_eq!(h.restarts, 1);
        assert!(!h.healthy, "a recent restart is reported");
        assert!(sup.problems()[0].starts_with("demo: restarted"));
    }

    #[tokio::test]
    async fn a_failing_task_is_unhealthy_until_it_works_again() {
        let sup = Supervisor::new();
        sup.spawn("idle", std::future::pending::<()>);
        assert!(sup.problems().is_empty());
        sup.failed("idle", "cannot reach the database");
        assert_eq!(sup.problems(), ["idle: cannot reach the database"]);
        sup.ok("idle");
        assert!(sup.problems().is_empty());
    }

    #[tokio::test]
    async fn a_task_that_returns_stays_stopped() {
        let sup = Supervisor::new();
        sup.spawn("once", || async {});
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert_eq!(sup.problems(), ["once: stopped"]);
    }
}
