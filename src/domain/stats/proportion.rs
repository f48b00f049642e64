//! Two-proportion z-test and the relative lift of conversion rates.

use serde::{Deserialize, Serialize};

use super::decision::{
    Arm, Insufficient, InsufficientReason, Interval, Parameter, alpha_of, finite,
};
use super::dist;
use super::welch::{RelativeLift, delta_relative_lift};

/// Successes out of trials for one arm (e.g. converted users / exposed users).
///
/// Invariant expected by the tests: `successes <= trials`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub struct Proportion {
    /// Units with the event (count).
    pub successes: u64,
    /// Units exposed (count).
    pub trials: u64,
}

impl Proportion {
    /// Creates a count pair (not validated here; the tests validate).
    pub const fn new(successes: u64, trials: u64) -> Self {
        Self { successes, trials }
    }

    /// `successes / trials`; `None` when `trials == 0` or
    /// `successes > trials`.
    pub fn rate(&self) -> Option<f64> {
        (self.trials > 0 && self.successes <= self.trials)
            .then(|| self.successes as f64 / self.trials as f64)
    }
}

/// Result of the two-sided two-proportion z-test of
/// `rate_treatment − rate_control`.
///
/// Units: rates, `diff`, standard errors and `ci` are proportions in [0, 1]
/// (0.012 = 1.2 percentage points); `z` unitless; `p_value` a probability.
/// The test statistic uses the pooled standard error (as statsmodels
/// `proportions_ztest`); the interval uses the unpooled (Wald) standard
/// error (as statsmodels `confint_proportions_2indep(method="wald")`).
/// Invariant: all fields finite, `pooled_std_error > 0`. When both arms have
/// rate 0 or 1 individually but different pooled rate, `std_error` is 0 and
/// `ci` collapses to the point `diff`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProportionTest {
    /// Control conversion rate.
    pub control_rate: f64,
    /// Treatment conversion rate.
    pub treatment_rate: f64,
    /// `treatment_rate − control_rate`.
    pub diff: f64,
    /// Pooled SE √(p̄(1−p̄)(1/n_c + 1/n_t)), used for `z`.
    pub pooled_std_error: f64,
    /// Unpooled SE √(p_c(1−p_c)/n_c + p_t(1−p_t)/n_t), used for `ci`.
    pub std_error: f64,
    /// `diff / pooled_std_error`.
    pub z: f64,
    /// Two-sided p-value, 2·(1 − Φ(|z|)).
    pub p_value: f64,
    /// Wald interval diff ± z_{1−α/2}·`std_error`.
    pub ci: Interval,
}

fn rates(control: Proportion, treatment: Proportion) -> Result<(f64, f64), Insufficient> {
    if control.successes > control.trials || treatment.successes > treatment.trials {
        return Err(Insufficient::invalid(Parameter::Counts));
    }
    if control.trials == 0 && treatment.trials == 0 {
        return Err(InsufficientReason::NoData.into());
    }
    let pc = control
        .rate()
        .ok_or(Insufficient::too_few(Arm::Control, 0, 1))?;
    let pt = treatment
        .rate()
        .ok_or(Insufficient::too_few(Arm::Treatment, 0, 1))?;
    Ok((pc, pt))
}

/// Two-sided two-proportion z-test at `confidence`.
///
/// Errors: `successes > trials` in an arm → `InvalidParameter(Counts)`;
/// both arms without trials → `NoData`; one arm without trials →
/// `TooFewUnits`; pooled rate 0 or 1 (no events at all, or all units
/// converted) → `ZeroVariance`; bad confidence → `InvalidParameter`.
pub fn proportion_z_test(
    control: Proportion,
    treatment: Proportion,
    confidence: f64,
) -> Result<ProportionTest, Insufficient> {
    let alpha = alpha_of(confidence)?;
    let (pc, pt) = rates(control, treatment)?;
    let (nc, nt) = (control.trials as f64, treatment.trials as f64);
    let pooled = (control.successes as f64 + treatment.successes as f64) / (nc + nt);
    let pooled_var = pooled * (1.0 - pooled) * (1.0 / nc + 1.0 / nt);
    if pooled_var.is_nan() || pooled_var <= 0.0 {
        return Err(InsufficientReason::ZeroVariance.into());
    }
    let pooled_std_error = finite(pooled_var.sqrt())?;
    let diff = pt - pc;
    let z = finite(diff / pooled_std_error)?;
    let p_value = dist::normal_sf(z.abs())
        .map(|p| (2.0 * p).min(1.0))
        .ok_or(InsufficientReason::NonFinite)?;
    let std_error = finite(
        (pc * (1.0 - pc) / nc + pt * (1.0 - pt) / nt)
            .max(0.0)
            .sqrt(),
    )?;
    let crit = dist::normal_quantile(1.0 - alpha / 2.0).ok_or(InsufficientReason::NonFinite)?;
    let half = crit * std_error;
    Ok(ProportionTest {
        control_rate: pc,
        treatment_rate: pt,
        diff,
        pooled_std_error,
        std_error,
        z,
        p_value,
        ci: Interval {
            lower: diff - half,
            upper: diff + half,
            confidence,
        },
    })
}

/// Relative lift of rates `p_t / p_c − 1` with the delta-method standard
/// error (Bernoulli variances p(1−p), i.e. population not n − 1 variances)
/// and a normal-approximation interval. Unit: fraction (0.05 = +5 %).
///
/// Errors: as [`proportion_z_test`] for counts; `p_c == 0` →
/// `ZeroControlMean`; both rates in {0, 1} so the SE is 0 → `ZeroVariance`.
pub fn proportion_relative_lift(
    control: Proportion,
    treatment: Proportion,
    confidence: f64,
) -> Result<RelativeLift, Insufficient> {
    alpha_of(confidence)?;
    let (pc, pt) = rates(control, treatment)?;
    delta_relative_lift(
        pc,
        pc * (1.0 - pc),
        control.trials,
        pt,
        pt * (1.0 - pt),
        treatment.trials,
        confidence,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_degenerate_proportion_input_is_refused_with_its_reason() {
        let p = Proportion::new;
        assert_eq!(
            proportion_z_test(p(0, 0), p(0, 0), 0.95)
                .unwrap_err()
                .reason,
            InsufficientReason::NoData
        );
        assert_eq!(
            proportion_z_test(p(0, 0), p(1, 10), 0.95).unwrap_err(),
            Insufficient::too_few(Arm::Control, 0, 1)
        );
        assert_eq!(
            proportion_z_test(p(1, 10), p(0, 0), 0.95).unwrap_err(),
            Insufficient::too_few(Arm::Treatment, 0, 1)
        );
        assert_eq!(
            proportion_z_test(p(11, 10), p(1, 10), 0.95).unwrap_err(),
            Insufficient::invalid(Parameter::Counts)
        );
        for (c, t) in [(p(0, 10), p(0, 20)), (p(10, 10), p(20, 20))] {
            assert_eq!(
                proportion_z_test(c, t, 0.95).unwrap_err().reason,
                InsufficientReason::ZeroVariance
            );
        }
        assert_eq!(
            proportion_relative_lift(p(0, 100), p(5, 100), 0.95)
                .unwrap_err()
                .reason,
            InsufficientReason::ZeroControlMean
        );
        assert_eq!(
            proportion_relative_lift(p(100, 100), p(100, 100), 0.95)
                .unwrap_err()
                .reason,
            InsufficientReason::ZeroVariance
        );
    }

    #[test]
    fn all_or_nothing_arms_give_finite_output() {
        let r = proportion_z_test(Proportion::new(0, 50), Proportion::new(50, 50), 0.95).unwrap();
        assert_eq!(r.std_error, 0.0);
        assert_eq!((r.ci.lower, r.ci.upper), (1.0, 1.0));
        assert!(r.p_value < 1e-20);
    }

    #[test]
    fn a_rate_exists_only_with_trials_and_no_more_successes_than_them() {
        assert_eq!(Proportion::new(1, 4).rate(), Some(0.25));
        assert_eq!(Proportion::new(0, 0).rate(), None);
        assert_eq!(Proportion::new(5, 4).rate(), None);
    }
}
