//! CUPED (Deng et al. 2013): variance reduction with a pre-experiment
//! covariate x. Each unit's metric y is replaced by
//! y − θ·(x − x̄), with θ = cov(x, y)/var(x) estimated on the units of both
//! arms pooled together and x̄ the pooled covariate mean. The adjusted
//! means keep their expectation (x is unaffected by treatment) and their
//! variance shrinks by the factor (1 − corr(x, y)²).

use serde::{Deserialize, Serialize};

use super::decision::{Arm, Insufficient, InsufficientReason, finite};
use super::summary::Summary;

/// Mergeable bivariate sufficient statistics of (y, x) pairs: count, means,
/// sums of squared deviations and the co-moment.
///
/// Units: `mean_y`, `m2_y` in the metric's unit (squared); `mean_x`, `m2_x`
/// in the covariate's unit (squared); `c_xy` in their product.
/// Invariants (finite input): `n == 0` implies all zero; `m2_x, m2_y >= 0`.
/// Non-finite values propagate and are reported as `NonFinite` by
/// [`cuped_adjust`].
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct CovSummary {
    /// Number of units.
    pub n: u64,
    /// Mean of the metric y.
    pub mean_y: f64,
    /// Mean of the covariate x.
    pub mean_x: f64,
    /// Σ(y − ȳ)².
    pub m2_y: f64,
    /// Σ(x − x̄)².
    pub m2_x: f64,
    /// Σ(x − x̄)(y − ȳ).
    pub c_xy: f64,
}

impl CovSummary {
    /// The empty summary.
    pub const EMPTY: CovSummary = CovSummary {
        n: 0,
        mean_y: 0.0,
        mean_x: 0.0,
        m2_y: 0.0,
        m2_x: 0.0,
        c_xy: 0.0,
    };

    /// Adds one unit with metric `y` and covariate `x` (bivariate Welford).
    pub fn add(&mut self, y: f64, x: f64) {
        self.n = self.n.saturating_add(1);
        let n = self.n as f64;
        let dx = x - self.mean_x;
        let dy = y - self.mean_y;
        self.mean_x += dx / n;
        self.mean_y += dy / n;
        self.m2_x += dx * (x - self.mean_x);
        self.m2_y += dy * (y - self.mean_y);
        self.c_xy += dx * (y - self.mean_y);
    }

    /// Combines summaries of disjoint sets of units (Chan et al.).
    pub fn merge(&self, other: &CovSummary) -> CovSummary {
        if other.n == 0 {
            return *self;
        }
        if self.n == 0 {
            return *other;
        }
        let n = self.n.saturating_add(other.n);
        let (na, nb, nf) = (self.n as f64, other.n as f64, n as f64);
        let dx = other.mean_x - self.mean_x;
        let dy = other.mean_y - self.mean_y;
        let w = (na / nf) * nb;
        CovSummary {
            n,
            mean_x: self.mean_x + dx * (nb / nf),
            mean_y: self.mean_y + dy * (nb / nf),
            m2_x: self.m2_x + other.m2_x + dx * dx * w,
            m2_y: self.m2_y + other.m2_y + dy * dy * w,
            c_xy: self.c_xy + other.c_xy + dx * dy * w,
        }
    }

    /// Summary of `(y, x)` pairs.
    pub fn from_pairs(pairs: &[(f64, f64)]) -> CovSummary {
        let mut s = CovSummary::EMPTY;
        for &(y, x) in pairs {
            s.add(y, x);
        }
        s
    }

    /// The unadjusted metric as a [`Summary`].
    pub fn y_summary(&self) -> Summary {
        Summary {
            n: self.n,
            mean: self.mean_y,
            m2: self.m2_y,
        }
    }

    /// The covariate as a [`Summary`].
    pub fn x_summary(&self) -> Summary {
        Summary {
            n: self.n,
            mean: self.mean_x,
            m2: self.m2_x,
        }
    }

    fn is_finite(&self) -> bool {
        [self.mean_x, self.mean_y, self.m2_x, self.m2_y, self.c_xy]
            .iter()
            .all(|v| v.is_finite())
    }

    /// Summary of the adjusted values y − θ(x − `pivot`), exact in closed
    /// form: mean ȳ − θ(x̄ − pivot), m2 = m2_y − 2θ·c_xy + θ²·m2_x.
    fn adjusted(&self, theta: f64, pivot: f64) -> Summary {
        Summary {
            n: self.n,
            mean: self.mean_y - theta * (self.mean_x - pivot),
            m2: (self.m2_y - 2.0 * theta * self.c_xy + theta * theta * self.m2_x).max(0.0),
        }
    }
}

/// CUPED-adjusted summaries, ready for [`super::welch::welch_test`] or
/// [`super::sequential::sequential_test`].
///
/// Units: `theta` is metric unit per covariate unit; `mean_x` covariate
/// unit; `control`/`treatment` in the metric's unit; `variance_reduction`
/// a fraction in [0, 1] (0.3 = the variance of the difference estimate
/// shrank by 30 %). Invariants: finite; `control.n`/`treatment.n` equal the
/// input counts; adjusted means differ from raw means only through the arms'
/// covariate imbalance.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Cuped {
    /// θ = cov(x, y)/var(x) over both arms pooled; 0 when var(x) = 0
    /// (a constant covariate carries no information: no adjustment).
    pub theta: f64,
    /// Pooled covariate mean x̄ used as the centring point.
    pub mean_x: f64,
    /// Adjusted control summary.
    pub control: Summary,
    /// Adjusted treatment summary.
    pub treatment: Summary,
    /// 1 − SE²_adjusted / SE²_raw for the difference of means, clamped
    /// to [0, 1].
    pub variance_reduction: f64,
}

/// Applies CUPED to two arms of per-unit (y, x) statistics.
///
/// Errors: both arms empty → `NoData`; an arm with n < 2 → `TooFewUnits`;
/// non-finite statistics → `NonFinite`; zero variance of y in both arms →
/// `ZeroVariance` (nothing to reduce, and no test possible).
pub fn cuped_adjust(control: &CovSummary, treatment: &CovSummary) -> Result<Cuped, Insufficient> {
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
    let pooled = control.merge(treatment);
    let theta = if pooled.m2_x > 0.0 {
        finite(pooled.c_xy / pooled.m2_x)?
    } else {
        0.0
    };
    let mean_x = finite(pooled.mean_x)?;
    let adj_c = control.adjusted(theta, mean_x);
    let adj_t = treatment.adjusted(theta, mean_x);
    if !adj_c.is_finite() || !adj_t.is_finite() {
        return Err(InsufficientReason::NonFinite.into());
    }
    let se2 = |c: &Summary, t: &Summary| -> Option<f64> {
        Some(c.variance()? / c.n as f64 + t.variance()? / t.n as f64)
    };
    let raw =
        se2(&control.y_summary(), &treatment.y_summary()).ok_or(InsufficientReason::NonFinite)?;
    let raw = finite(raw)?;
    if raw <= 0.0 {
        return Err(InsufficientReason::ZeroVariance.into());
    }
    let adjusted = finite(se2(&adj_c, &adj_t).ok_or(InsufficientReason::NonFinite)?)?;
    let variance_reduction = (1.0 - adjusted / raw).clamp(0.0, 1.0);
    Ok(Cuped {
        theta,
        mean_x,
        control: adj_c,
        treatment: adj_t,
        variance_reduction,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(ys: &[f64], xs: &[f64]) -> CovSummary {
        let v: Vec<(f64, f64)> = ys.iter().copied().zip(xs.iter().copied()).collect();
        CovSummary::from_pairs(&v)
    }

    #[test]
    fn closed_form_equals_explicit_adjustment() {
        let yc = [3.0, 5.0, 4.0, 8.0, 6.0];
        let xc = [1.0, 2.0, 2.0, 4.0, 3.0];
        let yt = [6.0, 7.0, 5.0, 9.0];
        let xt = [2.0, 3.0, 1.0, 4.0];
        let r = cuped_adjust(&pairs(&yc, &xc), &pairs(&yt, &xt)).unwrap();
        let adj = |ys: &[f64], xs: &[f64]| -> Summary {
            ys.iter()
                .zip(xs)
                .map(|(y, x)| y - r.theta * (x - r.mean_x))
                .collect()
        };
        for (got, want) in [(r.control, adj(&yc, &xc)), (r.treatment, adj(&yt, &xt))] {
            assert_eq!(got.n, want.n);
            assert!((got.mean - want.mean).abs() < 1e-12);
            assert!((got.m2 - want.m2).abs() < 1e-12);
        }
        assert!(r.variance_reduction > 0.5 && r.variance_reduction <= 1.0);
    }

    #[test]
    fn merge_matches_single_pass() {
        let ys = [1.0, 4.0, 2.0, 8.0, 5.0, 7.0];
        let xs = [0.5, 2.0, 1.0, 3.5, 2.5, 3.0];
        let whole = pairs(&ys, &xs);
        let merged = pairs(&ys[..2], &xs[..2]).merge(&pairs(&ys[2..], &xs[2..]));
        assert_eq!(whole.n, merged.n);
        for (a, b) in [
            (whole.c_xy, merged.c_xy),
            (whole.m2_x, merged.m2_x),
            (whole.m2_y, merged.m2_y),
            (whole.mean_y, merged.mean_y),
        ] {
            assert!((a - b).abs() < 1e-12);
        }
    }

    #[test]
    fn constant_covariate_means_no_adjustment() {
        let c = pairs(&[1.0, 2.0, 3.0], &[5.0, 5.0, 5.0]);
        let t = pairs(&[2.0, 3.0, 4.0], &[5.0, 5.0, 5.0]);
        let r = cuped_adjust(&c, &t).unwrap();
        assert_eq!(r.theta, 0.0);
        assert_eq!(r.control, c.y_summary());
        assert_eq!(r.variance_reduction, 0.0);
    }

    #[test]
    fn cuped_refuses_empty_single_unit_flat_and_non_finite_arms() {
        let one = pairs(&[1.0], &[1.0]);
        let two = pairs(&[1.0, 2.0], &[1.0, 3.0]);
        assert_eq!(
            cuped_adjust(&CovSummary::EMPTY, &CovSummary::EMPTY)
                .unwrap_err()
                .reason,
            InsufficientReason::NoData
        );
        assert_eq!(
            cuped_adjust(&one, &two).unwrap_err(),
            Insufficient::too_few(Arm::Control, 1, 2)
        );
        let flat = pairs(&[1.0, 1.0], &[1.0, 3.0]);
        assert_eq!(
            cuped_adjust(&flat, &flat).unwrap_err().reason,
            InsufficientReason::ZeroVariance
        );
        let nan = pairs(&[1.0, f64::NAN], &[1.0, 3.0]);
        assert_eq!(
            cuped_adjust(&nan, &two).unwrap_err().reason,
            InsufficientReason::NonFinite
        );
    }
}
