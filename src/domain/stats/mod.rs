//! Statistics for Verdict A/B tests: sufficient statistics, Welch and
//! proportion tests, relative lift, SRM, always-valid sequential inference,
//! power, Holm correction, CUPED and request-level quantiles from a mergeable sketch.
//!
//! Pure functions only: no IO, no async, no panics. Every fallible function
//! returns `Result<_, Insufficient>` ("not enough data" as a value) and no
//! output ever contains NaN or infinity. Relative quantities (lift,
//! thresholds, relative change) are fractions: 0.05 means 5 %.
//!
//! This file is the module root: keep it a
//! thin list of `mod` and `pub use`.
#![warn(missing_docs)]
#![cfg_attr(
    not(test),
    deny(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::indexing_slicing,
        clippy::unreachable,
        clippy::todo,
        clippy::unimplemented,
        clippy::arithmetic_side_effects
    )
)]

mod cuped;
mod decision;
mod dist;
mod multiple;
mod power;
mod proportion;
mod quantile;
mod sequential;
mod srm;
mod summary;
mod welch;

pub use cuped::{CovSummary, Cuped, cuped_adjust};
pub use decision::{
    Arm, Comparison, Direction, Insufficient, InsufficientReason, Interval, Parameter,
};
pub use dist::normal_quantile;
pub use multiple::holm_adjust;
pub use power::{
    CriterionPlan, DEFAULT_POWER, Horizon, SampleSize, criterion_sample_size,
    sample_size_per_variant,
};
pub use proportion::{Proportion, ProportionTest, proportion_relative_lift, proportion_z_test};
pub use quantile::{
    QuantileDifference, QuantileEstimate, QuantileSketch, min_units_for_interval,
    quantile_difference, quantile_estimate, quantile_ranks,
};
pub use sequential::{
    DEFAULT_TUNING_N, SequentialLift, SequentialTest, mixture_rho_squared, multiplier_at_tuning_n,
    sequence_multiplier, sequential_relative_lift, sequential_test,
};
pub use srm::{SRM_P_VALUE_THRESHOLD, SrmCheck, srm_check};
pub use summary::{Describe, Summary, median, percentile};
pub use welch::{
    RelativeLift, ThresholdTest, WelchTest, relative_lift, relative_lift_threshold_test, welch_test,
};
