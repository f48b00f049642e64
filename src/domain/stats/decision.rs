//! "Not enough data" as a value, plus the small shared vocabulary of the
//! statistics module (intervals, metric direction, threshold comparisons).
//!
//! Every test in this module returns `Result<Output, Insufficient>`: when the
//! data cannot support an answer (no units, one unit, zero variance, a zero
//! control mean for a relative lift, non-finite input, an out-of-range
//! parameter) the caller gets an [`Insufficient`] carrying the reason instead
//! of a NaN, an infinity or a panic.

use serde::{Deserialize, Serialize};

/// Why a statistic could not be computed. Wrapped by [`Insufficient`].
///
/// Invariant: every function of the module that can fail reports exactly one
/// of these; none of them is ever accompanied by a partial (NaN) result.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum InsufficientReason {
    /// There are no observations at all (every arm is empty, or the input
    /// slice is empty).
    #[error("no data")]
    NoData,
    /// One arm has fewer units than the computation needs (e.g. a sample
    /// variance needs `required = 2`). `n` is the count that was seen.
    #[error("too few units in {arm}: {n} < {required}")]
    TooFewUnits {
        /// The arm that is short of units.
        arm: Arm,
        /// Units observed in that arm.
        n: u64,
        /// Minimum units needed.
        required: u64,
    },
    /// The standard error of the estimate is zero (e.g. every observation in
    /// both arms is identical, or a pooled proportion is 0 or 1), so no test
    /// statistic or interval exists.
    #[error("zero variance")]
    ZeroVariance,
    /// A relative quantity needs a non-zero control mean (or rate), and the
    /// control mean is exactly zero.
    #[error("control mean is zero")]
    ZeroControlMean,
    /// An input, or an intermediate value computed from finite inputs,
    /// is NaN or infinite (for example a value of 1e300 whose square
    /// overflows).
    #[error("non-finite input or overflow")]
    NonFinite,
    /// A parameter is outside its documented domain.
    #[error("invalid parameter: {parameter}")]
    InvalidParameter {
        /// Which parameter was rejected.
        parameter: Parameter,
    },
}

/// "Not enough data" as a value: the error type of every fallible function in
/// the module. Carries the [`InsufficientReason`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[error("insufficient data: {reason}")]
pub struct Insufficient {
    /// Why the computation could not produce a result.
    pub reason: InsufficientReason,
}

impl Insufficient {
    /// Wraps a reason.
    pub const fn new(reason: InsufficientReason) -> Self {
        Self { reason }
    }

    /// Shorthand for [`InsufficientReason::TooFewUnits`].
    pub const fn too_few(arm: Arm, n: u64, required: u64) -> Self {
        Self::new(InsufficientReason::TooFewUnits { arm, n, required })
    }

    /// Shorthand for [`InsufficientReason::InvalidParameter`].
    pub const fn invalid(parameter: Parameter) -> Self {
        Self::new(InsufficientReason::InvalidParameter { parameter })
    }
}

impl From<InsufficientReason> for Insufficient {
    fn from(reason: InsufficientReason) -> Self {
        Self::new(reason)
    }
}

/// Which arm of an experiment a reason refers to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Arm {
    /// The baseline arm.
    Control,
    /// The arm being compared against control.
    Treatment,
    /// A variant by its 0-based position in a multi-variant input (SRM).
    Variant(usize),
}

impl core::fmt::Display for Arm {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::Control => f.write_str("control"),
            Self::Treatment => f.write_str("treatment"),
            Self::Variant(i) => write!(f, "variant {i}"),
        }
    }
}

/// A parameter that can be rejected with [`InsufficientReason::InvalidParameter`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Parameter {
    /// Confidence level; must be finite and strictly inside (0, 1).
    Confidence,
    /// Statistical power; must be strictly inside (alpha, 1).
    Power,
    /// A relative-lift threshold; must be finite.
    Threshold,
    /// Relative change for power analysis; must be finite and non-zero.
    RelativeChange,
    /// A standard deviation; must be finite and non-negative.
    StdDev,
    /// The mixture-SPRT tuning parameter N*; must be finite and > 0.
    TuningN,
    /// Allocation weights; same length as observed, length >= 2, each
    /// finite and > 0.
    Weights,
    /// Success counts must not exceed trial counts.
    Counts,
    /// p-values must lie in [0, 1].
    PValues,
    /// A quantile's probability must lie strictly inside (0, 1), and sketches must share
    /// their configuration.
    Quantile,
}

impl core::fmt::Display for Parameter {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let s = match self {
            Self::Confidence => "confidence",
            Self::Power => "power",
            Self::Threshold => "threshold",
            Self::RelativeChange => "relative_change",
            Self::StdDev => "std_dev",
            Self::TuningN => "tuning_n",
            Self::Weights => "weights",
            Self::Counts => "counts",
            Self::PValues => "p_values",
            Self::Quantile => "quantile",
        };
        f.write_str(s)
    }
}

/// A two-sided confidence interval `[lower, upper]` in the unit of the
/// estimate it bounds (absolute difference, or relative lift as a fraction).
///
/// Invariant: `lower <= upper`, both finite; `confidence` in (0, 1).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct Interval {
    /// Lower bound.
    pub lower: f64,
    /// Upper bound.
    pub upper: f64,
    /// Confidence level the interval was built for, e.g. 0.95.
    pub confidence: f64,
}

impl Interval {
    /// `true` when `x` lies inside the closed interval.
    pub fn contains(&self, x: f64) -> bool {
        self.lower <= x && x <= self.upper
    }
}

/// Which way a metric improves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    /// Bigger is better (conversion, revenue). Improvement = lift.
    #[default]
    HigherIsBetter,
    /// Smaller is better (latency, errors). Improvement = -lift.
    LowerIsBetter,
}

impl Direction {
    /// Maps a raw lift onto "improvement" (positive = better).
    pub fn improvement(self, lift: f64) -> f64 {
        match self {
            Self::HigherIsBetter => lift,
            Self::LowerIsBetter => -lift,
        }
    }
}

/// Comparison operator of a one-sided threshold hypothesis
/// "improvement OP threshold".
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Comparison {
    /// `>`: passes when the lower one-sided bound is strictly above the threshold.
    Greater,
    /// `>=`: passes when the lower one-sided bound is at or above the threshold.
    GreaterOrEqual,
    /// `<`: passes when the upper one-sided bound is strictly below the threshold.
    Less,
    /// `<=`: passes when the upper one-sided bound is at or below the threshold.
    LessOrEqual,
}

impl Comparison {
    /// The operator as written: `">"`, `">="`, `"<"`, `"<="`.
    pub const fn symbol(self) -> &'static str {
        match self {
            Self::Greater => ">",
            Self::GreaterOrEqual => ">=",
            Self::Less => "<",
            Self::LessOrEqual => "<=",
        }
    }

    /// Parses `">"`, `">="`, `"<"`, `"<="`; `None` otherwise.
    pub fn from_symbol(s: &str) -> Option<Self> {
        match s {
            ">" => Some(Self::Greater),
            ">=" => Some(Self::GreaterOrEqual),
            "<" => Some(Self::Less),
            "<=" => Some(Self::LessOrEqual),
            _ => None,
        }
    }
}

/// Validates a confidence level and returns `alpha = 1 - confidence`.
pub(super) fn alpha_of(confidence: f64) -> Result<f64, Insufficient> {
    if confidence.is_finite() && confidence > 0.0 && confidence < 1.0 {
        Ok(1.0 - confidence)
    } else {
        Err(Insufficient::invalid(Parameter::Confidence))
    }
}

/// `Ok(x)` when finite, `Err(NonFinite)` otherwise.
pub(super) fn finite(x: f64) -> Result<f64, Insufficient> {
    if x.is_finite() {
        Ok(x)
    } else {
        Err(Insufficient::new(InsufficientReason::NonFinite))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_confidence_strictly_between_0_and_1_gives_an_alpha() {
        assert!((alpha_of(0.95).unwrap() - 0.05).abs() < 1e-15);
        for bad in [0.0, 1.0, -0.1, 1.5, f64::NAN, f64::INFINITY] {
            assert_eq!(
                alpha_of(bad),
                Err(Insufficient::invalid(Parameter::Confidence))
            );
        }
    }

    #[test]
    fn insufficient_data_reads_as_a_sentence_and_round_trips_as_json() {
        let e = Insufficient::too_few(Arm::Treatment, 1, 2);
        assert_eq!(
            e.to_string(),
            "insufficient data: too few units in treatment: 1 < 2"
        );
        let s = serde_json::to_string(&e).unwrap();
        assert_eq!(
            s,
            r#"{"reason":{"kind":"too_few_units","arm":"treatment","n":1,"required":2}}"#
        );
        let back: Insufficient = serde_json::from_str(&s).unwrap();
        assert_eq!(back, e);
    }

    #[test]
    fn comparison_symbols_round_trip() {
        for c in [
            Comparison::Greater,
            Comparison::GreaterOrEqual,
            Comparison::Less,
            Comparison::LessOrEqual,
        ] {
            assert_eq!(Comparison::from_symbol(c.symbol()), Some(c));
        }
        assert_eq!(Comparison::from_symbol("=="), None);
    }

    #[test]
    fn direction_maps_improvement() {
        assert_eq!(Direction::HigherIsBetter.improvement(0.1), 0.1);
        assert_eq!(Direction::LowerIsBetter.improvement(0.1), -0.1);
    }
}
