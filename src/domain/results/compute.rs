//! The results report of one look: the orchestration over the per-arm figures and comparisons
//! (`compare`), the chart data (`chart_data`), the plan (`plan`) and the recommendation with
//! its power and end date. Pure: the store reads the rows (`rows`), this does the statistics
//! (see docs/STATISTICS.md).

use super::model::*;
use super::plan;
use crate::domain::ExperimentStatus;
use crate::domain::assignment::Variant;
use crate::domain::experiment::{Experiment, Metric, Operator};
use crate::domain::stats::{Direction, Proportion, holm_adjust, proportion_z_test, srm_check};
use chrono::{DateTime, Utc};

use super::chart_data::*;
use super::compare::*;
use super::rows::*;
use super::{power, recommend};

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
        previous.and_then(|p| p.detail.metrics.iter().find(|m| m.metric == metric))
    };
    let control = variant_results(users, Variant::Control);
    let treatment = variant_results(users, Variant::Treatment);
    let mut reasons: Vec<(ReasonKind, String)> = Vec::new();

    // The criterion's metric is the primary one: it decides. A different `primaryMetric`
    // (allowed by the spec's shape) is a guardrail, like the secondary metrics.
    let primary_metric = e.spec.success_criteria.metric;
    let mut compared: Vec<Compared> = Vec::new();
    let mut add = |m: Metric, role: MetricRole| {
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
    add(primary_metric, MetricRole::Primary);
    if e.spec.primary_metric != primary_metric {
        add(e.spec.primary_metric, MetricRole::PrimaryGuardrail);
    }
    for m in &e.spec.secondary_metrics {
        if *m != primary_metric && *m != e.spec.primary_metric {
            add(*m, MetricRole::Secondary);
        }
    }
    // Holm–Bonferroni over the guardrails (the secondary metrics, and `primaryMetric` when
    // it is not the criterion's) that have a test.
    let alpha = 1.0 - confidence;
    let guardrails: Vec<usize> = compared
        .iter()
        .enumerate()
        .filter(|(_, x)| x.row.role.is_guardrail() && x.p_in_force.is_some())
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
        let direction = x.row.direction;
        x.row.significant = p.is_some_and(|p| p < alpha);
        // The side comes from the always-valid interval (it excludes 0 when significant).
        let side = x
            .row
            .sequential_ci
            .map(|ci| if ci.upper < 0.0 { -1.0 } else { 1.0 })
            .unwrap_or_else(|| x.row.absolute_difference.unwrap_or(0.0));
        x.row.worse = x.row.significant && improvement(direction, side) < 0.0;
        if x.row.role.is_guardrail() && x.row.worse {
            guardrail_breached = true;
            reasons.push((ReasonKind::Guardrail, format!(
                "guardrail: {} is significantly worse in the treatment (always-valid, Holm-adjusted p = {:.4})",
                x.row.metric,
                p.unwrap_or(1.0)
            )));
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
            f64::from(e.spec.allocation.control()),
            f64::from(e.spec.allocation.treatment()),
        ],
    )
    .ok();
    let srm_flag = srm.as_ref().is_some_and(|s| s.mismatch);
    if let Some(s) = srm.as_ref().filter(|s| s.mismatch) {
        reasons.push((ReasonKind::SampleRatioMismatch, format!(
            "sample ratio mismatch: {} control vs {} treatment {srm_basis} where the allocation expects {:.0} vs {:.0} (p = {:.2e}); the assignment or the event pipeline is broken, so no result can be trusted",
            srm_counts[0], srm_counts[1], s.expected.first().copied().unwrap_or(0.0), s.expected.get(1).copied().unwrap_or(0.0), s.p_value
        )));
    }

    // Minimums.
    let min_samples = u64::from(e.spec.min_samples_per_variant);
    let samples_ok = control.samples >= min_samples && treatment.samples >= min_samples;
    if !samples_ok {
        reasons.push((
            ReasonKind::MinimumSamples,
            format!(
                "minimum samples not reached: {} control and {} treatment users of {} each",
                control.samples, treatment.samples, min_samples
            ),
        ));
    }
    let ran_days = e
        .start_date
        .map(|s| (e.end_date.unwrap_or(now) - s).num_hours() as f64 / 24.0);
    let duration_ok = ran_days.is_some_and(|d| d >= f64::from(e.spec.min_duration));
    if !duration_ok {
        reasons.push((
            ReasonKind::MinimumDuration,
            format!(
                "minimum duration not reached: {:.1} of {} days",
                ran_days.unwrap_or(0.0),
                e.spec.min_duration
            ),
        ));
    }
    if let Some(p) = primary.and_then(|p| p.row.insufficient.as_ref()) {
        reasons.push((
            ReasonKind::PrimaryUntestable,
            format!("primary metric {}: {p}", primary_metric.as_str()),
        ));
    }
    match success.met {
        Some(true) => reasons.push((
            ReasonKind::Criterion,
            format!("criterion met: {}", success.text),
        )),
        Some(false) => reasons.push((
            ReasonKind::Criterion,
            format!("criterion not met: {}", success.text),
        )),
        None => reasons.push((
            ReasonKind::Criterion,
            format!("criterion undecided so far: {}", success.text),
        )),
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
        reasons.push((
            ReasonKind::PrimaryWorse,
            format!(
                "{} is significantly worse in the treatment",
                primary_metric.as_str()
            ),
        ));
    }
    let recommendation = recommend::recommend(recommend::Findings {
        sample_ratio_mismatch: srm_flag,
        primary_worse,
        guardrail_breached,
        samples_ok,
        duration_ok,
        criterion_met: success.met,
    });
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

    let power = power::estimate(e, &plan, primary, [control.samples, treatment.samples], now);

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
        Measure::SatisfactionFeedback,
        Direction::HigherIsBetter,
        MetricRole::FeedbackProportion,
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
        reasons.push((
            ReasonKind::UsersInBothArms,
            format!(
                "{} user(s) with events in both arms are left out of every figure",
                data.users_in_both_arms
            ),
        ));
    }
    let winner = e.winner.or_else(|| {
        (recommendation == Recommendation::DeployTreatment).then_some(Variant::Treatment)
    });
    let (reason_kinds, reasons) = reasons.into_iter().unzip();
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
            reason_kinds,
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
        recommended_arm: (recommendation == Recommendation::DeployTreatment)
            .then_some(Variant::Treatment),
        arms: Vec::new(),
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
