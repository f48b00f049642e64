//! Experiment results: per-variant figures, comparisons, the success criterion, SRM,
//! power, charts and a recommendation with its reasons. Pure functions over per-user
//! rollups; see docs/STATISTICS.md for the methods.

mod compute;
mod estimate;
mod model;
mod plan;

pub use compute::{DayRow, Observed, UserRow, compute, is_final};
pub use estimate::{CompletionEstimate, MAX_ESTIMATE_DAYS, estimate_completion};
pub use model::*;
pub use plan::{
    DEFAULT_MDE, Plan, criterion_null, effect_words, is_strict, judge, mde, plan, required_for,
};

#[cfg(test)]
mod tests;
