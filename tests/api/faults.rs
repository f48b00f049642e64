//! Faults injected into the real PostgreSQL under load: a cluster of the test's own (made by
//! `.ci/test`, see `start_restartable_postgres` in `.ci/lib.sh`) is restarted — fast
//! shutdown, then start — while clients send events to the real server. Without such a
//! cluster (a plain `cargo test`) the test says it is skipped.

use crate::helpers::{TestApp, experiment_body};
use serde_json::{Value, json};
use sqlx::PgPool;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use verdict::domain::Role;

/// The restartable cluster `.ci/test` made: its data folder, its binaries, and a URL of
/// its `postgres` database.
struct Restartable {
    pgdata: String,
    bin: String,
    url: String,
}

fn restartable() -> Option<Restartable> {
    Some(Restartable {
        pgdata: std::env::var("VERDICT_FAULT_PGDATA").ok()?,
        bin: std::env::var("VERDICT_FAULT_PGBIN").ok()?,
        url: std::env::var("VERDICT_FAULT_DATABASE_URL").ok()?,
    })
}

impl Restartable {
    /// `pg_ctl restart -m fast` (as the cluster's owner when run as root).
    fn restart(&self) {
        let pg_ctl = format!("{}/pg_ctl", self.bin);
        let args = ["-D", self.pgdata.as_str(), "-m", "fast", "-w", "restart"];
        let status = if is_root() {
            std::process::Command::new("runuser")
                .args(["-u", "postgres", "--", &pg_ctl])
                .args(args)
                .stdout(std::process::Stdio::null())
                .status()
        } else {
            std::process::Command::new(&pg_ctl)
                .args(args)
                .stdout(std::process::Stdio::null())
                .status()
        };
        assert!(
            status.expect("pg_ctl runs").success(),
            "PostgreSQL restarted"
        );
    }

    /// A fresh database on the cluster, migrated.
    async fn fresh_database(&self) -> PgPool {
        let admin = PgPool::connect(&self.url)
            .await
            .expect("the fault cluster answers");
        let name = format!("verdict_fault_{}", uuid::Uuid::new_v4().simple());
        sqlx::query(&format!("create database {name}"))
            .execute(&admin)
            .await
            .unwrap();
        admin.close().await;
        let url = self
            .url
            .replacen("localhost/postgres", &format!("localhost/{name}"), 1);
        let pool = verdict::server::db::connect(&url).await.unwrap();
        verdict::server::db::migrate(&pool).await.unwrap();
        pool
    }
}

fn is_root() -> bool {
    std::process::Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

/// What the clients saw.
#[derive(Default)]
struct Seen {
    acked: Vec<uuid::Uuid>,
    unavailable_with_retry_after: u64,
    other_failures: Vec<String>,
    last_ack: Option<Instant>,
    first_ack_after: Option<Instant>,
}

#[tokio::test]
async fn every_acknowledged_event_survives_a_postgresql_restart_under_load() {
    let Some(cluster) = restartable() else {
        eprintln!(
            "skipped: no restartable PostgreSQL (VERDICT_FAULT_* unset); `bash .ci/test` makes one"
        );
        return;
    };
    let pool = cluster.fresh_database().await;
    let (pgdata, bin, url) = (
        cluster.pgdata.clone(),
        cluster.bin.clone(),
        cluster.url.clone(),
    );
    restart_under_load(pool, "PostgreSQL", move || {
        Restartable { pgdata, bin, url }.restart()
    })
    .await;
}

/// On a Citus cluster (`.ci/test`'s Citus run sets VERDICT_CITUS_WORKER_PGDATA to a worker's
/// data folder, and DATABASE_URL to the coordinator): a worker restarted under load — fast
/// shutdown, start — loses no acknowledged event, Verdict recovers unattended, and the fold
/// loses none either (every stored event is counted once in the per-user rollups).
#[sqlx::test]
async fn every_acknowledged_event_survives_a_citus_worker_restart_under_load(pool: PgPool) {
    let (Ok(pgdata), Some(cluster)) = (std::env::var("VERDICT_CITUS_WORKER_PGDATA"), restartable())
    else {
        eprintln!("skipped: no Citus worker to restart (VERDICT_CITUS_WORKER_PGDATA unset)");
        return;
    };
    let bin = cluster.bin.clone();
    restart_under_load(pool, "Citus worker", move || {
        Restartable {
            pgdata,
            bin,
            url: String::new(),
        }
        .restart()
    })
    .await;
}

/// Clients send events to the real server while `restart` restarts (part of) its database;
/// every event acknowledged is stored, acknowledgements resume unattended, health comes back.
async fn restart_under_load(
    pool: PgPool,
    what: &'static str,
    restart: impl FnOnce() + Send + 'static,
) {
    let app = crate::helpers::spawn_app(pool.clone()).await;
    let root = app.root().await;
    let service = app.token(Role::Service, Some("acme")).await;
    let id = app
        .live_experiment(&root, &experiment_body("restart"), 1)
        .await;

    let seen = Arc::new(Mutex::new(Seen::default()));
    let restarted_at: Arc<Mutex<Option<Instant>>> = Arc::default();
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut clients = Vec::new();
    for c in 0..8 {
        let (app, service, id, seen, stop, restarted_at) = (
            TestApp {
                address: app.address.clone(),
                pool: app.pool.clone(),
                client: app.client.clone(),
            },
            service.clone(),
            id.clone(),
            seen.clone(),
            stop.clone(),
            restarted_at.clone(),
        );
        clients.push(tokio::spawn(async move {
            let mut n = 0u64;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                n += 1;
                // Half the clients send single events, half small batches.
                let (path, body) = if c % 2 == 0 {
                    (
                        format!("/api/v1/insights/experiments/{id}/events"),
                        json!({"userId": format!("c{c}-u{}", n % 50), "eventType": "feedback",
                               "metrics": {"quality": 0.5}}),
                    )
                } else {
                    let events: Vec<Value> = (0..20)
                        .map(|i| {
                            json!({"experimentId": id, "userId": format!("c{c}-u{i}"),
                                        "eventType": "exposure"})
                        })
                        .collect();
                    (
                        "/api/v1/insights/events/batch".to_owned(),
                        json!({ "events": events }),
                    )
                };
                let r = app.post_as(&path, &service, &body).await;
                let back_off = r.status == 503;
                {
                    let mut seen = seen.lock().unwrap();
                    match r.status {
                        200 | 201 => {
                            let ids: Vec<uuid::Uuid> = if r.status == 201 {
                                vec![r.body["eventId"].as_str().unwrap().parse().unwrap()]
                            } else {
                                r.body["results"]
                                    .as_array()
                                    .unwrap()
                                    .iter()
                                    .filter(|e| e["status"] == "stored")
                                    .map(|e| e["eventId"].as_str().unwrap().parse().unwrap())
                                    .collect()
                            };
                            seen.acked.extend(ids);
                            let now = Instant::now();
                            seen.last_ack = Some(now);
                            if restarted_at.lock().unwrap().is_some_and(|at| now > at)
                                && seen.first_ack_after.is_none()
                            {
                                seen.first_ack_after = Some(now);
                            }
                        }
                        503 if r.headers.contains_key("retry-after") => {
                            seen.unavailable_with_retry_after += 1;
                        }
                        status => seen.other_failures.push(format!("{status}: {}", r.body)),
                    }
                }
                if back_off {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
        }));
    }

    tokio::time::sleep(Duration::from_millis(1500)).await;
    let before = seen.lock().unwrap().acked.len();
    assert!(
        before > 50,
        "the load ran before the restart: {before} acked"
    );
    let restart_began = Instant::now();
    tokio::task::spawn_blocking(restart).await.unwrap();
    *restarted_at.lock().unwrap() = Some(Instant::now());
    let restart_took = restart_began.elapsed();

    // Unattended recovery: acknowledgements resume, within a bound.
    let deadline = Instant::now() + Duration::from_secs(30);
    while seen.lock().unwrap().first_ack_after.is_none() {
        assert!(
            Instant::now() < deadline,
            "no event acknowledged within 30 s of the restart"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(Duration::from_millis(1000)).await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    for c in clients {
        c.await.unwrap();
    }

    let seen = std::mem::take(&mut *seen.lock().unwrap());
    let recovery = seen
        .first_ack_after
        .unwrap()
        .duration_since(restart_began + restart_took);
    eprintln!(
        "{what} restart: took {:.2} s; first acknowledged event {:.3} s after it was up; \
         {} events acknowledged, {} answers 503 with Retry-After",
        restart_took.as_secs_f64(),
        recovery.as_secs_f64(),
        seen.acked.len(),
        seen.unavailable_with_retry_after
    );
    assert!(
        seen.other_failures.is_empty(),
        "{:?}",
        &seen.other_failures[..seen.other_failures.len().min(5)]
    );
    let found: i64 = sqlx::query_scalar("select count(*) from events where id = any($1)")
        .bind(&seen.acked)
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(found as usize, seen.acked.len(), "acknowledged events lost");

    // The fold counts every stored event once in the per-user rollups.
    app.fold_everything().await;
    let (stored, folded): (i64, i64) = sqlx::query_as(
        "select (select count(*) from events),
                (select coalesce(sum(events), 0)::int8 from user_metrics)",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(
        folded, stored,
        "the per-user rollups count every stored event"
    );

    // And health is ok again by itself.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (status, body, _) = app.get_page("/healthz", None).await;
        if status == 200 && body.contains("\"ok\"") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "health did not come back: {status} {body}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    pool.close().await;
}
