//! Welch's unequal-variance t-test on two [`Summary`]s, the relative lift
//! with a delta-method interval, and one-sided threshold tests on the lift.

use serde::{Deserialize, Serialize};

use super::decision::{
    Arm, Comparison, Direction, Insufficient, InsufficientReason, Interval, Parameter, alpha_of,
    finite,
};
use super::dist;
use super::summary::Summary;

/// Result of Welch's two-sample t-test for the difference of means
/// `treatment − control`.
///
/// Units: `control_mean`, `treatment_mean`, `diff`, `std_error` and `ci` are
/// in the metric's unit; `t` and `dof` are unitless; `p_value` is a
/// probability. Invariant: all fields finite, `dof > 0`,
/// `0 <= p_value <= 1`, `ci.lower <= diff <= ci.upper`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WelchTest {
    /// Mean of the control arm.
    pub control_mean: f64,
    /// Mean of the treatment arm.
    pub treatment_mean: f64,
    /// `treatment_mean − control_mean`.
    pub diff: f64,
    /// Standard error of `diff`: √(s²_c/n_c + s²_t/n_t).
    pub std_error: f64,
    /// t statistic, `diff / std_error`.
    pub t: f64,
    /// Welch–Satterthwaite degrees of freedom (non-integer).
    pub dof: f64,
    /// Two-sided p-value for H0: diff = 0 (Student's t with `dof`).
    pub p_value: f64,
    /// Two-sided confidence interval for `diff`: diff ± t_{1−α/2, dof}·SE.
    pub ci: Interval,
}

/// Checks that both arms can support a variance-based test and returns
/// `(var_c, var_t)`.
pub(super) fn two_arm_variances(
    control: &Summary,
    treatment: &Summary,
) -> Result<(f64, f64), Insufficient> {
    if control.n == 0 && treatment.n == 0 {
        return Err(InsufficientReason::NoData.into());
    }
    if control.n < 2 {
        return Err(Insufficient::too_few(Arm::Control, control.n, 2));
    }
    if treatment.n < 2 {
        return Err(Insufficient::too_few(Arm::Treatment, treatment.n, 2));
    }
    if !control.is_finite() || !treatment.is_finite() {
        return Err(InsufficientReason::NonFinite.into());
    }
    let var_c = control.variance().ok_or(InsufficientReason::NonFinite)?;
    let var_t = treatment.variance().ok_or(InsufficientReason::NonFinite)?;
    Ok((var_c, var_t))
}

/// Welch's t-test of `treatment − control` at `confidence` (e.g. 0.95).
///
/// Errors: `confidence` outside (0, 1) → `InvalidParameter(Confidence)`;
/// both arms empty → `NoData`; an arm with n < 2 → `TooFewUnits`;
/// non-finite summaries → `NonFinite`; both arms with zero variance →
/// `ZeroVariance`. Zero variance in only one arm is fine (the dof then
/// equals n − 1 of the other arm, as in SciPy).
pub fn welch_test(
    control: &Summary,
    treatment: &Summary,
    confidence: f64,
) -> Result<WelchTest, Insufficient> {
    let alpha = alpha_of(confidence)?;
    let (var_c, var_t) = two_arm_variances(control, treatment)?;
    let a = var_c / control.n as f64;
    let b = var_t / treatment.n as f64;
    let se2 = finite(a + b)?;
    if se2 <= 0.0 {
        return Err(InsufficientReason::ZeroVariance.into());
    }
    let std_error = finite(se2.sqrt())?;
    // Welch–Satterthwaite, written with shares of se² to avoid under/overflow:
    // dof = (a+b)² / (a²/(n_c−1) + b²/(n_t−1)) = 1 / (ra²/(n_c−1) + rb²/(n_t−1))
    let (ra, rb) = (a / se2, b / se2);
    let dof = finite(
        1.0 / (ra * ra / control.n.saturating_sub(1) as f64
            + rb * rb / treatment.n.saturating_sub(1) as f64),
    )?;
    let diff = finite(treatment.mean - control.mean)?;
    let t = finite(diff / std_error)?;
    let p_value = dist::t_two_sided_p(t, dof).ok_or(InsufficientReason::NonFinite)?;
    let crit = dist::t_quantile(1.0 - alpha / 2.0, dof).ok_or(InsufficientReason::NonFinite)?;
    let half = finite(crit * std_error)?;
    Ok(WelchTest {
        control_mean: control.mean,
        treatment_mean: treatment.mean,
        diff,
        std_error,
        t,
        dof,
        p_value,
        ci: Interval {
            lower: finite(diff - half)?,
            upper: finite(diff + half)?,
            confidence,
        },
    })
}

/// Relative lift `treatment_mean / control_mean − 1` with a delta-method
/// standard error and a normal-approximation confidence interval.
///
/// Unit: fractions (0.05 = +5 %). Invariant: all fields finite,
/// `std_error > 0`, `ci.lower <= lift <= ci.upper`.
///
/// Variance (delta method, independent arms):
/// `var_rel = var_t/(n_t·mean_c²) + mean_t²·var_c/(n_c·mean_c⁴)`.
/// The lift is not bias-corrected. With a negative control mean the sign of
/// the lift is relative to a negative base (e.g. −10 → −5 gives −0.5).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RelativeLift {
    /// Point estimate `mean_t / mean_c − 1`.
    pub lift: f64,
    /// Delta-method standard error of `lift`.
    pub std_error: f64,
    /// Two-sided normal-approximation interval lift ± z_{1−α/2}·SE.
    pub ci: Interval,
}

/// Builds a [`RelativeLift`] from means, variances of a single observation
/// and counts. Shared by the Welch and proportion versions.
pub(super) fn delta_relative_lift(
    mean_c: f64,
    var_c: f64,
    n_c: u64,
    mean_t: f64,
    var_t: f64,
    n_t: u64,
    confidence: f64,
) -> Result<RelativeLift, Insufficient> {
    let alpha = alpha_of(confidence)?;
    if mean_c == 0.0 {
        return Err(InsufficientReason::ZeroControlMean.into());
    }
    let ratio = finite(mean_t / mean_c)?;
    let lift = finite(ratio - 1.0)?;
    // var_t/(n_t·mc²) + mt²·var_c/(n_c·mc⁴) = (var_t/n_t + ratio²·var_c/n_c) / mc²
    let var_rel =
        finite((var_t / n_t as f64 + ratio * ratio * var_c / n_c as f64) / (mean_c * mean_c))?;
    if var_rel <= 0.0 {
        return Err(InsufficientReason::ZeroVariance.into());
    }
    let std_error = finite(var_rel.sqrt())?;
    let z = dist::normal_quantile(1.0 - alpha / 2.0).ok_or(InsufficientReason::NonFinite)?;
    let half = finite(z * std_error)?;
    Ok(RelativeLift {
        lift,
        std_error,
        ci: Interval {
            lower: finite(lift - half)?,
            upper: finite(lift + half)?,
            confidence,
        },
    })
}

/// Relative lift of means, `treatment/control − 1`, with a delta-method
/// normal-approximation interval at `confidence`.
///
/// Errors: as [`welch_test`] for counts/finiteness; control mean exactly 0 →
/// `ZeroControlMean`; zero variance in both arms → `ZeroVariance`.
pub fn relative_lift(
    control: &Summary,
    treatment: &Summary,
    confidence: f64,
) -> Result<RelativeLift, Insufficient> {
    alpha_of(confidence)?;
    let (var_c, var_t) = two_arm_variances(control, treatment)?;
    delta_relative_lift(
        control.mean,
        var_c,
        control.n,
        treatment.mean,
        var_t,
        treatment.n,
        confidence,
    )
}

/// One-sided test of "improvement OP threshold" on a relative lift, using
/// the normal approximation (z-test on the delta-method standard error).
///
/// `improvement` is the lift mapped through the metric [`Direction`]
/// (lift for higher-is-better, −lift for lower-is-better), so a threshold
/// of 0.02 with `Greater` means "at least 2 % better" for either kind of
/// metric. Units: `threshold`, `improvement`, `bound` are fractions
/// (0.02 = 2 %); `z` is unitless; `p_value` is a probability.
///
/// Invariants: `passed == (bound OP threshold)`, which for the strict
/// operators is equivalent to `p_value < 1 − confidence`; `>` and `>=`
/// (and `<`, `<=`) differ only when `bound` equals the threshold exactly.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ThresholdTest {
    /// The operator of the alternative hypothesis.
    pub comparison: Comparison,
    /// The threshold on the improvement (fraction).
    pub threshold: f64,
    /// Direction used to map lift to improvement.
    pub direction: Direction,
    /// Confidence level of the one-sided test.
    pub confidence: f64,
    /// Estimated improvement (fraction).
    pub improvement: f64,
    /// `(improvement − threshold) / std_error`.
    pub z: f64,
    /// One-sided p-value: P(Z ≥ z) for `>`/`>=`, P(Z ≤ z) for `<`/`<=`.
    pub p_value: f64,
    /// One-sided confidence bound on the improvement: the lower bound
    /// improvement − z_{conf}·SE for `>`/`>=`, the upper bound
    /// improvement + z_{conf}·SE for `<`/`<=`.
    pub bound: f64,
    /// Whether the hypothesis is supported at `confidence`.
    pub passed: bool,
}

impl RelativeLift {
    /// One-sided normal-approximation test of "improvement OP threshold";
    /// see [`ThresholdTest`].
    ///
    /// Errors: `confidence` outside (0, 1) → `InvalidParameter(Confidence)`;
    /// non-finite threshold → `InvalidParameter(Threshold)`;
    /// `std_error <= 0` (only possible for a hand-built value) →
    /// `ZeroVariance`; non-finite fields → `NonFinite`.
    pub fn threshold_test(
        &self,
        comparison: Comparison,
        threshold: f64,
        direction: Direction,
        confidence: f64,
    ) -> Result<ThresholdTest, Insufficient> {
        let alpha = alpha_of(confidence)?;
        if !threshold.is_finite() {
            return Err(Insufficient::invalid(Parameter::Threshold));
        }
        let se = finite(self.std_error)?;
        if se <= 0.0 {
            return Err(InsufficientReason::ZeroVariance.into());
        }
        let improvement = finite(direction.improvement(self.lift))?;
        let z = finite((improvement - threshold) / se)?;
        let z_crit = dist::normal_quantile(1.0 - alpha).ok_or(InsufficientReason::NonFinite)?;
        let margin = finite(z_crit * se)?;
        let (p_value, bound, passed) = match comparison {
            Comparison::Greater | Comparison::GreaterOrEqual => {
                let bound = finite(improvement - margin)?;
                let passed = if comparison == Comparison::Greater {
                    bound > threshold
                } else {
                    bound >= threshold
                };
                (dist::normal_sf(z), bound, passed)
            }
            Comparison::Less | Comparison::LessOrEqual => {
                let bound = finite(improvement + margin)?;
                let passed = if comparison == Comparison::Less {
                    bound < threshold
                } else {
                    bound <= threshold
                };
                (dist::normal_cdf(z), bound, passed)
            }
        };
        Ok(ThresholdTest {
            comparison,
            threshold,
            direction,
            confidence,
            improvement,
            z,
            p_value: p_value.ok_or(InsufficientReason::NonFinite)?,
            bound,
            passed,
        })
    }
}

/// Convenience: [`relative_lift`] followed by [`RelativeLift::threshold_test`].
/// Normal approximation; see [`ThresholdTest`] for units and semantics.
pub fn relative_lift_threshold_test(
    control: &Summary,
    treatment: &Summary,
    comparison: Comparison,
    threshold: f64,
    direction: Direction,
    confidence: f64,
) -> Result<ThresholdTest, Insufficient> {
    relative_lift(control, treatment, confidence)?
        .threshold_test(comparison, threshold, direction, confidence)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(xs: &[f64]) -> Summary {
        Summary::from_slice(xs)
    }

    #[test]
    fn welch_needs_two_units_per_arm_and_a_valid_confidence() {
        let one = s(&[1.0]);
        let two = s(&[1.0, 2.0]);
        assert_eq!(
            welch_test(&Summary::EMPTY, &Summary::EMPTY, 0.95).unwrap_err(),
            InsufficientReason::NoData.into()
        );
        assert_eq!(
            welch_test(&one, &two, 0.95).unwrap_err(),
            Insufficient::too_few(Arm::Control, 1, 2)
        );
        assert_eq!(
            welch_test(&two, &Summary::EMPTY, 0.95).unwrap_err(),
            Insufficient::too_few(Arm::Treatment, 0, 2)
        );
        assert_eq!(
            welch_test(&two, &two, 1.0).unwrap_err(),
            Insufficient::invalid(Parameter::Confidence)
        );
    }

    #[test]
    fn two_constant_arms_are_refused_as_zero_variance() {
        let a = s(&[3.0, 3.0, 3.0]);
        let b = s(&[4.0, 4.0]);
        assert_eq!(
            welch_test(&a, &b, 0.95).unwrap_err().reason,
            InsufficientReason::ZeroVariance
        );
        assert_eq!(
            relative_lift(&a, &b, 0.95).unwrap_err().reason,
            InsufficientReason::ZeroVariance
        );
    }

    #[test]
    fn zero_variance_one_arm_is_fine() {
        let a = s(&[3.0, 3.0, 3.0, 3.0]);
        let b = s(&[4.0, 5.0, 6.0]);
        let w = welch_test(&a, &b, 0.95).unwrap();
        assert!((w.dof - 2.0).abs() < 1e-12);
        assert!(w.p_value > 0.0 && w.p_value < 1.0);
    }

    #[test]
    fn a_zero_control_mean_refuses_the_lift_but_not_the_difference() {
        let a = s(&[-1.0, 1.0]);
        let b = s(&[1.0, 2.0]);
        assert_eq!(
            relative_lift(&a, &b, 0.95).unwrap_err().reason,
            InsufficientReason::ZeroControlMean
        );
        // the absolute test is still fine
        assert!(welch_test(&a, &b, 0.95).is_ok());
    }

    #[test]
    fn nan_or_overflowing_inputs_are_refused_as_non_finite() {
        let bad = s(&[1.0, f64::NAN]);
        let ok = s(&[1.0, 2.0]);
        assert_eq!(
            welch_test(&bad, &ok, 0.95).unwrap_err().reason,
            InsufficientReason::NonFinite
        );
        let huge = s(&[1e300, -1e300]);
        assert_eq!(
            welch_test(&huge, &ok, 0.95).unwrap_err().reason,
            InsufficientReason::NonFinite
        );
        let tiny_c = Summary::from_moments(10, 1e-310, 1.0);
        assert_eq!(
            relative_lift(&tiny_c, &ok, 0.95).unwrap_err().reason,
            InsufficientReason::NonFinite
        );
    }

    #[test]
    fn tiny_variances_and_huge_counts_still_give_finite_results() {
        // tiny variances must not underflow the dof to NaN
        let a = Summary::from_moments(100, 1.0, 1e-300);
        let b = Summary::from_moments(50, 1.0 + 1e-150, 1e-300);
        let w = welch_test(&a, &b, 0.95).unwrap();
        assert!(w.dof.is_finite() && w.dof > 0.0);
        // huge n
        let a = Summary::from_moments(1 << 40, 10.0, 4.0);
        let b = Summary::from_moments(1 << 40, 10.0001, 4.0);
        let w = welch_test(&a, &b, 0.95).unwrap();
        assert!(w.p_value < 1e-10);
        assert!(w.ci.contains(w.diff));
    }

    #[test]
    fn a_threshold_test_counts_improvement_in_the_metrics_direction() {
        // latency: treatment 10% lower (better for lower-is-better)
        let c = Summary::from_moments(10_000, 200.0, 100.0);
        let t = Summary::from_moments(10_000, 180.0, 100.0);
        let lift = relative_lift(&c, &t, 0.95).unwrap();
        assert!((lift.lift + 0.1).abs() < 1e-12);
        let better = lift
            .threshold_test(Comparison::Greater, 0.05, Direction::LowerIsBetter, 0.95)
            .unwrap();
        assert!(better.passed && better.p_value < 1e-6);
        assert!((better.improvement - 0.1).abs() < 1e-12);
        let as_higher = lift
            .threshold_test(Comparison::Greater, 0.0, Direction::HigherIsBetter, 0.95)
            .unwrap();
        assert!(!as_higher.passed && as_higher.p_value > 0.999);
        let worse = lift
            .threshold_test(Comparison::Less, 0.0, Direction::HigherIsBetter, 0.95)
            .unwrap();
        assert!(worse.passed);
        // bad threshold / hand-built zero SE
        assert_eq!(
            lift.threshold_test(Comparison::Less, f64::NAN, Direction::HigherIsBetter, 0.95)
                .unwrap_err(),
            Insufficient::invalid(Parameter::Threshold)
        );
        let zero = RelativeLift {
            std_error: 0.0,
            ..lift
        };
        assert_eq!(
            zero.threshold_test(Comparison::Less, 0.0, Direction::HigherIsBetter, 0.95)
                .unwrap_err()
                .reason,
            InsufficientReason::ZeroVariance
        );
    }

    #[test]
    fn strict_and_non_strict_differ_only_at_the_bound() {
        let lift = RelativeLift {
            lift: 0.1,
            std_error: 0.01,
            ci: Interval {
                lower: 0.08,
                upper: 0.12,
                confidence: 0.95,
            },
        };
        let g = lift
            .threshold_test(Comparison::Greater, 0.0, Direction::HigherIsBetter, 0.95)
            .unwrap();
        // put the threshold exactly on the bound
        let at = g.bound;
        let gt = lift
            .threshold_test(Comparison::Greater, at, Direction::HigherIsBetter, 0.95)
            .unwrap();
        let ge = lift
            .threshold_test(
                Comparison::GreaterOrEqual,
                at,
                Direction::HigherIsBetter,
                0.95,
            )
            .unwrap();
        assert!(!gt.passed && ge.passed);
        assert!((gt.p_value - 0.05).abs() < 1e-9);
    }
}
