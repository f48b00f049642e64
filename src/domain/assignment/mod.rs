//! Verdict assignment: deterministic bucketing, allocation ranges, winner rollout and
//! targeting. Pure functions only: no IO, no async, no panics. The exact algorithm is
//! specified in `docs/ASSIGNMENT.md` so that every SDK can reproduce it bit for bit.
#![forbid(unsafe_code)]
#![cfg_attr(
    not(test),
    deny(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::indexing_slicing,
        clippy::unreachable,
        clippy::todo
    )
)]

mod allocation;
mod hash;
mod rollout;
mod targeting;

pub use allocation::{
    Allocation, MAX_ARMS, MAX_KEY_LEN, UnknownVariant, Variant, assign, assign_arm, bucket_ranges,
    choose, choose_arm,
};
pub use hash::{BUCKETS, ROLLOUT_SALT_SUFFIX, SEPARATOR, bucket, rollout_bucket};
pub use rollout::in_rollout;
pub use targeting::{
    CanonicalScope, CompiledTargeting, RequestContext, Targeting, json_eq, scope_matches,
};
