//! Request-level quantiles (p50, p95, p99 of every request's latency, not of per-user
//! means) from a mergeable quantile sketch, with distribution-free intervals.
//!
//! The sketch is DDSketch (Masson, Rim & Lee 2019, the `sketches-ddsketch` crate): values
//! fall in logarithmic buckets whose counts add up exactly, so sketches merge in any order
//! to the same sketch, and the value it returns for rank k is within 1 % (relative) of the
//! k-th smallest value added. It is kept with the rollups (one per arm) and merged with the
//! requests not folded there yet.
//!
//! The interval of one arm's quantile is the order-statistic (binomial) interval — the
//! same ranks as `scipy.stats.quantile_test(...).confidence_interval()` — read off the
//! sketch. The interval for the difference of two arms' quantiles follows Price & Bonett
//! (2002): each arm's standard error is its interval's width over 2·z, and the difference
//! is normal with the two variances added. Both treat requests as independent: a user who
//! sends many requests makes them too narrow, which is why they are shown as a
//! request-level figure beside the user-level ones and take no part in the recommendation.

use serde::{Deserialize, Serialize};
use sketches_ddsketch::{Config, DDSketch};
use statrs::distribution::{Binomial, DiscreteCDF};

use super::decision::{
    Arm, Insufficient, InsufficientReason, Interval, Parameter, alpha_of, finite,
};
use super::dist;

/// A mergeable sketch of non-negative values (request latencies in ms).
///
/// Stored as `{"sketch": <the crate's serde form>}`, or `{"sketch": null}` when empty (an
/// empty sketch's bounds are infinite, which JSON cannot hold). Reading back a sketch made
/// with another configuration is an error, so no two sketches that cannot merge meet.
#[derive(Clone)]
pub struct QuantileSketch(DDSketch);

#[derive(Serialize)]
struct StoredRef<'a> {
    sketch: Option<&'a DDSketch>,
}

#[derive(Deserialize)]
struct Stored {
    sketch: Option<DDSketch>,
}

impl Serialize for QuantileSketch {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        StoredRef {
            sketch: (self.count() > 0).then_some(&self.0),
        }
        .serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for QuantileSketch {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let stored = Stored::deserialize(deserializer)?;
        let mut sketch = QuantileSketch::new();
        if let Some(d) = stored.sketch {
            sketch.0.merge(&d).map_err(|_| {
                serde::de::Error::custom("a quantile sketch of another configuration")
            })?;
        }
        Ok(sketch)
    }
}

impl std::fmt::Debug for QuantileSketch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("QuantileSketch")
            .field("count", &self.count())
            .field("min", &self.0.min())
            .field("max", &self.0.max())
            .finish()
    }
}

impl Default for QuantileSketch {
    fn default() -> Self {
        Self::new()
    }
}

impl PartialEq for QuantileSketch {
    /// Two sketches are equal when they hold the same counts: every rank reads the same.
    fn eq(&self, other: &Self) -> bool {
        let n = self.count();
        n == other.count() && (0..n).all(|k| self.at_rank(k) == other.at_rank(k))
    }
}

impl QuantileSketch {
    /// An empty sketch with the crate's defaults: 1 % relative accuracy, up to 2,048
    /// buckets (values from 10⁻⁹ to beyond a day in ms fit without collapsing).
    pub fn new() -> Self {
        Self(DDSketch::new(Config::defaults()))
    }

    /// Adds a value; values that are not finite are ignored.
    pub fn add(&mut self, value: f64) {
        if value.is_finite() {
            self.0.add(value);
        }
    }

    /// Adds every other sketch's values. Errors: `InvalidParameter(Quantile)` when the two
    /// were made with another configuration (a sketch from a different version).
    pub fn merge(&mut self, other: &QuantileSketch) -> Result<(), Insufficient> {
        self.0
            .merge(&other.0)
            .map_err(|_| Insufficient::invalid(Parameter::Quantile))
    }

    /// Values added.
    pub fn count(&self) -> u64 {
        self.0.count() as u64
    }

    /// The k-th smallest value (0-based), within 1 %; `None` beyond the last.
    pub fn at_rank(&self, k: u64) -> Option<f64> {
        let n = self.count();
        if k >= n {
            return None;
        }
        // The crate reads rank ⌊q·(n − 1)⌋: aim at the middle of rank k.
        let last = n.saturating_sub(1);
        let q = if k >= last {
            1.0
        } else if k == 0 {
            0.0
        } else {
            ((k as f64 + 0.5) / last as f64).min(1.0)
        };
        self.0.quantile(q).ok().flatten().filter(|v| v.is_finite())
    }

    /// The p-quantile as the lower order statistic x₍⌊p·(n−1)⌋₎ (numpy's
    /// `percentile(method="lower")`), within 1 %.
    pub fn quantile(&self, p: f64) -> Option<f64> {
        let n = self.count();
        if n == 0 || !(0.0..=1.0).contains(&p) {
            return None;
        }
        self.at_rank((p * n.saturating_sub(1) as f64).floor() as u64)
    }
}

/// The 0-based ranks of the order-statistic interval of the p-quantile of n values at
/// `confidence` (two-sided), as `scipy.stats.quantile_test`: `lower = F⁻¹(a) − 1` and
/// `upper = the smallest k with P(X > k) ≤ a`, X ~ Binomial(n, p), a = (1 − confidence)/2.
/// A rank outside 0..n is `None` (too few values for that end).
pub fn quantile_ranks(
    n: u64,
    p: f64,
    confidence: f64,
) -> Result<(Option<u64>, Option<u64>), Insufficient> {
    let alpha = alpha_of(confidence)?;
    if !(p.is_finite() && p > 0.0 && p < 1.0) {
        return Err(Insufficient::invalid(Parameter::Quantile));
    }
    if n == 0 {
        return Err(InsufficientReason::NoData.into());
    }
    let a = alpha / 2.0;
    let bd = Binomial::new(p, n).map_err(|_| Insufficient::invalid(Parameter::Quantile))?;
    // Smallest k in 0..=n with pred(k) (pred is monotone: false … false true … true).
    let smallest = |pred: &dyn Fn(u64) -> bool| {
        let (mut lo, mut hi) = (0u64, n);
        while lo < hi {
            let mid = lo.saturating_add(hi.saturating_sub(lo) / 2);
            if pred(mid) {
                hi = mid;
            } else {
                lo = mid.saturating_add(1);
            }
        }
        lo
    };
    let ppf = smallest(&|k| bd.cdf(k) >= a);
    let isf = smallest(&|k| bd.sf(k) <= a);
    let lower = ppf.checked_sub(1);
    let upper = (isf < n).then_some(isf);
    Ok((lower, upper))
}

/// The fewest values whose p-quantile interval at `confidence` has both ends.
pub fn min_units_for_interval(p: f64, confidence: f64) -> Result<u64, Insufficient> {
    let both = |n: u64| -> Result<bool, Insufficient> {
        let (lo, hi) = quantile_ranks(n, p, confidence)?;
        Ok(lo.is_some() && hi.is_some())
    };
    let mut hi = 2u64;
    while !both(hi)? {
        if hi > 1 << 40 {
            return Err(InsufficientReason::NonFinite.into());
        }
        hi = hi.saturating_mul(2);
    }
    let mut lo = hi / 2;
    // both(lo) is false (or lo = 1), both(hi) is true.
    while lo.saturating_add(1) < hi {
        let mid = lo.saturating_add(hi.saturating_sub(lo) / 2);
        if both(mid)? {
            hi = mid;
        } else {
            lo = mid;
        }
    }
    Ok(hi)
}

/// One arm's quantile with its interval.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct QuantileEstimate {
    /// The probability, e.g. 0.95.
    pub p: f64,
    /// Values (requests) in the sketch.
    pub n: u64,
    /// The quantile (lower order statistic).
    pub value: f64,
    /// The order-statistic interval; `None` when there are too few values for one end.
    pub ci: Option<Interval>,
}

/// The p-quantile of `sketch` with its interval at `confidence`. Errors: bad confidence
/// or p → `InvalidParameter`; an empty sketch → `NoData`.
pub fn quantile_estimate(
    sketch: &QuantileSketch,
    p: f64,
    confidence: f64,
) -> Result<QuantileEstimate, Insufficient> {
    let n = sketch.count();
    let (lower, upper) = quantile_ranks(n, p, confidence)?;
    let value = finite(
        sketch
            .quantile(p)
            .ok_or(Insufficient::from(InsufficientReason::NoData))?,
    )?;
    let ci = match (
        lower.and_then(|k| sketch.at_rank(k)),
        upper.and_then(|k| sketch.at_rank(k)),
    ) {
        (Some(lower), Some(upper)) => Some(Interval {
            lower,
            upper,
            confidence,
        }),
        _ => None,
    };
    Ok(QuantileEstimate { p, n, value, ci })
}

/// The difference of two arms' p-quantiles (treatment − control, in the values' unit).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct QuantileDifference {
    /// The probability, e.g. 0.95.
    pub p: f64,
    /// The control's quantile.
    pub control: QuantileEstimate,
    /// The treatment's quantile.
    pub treatment: QuantileEstimate,
    /// treatment − control.
    pub diff: f64,
    /// √(SE_c² + SE_t²), each SE an arm's interval width / (2·z₁₋α/₂).
    pub std_error: f64,
    /// The interval for `diff`.
    pub ci: Interval,
}

/// Price & Bonett's interval for the difference of the arms' p-quantiles at `confidence`.
/// Errors: as [`quantile_estimate`]; `TooFewUnits` (with the fewest values that give an
/// interval both ends) when an arm's interval has an open end.
pub fn quantile_difference(
    control: &QuantileSketch,
    treatment: &QuantileSketch,
    p: f64,
    confidence: f64,
) -> Result<QuantileDifference, Insufficient> {
    let alpha = alpha_of(confidence)?;
    let c = quantile_estimate(control, p, confidence)?;
    let t = quantile_estimate(treatment, p, confidence)?;
    let short = |arm, n| -> Insufficient {
        match min_units_for_interval(p, confidence) {
            Ok(required) => Insufficient::too_few(arm, n, required),
            Err(e) => e,
        }
    };
    let ci_c = c.ci.ok_or_else(|| short(Arm::Control, c.n))?;
    let ci_t = t.ci.ok_or_else(|| short(Arm::Treatment, t.n))?;
    let z = dist::normal_quantile(1.0 - alpha / 2.0)
        .ok_or(Insufficient::from(InsufficientReason::NonFinite))?;
    let se = |ci: Interval| (ci.upper - ci.lower) / (2.0 * z);
    let std_error = finite((se(ci_c).powi(2) + se(ci_t).powi(2)).sqrt())?;
    let diff = finite(t.value - c.value)?;
    Ok(QuantileDifference {
        p,
        control: c,
        treatment: t,
        diff,
        std_error,
        ci: Interval {
            lower: finite(diff - z * std_error)?,
            upper: finite(diff + z * std_error)?,
            confidence,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sketch(values: impl IntoIterator<Item = f64>) -> QuantileSketch {
        let mut s = QuantileSketch::new();
        for v in values {
            s.add(v);
        }
        s
    }

    #[test]
    fn ranks_read_within_one_percent_and_merge_in_any_order() {
        let values: Vec<f64> = (1..=1000).map(|i| f64::from(i) * 3.7).collect();
        let whole = sketch(values.iter().copied());
        for k in [0u64, 1, 10, 499, 949, 989, 999] {
            let got = whole.at_rank(k).unwrap();
            let want = values[k as usize];
            assert!(
                (got - want).abs() <= 0.01 * want,
                "rank {k}: {got} vs {want}"
            );
        }
        // Merged from parts, in two orders: the same sketch.
        let (a, b) = values.split_at(377);
        let mut ab = sketch(a.iter().copied());
        ab.merge(&sketch(b.iter().copied())).unwrap();
        let mut ba = sketch(b.iter().rev().copied());
        ba.merge(&sketch(a.iter().copied())).unwrap();
        assert_eq!(ab, whole);
        assert_eq!(ba, whole);
        assert_eq!(whole.quantile(0.95), whole.at_rank(949));
    }

    #[test]
    fn a_sketch_is_stored_as_json_and_reads_back_the_same() {
        let s = sketch((0..300).map(|i| f64::from(i) * 1.5 + 0.25));
        let body = serde_json::to_value(&s).unwrap();
        let back: QuantileSketch = serde_json::from_value(body.clone()).unwrap();
        assert_eq!(back, s);
        let mut twice = back.clone();
        twice.merge(&s).unwrap();
        assert_eq!(twice.count(), 600);
        // Empty: no infinite bounds in the JSON.
        let empty = serde_json::to_value(QuantileSketch::new()).unwrap();
        assert_eq!(empty, serde_json::json!({"sketch": null}));
        let back: QuantileSketch = serde_json::from_value(empty).unwrap();
        assert_eq!(back.count(), 0);
        // Another configuration does not read back.
        let mut other = body;
        other["sketch"]["config"]["gamma"] = serde_json::json!(1.5);
        assert!(serde_json::from_value::<QuantileSketch>(other).is_err());
    }

    #[test]
    fn a_sketch_counts_zeros_and_ignores_non_finite_values() {
        let s = sketch([0.0, 0.0, 5.0, f64::NAN, f64::INFINITY]);
        assert_eq!(s.count(), 3);
        assert_eq!(s.at_rank(0), Some(0.0));
        assert_eq!(s.at_rank(3), None);
        assert_eq!(QuantileSketch::new().quantile(0.5), None);
    }

    #[test]
    fn ranks_of_small_samples_leave_ends_open() {
        // 20 values cannot bound a p95 from above at 95 %.
        let (lo, hi) = quantile_ranks(20, 0.95, 0.95).unwrap();
        assert!(lo.is_some());
        assert_eq!(hi, None);
        assert!(quantile_ranks(0, 0.5, 0.95).is_err());
        assert!(quantile_ranks(10, 1.0, 0.95).is_err());
        assert!(quantile_ranks(10, 0.5, 1.5).is_err());
        let s = sketch((0..20).map(f64::from));
        assert!(quantile_estimate(&s, 0.95, 0.95).unwrap().ci.is_none());
        let needed = min_units_for_interval(0.95, 0.95).unwrap();
        assert_eq!(
            quantile_difference(&s, &s, 0.95, 0.95).unwrap_err(),
            Insufficient::too_few(Arm::Control, 20, needed)
        );
        let (lo, hi) = quantile_ranks(needed, 0.95, 0.95).unwrap();
        assert!(lo.is_some() && hi.is_some());
        let (_, hi) = quantile_ranks(needed - 1, 0.95, 0.95).unwrap();
        assert_eq!(hi, None);
    }

    #[test]
    fn a_shifted_arm_has_a_difference_interval_around_the_shift() {
        let c = sketch((0..5000).map(|i| 100.0 + f64::from(i % 1000)));
        let t = sketch((0..5000).map(|i| 300.0 + f64::from(i % 1000)));
        let d = quantile_difference(&c, &t, 0.95, 0.95).unwrap();
        assert!(
            d.ci.lower < 200.0 * 1.02 && d.ci.upper > 200.0 * 0.98,
            "{d:?}"
        );
        assert!(d.ci.lower > 0.0);
        let same = quantile_difference(&c, &c, 0.5, 0.95).unwrap();
        assert_eq!(same.diff, 0.0);
        assert!(same.ci.lower < 0.0 && same.ci.upper > 0.0);
    }
}
