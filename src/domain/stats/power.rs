//! Sample size per variant for a two-sample test of means (normal
//! approximation, equal allocation).

use serde::{Deserialize, Serialize};

use super::decision::{Direction, Insufficient, InsufficientReason, Parameter, alpha_of, finite};
use super::dist;

/// Conventional target power (probability of detecting a true effect).
pub const DEFAULT_POWER: f64 = 0.8;

/// Required sample size for a two-arm, equal-allocation experiment.
///
/// Units: `effect_size` is Cohen's d = |relative_change · control_mean| /
/// control_std_dev (unitless); `n_exact` and `per_variant` are units per
/// arm; `total` is units over both arms. Invariants: `n_exact > 0` finite;
/// `per_variant = max(2, ⌈n_exact⌉)` (at least 2 so a variance exists),
/// saturating at `u64::MAX`; `total = 2 · per_variant` saturating.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SampleSize {
    /// Standardised effect d.
    pub effect_size: f64,
    /// Solution of the power equation before rounding up.
    pub n_exact: f64,
    /// Units needed in each arm.
    pub per_variant: u64,
    /// Units needed over both arms.
    pub total: u64,
}

/// Power of the two-sided z-test with n units per arm: both rejection
/// tails counted, Φ(s − z) + Φ(−s − z) with s = d·√(n/2).
fn power_at(s: f64, z_crit: f64) -> Option<f64> {
    Some(dist::normal_sf(z_crit - s)? + dist::normal_cdf(-s - z_crit)?)
}

/// Units per variant needed to detect a relative change of the control mean
/// (`relative_change`, a fraction: 0.05 = 5 %, sign irrelevant) with a
/// two-sided test at `confidence` (α = 1 − confidence) and `power`
/// (use [`DEFAULT_POWER`] = 0.8).
///
/// Model: normal approximation with known σ = `control_std_dev` in both
/// arms, equal allocation; solves
/// Φ(d√(n/2) − z_{1−α/2}) + Φ(−d√(n/2) − z_{1−α/2}) = power exactly (by
/// bisection), i.e. the same equation as statsmodels
/// `NormalIndPower().solve_power(effect_size=d, alpha=α, power=power,
/// ratio=1, alternative="two-sided")`. The familiar closed form
/// 2(z_{1−α/2} + z_{power})²/d² ignores the far tail and is slightly larger.
///
/// Errors: bad confidence → `InvalidParameter(Confidence)`; power not in
/// (α, 1) → `InvalidParameter(Power)`; `relative_change` zero or not finite
/// → `InvalidParameter(RelativeChange)`; std dev negative or not finite →
/// `InvalidParameter(StdDev)`; std dev 0 → `ZeroVariance`; control mean 0 →
/// `ZeroControlMean`; non-finite mean or a sample size that overflows f64 →
/// `NonFinite`.
pub fn sample_size_per_variant(
    control_mean: f64,
    control_std_dev: f64,
    relative_change: f64,
    confidence: f64,
    power: f64,
) -> Result<SampleSize, Insufficient> {
    let alpha = alpha_of(confidence)?;
    if !(power.is_finite() && power > alpha && power < 1.0) {
        return Err(Insufficient::invalid(Parameter::Power));
    }
    if !(relative_change.is_finite() && relative_change != 0.0) {
        return Err(Insufficient::invalid(Parameter::RelativeChange));
    }
    if !(control_std_dev.is_finite() && control_std_dev >= 0.0) {
        return Err(Insufficient::invalid(Parameter::StdDev));
    }
    let control_mean = finite(control_mean)?;
    if control_std_dev == 0.0 {
        return Err(InsufficientReason::ZeroVariance.into());
    }
    if control_mean == 0.0 {
        return Err(InsufficientReason::ZeroControlMean.into());
    }
    let effect_size = finite((relative_change * control_mean).abs() / control_std_dev)?;
    if effect_size <= 0.0 {
        return Err(InsufficientReason::NonFinite.into());
    }
    let nf = || Insufficient::from(InsufficientReason::NonFinite);
    let z_crit = dist::normal_quantile(1.0 - alpha / 2.0).ok_or_else(nf)?;
    let z_power = dist::normal_quantile(power).ok_or_else(nf)?;
    // Solve power_at(s) = power for s = d·√(n/2) >= 0. power_at is
    // increasing in s, equals α < power at s = 0 and exceeds `power` at
    // s = z_crit + z_power (its first term alone equals `power` there).
    let (mut lo, mut hi) = (0.0_f64, (z_crit + z_power).max(0.0) + 1.0);
    for _ in 0..200 {
        let mid = 0.5 * (lo + hi);
        if mid <= lo || mid >= hi {
            break;
        }
        if power_at(mid, z_crit).ok_or_else(nf)? < power {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    let s = 0.5 * (lo + hi);
    let ratio = s / effect_size;
    let n_exact = finite(2.0 * ratio * ratio)?;
    if n_exact <= 0.0 {
        return Err(nf());
    }
    // `as` saturates for huge values; never panics
    let per_variant = (n_exact.ceil() as u64).max(2);
    Ok(SampleSize {
        effect_size,
        n_exact,
        per_variant,
        total: per_variant.saturating_mul(2),
    })
}

/// Which test a verdict comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Horizon {
    /// A fixed-horizon test, valid at one look only.
    Fixed,
    /// The always-valid normal-mixture sequence (see [`super::sequential`]), valid at
    /// every look, tuned so that N* is the planned size.
    Sequential,
}

/// The size a criterion needs (see [`criterion_sample_size`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CriterionPlan {
    /// Units per arm before rounding up.
    pub n_exact: f64,
    /// Units per arm, `max(2, ⌈n_exact⌉)`, saturating.
    pub per_variant: u64,
    /// The bound's multiplier of the standard error at the planned size: z₁₋α (fixed) or
    /// the confidence sequence's multiplier at N = N* (sequential).
    pub multiplier: f64,
}

/// Units per arm for the success criterion **as it is tested**: a one-sided test at
/// `confidence` of "improvement > `null`" on the relative lift, with power `power` when
/// the true improvement is `null + mde`.
///
/// * `cv`: the control's relative spread σ/μ (> 0), assumed the same σ in both arms;
/// * `null`: the improvement the criterion must beat, a signed fraction (the threshold for
///   "improves by more than t", −t for the non-inferiority "gets worse by at most t");
/// * `mde`: the minimum detectable effect beyond `null` (> 0, a fraction);
/// * `direction`: maps improvement to the raw lift r (r = I, or r = −I when lower is
///   better).
///
/// The lift's delta-method variance at true ratio q = 1 + r is cv²·(1 + q²)/n, so
/// `n = cv²·(1 + q²)·(k + z_power)² / mde²` with k = z₁₋α for [`Horizon::Fixed`] (the same
/// equation as statsmodels `NormalIndPower(alternative="larger")` with
/// d = mde·√2 / (cv·√(1 + q²))), and k = [`super::multiplier_at_tuning_n`]`(2α)` for
/// [`Horizon::Sequential`]: the criterion reads the lower end of the two-sided
/// (1 − 2α) sequence, and at N = N* = 2n its half-width is k·SE whatever n is.
///
/// Errors: bad confidence or power → `InvalidParameter(Confidence | Power)`; `cv` not
/// finite and > 0 → `InvalidParameter(StdDev)`; `mde` not finite and > 0 →
/// `InvalidParameter(RelativeChange)`; `null` not finite, or an alternative whose raw
/// lift is −100 % or below → `InvalidParameter(Threshold)`.
pub fn criterion_sample_size(
    cv: f64,
    null: f64,
    mde: f64,
    direction: Direction,
    confidence: f64,
    power: f64,
    horizon: Horizon,
) -> Result<CriterionPlan, Insufficient> {
    let alpha = alpha_of(confidence)?;
    if !(power.is_finite() && power > alpha && power < 1.0) {
        return Err(Insufficient::invalid(Parameter::Power));
    }
    if !(cv.is_finite() && cv > 0.0) {
        return Err(Insufficient::invalid(Parameter::StdDev));
    }
    if !(mde.is_finite() && mde > 0.0) {
        return Err(Insufficient::invalid(Parameter::RelativeChange));
    }
    if !null.is_finite() {
        return Err(Insufficient::invalid(Parameter::Threshold));
    }
    let q = 1.0 + direction.improvement(null + mde);
    if !(q.is_finite() && q > 0.0) {
        return Err(Insufficient::invalid(Parameter::Threshold));
    }
    let nf = || Insufficient::from(InsufficientReason::NonFinite);
    let multiplier = match horizon {
        Horizon::Fixed => dist::normal_quantile(1.0 - alpha).ok_or_else(nf)?,
        Horizon::Sequential => super::sequential::multiplier_at_tuning_n(2.0 * alpha)?,
    };
    let k = multiplier + dist::normal_quantile(power).ok_or_else(nf)?;
    let n_exact = finite(cv * cv * (1.0 + q * q) * k * k / (mde * mde))?;
    if n_exact <= 0.0 {
        return Err(nf());
    }
    Ok(CriterionPlan {
        n_exact,
        // `as` saturates for huge values; never panics
        per_variant: (n_exact.ceil() as u64).max(2),
        multiplier,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sample_size_matches_statsmodels_whatever_the_change_sign() {
        // d = 0.25, alpha 0.05, power 0.8 -> ~251.2 per arm (statsmodels 251.1635)
        let r = sample_size_per_variant(100.0, 20.0, 0.05, 0.95, DEFAULT_POWER).unwrap();
        assert!((r.n_exact - 251.16353629843834).abs() < 1e-6);
        assert_eq!((r.per_variant, r.total), (252, 504));
        // sign of the change does not matter
        let r2 = sample_size_per_variant(100.0, 20.0, -0.05, 0.95, DEFAULT_POWER).unwrap();
        assert_eq!(r, r2);
    }

    #[test]
    fn the_criterion_size_is_one_sided_and_grows_for_the_sequential_test() {
        // cv 0.2/0.7, "improves by more than 5 %", MDE 5 %: alternative lift 10 %
        let cv = 0.2 / 0.7;
        let f = |h| {
            criterion_sample_size(cv, 0.05, 0.05, Direction::HigherIsBetter, 0.95, 0.8, h).unwrap()
        };
        let fixed = f(Horizon::Fixed);
        let q: f64 = 1.1;
        let z = 1.6448536269514722 + 0.8416212335729143;
        let expect = cv * cv * (1.0 + q * q) * z * z / 0.0025;
        assert!((fixed.n_exact - expect).abs() < 1e-6 * expect);
        let seq = f(Horizon::Sequential);
        assert!(seq.n_exact > 1.5 * fixed.n_exact && seq.n_exact < 3.0 * fixed.n_exact);
        // lower is better: the alternative is a 10 % decrease (q = 0.9)
        let down = criterion_sample_size(
            cv,
            0.05,
            0.05,
            Direction::LowerIsBetter,
            0.95,
            0.8,
            Horizon::Fixed,
        )
        .unwrap();
        assert!(down.n_exact < fixed.n_exact);
        // a 100 % decrease cannot be planned for
        assert!(
            criterion_sample_size(
                cv,
                1.0,
                0.05,
                Direction::LowerIsBetter,
                0.95,
                0.8,
                Horizon::Fixed
            )
            .is_err()
        );
        assert!(
            criterion_sample_size(
                cv,
                0.0,
                0.0,
                Direction::HigherIsBetter,
                0.95,
                0.8,
                Horizon::Fixed
            )
            .is_err()
        );
    }

    #[test]
    fn each_invalid_sample_size_input_is_refused_with_its_reason() {
        let inv = |p| Insufficient::invalid(p);
        let f = sample_size_per_variant;
        assert_eq!(f(1.0, 1.0, 0.1, 1.0, 0.8), Err(inv(Parameter::Confidence)));
        assert_eq!(f(1.0, 1.0, 0.1, 0.95, 1.0), Err(inv(Parameter::Power)));
        assert_eq!(f(1.0, 1.0, 0.1, 0.95, 0.01), Err(inv(Parameter::Power)));
        assert_eq!(
            f(1.0, 1.0, 0.0, 0.95, 0.8),
            Err(inv(Parameter::RelativeChange))
        );
        assert_eq!(f(1.0, -1.0, 0.1, 0.95, 0.8), Err(inv(Parameter::StdDev)));
        assert_eq!(
            f(1.0, 0.0, 0.1, 0.95, 0.8).unwrap_err().reason,
            InsufficientReason::ZeroVariance
        );
        assert_eq!(
            f(0.0, 1.0, 0.1, 0.95, 0.8).unwrap_err().reason,
            InsufficientReason::ZeroControlMean
        );
        assert_eq!(
            f(f64::NAN, 1.0, 0.1, 0.95, 0.8).unwrap_err().reason,
            InsufficientReason::NonFinite
        );
    }

    #[test]
    fn extreme_effects_do_not_panic() {
        // astronomically small effect: saturates instead of overflowing
        let r = sample_size_per_variant(1.0, 1.0, 1e-12, 0.95, 0.8).unwrap();
        assert!(r.n_exact > 1e24 && r.per_variant == u64::MAX && r.total == u64::MAX);
        // underflowing effect
        assert!(sample_size_per_variant(1e-300, 1e300, 1e-10, 0.95, 0.8).is_err());
        // enormous effect: at least 2 per arm
        let r = sample_size_per_variant(10.0, 1.0, 0.5, 0.95, 0.8).unwrap();
        assert_eq!(r.per_variant, 2);
    }
}
