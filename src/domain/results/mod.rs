//! Experiment results: per-variant figures, comparisons, the success criterion, SRM,
//! power, charts and a recommendation with its reasons. Pure functions over per-user
//! rollups; see docs/STATISTICS.md for the methods.

mod compute;
mod estimate;
mod model;

pub use compute::{DayRow, UserRow, compute, is_final};
pub use estimate::{CompletionEstimate, MAX_ESTIMATE_DAYS, estimate_completion};
pub use model::*;

#[cfg(test)]
mod tests;
