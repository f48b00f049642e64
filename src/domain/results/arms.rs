//! Results of an experiment beyond the spec's two-arm shape: every treatment against the
//! control, each pair by the two-arm computation (`compute`) at the level the correction
//! for k − 1 comparisons gives it, then one recommendation for the experiment: the best arm
//! that meets the criterion, or why none does. See docs/STATISTICS.md, "More than two arms".

use super::compare::improvement;
use super::model::*;
use super::rows::{DayRow, Observed, UserRow};
use crate::domain::assignment::{Allocation, Variant};
use crate::domain::experiment::{Arm, Experiment};
use crate::domain::stats::{QuantileSketch, srm_check};
use chrono::{DateTime, Utc};

/// What is observed of an experiment at one look, for any number of arms: rows carry their
/// arm's key.
#[derive(Debug, Clone, Copy, Default)]
pub struct ObservedArms<'a> {
    /// One row per user with events.
    pub users: &'a [UserRow],
    /// Daily event-level rollups (the time series).
    pub days: &'a [DayRow],
    /// Users assigned per arm key, from the assignment bookkeeping (`None`: not known).
    pub assigned: Option<&'a [(Variant, u64)]>,
    /// Users whose events name two arms, left out of `users` (reported only).
    pub users_in_both_arms: u64,
    /// The arms' request-level latency sketches, by key, when read.
    pub latency: Option<&'a [(Variant, QuantileSketch)]>,
}

/// The per-comparison confidence level for `arms` arms at the experiment's `confidence`:
/// Bonferroni over the k − 1 comparisons with the control, `1 − α/(k − 1)`.
pub fn per_comparison_confidence(confidence: f64, arms: usize) -> f64 {
    let comparisons = arms.saturating_sub(1).max(1) as f64;
    1.0 - (1.0 - confidence) / comparisons
}

/// Computes the results of `e` (any number of arms) from what is observed at this look.
/// The two-arm shape is computed exactly as [`super::compute`] does; more arms (or two arms
/// with other keys) as pairs against the control, with `arms` filled in.
pub fn compute_arms(
    e: &Experiment,
    data: &ObservedArms<'_>,
    previous: Option<&ResultsReport>,
    now: DateTime<Utc>,
) -> ResultsReport {
    let assigned = |key: Variant| {
        data.assigned
            .map(|a| a.iter().find(|(k, _)| *k == key).map_or(0, |(_, n)| *n))
    };
    let sketch = |key: Variant| {
        data.latency.map(|l| {
            l.iter()
                .find(|(k, _)| *k == key)
                .map(|(_, s)| s.clone())
                .unwrap_or_default()
        })
    };
    if e.spec.is_two_arm_shape() {
        let latency = sketch(Variant::Control).zip(sketch(Variant::Treatment));
        let latency = latency.map(|(c, t)| [c, t]);
        let observed = Observed {
            users: data.users,
            days: data.days,
            assigned: assigned(Variant::Control)
                .zip(assigned(Variant::Treatment))
                .map(|(c, t)| [c, t]),
            users_in_both_arms: data.users_in_both_arms,
            latency: latency.as_ref(),
        };
        return super::compute(e, &observed, previous, now);
    }

    let arms = &e.spec.variants;
    let Some(control) = arms.first() else {
        return super::compute(e, &Observed::default(), None, now);
    };
    let confidence = e.spec.success_criteria.confidence_level;
    let pair_confidence = per_comparison_confidence(confidence, arms.len());
    let mut pairs: Vec<(usize, ResultsReport)> = Vec::with_capacity(arms.len() - 1);
    for (i, arm) in arms.iter().enumerate().skip(1) {
        let relabel = |v: Variant| {
            if v == control.key {
                Some(Variant::Control)
            } else if v == arm.key {
                Some(Variant::Treatment)
            } else {
                None
            }
        };
        let users: Vec<UserRow> = data
            .users
            .iter()
            .filter_map(|u| {
                relabel(u.variant).map(|variant| UserRow {
                    variant,
                    ..u.clone()
                })
            })
            .collect();
        let days: Vec<DayRow> = data
            .days
            .iter()
            .filter_map(|d| {
                relabel(d.variant).map(|variant| DayRow {
                    variant,
                    ..d.clone()
                })
            })
            .collect();
        let latency = sketch(control.key)
            .zip(sketch(arm.key))
            .map(|(c, t)| [c, t]);
        let observed = Observed {
            users: &users,
            days: &days,
            assigned: assigned(control.key)
                .zip(assigned(arm.key))
                .map(|(c, t)| [c, t]),
            users_in_both_arms: 0,
            latency: latency.as_ref(),
        };
        let pair = pair_experiment(e, i, pair_confidence);
        let remembered = previous.and_then(|p| remembered_pair(p, arm.key));
        pairs.push((
            i,
            super::compute(&pair, &observed, remembered.as_ref(), now),
        ));
    }
    overall(e, data, pairs, now)
}

/// The two-arm experiment of the control and arm `i`, judged at `confidence`.
fn pair_experiment(e: &Experiment, i: usize, confidence: f64) -> Experiment {
    let mut pair = e.clone();
    let arm = |a: Option<&Arm>, key: Variant| Arm {
        key,
        name: a.map(|a| a.name.clone()).unwrap_or_default(),
        configuration: a.map(|a| a.configuration.clone()).unwrap_or_default(),
    };
    let control = e.spec.variants.first();
    let treatment = e.spec.variants.get(i);
    pair.spec.variants = vec![
        arm(control, Variant::Control),
        arm(treatment, Variant::Treatment),
    ];
    pair.spec.allocation = Allocation::new(
        e.spec.allocation.control(),
        e.spec.allocation.shares().get(i).copied().unwrap_or(0),
    );
    pair.spec.success_criteria.confidence_level = confidence;
    pair.winner = e.winner.and_then(|w| {
        if Some(w) == control.map(|a| a.key) {
            Some(Variant::Control)
        } else if Some(w) == treatment.map(|a| a.key) {
            Some(Variant::Treatment)
        } else {
            None
        }
    });
    pair
}

/// The previous look's report of the pair of the control and `key`, to carry its
/// always-valid figures.
fn remembered_pair(previous: &ResultsReport, key: Variant) -> Option<ResultsReport> {
    let control = previous.arms.iter().find(|a| a.control)?;
    let arm = previous.arms.iter().find(|a| a.key == key)?;
    let pair = arm.versus_control.as_ref()?;
    Some(ResultsReport {
        experiment_id: previous.experiment_id,
        name: previous.name.clone(),
        status: previous.status,
        control: control.results.clone(),
        treatment: arm.results.clone(),
        comparison: pair.comparison.clone(),
        charts: pair.charts.clone(),
        detail: pair.detail.clone(),
        computed_at: previous.computed_at,
        recommended_arm: None,
        arms: Vec::new(),
    })
}

/// How much better arm's primary metric is than the control's, in the metric's direction
/// (a relative change; `None` without data).
fn primary_improvement(report: &ResultsReport) -> Option<f64> {
    let primary = report.detail.metrics.first()?;
    primary
        .relative_lift
        .or(primary.absolute_difference)
        .filter(|x| x.is_finite())
        .map(|lift| improvement(primary.direction, lift))
}

/// The experiment's report from its pairs: one recommendation, its reasons, the k-arm
/// sample-ratio check, and every arm.
fn overall(
    e: &Experiment,
    data: &ObservedArms<'_>,
    pairs: Vec<(usize, ResultsReport)>,
    now: DateTime<Utc>,
) -> ResultsReport {
    let arms = &e.spec.variants;
    let k = arms.len();
    let confidence = e.spec.success_criteria.confidence_level;
    let pair_confidence = per_comparison_confidence(confidence, k);
    let mut reasons: Vec<(ReasonKind, String)> = Vec::new();

    // Sample ratio mismatch across all k arms: chi-square with k − 1 degrees of freedom.
    let users_per_arm: Vec<u64> = arms
        .iter()
        .map(|a| data.users.iter().filter(|u| u.variant == a.key).count() as u64)
        .collect();
    let assigned: Option<Vec<u64>> = data.assigned.map(|counts| {
        arms.iter()
            .map(|a| {
                counts
                    .iter()
                    .find(|(k, _)| *k == a.key)
                    .map_or(0, |(_, n)| *n)
            })
            .collect()
    });
    let (srm_counts, srm_basis) = match assigned {
        Some(counts) if counts.iter().sum::<u64>() > 0 => (counts, "assigned users"),
        _ => (users_per_arm.clone(), "users with events"),
    };
    let shares: Vec<f64> = e
        .spec
        .allocation
        .shares()
        .iter()
        .map(|&s| f64::from(s))
        .collect();
    let srm = srm_check(&srm_counts, &shares).ok();
    let srm_flag = srm.as_ref().is_some_and(|s| s.mismatch);
    if let Some(s) = srm.as_ref().filter(|s| s.mismatch) {
        let observed: Vec<String> = arms
            .iter()
            .zip(&srm_counts)
            .zip(&s.expected)
            .map(|((a, n), x)| format!("{} {n} (expected {x:.0})", a.key))
            .collect();
        reasons.push((
            ReasonKind::SampleRatioMismatch,
            format!(
                "sample ratio mismatch across the {k} arms ({srm_basis}): {} (chi-square, {} degrees of freedom, p = {:.2e}); the assignment or the event pipeline is broken, so no result can be trusted",
                observed.join(", "),
                k - 1,
                s.p_value
            ),
        ));
    }
    reasons.push((
        ReasonKind::Criterion,
        format!(
            "{} treatments, each against the control at {:.2}% confidence (Bonferroni over the {} comparisons, so the chance of deploying any arm that does not meet the criterion stays at most {:.0}%)",
            k - 1,
            pair_confidence * 100.0,
            k - 1,
            (1.0 - confidence) * 100.0
        ),
    ));
    let mut guardrail_breached = false;
    for (i, pair) in &pairs {
        let key = arms.get(*i).map(|a| a.key.as_str()).unwrap_or_default();
        guardrail_breached |= pair.detail.guardrail_breached;
        for (kind, text) in pair.detail.reason_kinds.iter().zip(&pair.detail.reasons) {
            // The pair's own two-arm SRM check is covered by the k-arm one.
            if *kind != ReasonKind::SampleRatioMismatch {
                reasons.push((*kind, format!("arm {key}: {text}")));
            }
        }
    }
    // The best arm among those whose comparison recommends deploying them.
    let candidates = pairs
        .iter()
        .filter(|(_, p)| p.comparison.recommendation == Recommendation::DeployTreatment);
    let best = if srm_flag {
        None
    } else {
        candidates
            .max_by(|a, b| {
                let (x, y) = (primary_improvement(&a.1), primary_improvement(&b.1));
                x.unwrap_or(f64::NEG_INFINITY)
                    .total_cmp(&y.unwrap_or(f64::NEG_INFINITY))
                    // On a tie, the earlier arm.
                    .then(b.0.cmp(&a.0))
            })
            .map(|(i, _)| *i)
    };
    let recommendation = if best.is_some() {
        Recommendation::DeployTreatment
    } else if !srm_flag
        && pairs
            .iter()
            .all(|(_, p)| p.comparison.recommendation == Recommendation::KeepControl)
    {
        Recommendation::KeepControl
    } else {
        Recommendation::Inconclusive
    };
    let recommended_arm = best.and_then(|i| arms.get(i)).map(|a| a.key);
    match (recommended_arm, recommendation) {
        (Some(key), _) => {
            let lift = best
                .and_then(|i| pairs.iter().find(|(j, _)| *j == i))
                .and_then(|(_, p)| primary_improvement(p));
            reasons.push((
                ReasonKind::Criterion,
                format!(
                    "deploy {key}: the best of the arms that meet the criterion{}",
                    lift.map(|l| format!(
                        " ({:+.1}% on {} against the control)",
                        l * 100.0,
                        e.spec.success_criteria.metric.as_str()
                    ))
                    .unwrap_or_default()
                ),
            ))
        }
        (None, Recommendation::KeepControl) => reasons.push((
            ReasonKind::Criterion,
            "keep the control: no treatment meets the criterion".into(),
        )),
        (None, _) => reasons.push((
            ReasonKind::Criterion,
            if srm_flag {
                "no arm can be recommended while the sample ratio is off".into()
            } else {
                "no arm meets the criterion yet".into()
            },
        )),
    }

    // The headline pair: the recommended arm's, or the first treatment's.
    let headline_index = best.unwrap_or(1);
    let mut arm_reports: Vec<ArmReport> = Vec::with_capacity(k);
    let mut headline: Option<ResultsReport> = None;
    let control_results = pairs
        .first()
        .map(|(_, p)| (p.control.clone(), p.detail.control.clone()));
    if let (Some(control), Some((results, variant_results))) = (arms.first(), control_results) {
        arm_reports.push(ArmReport {
            key: control.key,
            name: control.name.clone(),
            control: true,
            share: e.spec.allocation.control(),
            results,
            variant_results,
            versus_control: None,
        });
    }
    for (i, pair) in pairs {
        let Some(arm) = arms.get(i) else { continue };
        arm_reports.push(ArmReport {
            key: arm.key,
            name: arm.name.clone(),
            control: false,
            share: e.spec.allocation.shares().get(i).copied().unwrap_or(0),
            results: pair.treatment.clone(),
            variant_results: pair.detail.treatment.clone(),
            versus_control: Some(Box::new(PairReport {
                comparison: pair.comparison.clone(),
                charts: pair.charts.clone(),
                detail: pair.detail.clone(),
            })),
        });
        if i == headline_index {
            headline = Some(pair);
        }
    }
    let Some(mut report) = headline else {
        return super::compute(e, &Observed::default(), None, now);
    };
    let winner = e.winner.or(recommended_arm);
    report.name.clone_from(&e.spec.name);
    report.comparison.recommendation = recommendation;
    report.comparison.confidence_level = confidence;
    let (reason_kinds, reasons): (Vec<ReasonKind>, Vec<String>) = reasons.into_iter().unzip();
    report.detail.reasons = reasons;
    report.detail.reason_kinds = reason_kinds;
    report.detail.srm = srm;
    report.detail.srm_basis = srm_basis.into();
    report.detail.winner = winner;
    report.detail.guardrail_breached = guardrail_breached;
    report.detail.users_in_both_arms = data.users_in_both_arms;
    report.detail.method = format!(
        "{} Each of the {} treatments is compared with the control by that method at {:.2}% \
         confidence (Bonferroni over the comparisons; Holm–Bonferroni over the guardrails \
         within each); the recommendation is the best arm that meets the criterion.",
        report.detail.method,
        k - 1,
        pair_confidence * 100.0
    );
    report.recommended_arm = recommended_arm;
    report.arms = arm_reports;
    report
}
