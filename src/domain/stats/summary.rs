//! Mergeable sufficient statistics and order statistics of one sample.

use serde::{Deserialize, Serialize};

use super::decision::{Insufficient, InsufficientReason};

/// Sufficient statistics of one sample for mean/variance based tests:
/// count, mean and the sum of squared deviations from the mean (`m2`).
///
/// Unit: `mean` is in the metric's unit, `m2` in its unit squared.
/// Invariants (for summaries built with [`Summary::add`], [`Summary::merge`]
/// or [`Summary::from_slice`] from finite values): `n == 0` implies
/// `mean == 0 && m2 == 0`; `m2 >= 0`.
/// Non-finite input values are *not* filtered: they make `mean`/`m2`
/// non-finite, and every test then returns
/// [`InsufficientReason::NonFinite`]. Use [`Summary::is_finite`] to check.
///
/// Updating uses Welford's algorithm; merging uses Chan et al.'s parallel
/// formula, so summaries computed per shard/day can be combined exactly
/// (up to rounding) as if computed in one pass.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct Summary {
    /// Number of observations.
    pub n: u64,
    /// Arithmetic mean of the observations (0 when `n == 0`).
    pub mean: f64,
    /// Sum of squared deviations from the mean, Σ(xᵢ − mean)².
    pub m2: f64,
}

impl Summary {
    /// The empty summary (`n = 0`).
    pub const EMPTY: Summary = Summary {
        n: 0,
        mean: 0.0,
        m2: 0.0,
    };

    /// The empty summary (`n = 0`).
    pub const fn new() -> Self {
        Self::EMPTY
    }

    /// Builds a summary from aggregates such as SQL `count`, `avg`,
    /// `var_samp`. `variance` is the sample (n − 1) variance and is ignored
    /// when `n < 2`; a negative variance (rounding in the source) is clamped
    /// to 0. With `n == 0` the result is [`Summary::EMPTY`].
    pub fn from_moments(n: u64, mean: f64, variance: f64) -> Self {
        match n {
            0 => Self::EMPTY,
            1 => Self { n, mean, m2: 0.0 },
            _ => Self {
                n,
                mean,
                m2: variance.max(0.0) * n.saturating_sub(1) as f64,
            },
        }
    }

    /// Adds one observation (Welford). The count saturates at `u64::MAX`.
    pub fn add(&mut self, x: f64) {
        self.n = self.n.saturating_add(1);
        let n = self.n as f64;
        let delta = x - self.mean;
        self.mean += delta / n;
        self.m2 += delta * (x - self.mean);
    }

    /// Combines two summaries of disjoint samples (Chan et al.). Merging with
    /// an empty summary returns the other one unchanged.
    pub fn merge(&self, other: &Summary) -> Summary {
        if other.n == 0 {
            return *self;
        }
        if self.n == 0 {
            return *other;
        }
        let n = self.n.saturating_add(other.n);
        let (na, nb, nf) = (self.n as f64, other.n as f64, n as f64);
        let delta = other.mean - self.mean;
        Summary {
            n,
            mean: self.mean + delta * (nb / nf),
            m2: self.m2 + other.m2 + delta * delta * (na / nf) * nb,
        }
    }

    /// Summary of a slice (one Welford pass). Empty slice → [`Summary::EMPTY`].
    pub fn from_slice(values: &[f64]) -> Summary {
        values.iter().copied().collect()
    }

    /// Sample variance with the n − 1 denominator, in unit².
    /// `None` when `n < 2` or the summary/value is not finite.
    pub fn variance(&self) -> Option<f64> {
        if self.n < 2 || !self.is_finite() {
            return None;
        }
        let v = self.m2.max(0.0) / self.n.saturating_sub(1) as f64;
        v.is_finite().then_some(v)
    }

    /// Sample standard deviation (√[`Summary::variance`]), in the metric's
    /// unit. `None` when `n < 2`.
    pub fn std_dev(&self) -> Option<f64> {
        self.variance().map(f64::sqrt)
    }

    /// Standard error of the mean, s/√n. `None` when `n < 2`.
    pub fn std_error(&self) -> Option<f64> {
        self.variance().map(|v| (v / self.n as f64).sqrt())
    }

    /// `true` when `mean` and `m2` are finite (no NaN/inf was added and
    /// nothing overflowed).
    pub fn is_finite(&self) -> bool {
        self.mean.is_finite() && self.m2.is_finite()
    }
}

impl Extend<f64> for Summary {
    fn extend<I: IntoIterator<Item = f64>>(&mut self, iter: I) {
        for x in iter {
            self.add(x);
        }
    }
}

impl FromIterator<f64> for Summary {
    fn from_iter<I: IntoIterator<Item = f64>>(iter: I) -> Self {
        let mut s = Summary::EMPTY;
        s.extend(iter);
        s
    }
}

/// Percentile of an ascending-sorted slice with linear interpolation between
/// closest ranks — identical to PostgreSQL `percentile_cont(q)` and numpy
/// `percentile(..., method="linear")` (the default).
///
/// `q` is a fraction in [0, 1] (0.95 = p95), not a percentage.
/// Returns `None` for an empty slice, a `q` outside [0, 1] or NaN, or a
/// non-finite result. The slice is assumed sorted ascending and finite;
/// this is not checked (O(1)), an unsorted slice gives a meaningless value
/// but never a panic.
pub fn percentile(sorted: &[f64], q: f64) -> Option<f64> {
    if sorted.is_empty() || !(0.0..=1.0).contains(&q) {
        return None;
    }
    let last = sorted.len().saturating_sub(1);
    let h = q * last as f64;
    let lo = (h.floor() as usize).min(last);
    let hi = lo.saturating_add(1).min(last);
    let frac = h - lo as f64;
    let a = *sorted.get(lo)?;
    let b = *sorted.get(hi)?;
    // numpy's `_lerp`: interpolate from the nearer end for accuracy
    let diff = b - a;
    let v = if frac >= 0.5 {
        b - diff * (1.0 - frac)
    } else {
        a + diff * frac
    };
    v.is_finite().then_some(v)
}

/// Median of an ascending-sorted slice: [`percentile`] at q = 0.5.
/// `None` for an empty slice.
pub fn median(sorted: &[f64]) -> Option<f64> {
    percentile(sorted, 0.5)
}

/// Descriptive statistics of one sample, in the metric's unit.
///
/// Only produced for `n >= 1` with all values finite, so every field except
/// `std_dev` is always present; `std_dev` is `None` when `n == 1` (a sample
/// standard deviation does not exist for one value; it is never reported
/// as 0). Percentiles use [`percentile`] (numpy "linear").
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Describe {
    /// Number of observations (>= 1).
    pub n: u64,
    /// Arithmetic mean.
    pub mean: f64,
    /// Median (p50).
    pub median: f64,
    /// Sample standard deviation (n − 1); `None` when `n == 1`.
    pub std_dev: Option<f64>,
    /// 95th percentile.
    pub p95: f64,
    /// 99th percentile.
    pub p99: f64,
}

impl Describe {
    /// Describes an unsorted slice (copied and sorted internally, O(n log n)).
    ///
    /// Errors: empty slice → [`InsufficientReason::NoData`]; any NaN or
    /// infinite value → [`InsufficientReason::NonFinite`].
    pub fn from_slice(values: &[f64]) -> Result<Describe, Insufficient> {
        if values.is_empty() {
            return Err(InsufficientReason::NoData.into());
        }
        if values.iter().any(|x| !x.is_finite()) {
            return Err(InsufficientReason::NonFinite.into());
        }
        let mut sorted = values.to_vec();
        sorted.sort_by(f64::total_cmp);
        let summary = Summary::from_slice(&sorted);
        let non_finite = || Insufficient::from(InsufficientReason::NonFinite);
        if !summary.is_finite() {
            return Err(non_finite());
        }
        Ok(Describe {
            n: summary.n,
            mean: summary.mean,
            median: median(&sorted).ok_or_else(non_finite)?,
            std_dev: summary.std_dev(),
            p95: percentile(&sorted, 0.95).ok_or_else(non_finite)?,
            p99: percentile(&sorted, 0.99).ok_or_else(non_finite)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_or_one_value_summary_has_no_variance() {
        let s = Summary::from_slice(&[]);
        assert_eq!(s, Summary::EMPTY);
        assert_eq!(s.variance(), None);
        assert_eq!(s.std_dev(), None);
        let s = Summary::from_slice(&[3.5]);
        assert_eq!((s.n, s.mean, s.m2), (1, 3.5, 0.0));
        assert_eq!(s.variance(), None);
        assert_eq!(s.std_error(), None);
    }

    #[test]
    fn welford_matches_two_pass() {
        let xs = [2.0, 4.0, 4.0, 4.0, 5.0, 5.0, 7.0, 9.0];
        let s = Summary::from_slice(&xs);
        assert_eq!(s.n, 8);
        assert!((s.mean - 5.0).abs() < 1e-15);
        assert!((s.m2 - 32.0).abs() < 1e-12);
        assert!((s.variance().unwrap() - 32.0 / 7.0).abs() < 1e-12);
    }

    #[test]
    fn merge_equals_single_pass() {
        let xs: Vec<f64> = (0..101)
            .map(|i| (i as f64 * 0.37).sin() * 10.0 + 1e6)
            .collect();
        let whole = Summary::from_slice(&xs);
        for cut in [0, 1, 50, 100, 101] {
            let (a, b) = xs.split_at(cut);
            let m = Summary::from_slice(a).merge(&Summary::from_slice(b));
            assert_eq!(m.n, whole.n);
            assert!((m.mean - whole.mean).abs() < 1e-9);
            assert!((m.m2 - whole.m2).abs() <= 1e-9 * whole.m2);
        }
        assert_eq!(Summary::EMPTY.merge(&Summary::EMPTY), Summary::EMPTY);
    }

    #[test]
    fn from_moments_round_trips() {
        let s = Summary::from_slice(&[1.0, 2.0, 6.0]);
        let t = Summary::from_moments(3, s.mean, s.variance().unwrap());
        assert!((t.m2 - s.m2).abs() < 1e-12);
        assert_eq!(Summary::from_moments(0, 5.0, 1.0), Summary::EMPTY);
        assert_eq!(Summary::from_moments(1, 5.0, 1.0).m2, 0.0);
        assert_eq!(Summary::from_moments(4, 5.0, -1e-18).m2, 0.0);
    }

    #[test]
    fn saturating_count_does_not_panic() {
        let mut s = Summary {
            n: u64::MAX,
            mean: 1.0,
            m2: 0.0,
        };
        s.add(1.0);
        assert_eq!(s.n, u64::MAX);
        let m = s.merge(&s);
        assert_eq!(m.n, u64::MAX);
    }

    #[test]
    fn nan_is_visible_not_hidden() {
        let s = Summary::from_slice(&[1.0, f64::NAN]);
        assert!(!s.is_finite());
        assert_eq!(s.variance(), None);
    }

    #[test]
    fn a_percentile_interpolates_and_is_none_without_data_or_valid_p() {
        assert_eq!(percentile(&[], 0.5), None);
        assert_eq!(percentile(&[1.0], -0.1), None);
        assert_eq!(percentile(&[1.0], 1.1), None);
        assert_eq!(percentile(&[1.0], f64::NAN), None);
        assert_eq!(percentile(&[7.0], 0.0), Some(7.0));
        assert_eq!(percentile(&[7.0], 1.0), Some(7.0));
        assert_eq!(percentile(&[1.0, 2.0, 3.0, 4.0], 0.5), Some(2.5));
        assert_eq!(percentile(&[1.0, 2.0, 3.0, 4.0], 1.0), Some(4.0));
        assert_eq!(percentile(&[1.0, 2.0, 3.0, 4.0], 0.0), Some(1.0));
        assert_eq!(median(&[1.0, 3.0, 10.0]), Some(3.0));
    }

    #[test]
    fn describe_single_value_has_no_std_dev() {
        let d = Describe::from_slice(&[4.0]).unwrap();
        assert_eq!(d.n, 1);
        assert_eq!(d.std_dev, None);
        assert_eq!((d.mean, d.median, d.p95, d.p99), (4.0, 4.0, 4.0, 4.0));
    }

    #[test]
    fn describe_rejects_empty_and_nan() {
        assert_eq!(
            Describe::from_slice(&[]).unwrap_err().reason,
            InsufficientReason::NoData
        );
        assert_eq!(
            Describe::from_slice(&[1.0, f64::INFINITY])
                .unwrap_err()
                .reason,
            InsufficientReason::NonFinite
        );
        assert_eq!(
            Describe::from_slice(&[f64::MAX, -f64::MAX])
                .unwrap_err()
                .reason,
            InsufficientReason::NonFinite
        );
    }
}
