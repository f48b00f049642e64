//! Always-valid inference for the difference of means with the mixture
//! sequential probability ratio test (mSPRT) with a normal mixture
//! (Robbins 1970; Johari, Pekelis & Walsh 2017/2022, "Always valid
//! inference"; the same confidence sequence as Howard et al. 2021 /
//! Waudby-Smith et al. 2023 eq. 9 and 155, which GrowthBook calls
//! "sequential testing").
//!
//! # Model and formula
//!
//! Let θ̂ = mean_t − mean_c, SE² = s²_t/n_t + s²_c/n_c (plug-in sample
//! variances, the normal approximation), N = n_c + n_t the total number of
//! units, and Z = (θ̂ − θ₀)/SE. Put a normal mixing distribution
//! θ ~ N(θ₀, τ²) over the alternative. In units of the per-observation
//! variance σ² = SE²·N, write ρ² = τ²/σ² and a = N·ρ². The mixture
//! likelihood ratio (an e-value, a non-negative martingale under H0) is
//!
//! ```text
//! Λ_N = (1 + a)^(-1/2) · exp( a/(1 + a) · Z²/2 )
//! ```
//!
//! * Always-valid two-sided p-value: `p_N = min(1, 1/Λ_N)`. By Ville's
//!   inequality P_H0(∃N: p_N ≤ α) ≤ α, so the p-value may be looked at after
//!   every batch (daily looks, continuous monitoring) without inflating the
//!   false-positive rate; the running minimum over looks is also valid.
//! * Always-valid (1 − α) confidence sequence: {θ₀ : Λ_N(θ₀) < 1/α}, i.e.
//!
//! ```text
//! θ̂ ± SE · sqrt( (1 + a)/a · ( ln(1 + a) − 2·ln α ) )
//! ```
//!
//!   which is exactly the dual of the p-value: 0 ∉ CI ⇔ p < α.
//!
//! # Tuning parameter
//!
//! The mixture variance is set from the **tuning parameter N\*** = the total
//! number of units (both arms together) at which the interval should be
//! tightest, with the closed form of Howard et al. (eq. 161 of
//! arXiv:2103.06476v7):
//!
//! ```text
//! ρ² = ( −2·ln α + ln(1 − 2·ln α) ) / N*
//! ```
//!
//! GrowthBook's default N* is 5000. Choose N* near the expected final
//! sample size: too small wastes power late, too large wastes power early;
//! validity holds for any N*. α (from the confidence level) enters ρ², so the
//! p-value is "always valid" for a fixed (N*, confidence) pair: keep both
//! constant over the life of an experiment.

use serde::{Deserialize, Serialize};

use super::decision::{Insufficient, InsufficientReason, Interval, Parameter, alpha_of, finite};
use super::summary::Summary;
use super::welch::two_arm_variances;

/// GrowthBook's default tuning parameter N* (total units, both arms).
pub const DEFAULT_TUNING_N: f64 = 5000.0;

/// Standardised mixture variance ρ² = τ²/σ² for significance `alpha` tuned
/// to be tightest at `tuning_n` total units:
/// ρ² = (−2 ln α + ln(1 − 2 ln α)) / N*.
///
/// Errors: `alpha` not in (0, 1) → `InvalidParameter(Confidence)`;
/// `tuning_n` not finite and > 0 → `InvalidParameter(TuningN)`.
pub fn mixture_rho_squared(alpha: f64, tuning_n: f64) -> Result<f64, Insufficient> {
    if !(alpha.is_finite() && alpha > 0.0 && alpha < 1.0) {
        return Err(Insufficient::invalid(Parameter::Confidence));
    }
    if !(tuning_n.is_finite() && tuning_n > 0.0) {
        return Err(Insufficient::invalid(Parameter::TuningN));
    }
    let l = -2.0 * alpha.ln();
    finite((l + l.ln_1p()) / tuning_n)
}

/// Result of one look of the mixture SPRT on `treatment − control`.
///
/// Units: `diff`, `std_error`, `ci` in the metric's unit; `rho_squared`
/// unitless (mixture variance τ² in units of the per-observation variance);
/// `log_e_value` natural log of Λ; `p_value` a probability.
/// Invariants: all fields finite; `0 < p_value <= 1` (it underflows to 0
/// only for astronomically strong evidence); `ci` always contains `diff`
/// and is wider than the fixed-horizon normal interval diff ± z_{1−α/2}·SE
/// (its half-width is at least ~3.0·SE at 95 %; for tiny samples a Welch
/// t interval can still be wider);
/// `p_value < 1 − confidence` ⇔ `!ci.contains(0.0)` (up to rounding at the
/// boundary).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SequentialTest {
    /// `treatment_mean − control_mean`.
    pub diff: f64,
    /// Plug-in standard error √(s²_c/n_c + s²_t/n_t).
    pub std_error: f64,
    /// Total units N = n_c + n_t.
    pub n_total: u64,
    /// The tuning parameter N* that was used.
    pub tuning_n: f64,
    /// ρ² derived from N* and α.
    pub rho_squared: f64,
    /// ln Λ_N for H0: diff = 0.
    pub log_e_value: f64,
    /// Always-valid two-sided p-value, min(1, 1/Λ_N).
    pub p_value: f64,
    /// Always-valid confidence sequence for `diff` at this look.
    pub ci: Interval,
}

/// One look of the normal-mixture SPRT for the difference of means at
/// `confidence`, tuned with `tuning_n` = N* (total units where the interval
/// is tightest; see the module docs, [`DEFAULT_TUNING_N`]).
///
/// The function is stateless: call it at every look with the cumulative
/// summaries. Keep `confidence` and `tuning_n` fixed across looks.
///
/// Errors: as [`super::welch::welch_test`] (NoData, TooFewUnits below 2 per
/// arm, NonFinite, ZeroVariance), plus `InvalidParameter(TuningN)`.
pub fn sequential_test(
    control: &Summary,
    treatment: &Summary,
    confidence: f64,
    tuning_n: f64,
) -> Result<SequentialTest, Insufficient> {
    let alpha = alpha_of(confidence)?;
    let rho_squared = mixture_rho_squared(alpha, tuning_n)?;
    let (var_c, var_t) = two_arm_variances(control, treatment)?;
    let se2 = finite(var_c / control.n as f64 + var_t / treatment.n as f64)?;
    if se2 <= 0.0 {
        return Err(InsufficientReason::ZeroVariance.into());
    }
    let std_error = finite(se2.sqrt())?;
    let n_total = control.n.saturating_add(treatment.n);
    let a = finite(n_total as f64 * rho_squared)?;
    let diff = finite(treatment.mean - control.mean)?;
    let (log_e_value, p_value) = mixture_evidence(finite(diff / std_error)?, a)?;
    let half = finite(std_error * sequence_multiplier(alpha, a)?)?;
    Ok(SequentialTest {
        diff,
        std_error,
        n_total,
        tuning_n,
        rho_squared,
        log_e_value,
        p_value,
        ci: Interval {
            lower: finite(diff - half)?,
            upper: finite(diff + half)?,
            confidence,
        },
    })
}

/// ln Λ and the always-valid p-value min(1, 1/Λ) of the normal mixture for a z-statistic
/// `z` at `a = N·ρ²`.
fn mixture_evidence(z: f64, a: f64) -> Result<(f64, f64), Insufficient> {
    let log_e_value = finite(0.5 * (a / (1.0 + a)) * z * z - 0.5 * a.ln_1p())?;
    // exp(-x) for x > 0 is in (0, 1); underflows to 0 for x > ~745.
    let p_value = if log_e_value <= 0.0 {
        1.0
    } else {
        (-log_e_value).exp()
    };
    Ok((log_e_value, p_value))
}

/// The half-width multiplier of the normal-mixture confidence sequence at a look with
/// `a = N·ρ²`: the interval is `estimate ± SE · multiplier`,
/// `multiplier = √((1 + a)/a · (ln(1 + a) − 2 ln α))`.
///
/// Errors: `alpha` not in (0, 1) → `InvalidParameter(Confidence)`; `a` not finite and > 0
/// → `NonFinite`.
pub fn sequence_multiplier(alpha: f64, a: f64) -> Result<f64, Insufficient> {
    if !(alpha.is_finite() && alpha > 0.0 && alpha < 1.0) {
        return Err(Insufficient::invalid(Parameter::Confidence));
    }
    if !(a.is_finite() && a > 0.0) {
        return Err(InsufficientReason::NonFinite.into());
    }
    finite(((1.0 + a) / a * (a.ln_1p() - 2.0 * alpha.ln())).sqrt())
}

/// The multiplier at the look where `N = N*` (the planned size the mixture was tuned
/// for): there `a = ρ²·N* = −2 ln α + ln(1 − 2 ln α)` whatever N* is, so the multiplier
/// depends on α alone (≈ 2.80 at α = 0.05, ≈ 2.57 at α = 0.10). Power at the planned size
/// uses it where a fixed-horizon test would use z₁₋α/₂.
pub fn multiplier_at_tuning_n(alpha: f64) -> Result<f64, Insufficient> {
    if !(alpha.is_finite() && alpha > 0.0 && alpha < 1.0) {
        return Err(Insufficient::invalid(Parameter::Confidence));
    }
    let l = -2.0 * alpha.ln();
    sequence_multiplier(alpha, l + l.ln_1p())
}

/// One look of the normal-mixture SPRT on the **relative lift**
/// `treatment_mean / control_mean − 1`, with the delta-method standard error that
/// counts both arms' variances (the control mean's own uncertainty included):
/// `SE² = (s²_t/n_t + r²·s²_c/n_c) / mean_c²`, `r = mean_t/mean_c`.
///
/// The mixture is put on the lift in units of its per-unit standard deviation
/// (`SE·√N`), tuned by N* as [`sequential_test`]; the interval is
/// `lift ± SE · `[`sequence_multiplier`]. Valid asymptotically (the lift estimate is
/// asymptotically normal), like the difference version.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SequentialLift {
    /// `mean_t / mean_c − 1` (fraction).
    pub lift: f64,
    /// Delta-method standard error of `lift`.
    pub std_error: f64,
    /// Always-valid two-sided p-value for "lift = 0".
    pub p_value: f64,
    /// Always-valid confidence sequence for the lift at this look.
    pub ci: Interval,
}

/// See [`SequentialLift`]. Errors: as [`sequential_test`], plus `ZeroControlMean`.
pub fn sequential_relative_lift(
    control: &Summary,
    treatment: &Summary,
    confidence: f64,
    tuning_n: f64,
) -> Result<SequentialLift, Insufficient> {
    let alpha = alpha_of(confidence)?;
    let rho_squared = mixture_rho_squared(alpha, tuning_n)?;
    let (var_c, var_t) = two_arm_variances(control, treatment)?;
    if control.mean == 0.0 {
        return Err(InsufficientReason::ZeroControlMean.into());
    }
    let ratio = finite(treatment.mean / control.mean)?;
    let lift = finite(ratio - 1.0)?;
    let se2 = finite(
        (var_t / treatment.n as f64 + ratio * ratio * var_c / control.n as f64)
            / (control.mean * control.mean),
    )?;
    if se2 <= 0.0 {
        return Err(InsufficientReason::ZeroVariance.into());
    }
    let std_error = finite(se2.sqrt())?;
    let a = finite(control.n.saturating_add(treatment.n) as f64 * rho_squared)?;
    let (_, p_value) = mixture_evidence(finite(lift / std_error)?, a)?;
    let half = finite(std_error * sequence_multiplier(alpha, a)?)?;
    Ok(SequentialLift {
        lift,
        std_error,
        p_value,
        ci: Interval {
            lower: finite(lift - half)?,
            upper: finite(lift + half)?,
            confidence,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::super::welch::welch_test;
    use super::*;

    fn sm(n: u64, mean: f64, var: f64) -> Summary {
        Summary::from_moments(n, mean, var)
    }

    #[test]
    fn rho_matches_closed_form() {
        // alpha = 0.05, N* = 5000 (GrowthBook default)
        let r = mixture_rho_squared(0.05, DEFAULT_TUNING_N).unwrap();
        let l = -2.0 * 0.05f64.ln();
        assert!((r - (l + (1.0 + l).ln()) / 5000.0).abs() < 1e-18);
        assert!(mixture_rho_squared(0.05, 0.0).is_err());
        assert!(mixture_rho_squared(0.05, f64::INFINITY).is_err());
        assert!(mixture_rho_squared(1.0, 10.0).is_err());
    }

    #[test]
    fn p_value_and_interval_are_dual() {
        for diff in [0.0, 0.5, 1.0, 1.3, 1.5, 2.0, 5.0] {
            let c = sm(1000, 10.0, 25.0);
            let t = sm(1000, 10.0 + diff, 25.0);
            let s = sequential_test(&c, &t, 0.95, 2000.0).unwrap();
            assert_eq!(s.p_value < 0.05, !s.ci.contains(0.0), "diff {diff}: {s:?}");
        }
    }

    #[test]
    fn wider_than_fixed_horizon() {
        let c = sm(500, 10.0, 4.0);
        let t = sm(500, 10.4, 4.0);
        let s = sequential_test(&c, &t, 0.95, 1000.0).unwrap();
        let w = welch_test(&c, &t, 0.95).unwrap();
        assert!(s.ci.upper - s.ci.lower > w.ci.upper - w.ci.lower);
        assert!(s.p_value >= w.p_value);
    }

    #[test]
    fn degenerate_arms_are_refused_and_extreme_evidence_stays_finite() {
        let c = sm(1, 1.0, 0.0);
        let t = sm(10, 1.0, 1.0);
        assert!(sequential_test(&c, &t, 0.95, 100.0).is_err());
        let c = sm(10, 1.0, 0.0);
        let t = sm(10, 1.0, 0.0);
        assert_eq!(
            sequential_test(&c, &t, 0.95, 100.0).unwrap_err().reason,
            InsufficientReason::ZeroVariance
        );
        // overwhelming evidence: p underflows to 0, stays finite
        let c = sm(100_000, 0.0, 1.0);
        let t = sm(100_000, 1.0, 1.0);
        let s = sequential_test(&c, &t, 0.95, 5000.0).unwrap();
        assert_eq!(s.p_value, 0.0);
        assert!(s.log_e_value.is_finite());
        // no evidence: p = 1
        let s = sequential_test(&c, &c, 0.95, 5000.0).unwrap();
        assert_eq!(s.p_value, 1.0);
    }

    #[test]
    fn the_lift_sequence_counts_the_control_means_variance() {
        let c = sm(400, 10.0, 25.0);
        let t = sm(400, 12.0, 25.0);
        let l = sequential_relative_lift(&c, &t, 0.95, 800.0).unwrap();
        assert!((l.lift - 0.2).abs() < 1e-12);
        // SE² = (25/400 + 1.44·25/400) / 100
        let se = ((25.0 / 400.0 + 1.44 * 25.0 / 400.0) / 100.0f64).sqrt();
        assert!((l.std_error - se).abs() < 1e-12);
        // dividing the difference's sequence by |control mean| is narrower: it ignores
        // the control mean's variance
        let d = sequential_test(&c, &t, 0.95, 800.0).unwrap();
        assert!(l.ci.upper - l.ci.lower > (d.ci.upper - d.ci.lower) / 10.0);
        assert_eq!(l.p_value < 0.05, !l.ci.contains(0.0));
        assert!(sequential_relative_lift(&sm(10, 0.0, 1.0), &t, 0.95, 800.0).is_err());
    }

    #[test]
    fn the_multiplier_at_the_tuning_size_depends_on_alpha_alone() {
        let m = multiplier_at_tuning_n(0.05).unwrap();
        for n_star in [100.0, 5000.0, 1e6] {
            let a = n_star * mixture_rho_squared(0.05, n_star).unwrap();
            assert!((sequence_multiplier(0.05, a).unwrap() - m).abs() < 1e-12);
        }
        assert!(m > 1.96 && m < 3.5, "{m}");
        assert!(sequence_multiplier(0.05, 0.0).is_err());
        assert!(multiplier_at_tuning_n(1.0).is_err());
    }
}
