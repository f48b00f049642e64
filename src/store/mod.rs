//! The only place SQL lives: one module per aggregate, rows mapped into domain types.

/// `unnest($first::t0[], $first+1::t1[], …)`: one array parameter per column type.
fn unnest_params(first: usize, types: &[&str]) -> String {
    let params: Vec<String> = types
        .iter()
        .enumerate()
        .map(|(i, t)| format!("${}::{t}[]", first + i))
        .collect();
    format!("unnest({})", params.join(", "))
}

type PgQuery<'q> = sqlx::query::Query<'q, sqlx::Postgres, sqlx::postgres::PgArguments>;

macro_rules! col {
    ($v:expr, $f:expr) => {
        $v.iter().map($f).collect::<Vec<_>>()
    };
}

/// A variant as a column stores it (`control` or `treatment`); anything else fails to decode.
fn variant(name: &str) -> sqlx::Result<crate::domain::assignment::Variant> {
    name.parse().map_err(|e| sqlx::Error::Decode(Box::new(e)))
}

pub mod assignments;
pub mod audit;
pub mod citus;
pub mod copy;
pub mod daily;
pub mod deployments;
pub mod events;
pub mod experiments;
pub mod fold;
pub mod live;
pub mod results;
pub mod sketches;
pub mod streams;
pub mod tokens;

/// A source of UUIDv7 ids for the rows of one batch: the time of the batch, then random bits
/// from the thread's user-space generator (`Uuid::now_v7` asks the kernel for every id, which
/// at tens of thousands of rows a batch was a measurable share of the server's CPU). The
/// generator is not `Send`: it must not live across an `await`.
pub fn fresh_ids() -> impl FnMut() -> uuid::Uuid {
    use rand::RngCore;
    let millis = u64::try_from(chrono::Utc::now().timestamp_millis()).unwrap_or_default();
    let mut rng = rand::rng();
    move || {
        let mut random = [0u8; 10];
        rng.fill_bytes(&mut random);
        uuid::Builder::from_unix_timestamp_millis(millis, &random).into_uuid()
    }
}
