//! Sample-ratio mismatch (SRM): chi-square goodness of fit of the observed
//! units per variant against the designed allocation weights.

use serde::{Deserialize, Serialize};

use super::decision::{Insufficient, InsufficientReason, Parameter, finite};
use super::dist;

/// p-value below which a sample-ratio mismatch is flagged (0.001).
pub const SRM_P_VALUE_THRESHOLD: f64 = 0.001;

/// Result of an SRM check.
///
/// Units: `observed` are unit counts per variant, `expected` the counts
/// implied by the weights (same total), `chi_square` unitless,
/// `p_value` a probability. Invariants: `observed.len() == expected.len()
/// >= 2`, `dof == len − 1`, all numbers finite,
/// `mismatch == (p_value < SRM_P_VALUE_THRESHOLD)`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct SrmCheck {
    /// Units observed per variant, in input order.
    pub observed: Vec<u64>,
    /// Units expected per variant: total · wᵢ / Σw.
    pub expected: Vec<f64>,
    /// Pearson statistic Σ (oᵢ − eᵢ)² / eᵢ.
    pub chi_square: f64,
    /// Degrees of freedom, number of variants − 1.
    pub dof: u64,
    /// Upper-tail chi-square p-value.
    pub p_value: f64,
    /// `true` when `p_value < SRM_P_VALUE_THRESHOLD`.
    pub mismatch: bool,
}

/// Pearson chi-square goodness-of-fit test of `observed` units per variant
/// against allocation `weights` (any positive scale: `[0.5, 0.5]`,
/// `[1, 1]` and `[50, 50]` are the same design). Matches
/// `scipy.stats.chisquare(observed, f_exp=total·w/Σw)`.
///
/// Errors: lengths differ or fewer than 2 variants, or any weight not
/// finite and > 0 → `InvalidParameter(Weights)` (leave zero-weight variants
/// out); no units at all → `NoData`.
/// The chi-square approximation is poor when an expected count is below
/// ~5; the result is still returned.
pub fn srm_check(observed: &[u64], weights: &[f64]) -> Result<SrmCheck, Insufficient> {
    if observed.len() != weights.len()
        || observed.len() < 2
        || weights.iter().any(|w| !(w.is_finite() && *w > 0.0))
    {
        return Err(Insufficient::invalid(Parameter::Weights));
    }
    let weight_sum: f64 = weights.iter().sum();
    if !(weight_sum.is_finite() && weight_sum > 0.0) {
        return Err(Insufficient::invalid(Parameter::Weights));
    }
    let total: f64 = observed.iter().map(|&o| o as f64).sum();
    if total <= 0.0 {
        return Err(InsufficientReason::NoData.into());
    }
    let expected: Vec<f64> = weights.iter().map(|w| total * (w / weight_sum)).collect();
    let mut chi_square = 0.0;
    for (&o, &e) in observed.iter().zip(&expected) {
        if e.is_nan() || e <= 0.0 {
            // a weight so small that its expected count underflowed
            return Err(Insufficient::invalid(Parameter::Weights));
        }
        let d = o as f64 - e;
        chi_square += d * d / e;
    }
    let chi_square = finite(chi_square)?;
    let dof = observed.len().saturating_sub(1) as u64;
    let p_value = dist::chi2_sf(chi_square, dof as f64).ok_or(InsufficientReason::NonFinite)?;
    Ok(SrmCheck {
        observed: observed.to_vec(),
        expected,
        chi_square,
        dof,
        p_value,
        mismatch: p_value < SRM_P_VALUE_THRESHOLD,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn srm_refuses_bad_weights_and_reports_all_zero_counts_as_no_data() {
        let w = Insufficient::invalid(Parameter::Weights);
        assert_eq!(srm_check(&[1, 2], &[1.0]).unwrap_err(), w);
        assert_eq!(srm_check(&[1], &[1.0]).unwrap_err(), w);
        assert_eq!(srm_check(&[], &[]).unwrap_err(), w);
        assert_eq!(srm_check(&[1, 2], &[1.0, 0.0]).unwrap_err(), w);
        assert_eq!(srm_check(&[1, 2], &[1.0, -1.0]).unwrap_err(), w);
        assert_eq!(srm_check(&[1, 2], &[1.0, f64::NAN]).unwrap_err(), w);
        assert_eq!(srm_check(&[1, 2], &[f64::MAX, f64::MAX]).unwrap_err(), w);
        assert_eq!(
            srm_check(&[0, 0], &[1.0, 1.0]).unwrap_err().reason,
            InsufficientReason::NoData
        );
    }

    #[test]
    fn a_perfect_split_passes_and_a_gross_mismatch_is_flagged() {
        let r = srm_check(&[500, 500], &[0.5, 0.5]).unwrap();
        assert_eq!((r.chi_square, r.p_value, r.mismatch), (0.0, 1.0, false));
        let r = srm_check(&[1000, 0], &[0.5, 0.5]).unwrap();
        assert!(r.mismatch && r.p_value < 1e-100);
        let r = srm_check(&[u64::MAX, 0], &[1.0, 1.0]).unwrap();
        assert!(r.mismatch && r.p_value == 0.0);
    }
}
