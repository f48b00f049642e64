//! Turning per-user rollups into the results report. Pure: the store reads the rows, this
//! does the statistics (see docs/STATISTICS.md).

use super::model::*;
use super::plan;
use crate::domain::ExperimentStatus;
use crate::domain::assignment::Variant;
use crate::domain::experiment::{Direction, Experiment, Metric, Operator};
use crate::domain::stats::{
    CovSummary, Describe, Insufficient, Interval, Proportion, QuantileSketch, Summary,
    cuped_adjust, holm_adjust, proportion_z_test, quantile_difference, quantile_estimate,
    relative_lift, sequential_relative_lift, sequential_test, srm_check, welch_test,
};
use chrono::{DateTime, Duration, NaiveDate, Utc};

/// One user's rollup (spec's analysis unit).
#[derive(Debug, Clone, PartialEq)]
pub struct UserRow {
    pub variant: Variant,
    pub events: u64,
    pub errors: u64,
    /// (count, sum) of quality, citation quality, latency (ms), tokens, cost.
    pub sums: [(u64, f64); 5],
    pub feedback: Feedback,
    /// The user's pre-experiment value of the primary metric (CUPED), when sent.
    pub covariate: Option<f64>,
}

/// One day and arm of event-level quality: (n, mean, M2).
#[derive(Debug, Clone, PartialEq)]
pub struct DayRow {
    pub day: NaiveDate,
    pub variant: Variant,
    pub quality: (u64, f64, f64),
}

impl UserRow {
    /// This user's value of `metric`: the mean of their events' values.
    pub fn value(&self, metric: Metric) -> Option<f64> {
        let mean = |(n, sum): (u64, f64)| (n > 0).then(|| sum / n as f64);
        match metric {
            Metric::Quality => mean(self.sums[0]),
            Metric::CitationQuality => mean(self.sums[1]),
            Metric::Latency => mean(self.sums[2]),
            Metric::TokensUsed => mean(self.sums[3]),
            Metric::Cost => mean(self.sums[4]),
            Metric::Satisfaction => self.feedback.rate(),
            Metric::ErrorRate => (self.events > 0).then(|| self.errors as f64 / self.events as f64),
        }
    }
}

fn insufficient_text(e: &Insufficient) -> String {
    format!("not enough data: {}", e.reason)
}

fn finite(x: f64) -> Option<f64> {
    x.is_finite().then_some(x)
}

/// The improvement of a relative lift for a metric's direction (positive = better).
fn improvement(direction: Direction, lift: f64) -> f64 {
    match direction {
        Direction::HigherIsBetter => lift,
        Direction::LowerIsBetter => -lift,
    }
}

fn direction_name(d: Direction) -> &'static str {
    match d {
        Direction::HigherIsBetter => "higher_is_better",
        Direction::LowerIsBetter => "lower_is_better",
    }
}

/// Values of `metric` per arm, over users who have one.
fn values(users: &[UserRow], metric: Metric) -> (Vec<f64>, Vec<f64>) {
    let mut c = Vec::new();
    let mut t = Vec::new();
    for u in users {
        if let Some(v) = u.value(metric).and_then(finite) {
            match u.variant {
                Variant::Control => c.push(v),
                Variant::Treatment => t.push(v),
            }
        }
    }
    (c, t)
}

/// What is observed of an experiment at one look.
#[derive(Debug, Clone, Copy, Default)]
pub struct Observed<'a> {
    /// One row per user with events.
    pub users: &'a [UserRow],
    /// Daily event-level rollups (the time series).
    pub days: &'a [DayRow],
    /// Users assigned to (control, treatment), from the assignment bookkeeping: the
    /// denominator of the sample-ratio check. `None` when not known (then users with
    /// events are counted).
    pub assigned: Option<[u64; 2]>,
    /// Users whose events name both arms, left out of `users` (reported only).
    pub users_in_both_arms: u64,
    /// The arms' request-level latency sketches (control, treatment), when read.
    pub latency: Option<&'a [QuantileSketch; 2]>,
}

struct Compared {
    row: MetricComparison,
    control: Summary,
    /// Two-sided p of the test in force: the always-valid p, its running minimum over looks.
    p_in_force: Option<f64>,
}

/// The running intersection of an always-valid interval over looks: monotone (it only
/// narrows), and still valid, because a confidence sequence holds at every look at once.
/// An empty intersection (which a valid sequence gives with probability below α) keeps
/// the previous interval rather than inventing one.
fn intersect(prev: Option<Interval>, cur: Option<Interval>) -> Option<Interval> {
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
fn running_min(prev: Option<f64>, cur: Option<f64>) -> Option<f64> {
    match (prev, cur) {
        (Some(p), Some(c)) => Some(p.min(c)),
        (p, c) => c.or(p),
    }
}

fn compare(
    metric: Metric,
    role: &str,
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
        ..MetricComparison::empty(metric.as_str(), direction_name(metric.direction()), role)
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
fn criterion(e: &Experiment, primary: Option<&Compared>) -> CriterionResult {
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
fn cuped(users: &[UserRow], metric: Metric, confidence: f64) -> Option<CupedResult> {
    let mut c = CovSummary::default();
    let mut t = CovSummary::default();
    for u in users {
        if let (Some(y), Some(x)) = (u.value(metric), u.covariate)
            && y.is_finite()
            && x.is_finite()
        {
            match u.variant {
                Variant::Control => c.add(y, x),
                Variant::Treatment => t.add(y, x),
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
                metric: metric.as_str().to_owned(),
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
            metric: metric.as_str().to_owned(),
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

fn describe(values: &[f64]) -> Option<MetricSummary> {
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

fn variant_results(users: &[UserRow], variant: Variant) -> VariantResults {
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

fn pct_change(c: Option<f64>, t: Option<f64>) -> Option<f64> {
    match (c, t) {
        (Some(c), Some(t)) if c != 0.0 => finite((t / c - 1.0) * 100.0),
        _ => None,
    }
}

fn latency_distribution(users: &[UserRow]) -> Distribution {
    let (c, t) = values(users, Metric::Latency);
    let all: Vec<f64> = c
        .iter()
        .chain(t.iter())
        .copied()
        .filter(|v| *v >= 0.0)
        .collect();
    let (Some(min), Some(max)) = (
        all.iter().copied().reduce(f64::min),
        all.iter().copied().reduce(f64::max),
    ) else {
        return Distribution {
            scale: "linear".into(),
            ..Distribution::default()
        };
    };
    const BINS: usize = 20;
    let heavy = min > 0.0 && max / min > 10.0;
    let edges: Vec<f64> = if max <= min {
        vec![min, min + 1.0]
    } else if heavy {
        let (a, b) = (min.ln(), max.ln());
        (0..=BINS)
            .map(|i| (a + (b - a) * i as f64 / BINS as f64).exp())
            .collect()
    } else {
        (0..=BINS)
            .map(|i| min + (max - min) * i as f64 / BINS as f64)
            .collect()
    };
    let bins = edges.len() - 1;
    let count = |vals: &[f64]| {
        let mut out = vec![0u64; bins];
        for &v in vals {
            let i = edges
                .partition_point(|e| *e <= v)
                .saturating_sub(1)
                .min(bins - 1);
            if let Some(slot) = out.get_mut(i) {
                *slot += 1;
            }
        }
        out
    };
    Distribution {
        control: count(&c),
        treatment: count(&t),
        edges,
        scale: if heavy { "log" } else { "linear" }.into(),
    }
}

/// The design effect of an arm's event-level mean quality: the cluster-robust (by user)
/// variance of the ratio mean Σs_u / Σn_u, G/(G − 1)·Σ(s_u − m̄·n_u)² / N², over the
/// variance if the N events were independent, σ²/N (σ² the events' variance from the
/// daily rollups). At least 1: the band is never narrower than the event-level one.
fn design_effect(users: &[UserRow], days: &[DayRow], variant: Variant) -> Option<f64> {
    let (n_u, s_u): (Vec<f64>, Vec<f64>) = users
        .iter()
        .filter(|u| u.variant == variant && u.sums[0].0 > 0)
        .map(|u| (u.sums[0].0 as f64, u.sums[0].1))
        .unzip();
    let g = n_u.len() as f64;
    let n: f64 = n_u.iter().sum();
    if g < 2.0 || n < 2.0 {
        return None;
    }
    let mean = s_u.iter().sum::<f64>() / n;
    let cluster = g / (g - 1.0)
        * n_u
            .iter()
            .zip(&s_u)
            .map(|(n, s)| (s - mean * n).powi(2))
            .sum::<f64>()
        / (n * n);
    let events = days
        .iter()
        .filter(|d| d.variant == variant)
        .fold(Summary::EMPTY, |acc, d| {
            let (n, mean, m2) = d.quality;
            acc.merge(&Summary { n, mean, m2 })
        });
    let naive = events.variance()? / n;
    finite(cluster / naive)
        .filter(|_| naive > 0.0)
        .map(|d| d.max(1.0))
}

fn quality_over_time(users: &[UserRow], days: &[DayRow], confidence: f64) -> Vec<DayPoint> {
    let z = crate::domain::stats::normal_quantile(0.5 + confidence / 2.0).unwrap_or(1.96);
    let deff = [
        design_effect(users, days, Variant::Control),
        design_effect(users, days, Variant::Treatment),
    ];
    let mut points: Vec<DayPoint> = days
        .iter()
        .filter(|d| d.quality.0 > 0)
        .map(|d| {
            let (n, mean, m2) = d.quality;
            let design_effect = deff[usize::from(d.variant == Variant::Treatment)];
            let inflate = design_effect.unwrap_or(1.0);
            let half = (n > 1)
                .then(|| z * (inflate * m2 / (n as f64 - 1.0)).max(0.0).sqrt() / (n as f64).sqrt())
                .and_then(finite);
            DayPoint {
                day: d.day,
                variant: d.variant.as_str().to_owned(),
                n,
                mean,
                lower: half.map(|h| mean - h),
                upper: half.map(|h| mean + h),
                design_effect,
            }
        })
        .collect();
    points.sort_by(|a, b| (a.day, &a.variant).cmp(&(b.day, &b.variant)));
    points
}

/// The relative accuracy of the request-level sketches.
const SKETCH_ACCURACY: f64 = 0.01;

/// Request-level latency percentiles per arm and the p95 difference (descriptive).
fn request_latency(sketches: &[QuantileSketch; 2], confidence: f64) -> RequestLatency {
    let arm = |s: &QuantileSketch| RequestQuantiles {
        requests: s.count(),
        p50: quantile_estimate(s, 0.5, confidence).ok(),
        p95: quantile_estimate(s, 0.95, confidence).ok(),
        p99: quantile_estimate(s, 0.99, confidence).ok(),
    };
    let [c, t] = sketches;
    let diff = quantile_difference(c, t, 0.95, confidence);
    RequestLatency {
        control: arm(c),
        treatment: arm(t),
        note: diff.as_ref().err().map(insufficient_text),
        p95_difference: diff.ok(),
        relative_accuracy: SKETCH_ACCURACY,
    }
}

/// Whether `previous` is an earlier look at the same experiment under the same plan, so
/// that its always-valid figures may be carried into this look.
fn same_plan(e: &Experiment, previous: &ResultsReport, tuning_n: f64, confidence: f64) -> bool {
    previous.experiment_id == e.id
        && previous.detail.looks > 0
        && (previous.detail.tuning_n - tuning_n).abs() < 1e-9
        && (previous.comparison.confidence_level - confidence).abs() < 1e-12
}

/// Computes the results of `e` from what is observed at this look, as of `now`.
/// `previous` is the report of the last look (the stored snapshot): the always-valid
/// p-values and intervals are carried from it (running minimum, running intersection), so
/// a verdict, once reached, stays.
pub fn compute(
    e: &Experiment,
    data: &Observed<'_>,
    previous: Option<&ResultsReport>,
    now: DateTime<Utc>,
) -> ResultsReport {
    let users = data.users;
    let days = data.days;
    let confidence = e.spec.success_criteria.confidence_level;
    let plan = plan::plan(&e.spec);
    let previous = previous.filter(|p| same_plan(e, p, plan.tuning_n, confidence));
    let remembered = |metric: Metric| {
        previous.and_then(|p| {
            p.detail
                .metrics
                .iter()
                .find(|m| m.metric == metric.as_str())
        })
    };
    let control = variant_results(users, Variant::Control);
    let treatment = variant_results(users, Variant::Treatment);
    let mut reasons = Vec::new();

    // The criterion's metric is the primary one: it decides. A different `primaryMetric`
    // (allowed by the spec's shape) is a guardrail, like the secondary metrics.
    let primary_metric = e.spec.success_criteria.metric;
    let mut compared: Vec<Compared> = Vec::new();
    let mut add = |m: Metric, role: &str| {
        let (c, t) = values(users, m);
        compared.push(compare(
            m,
            role,
            (&c, &t),
            confidence,
            plan.tuning_n,
            remembered(m),
        ));
    };
    add(primary_metric, "primary");
    if e.spec.primary_metric != primary_metric {
        add(e.spec.primary_metric, "primary_guardrail");
    }
    for m in &e.spec.secondary_metrics {
        if *m != primary_metric && *m != e.spec.primary_metric {
            add(*m, "secondary");
        }
    }
    // Holm–Bonferroni over the guardrails (the secondary metrics, and `primaryMetric` when
    // it is not the criterion's) that have a test.
    let alpha = 1.0 - confidence;
    let is_guardrail = |role: &str| role == "secondary" || role == "primary_guardrail";
    let guardrails: Vec<usize> = compared
        .iter()
        .enumerate()
        .filter(|(_, x)| is_guardrail(&x.row.role) && x.p_in_force.is_some())
        .map(|(i, _)| i)
        .collect();
    let raw: Vec<f64> = guardrails
        .iter()
        .filter_map(|&i| compared[i].p_in_force)
        .collect();
    if let Ok(adjusted) = holm_adjust(&raw) {
        for (&i, p) in guardrails.iter().zip(adjusted) {
            compared[i].row.adjusted_p_value = Some(p);
        }
    }
    let mut guardrail_breached = false;
    for x in &mut compared {
        let p = x.row.adjusted_p_value.or(x.p_in_force);
        let direction = Metric::ALL
            .into_iter()
            .find(|m| m.as_str() == x.row.metric)
            .map(|m| m.direction())
            .unwrap_or_default();
        x.row.significant = p.is_some_and(|p| p < alpha);
        // The side comes from the always-valid interval (it excludes 0 when significant).
        let side = x
            .row
            .sequential_ci
            .map(|ci| if ci.upper < 0.0 { -1.0 } else { 1.0 })
            .unwrap_or_else(|| x.row.absolute_difference.unwrap_or(0.0));
        x.row.worse = x.row.significant && improvement(direction, side) < 0.0;
        if is_guardrail(&x.row.role) && x.row.worse {
            guardrail_breached = true;
            reasons.push(format!(
                "guardrail: {} is significantly worse in the treatment (always-valid, Holm-adjusted p = {:.4})",
                x.row.metric,
                p.unwrap_or(1.0)
            ));
        }
    }

    let primary = compared.first();
    let success = criterion(e, primary);
    let significance = primary.and_then(|p| p.p_in_force).map(|p| 1.0 - p);

    // Sample ratio mismatch: assigned users per arm (users with events when the assignment
    // counts are not known) against the allocation.
    let (srm_counts, srm_basis) = match data.assigned {
        Some([c, t]) if c + t > 0 => ([c, t], "assigned users"),
        _ => ([control.samples, treatment.samples], "users with events"),
    };
    let srm = srm_check(
        &srm_counts,
        &[
            f64::from(e.spec.allocation.control),
            f64::from(e.spec.allocation.treatment),
        ],
    )
    .ok();
    let srm_flag = srm.as_ref().is_some_and(|s| s.mismatch);
    if let Some(s) = srm.as_ref().filter(|s| s.mismatch) {
        reasons.push(format!(
            "sample ratio mismatch: {} control vs {} treatment {srm_basis} where the allocation expects {:.0} vs {:.0} (p = {:.2e}); the assignment or the event pipeline is broken, so no result can be trusted",
            srm_counts[0], srm_counts[1], s.expected.first().copied().unwrap_or(0.0), s.expected.get(1).copied().unwrap_or(0.0), s.p_value
        ));
    }

    // Minimums.
    let min_samples = u64::from(e.spec.min_samples_per_variant);
    let samples_ok = control.samples >= min_samples && treatment.samples >= min_samples;
    if !samples_ok {
        reasons.push(format!(
            "minimum samples not reached: {} control and {} treatment users of {} each",
            control.samples, treatment.samples, min_samples
        ));
    }
    let ran_days = e
        .start_date
        .map(|s| (e.end_date.unwrap_or(now) - s).num_hours() as f64 / 24.0);
    let duration_ok = ran_days.is_some_and(|d| d >= f64::from(e.spec.min_duration));
    if !duration_ok {
        reasons.push(format!(
            "minimum duration not reached: {:.1} of {} days",
            ran_days.unwrap_or(0.0),
            e.spec.min_duration
        ));
    }
    if let Some(p) = primary.and_then(|p| p.row.insufficient.as_ref()) {
        reasons.push(format!("primary metric {}: {p}", primary_metric.as_str()));
    }
    match success.met {
        Some(true) => reasons.push(format!("criterion met: {}", success.text)),
        Some(false) => reasons.push(format!("criterion not met: {}", success.text)),
        None => reasons.push(format!("criterion undecided so far: {}", success.text)),
    }
    // A superiority criterion cannot be met by a metric that is significantly worse; a
    // non-inferiority criterion allows a worsening within its margin, so there the
    // criterion alone decides.
    let superiority = matches!(
        e.spec.success_criteria.operator,
        Operator::Greater | Operator::GreaterOrEqual
    );
    let primary_worse = superiority && primary.is_some_and(|p| p.row.worse);
    if primary_worse {
        reasons.push(format!(
            "{} is significantly worse in the treatment",
            primary_metric.as_str()
        ));
    }
    let recommendation = if srm_flag {
        Recommendation::Inconclusive
    } else if primary_worse || (guardrail_breached && samples_ok) {
        Recommendation::KeepControl
    } else if !samples_ok || !duration_ok {
        Recommendation::Inconclusive
    } else {
        match success.met {
            Some(true) if !guardrail_breached => Recommendation::DeployTreatment,
            Some(false) => Recommendation::KeepControl,
            _ => Recommendation::Inconclusive,
        }
    };
    let looks = previous.map_or(0, |p| p.detail.looks) + 1;
    let decided_by = format!(
        "The always-valid (sequential) test decides at every look, while the experiment runs \
         and after it stops, so looking every day or stopping by hand does not raise the false \
         deploy rate above {:.0}%. It is tuned to the planned {} users per arm (N* = {}); its \
         p-value and interval are carried over the {looks} look(s) so far (running minimum, \
         running intersection), so a verdict once reached stays. The fixed-horizon Welch \
         figures are shown for reference and decide nothing.",
        alpha * 100.0,
        plan.per_variant,
        plan.tuning_n
    );

    // Power and the estimated end date, for the criterion as tested (sequential, one-sided,
    // the threshold as the null, the MDE beyond it).
    let observed = primary.filter(|p| p.control.n >= 30);
    let sc = &e.spec.success_criteria;
    let (sample_size, basis) =
        match observed.and_then(|p| Some((p.control.mean, p.control.std_dev()?))) {
            Some((m, s)) => (plan::required_for(sc, m, s), "observed"),
            None => (
                plan::required_for(sc, plan.assumed.0, plan.assumed.1),
                "prior",
            ),
        };
    let required = sample_size
        .as_ref()
        .ok()
        .map(|s| s.per_variant.max(min_samples));
    let estimated_end_date = e.start_date.map(|start| {
        let min_end = start + Duration::days(i64::from(e.spec.min_duration));
        let elapsed = (now - start).num_seconds().max(1) as f64 / 86_400.0;
        let per_day = (control.samples.min(treatment.samples)) as f64 / elapsed;
        match required {
            Some(req) if per_day > 0.0 => {
                let days = (req as f64 / per_day).min(3650.0);
                min_end.max(start + Duration::seconds((days * 86_400.0) as i64))
            }
            _ => min_end,
        }
    });
    let power = PowerEstimate {
        required_per_variant: required,
        basis: basis.into(),
        estimated_end_date,
        note: sample_size.err().map(|e| insufficient_text(&e)),
        planned_per_variant: Some(plan.per_variant),
        minimum_detectable_effect: Some(plan.mde),
        alternative: Some(plan.null + plan.mde),
        test: "sequential".into(),
    };

    let headline = |v: &VariantResults| ArmResults {
        samples: v.samples,
        events: v.events,
        metrics: ArmMetrics {
            quality: MeanP95 {
                mean: v.metrics.get("quality").map(|m| m.mean),
                p95: v.metrics.get("quality").map(|m| m.p95),
            },
            latency: MeanP95 {
                mean: v.metrics.get("latency").map(|m| m.mean),
                p95: v.metrics.get("latency").map(|m| m.p95),
            },
            satisfaction: v.user_feedback,
        },
    };
    let charts = Charts {
        quality_over_time: quality_over_time(users, days, confidence),
        latency_distribution: latency_distribution(users),
        satisfaction_breakdown: CategoryData {
            categories: vec!["positive".into(), "neutral".into(), "negative".into()],
            control: vec![
                control.user_feedback.positive,
                control.user_feedback.neutral,
                control.user_feedback.negative,
            ],
            treatment: vec![
                treatment.user_feedback.positive,
                treatment.user_feedback.neutral,
                treatment.user_feedback.negative,
            ],
        },
    };
    // The feedback proportions, by the two-proportion z-test.
    let satisfaction_test = proportion_z_test(
        Proportion {
            successes: control.user_feedback.positive,
            trials: control.user_feedback.total(),
        },
        Proportion {
            successes: treatment.user_feedback.positive,
            trials: treatment.user_feedback.total(),
        },
        confidence,
    );
    let mut metrics: Vec<MetricComparison> = compared.into_iter().map(|c| c.row).collect();
    let feedback = MetricComparison::empty(
        "satisfaction_feedback",
        "higher_is_better",
        "feedback proportion (two-proportion z-test over feedback events)",
    );
    metrics.push(match &satisfaction_test {
        Ok(p) => MetricComparison {
            control_mean: Some(p.control_rate),
            treatment_mean: Some(p.treatment_rate),
            absolute_difference: Some(p.diff),
            absolute_ci: Some(p.ci),
            relative_lift: (p.control_rate > 0.0).then(|| p.treatment_rate / p.control_rate - 1.0),
            p_value: Some(p.p_value),
            significant: p.p_value < alpha,
            worse: p.p_value < alpha && p.diff < 0.0,
            ..feedback
        },
        Err(err) => MetricComparison {
            insufficient: Some(insufficient_text(err)),
            control_mean: control.satisfaction_rate,
            treatment_mean: treatment.satisfaction_rate,
            ..feedback
        },
    });
    if data.users_in_both_arms > 0 {
        reasons.push(format!(
            "{} user(s) with events in both arms are left out of every figure",
            data.users_in_both_arms
        ));
    }
    let winner = e.winner.map(|w| w.as_str().to_owned()).or_else(|| {
        (recommendation == Recommendation::DeployTreatment).then(|| "treatment".to_owned())
    });
    ResultsReport {
        experiment_id: e.id,
        name: e.spec.name.clone(),
        status: e.status,
        control: headline(&control),
        treatment: headline(&treatment),
        comparison: Comparison {
            quality_improvement: pct_change(
                control.metrics.get("quality").map(|m| m.mean),
                treatment.metrics.get("quality").map(|m| m.mean),
            ),
            latency_improvement: pct_change(
                control.metrics.get("latency").map(|m| m.mean),
                treatment.metrics.get("latency").map(|m| m.mean),
            ),
            satisfaction_improvement: pct_change(
                control.satisfaction_rate,
                treatment.satisfaction_rate,
            ),
            statistical_significance: significance.and_then(finite),
            confidence_level: confidence,
            recommendation,
        },
        charts,
        detail: Detail {
            control,
            treatment,
            metrics,
            success_criterion: success,
            srm,
            power,
            cuped: cuped(users, primary_metric, confidence),
            reasons,
            sequential: true,
            tuning_n: plan.tuning_n,
            looks,
            decided_by,
            srm_basis: srm_basis.into(),
            users_in_both_arms: data.users_in_both_arms,
            request_latency: data.latency.map(|s| request_latency(s, confidence)),
            winner,
            guardrail_breached,
            method: "Per-user means (the user is the randomization unit). Mixture-SPRT \
                     always-valid p-values and intervals decide at every look (the relative \
                     lift's with the delta-method variance of both arms), carried over looks; \
                     Holm–Bonferroni over the guardrail metrics. Welch's t-test and the \
                     delta-method interval are shown for reference. See docs/STATISTICS.md."
                .into(),
        },
        computed_at: now,
    }
}

/// Whether the report is final (the experiment ended).
pub fn is_final(status: ExperimentStatus) -> bool {
    matches!(
        status,
        ExperimentStatus::Completed
            | ExperimentStatus::WinnerDeployed
            | ExperimentStatus::Cancelled
    )
}
