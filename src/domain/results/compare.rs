//! One metric compared between the arms (Welch, delta-method lift, the always-valid test
//! carried over looks), the success criterion, CUPED, and the per-arm figures.

use super::model::*;
use super::plan;
use crate::domain::assignment::Variant;
use crate::domain::experiment::{Direction, Experiment, Metric};
use crate::domain::stats::{
    CovSummary, Describe, Insufficient, Interval, Summary, cuped_adjust, relative_lift,
    sequential_relative_lift, sequential_test, welch_test,
};

use super::rows::*;

pub(super) fn insufficient_text(e: &Insufficient) -> String {
    format!("not enough data: {}", e.reason)
}
/// The improvement of a relative lift for a metric's direction (positive = better).
pub(super) fn improvement(direction: Direction, lift: f64) -> f64 {
    match direction {
        Direction::HigherIsBetter => lift,
        Direction::LowerIsBetter => -lift,
    }
}
pub(super) struct Compared {
    pub(super) row: MetricComparison,
    pub(super) control: Summary,
    /// Two-sided p of the test in force: the always-valid p, its running minimum over looks.
    pub(super) p_in_force: Option<f64>,
}
/// The running intersection of an always-valid interval over looks: monotone (it only
/// narrows), and still valid, because a confidence sequence holds at every look at once.
/// An empty intersection (which a valid sequence gives with probability below α) keeps
/// the previous interval rather than inventing one.
pub(super) fn intersect(prev: Option<Interval>, cur: Option<Interval>) -> Option<Interval> {
    match (prev, cur) {
        (Some(p), Some(c)) if (p.confidence - c.confidence).abs() < 1e-12 => {
            let (lower, upper) = (p.lower.max(c.lower), p.upper.min(c.upper));
            Some(if lower <= upper {
                Interval {
                    lower,
                    upper,
                    confidence: c.confidence,
                }
            } else {
                p
            })
        }
        (p, None) => p,
        (_, c) => c,
    }
}
/// The running minimum of an always-valid p-value over looks (valid by Ville's inequality).
pub(super) fn running_min(prev: Option<f64>, cur: Option<f64>) -> Option<f64> {
    match (prev, cur) {
        (Some(p), Some(c)) => Some(p.min(c)),
        (p, c) => c.or(p),
    }
}
pub(super) fn compare(
    metric: Metric,
    role: MetricRole,
    (c, t): (&[f64], &[f64]),
    confidence: f64,
    tuning_n: f64,
    previous: Option<&MetricComparison>,
) -> Compared {
    let sc = Summary::from_slice(c);
    let st = Summary::from_slice(t);
    let mut row = MetricComparison {
        control_mean: (sc.n > 0).then_some(sc.mean).and_then(finite),
        treatment_mean: (st.n > 0).then_some(st.mean).and_then(finite),
        ..MetricComparison::empty(Measure::Metric(metric), metric.direction(), role)
    };
    match welch_test(&sc, &st, confidence) {
        Ok(w) => {
            row.absolute_difference = Some(w.diff);
            row.absolute_ci = Some(w.ci);
            row.welch_dof = Some(w.dof);
            row.p_value = Some(w.p_value);
        }
        Err(e) => row.insufficient = Some(insufficient_text(&e)),
    }
    if let Ok(l) = relative_lift(&sc, &st, confidence) {
        row.relative_lift = Some(l.lift);
        row.relative_ci = Some(l.ci);
    }
    if let Ok(s) = sequential_test(&sc, &st, confidence, tuning_n) {
        row.sequential_p_value = Some(s.p_value);
        row.sequential_ci = Some(s.ci);
    }
    // The criterion reads one side of the lift's sequence: two-sided at 2·confidence − 1
    // is one-sided at `confidence` on each side.
    if let Ok(l) = sequential_relative_lift(&sc, &st, 2.0 * confidence - 1.0, tuning_n) {
        row.sequential_relative_ci = Some(l.ci);
    }
    if let Some(prev) = previous {
        row.sequential_p_value = running_min(prev.sequential_p_value, row.sequential_p_value);
        row.sequential_ci = intersect(prev.sequential_ci, row.sequential_ci);
        row.sequential_relative_ci =
            intersect(prev.sequential_relative_ci, row.sequential_relative_ci);
    }
    let p_in_force = row.sequential_p_value;
    Compared {
        row,
        control: sc,
        p_in_force,
    }
}
/// The success criterion, tested as the wizard words it: on the improvement (the relative
/// lift in the metric's better direction), read from the always-valid interval of the lift
/// (running intersection over looks). `>`/`>=` need the improvement above +t,
/// `<`/`<=` (non-inferiority) above −t; see the truth table in docs/STATISTICS.md.
pub(super) fn criterion(e: &Experiment, primary: Option<&Compared>) -> CriterionResult {
    let sc = &e.spec.success_criteria;
    let null = plan::criterion_null(sc);
    let text = format!(
        "Treatment is successful if {} {} {}% with {}% confidence",
        sc.metric.as_str(),
        sc.operator.words(),
        sc.threshold,
        (sc.confidence_level * 100.0).round()
    );
    let Some(ci) = primary.and_then(|p| p.row.sequential_relative_ci) else {
        return CriterionResult {
            text,
            met: None,
            lower: None,
            upper: None,
            improvement_to_beat: Some(null),
        };
    };
    let (met, lower, upper) = plan::judge(sc, ci.lower, ci.upper);
    CriterionResult {
        text,
        met,
        lower: Some(lower),
        upper: Some(upper),
        improvement_to_beat: Some(null),
    }
}
/// CUPED on the primary metric, over the users who sent a pre-experiment covariate.
pub(super) fn cuped(users: &[UserRow], metric: Metric, confidence: f64) -> Option<CupedResult> {
    let mut c = CovSummary::default();
    let mut t = CovSummary::default();
    for u in users {
        if let (Some(y), Some(x)) = (u.value(metric), u.covariate)
            && y.is_finite()
            && x.is_finite()
        {
            if u.variant == Variant::Control {
                c.add(y, x);
            } else if u.variant == Variant::Treatment {
                t.add(y, x);
            }
        }
    }
    if c.n + t.n == 0 {
        return None;
    }
    let users_with_covariate = c.n + t.n;
    Some(match cuped_adjust(&c, &t) {
        Ok(adjusted) => {
            let welch = welch_test(&adjusted.control, &adjusted.treatment, confidence).ok();
            CupedResult {
                metric,
                users: users_with_covariate,
                insufficient: None,
                theta: Some(adjusted.theta),
                variance_reduction: Some(adjusted.variance_reduction),
                control_mean: Some(adjusted.control.mean),
                treatment_mean: Some(adjusted.treatment.mean),
                absolute_difference: welch.as_ref().map(|w| w.diff),
                absolute_ci: welch.as_ref().map(|w| w.ci),
                p_value: welch.map(|w| w.p_value),
            }
        }
        Err(err) => CupedResult {
            metric,
            users: users_with_covariate,
            insufficient: Some(insufficient_text(&err)),
            theta: None,
            variance_reduction: None,
            control_mean: None,
            treatment_mean: None,
            absolute_difference: None,
            absolute_ci: None,
            p_value: None,
        },
    })
}
pub(super) fn describe(values: &[f64]) -> Option<MetricSummary> {
    let d = Describe::from_slice(values).ok()?;
    Some(MetricSummary {
        n: d.n,
        mean: d.mean,
        median: d.median,
        std_dev: d.std_dev,
        p95: d.p95,
        p99: d.p99,
    })
}
pub(super) fn variant_results(users: &[UserRow], variant: Variant) -> VariantResults {
    let mine: Vec<&UserRow> = users.iter().filter(|u| u.variant == variant).collect();
    let mut feedback = Feedback::default();
    let mut events = 0;
    for u in &mine {
        feedback.positive += u.feedback.positive;
        feedback.negative += u.feedback.negative;
        feedback.neutral += u.feedback.neutral;
        events += u.events;
    }
    let mut metrics = std::collections::BTreeMap::new();
    for m in Metric::ALL {
        let vals: Vec<f64> = mine
            .iter()
            .filter_map(|u| u.value(m))
            .filter(|v| v.is_finite())
            .collect();
        if let Some(s) = describe(&vals) {
            metrics.insert(m.as_str().to_owned(), s);
        }
    }
    VariantResults {
        samples: mine.len() as u64,
        events,
        metrics,
        user_feedback: feedback,
        satisfaction_rate: feedback.rate(),
    }
}
pub(super) fn pct_change(c: Option<f64>, t: Option<f64>) -> Option<f64> {
    match (c, t) {
        (Some(c), Some(t)) if c != 0.0 => finite((t / c - 1.0) * 100.0),
        _ => None,
    }
}
