//! Experiment results: per-variant figures, comparisons, the success criterion, SRM,
//! power, charts and a recommendation with its reasons. Pure functions over per-user
//! rollups; see docs/STATISTICS.md for the methods.

mod arms;
mod chart_data;
mod compare;
mod compute;
mod estimate;
mod model;
mod plan;
mod power;
mod recommend;
mod rows;

pub use arms::{ObservedArms, compute_arms, per_comparison_confidence};
pub use compute::{compute, is_final};
pub use estimate::{CompletionEstimate, estimate_completion};
pub use model::*;
pub use plan::{
    DEFAULT_MDE, MAX_ESTIMATE_DAYS, Plan, criterion_null, days_to_complete, effect_words,
    is_strict, judge, mde, plan, required_for,
};
pub use rows::{DayRow, Observed, UserRow};

#[cfg(test)]
mod tests;
