//! Whether the database is a Citus coordinator (docs/SCALING.md). A few statements have a
//! second form for Citus, which refuses their plain form (a lateral subquery with `LIMIT` or
//! `OFFSET 0` over a distributed table, for one). Every Citus form is plain SQL too, correct
//! (if planned differently) on plain PostgreSQL, where the tests run it as well.

use sqlx::PgConnection;
use std::sync::atomic::{AtomicU8, Ordering};

/// 0: not known yet; 1: plain PostgreSQL; 2: Citus.
static KNOWN: AtomicU8 = AtomicU8::new(0);

/// Whether the database has the `citus` extension. Asked once per process (a server uses one
/// database; the integration tests' databases are all on one server) and remembered.
pub async fn on_citus(conn: &mut PgConnection) -> sqlx::Result<bool> {
    match KNOWN.load(Ordering::Relaxed) {
        1 => return Ok(false),
        2 => return Ok(true),
        _ => {}
    }
    // The Citus forms on plain PostgreSQL, where they are correct too: how the tests run
    // both forms of every statement that has two (`.ci/test`).
    if std::env::var_os("VERDICT_SQL_FORMS").is_some_and(|v| v == "citus") {
        KNOWN.store(2, Ordering::Relaxed);
        return Ok(true);
    }
    let citus = sqlx::query_scalar!(
        r#"select exists (select from pg_extension where extname = 'citus') as "citus!""#
    )
    .fetch_one(conn)
    .await?;
    KNOWN.store(if citus { 2 } else { 1 }, Ordering::Relaxed);
    if citus {
        tracing::info!("the database is a Citus coordinator: its statement forms are used");
    }
    Ok(citus)
}

/// `on_citus` with a connection of `pool`.
pub async fn pool_on_citus(pool: &sqlx::PgPool) -> sqlx::Result<bool> {
    if let Some(known) = known() {
        return Ok(known);
    }
    on_citus(&mut *pool.acquire().await?).await
}

/// What `on_citus` found, if it asked already.
pub fn known() -> Option<bool> {
    match KNOWN.load(Ordering::Relaxed) {
        1 => Some(false),
        2 => Some(true),
        _ => None,
    }
}
