//! Connecting to PostgreSQL and migrating it, with errors that name what failed.

use anyhow::{Context, anyhow};
use sqlx::migrate::{MigrateDatabase, Migrator};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{PgPool, Postgres};
use std::collections::HashSet;
use std::str::FromStr;
use std::time::Duration;

/// The migrations in `migrations/`, embedded in the binary.
pub static MIGRATOR: Migrator = sqlx::migrate!("./migrations");

/// "host:port/database" of a URL, for messages (never the password).
pub fn describe(url: &str) -> String {
    match PgConnectOptions::from_str(url) {
        Ok(opts) => {
            let database = opts.get_database().unwrap_or("postgres");
            match opts.get_socket() {
                Some(dir) => format!("socket {}/{database}", dir.display()),
                None => format!("{}:{}/{database}", opts.get_host(), opts.get_port()),
            }
        }
        Err(_) => "an unparsable DATABASE_URL".to_owned(),
    }
}

/// Connects a pool to `url`, creating the database first when the server lacks it.
pub async fn connect(url: &str) -> anyhow::Result<PgPool> {
    // No JIT compilation: PostgreSQL compiles a statement whose estimated cost passes a
    // threshold, and the fold's and the results' statements (a lateral scan per writer
    // stream, whose row estimate is a guess while `ingest_streams` is new) passed it on every
    // run, spending 0.2 s to 3 s compiling what then ran in milliseconds.
    let options = PgConnectOptions::from_str(url)
        .map_err(|e| anyhow!("DATABASE_URL is not a PostgreSQL URL: {e}"))?
        .options([("jit", "off")]);
    let target = describe(url);
    let exists = tokio::time::timeout(Duration::from_secs(10), Postgres::database_exists(url))
        .await
        .map_err(|_| anyhow!("cannot reach PostgreSQL at {target}: no answer within 10 s"))?
        .map_err(|e| anyhow!("cannot reach PostgreSQL at {target}: {e}"))?;
    if !exists {
        Postgres::create_database(url)
            .await
            .map_err(|e| anyhow!("cannot create the database {target}: {e}"))?;
        tracing::info!(database = %target, "created the database");
    }
    // No ping before handing out a connection (sqlx's default): it cost every transaction
    // of the runtime one more round trip. A connection that has died fails its first
    // statement instead, and the callers handle that failure as any other.
    PgPoolOptions::new()
        .max_connections(32)
        .min_connections(1)
        .acquire_timeout(Duration::from_secs(5))
        .test_before_acquire(false)
        .connect_with(options)
        .await
        .map_err(|e| anyhow!("cannot connect to PostgreSQL at {target}: {e}"))
}

/// Applies the pending migrations. A failure names the migration that failed.
pub async fn migrate(pool: &PgPool) -> anyhow::Result<()> {
    match MIGRATOR.run(pool).await {
        Ok(()) => Ok(()),
        Err(err) => {
            let applied: HashSet<i64> =
                sqlx::query_scalar!("select version from _sqlx_migrations where success")
                    .fetch_all(pool)
                    .await
                    .unwrap_or_default()
                    .into_iter()
                    .collect();
            let failed = MIGRATOR
                .iter()
                .find(|m| !applied.contains(&m.version))
                .map(|m| format!("{}_{}", m.version, m.description.replace(' ', "_")))
                .unwrap_or_else(|| "(unknown)".to_owned());
            Err(anyhow!(err)).context(format!("migration {failed} failed"))
        }
    }
}
