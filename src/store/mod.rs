//! The only place SQL lives: one module per aggregate, rows mapped into domain types.

pub mod audit;
pub mod deployments;
pub mod events;
pub mod experiments;
pub mod results;
pub mod runtime;
pub mod sketches;
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
