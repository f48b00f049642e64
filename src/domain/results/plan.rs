//! The plan an experiment's verdict is judged by, fixed by its definition: which
//! improvement the success criterion must beat, the effect it is sized to detect, the
//! planned users per arm, and the sequential test's tuning (N* = the planned total). All
//! of it is a function of the spec alone, which cannot change while the experiment runs,
//! so the sequential test's parameters stay the same at every look.

use crate::domain::experiment::{ExperimentSpec, Metric, Operator, SuccessCriteria};
use crate::domain::stats::{
    CriterionPlan, DEFAULT_POWER, Horizon, Insufficient, criterion_sample_size,
};
use chrono::{DateTime, Utc};

/// Prior means and standard deviations used for power before there is data.
pub(super) fn prior(metric: Metric) -> (f64, f64) {
    match metric {
        Metric::Quality | Metric::CitationQuality => (0.7, 0.2),
        Metric::Satisfaction => (0.6, 0.45),
        Metric::Latency => (1500.0, 750.0),
        Metric::TokensUsed => (1000.0, 500.0),
        Metric::Cost => (0.01, 0.005),
        Metric::ErrorRate => (0.05, 0.2),
    }
}

/// The minimum detectable effect beyond the criterion's threshold that the plan is sized
/// for (a fraction: 5 percentage points of relative change), when the criterion states
/// none.
pub const DEFAULT_MDE: f64 = 0.05;

/// The longest estimate given, in days: beyond it the answer is "more than ten years".
pub const MAX_ESTIMATE_DAYS: f64 = 3650.0;

/// Days from the start until the arm that fills last holds `required` users, when it gains
/// `per_arm_per_day` users a day: never fewer than `min_days`, never more than
/// [`MAX_ESTIMATE_DAYS`]. `None` when there is no traffic to go by. The one end-date rule of
/// the wizard's estimate (`estimate`) and of a running experiment's power (`compute`).
pub fn days_to_complete(required: u64, per_arm_per_day: f64, min_days: f64) -> Option<f64> {
    (per_arm_per_day.is_finite() && per_arm_per_day > 0.0).then(|| {
        (required as f64 / per_arm_per_day)
            .max(min_days)
            .min(MAX_ESTIMATE_DAYS)
    })
}

/// `start` plus `days` (to the second).
pub fn after_days(start: DateTime<Utc>, days: f64) -> DateTime<Utc> {
    start + chrono::Duration::seconds((days * 86_400.0).round() as i64)
}

/// The improvement (a signed fraction, positive = better in the metric's own direction)
/// that the criterion must beat: `+t` for "improves by more than / at least t %", `−t`
/// for the non-inferiority forms "gets worse by less than / at most t %".
pub fn criterion_null(sc: &SuccessCriteria) -> f64 {
    let t = sc.threshold / 100.0;
    match sc.operator {
        Operator::Greater | Operator::GreaterOrEqual => t,
        Operator::Less | Operator::LessOrEqual => -t,
    }
}

/// Whether the operator is strict (`>` and `<`: the bound must pass the null; `>=` and
/// `<=`: it may touch it).
pub fn is_strict(op: Operator) -> bool {
    matches!(op, Operator::Greater | Operator::Less)
}

/// The verdict of a criterion on the always-valid interval `[raw_lower, raw_upper]` of
/// the relative lift (raw: treatment/control − 1): `(met, lower, upper)` with the bounds
/// mapped to improvement (positive = better). `met` is `Some(true)` when the interval lies
/// beyond the null (strictly for `>`/`<`), `Some(false)` when it lies entirely on the other
/// side, `None` while it straddles the null.
pub fn judge(sc: &SuccessCriteria, raw_lower: f64, raw_upper: f64) -> (Option<bool>, f64, f64) {
    let null = criterion_null(sc);
    let direction = sc.metric.direction();
    let (a, b) = (
        direction.improvement(raw_lower),
        direction.improvement(raw_upper),
    );
    let (lower, upper) = (a.min(b), a.max(b));
    let met = if is_strict(sc.operator) {
        if lower > null {
            Some(true)
        } else if upper <= null {
            Some(false)
        } else {
            None
        }
    } else if lower >= null {
        Some(true)
    } else if upper < null {
        Some(false)
    } else {
        None
    };
    (met, lower, upper)
}

/// The minimum detectable effect beyond the null, a fraction.
pub fn mde(sc: &SuccessCriteria) -> f64 {
    sc.minimum_detectable_effect
        .map(|m| m / 100.0)
        .filter(|m| m.is_finite() && *m > 0.0)
        .unwrap_or(DEFAULT_MDE)
}

/// Users per arm the criterion needs under the sequential test that decides, for a metric
/// with control `mean` and standard deviation `sd` (not yet raised to the minimum).
pub fn required_for(
    sc: &SuccessCriteria,
    mean: f64,
    sd: f64,
) -> Result<CriterionPlan, Insufficient> {
    let cv = if mean != 0.0 {
        sd / mean.abs()
    } else {
        f64::NAN
    };
    criterion_sample_size(
        cv,
        criterion_null(sc),
        mde(sc),
        sc.metric.direction(),
        sc.confidence_level,
        DEFAULT_POWER,
        Horizon::Sequential,
    )
}

/// The plan of an experiment, from its spec and the metric's typical spread.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    /// Users per arm: the power size (when it exists) raised to `minSamplesPerVariant`.
    pub per_variant: u64,
    /// Users per arm from the power calculation alone, when it exists.
    pub power_per_variant: Option<u64>,
    /// The sequential test's N*: both arms at the planned size.
    pub tuning_n: f64,
    /// The improvement the criterion must beat (fraction).
    pub null: f64,
    /// The effect beyond `null` the plan detects with 80 % power (fraction).
    pub mde: f64,
    /// The prior mean and standard deviation the plan assumed.
    pub assumed: (f64, f64),
}

/// The plan of `spec`: fixed when the experiment starts (it depends on the spec alone).
pub fn plan(spec: &ExperimentSpec) -> Plan {
    let sc = &spec.success_criteria;
    let assumed = prior(sc.metric);
    let power_per_variant = required_for(sc, assumed.0, assumed.1)
        .ok()
        .map(|p| p.per_variant);
    // A plan beyond a billion users per arm is no plan; N* stays finite and sane.
    let per_variant = power_per_variant
        .unwrap_or(0)
        .max(u64::from(spec.min_samples_per_variant))
        .clamp(2, 1_000_000_000);
    Plan {
        per_variant,
        power_per_variant,
        tuning_n: 2.0 * per_variant as f64,
        null: criterion_null(sc),
        mde: mde(sc),
        assumed,
    }
}

/// The wizard's words for what the criterion's null and alternative mean, e.g. "a 10.0 %
/// improvement" or "no change".
pub fn effect_words(metric: Metric, improvement: f64) -> String {
    let pct = improvement.abs() * 100.0;
    if pct < 1e-9 {
        format!("no change in {}", metric.as_str())
    } else if improvement > 0.0 {
        format!("a {pct:.1}% improvement in {}", metric.as_str())
    } else {
        format!("a {pct:.1}% worsening of {}", metric.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sc(metric: Metric, operator: Operator, threshold: f64) -> SuccessCriteria {
        SuccessCriteria {
            metric,
            operator,
            threshold,
            confidence_level: 0.95,
            minimum_detectable_effect: None,
        }
    }

    /// The truth table of docs/STATISTICS.md: operator × metric direction × where the
    /// always-valid interval of the raw lift lies, threshold 5 %.
    #[test]
    fn the_criterion_truth_table() {
        use Metric::{Latency, Quality};
        use Operator::*;
        // (raw lift interval, label)
        let up = (0.07, 0.12); // the treatment is 7–12 % higher
        let around_up = (0.02, 0.08); // straddles +5 %
        let flat = (-0.02, 0.02); // around no change
        let around_down = (-0.08, -0.02); // straddles −5 %
        let down = (-0.12, -0.07); // 7–12 % lower
        #[rustfmt::skip]
        type Row = (Metric, Operator, (f64, f64), Option<bool>);
        let table: &[Row] = &[
            // quality: higher is better
            (Quality, Greater, up, Some(true)),
            (Quality, Greater, around_up, None),
            (Quality, Greater, flat, Some(false)),
            (Quality, Greater, down, Some(false)),
            (Quality, GreaterOrEqual, up, Some(true)),
            (Quality, GreaterOrEqual, flat, Some(false)),
            // non-inferiority: quality gets worse by less than / at most 5 %
            (Quality, Less, flat, Some(true)),
            (Quality, Less, up, Some(true)),
            (Quality, Less, around_down, None),
            (Quality, Less, down, Some(false)),
            (Quality, LessOrEqual, flat, Some(true)),
            (Quality, LessOrEqual, down, Some(false)),
            // latency: lower is better, so "improves" means the latency falls
            (Latency, Greater, down, Some(true)),
            (Latency, Greater, around_down, None),
            (Latency, Greater, flat, Some(false)),
            (Latency, Greater, up, Some(false)),
            (Latency, GreaterOrEqual, down, Some(true)),
            (Latency, GreaterOrEqual, up, Some(false)),
            // non-inferiority: latency rises by less than / at most 5 %
            (Latency, Less, flat, Some(true)),
            (Latency, Less, down, Some(true)),
            (Latency, Less, around_up, None),
            (Latency, Less, up, Some(false)),
            (Latency, LessOrEqual, flat, Some(true)),
            (Latency, LessOrEqual, up, Some(false)),
        ];
        for &(m, op, (lo, hi), want) in table {
            let (met, lower, upper) = judge(&sc(m, op, 5.0), lo, hi);
            assert_eq!(
                met,
                want,
                "{} {} 5 % on [{lo}, {hi}]",
                m.as_str(),
                op.words()
            );
            assert!(lower <= upper);
        }
    }

    #[test]
    fn strict_and_non_strict_differ_only_on_the_null() {
        let gt = sc(Metric::Quality, Operator::Greater, 5.0);
        let ge = sc(Metric::Quality, Operator::GreaterOrEqual, 5.0);
        assert_eq!(judge(&gt, 0.05, 0.09).0, None);
        assert_eq!(judge(&ge, 0.05, 0.09).0, Some(true));
        assert_eq!(judge(&gt, 0.01, 0.05).0, Some(false));
        assert_eq!(judge(&ge, 0.01, 0.05).0, None);
    }

    #[test]
    fn the_plan_is_fixed_by_the_spec_and_tunes_the_sequential_test() {
        let input: crate::domain::experiment::ExperimentInput =
            serde_json::from_value(serde_json::json!({
                "name": "n", "targetType": "prompt", "targetId": "p",
                "control": {"name": "A"}, "treatment": {"name": "B"},
                "allocation": {"control": 50, "treatment": 50},
                "primaryMetric": "latency",
                "successCriteria": {"metric": "latency", "operator": "<=", "threshold": 5,
                                    "confidenceLevel": 0.95, "minimumDetectableEffect": 5},
                "minDuration": 7, "minSamplesPerVariant": 100
            }))
            .unwrap();
        let spec = input.parse().unwrap();
        let p = plan(&spec);
        // non-inferiority: the null is a 5 % worsening, the alternative no change
        assert!((p.null + 0.05).abs() < 1e-12 && (p.mde - 0.05).abs() < 1e-12);
        assert_eq!(p.tuning_n, 2.0 * p.per_variant as f64);
        assert!(p.per_variant >= 100);
        assert_eq!(
            effect_words(Metric::Latency, p.null + p.mde),
            "no change in latency"
        );
    }
}
