use super::*;
use crate::domain::experiment::Metric;

/// One look with no earlier look and no assignment counts.
fn run(
    e: &Experiment,
    users: &[UserRow],
    days: &[DayRow],
    now: chrono::DateTime<Utc>,
) -> ResultsReport {
    let data = Observed {
        users,
        days,
        assigned: None,
        users_in_both_arms: 0,
        latency: None,
    };
    compute(e, &data, None, now)
}
use crate::domain::ExperimentStatus;
use crate::domain::assignment::Variant;
use crate::domain::experiment::{Experiment, ExperimentInput};
use chrono::{Duration, Utc};
use serde_json::json;

fn experiment(status: ExperimentStatus, secondary: &[&str], days_ago: i64) -> Experiment {
    let input: ExperimentInput = serde_json::from_value(json!({
        "name": "x", "targetType": "prompt", "targetId": "p",
        "control": {"name": "A"}, "treatment": {"name": "B"},
        "allocation": {"control": 50, "treatment": 50},
        "primaryMetric": "quality",
        "successCriteria": {"metric": "quality", "operator": ">", "threshold": 5, "confidenceLevel": 0.95},
        "secondaryMetrics": secondary,
        "minDuration": 7, "minSamplesPerVariant": 100
    }))
    .unwrap();
    let now = Utc::now();
    Experiment {
        id: uuid::Uuid::nil(),
        tenant_id: "acme".into(),
        spec: input.parse().unwrap(),
        status,
        start_date: Some(now - Duration::days(days_ago)),
        end_date: None,
        layer_slice: None,
        kind: Default::default(),
        results: None,
        winner: None,
        created_by: "t".into(),
        approved_by: None,
        created_at: now,
        updated_at: now,
        version: 1,
    }
}

/// Deterministic pseudo-random numbers (splitmix64) for synthetic users.
struct Rng(crate::domain::splitmix::SplitMix64);
impl Rng {
    fn next(&mut self) -> f64 {
        self.0.unit()
    }
    fn normal(&mut self) -> f64 {
        let (u, v) = (self.next().max(1e-12), self.next());
        (-2.0 * u.ln()).sqrt() * (2.0 * std::f64::consts::PI * v).cos()
    }
}

fn users(n: usize, quality: (f64, f64), latency: (f64, f64), seed: u64) -> Vec<UserRow> {
    let mut rng = Rng(crate::domain::splitmix::SplitMix64(seed));
    let mut out = Vec::new();
    for i in 0..2 * n {
        let variant = if i % 2 == 0 {
            Variant::Control
        } else {
            Variant::Treatment
        };
        let q = if variant == Variant::Control {
            quality.0
        } else {
            quality.1
        };
        let l = if variant == Variant::Control {
            latency.0
        } else {
            latency.1
        };
        let qv = (q + 0.1 * rng.normal()).clamp(0.0, 1.0);
        let lv = (l * (1.0 + 0.2 * rng.normal())).max(1.0);
        out.push(UserRow {
            variant,
            events: 2,
            errors: 0,
            sums: [(2, 2.0 * qv), (0, 0.0), (2, 2.0 * lv), (0, 0.0), (0, 0.0)],
            feedback: Feedback {
                positive: u64::from(rng.next() < q),
                negative: 0,
                neutral: 1,
            },
            covariate: None,
        });
    }
    out
}

fn no_nan(report: &ResultsReport) {
    let text = serde_json::to_string(report).unwrap();
    assert!(!text.contains("NaN") && !text.contains("inf"), "{text}");
}

#[test]
fn no_data_is_inconclusive_with_reasons_and_no_nan() {
    let e = experiment(ExperimentStatus::Active, &["latency"], 1);
    let r = run(&e, &[], &[], Utc::now());
    assert_eq!(r.comparison.recommendation, Recommendation::Inconclusive);
    assert_eq!(r.control.samples, 0);
    assert_eq!(r.comparison.statistical_significance, None);
    assert!(
        r.detail
            .reasons
            .iter()
            .any(|x| x.contains("minimum samples"))
    );
    assert!(
        r.detail.metrics[0]
            .insufficient
            .as_deref()
            .unwrap()
            .contains("not enough data")
    );
    assert_eq!(r.detail.power.basis, "prior");
    assert!(r.detail.power.required_per_variant.is_some());
    no_nan(&r);
}

#[test]
fn a_clear_win_after_the_minimums_is_deployed() {
    let e = experiment(ExperimentStatus::Completed, &["latency"], 10);
    let r = run(
        &e,
        &users(2000, (0.60, 0.72), (1000.0, 1000.0), 1),
        &[],
        Utc::now(),
    );
    assert_eq!(
        r.comparison.recommendation,
        Recommendation::DeployTreatment,
        "{:?}",
        r.detail.reasons
    );
    assert_eq!(r.detail.success_criterion.met, Some(true));
    assert!(r.comparison.quality_improvement.unwrap() > 15.0);
    assert!(r.comparison.statistical_significance.unwrap() > 0.999);
    assert!(
        r.detail.sequential,
        "a completed experiment is judged by the same always-valid test"
    );
    assert!(r.detail.decided_by.contains("always-valid"));
    no_nan(&r);
}

#[test]
fn an_aa_test_keeps_control_once_a_5_percent_gain_is_ruled_out() {
    let e = experiment(ExperimentStatus::Completed, &[], 10);
    let r = run(
        &e,
        &users(3000, (0.7, 0.7), (1000.0, 1000.0), 2),
        &[],
        Utc::now(),
    );
    assert_eq!(r.detail.success_criterion.met, Some(false));
    assert_eq!(r.comparison.recommendation, Recommendation::KeepControl);
}

#[test]
fn too_short_a_run_is_inconclusive_even_with_a_clear_win() {
    let e = experiment(ExperimentStatus::Active, &[], 2);
    let r = run(
        &e,
        &users(2000, (0.6, 0.75), (1000.0, 1000.0), 3),
        &[],
        Utc::now(),
    );
    assert_eq!(r.comparison.recommendation, Recommendation::Inconclusive);
    assert!(
        r.detail
            .reasons
            .iter()
            .any(|x| x.contains("minimum duration"))
    );
    assert!(
        r.detail.sequential,
        "a running experiment is judged sequentially"
    );
}

#[test]
fn a_latency_regression_on_a_guardrail_keeps_control() {
    let e = experiment(ExperimentStatus::Completed, &["latency"], 10);
    let r = run(
        &e,
        &users(2000, (0.60, 0.70), (1000.0, 1500.0), 4),
        &[],
        Utc::now(),
    );
    assert!(r.detail.guardrail_breached);
    assert_eq!(r.comparison.recommendation, Recommendation::KeepControl);
    let latency = r
        .detail
        .metrics
        .iter()
        .find(|m| m.metric == Metric::Latency)
        .unwrap();
    assert!(latency.worse && latency.adjusted_p_value.is_some());
    assert!(
        r.detail
            .reasons
            .iter()
            .any(|x| x.starts_with("guardrail: latency"))
    );
    // Every reason has its kind; the circuit breaker finds the breach by kind.
    assert_eq!(r.detail.reasons.len(), r.detail.reason_kinds.len());
    let breaches: Vec<&str> = r.detail.reasons_of(ReasonKind::Guardrail).collect();
    assert_eq!(breaches.len(), 1);
    assert!(breaches[0].contains("latency"));
    assert!(
        r.detail
            .reasons_of(ReasonKind::Criterion)
            .all(|x| x.starts_with("criterion"))
    );
}

/// The typed fields are written as the names the API always had, and read back the same;
/// a snapshot stored before reason kinds were kept still reads (with no kinds).
#[test]
fn typed_results_fields_keep_their_wire_names_and_round_trip() {
    let e = experiment(ExperimentStatus::Completed, &["latency"], 10);
    let r = run(
        &e,
        &users(2000, (0.60, 0.70), (1000.0, 1500.0), 4),
        &[],
        Utc::now(),
    );
    let json = serde_json::to_value(&r).unwrap();
    let metrics = json["detail"]["metrics"].as_array().unwrap();
    let names: Vec<&str> = metrics
        .iter()
        .map(|m| m["metric"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["quality", "latency", "satisfaction_feedback"]);
    assert_eq!(metrics[1]["role"], "secondary");
    assert_eq!(metrics[1]["direction"], "lower_is_better");
    assert_eq!(
        metrics[2]["role"],
        "feedback proportion (two-proportion z-test over feedback events)"
    );
    assert_eq!(json["detail"]["reasonKinds"][0], "guardrail");
    let back: ResultsReport = serde_json::from_value(json.clone()).unwrap();
    assert_eq!(back, r);
    let mut old = json;
    old["detail"].as_object_mut().unwrap().remove("reasonKinds");
    let old: ResultsReport = serde_json::from_value(old).unwrap();
    assert_eq!(old.detail.reasons, r.detail.reasons);
    assert_eq!(old.detail.reasons_of(ReasonKind::Guardrail).count(), 0);
}

#[test]
fn a_sample_ratio_mismatch_makes_it_inconclusive() {
    let e = experiment(ExperimentStatus::Completed, &[], 10);
    let mut all = users(2000, (0.6, 0.75), (1000.0, 1000.0), 5);
    let extra: Vec<UserRow> = all
        .iter()
        .filter(|u| u.variant == Variant::Control)
        .take(400)
        .cloned()
        .collect();
    all.extend(extra);
    let r = run(&e, &all, &[], Utc::now());
    assert!(r.detail.srm.as_ref().unwrap().mismatch);
    assert_eq!(r.comparison.recommendation, Recommendation::Inconclusive);
    assert!(
        r.detail
            .reasons
            .iter()
            .any(|x| x.contains("sample ratio mismatch"))
    );
}

#[test]
fn degenerate_data_gives_reasons_not_nan() {
    let e = experiment(ExperimentStatus::Completed, &["latency"], 10);
    // One user per arm, identical values: zero variance everywhere.
    let one = |variant| UserRow {
        variant,
        events: 1,
        errors: 0,
        sums: [(1, 0.5), (0, 0.0), (1, 100.0), (0, 0.0), (0, 0.0)],
        feedback: Feedback::default(),
        covariate: None,
    };
    let r = run(
        &e,
        &[one(Variant::Control), one(Variant::Treatment)],
        &[],
        Utc::now(),
    );
    assert!(r.detail.metrics[0].insufficient.is_some());
    assert_eq!(r.comparison.recommendation, Recommendation::Inconclusive);
    no_nan(&r);
    let zero: Vec<UserRow> = (0..400)
        .map(|i| UserRow {
            variant: if i % 2 == 0 {
                Variant::Control
            } else {
                Variant::Treatment
            },
            ..one(Variant::Control)
        })
        .collect();
    let r = run(&e, &zero, &[], Utc::now());
    assert!(
        r.detail.metrics[0]
            .insufficient
            .as_deref()
            .unwrap()
            .contains("zero variance")
    );
    no_nan(&r);
}

#[test]
fn charts_share_bins_and_count_feedback() {
    let e = experiment(ExperimentStatus::Active, &[], 3);
    let all = users(500, (0.6, 0.7), (300.0, 9000.0), 6);
    let r = run(
        &e,
        &all,
        &[DayRow {
            day: Utc::now().date_naive(),
            variant: Variant::Control,
            quality: (10, 0.6, 0.9),
        }],
        Utc::now(),
    );
    let d = &r.charts.latency_distribution;
    assert_eq!(d.scale, Scale::Log);
    assert_eq!(d.edges.len(), d.control.len() + 1);
    assert_eq!(d.control.iter().sum::<u64>(), 500);
    assert_eq!(d.treatment.iter().sum::<u64>(), 500);
    let s = &r.charts.satisfaction_breakdown;
    assert_eq!(s.categories, ["positive", "neutral", "negative"]);
    assert_eq!(
        (s.control[1], s.control[2]),
        (500, 0),
        "every user left one neutral"
    );
    assert!(
        s.treatment[0] > s.control[0],
        "treatment users were happier"
    );
    let point = &r.charts.quality_over_time[0];
    assert!(point.lower.unwrap() < 0.6 && point.upper.unwrap() > 0.6);
}

#[test]
fn cuped_reports_reduced_variance_beside_the_plain_figures() {
    let e = experiment(ExperimentStatus::Completed, &[], 10);
    let mut rng = Rng(crate::domain::splitmix::SplitMix64(9));
    let all: Vec<UserRow> = (0..2000)
        .map(|i| {
            let variant = if i % 2 == 0 {
                Variant::Control
            } else {
                Variant::Treatment
            };
            let pre = 0.6 + 0.15 * rng.normal();
            let lift = if variant == Variant::Treatment {
                0.02
            } else {
                0.0
            };
            let q = pre + lift + 0.03 * rng.normal();
            UserRow {
                variant,
                events: 1,
                errors: 0,
                sums: [(1, q), (0, 0.0), (0, 0.0), (0, 0.0), (0, 0.0)],
                feedback: Feedback::default(),
                covariate: Some(pre),
            }
        })
        .collect();
    let r = run(&e, &all, &[], Utc::now());
    let c = r.detail.cuped.as_ref().unwrap();
    assert_eq!(c.users, 2000);
    assert!(c.variance_reduction.unwrap() > 0.8, "{c:?}");
    let plain = &r.detail.metrics[0];
    let width = |i: &crate::domain::stats::Interval| i.upper - i.lower;
    assert!(
        width(c.absolute_ci.as_ref().unwrap()) < 0.5 * width(plain.absolute_ci.as_ref().unwrap())
    );
    assert!(
        c.p_value.unwrap() < 1e-6,
        "the 0.02 lift is clear once pre-experiment noise is removed"
    );
    let none = run(&e, &users(100, (0.6, 0.6), (1.0, 1.0), 1), &[], Utc::now());
    assert!(none.detail.cuped.is_none());
}

fn experiment_with(
    status: ExperimentStatus,
    primary: &str,
    criterion: serde_json::Value,
    secondary: &[&str],
) -> Experiment {
    let mut e = experiment(status, &[], 10);
    let input: ExperimentInput = serde_json::from_value(json!({
        "name": "x", "targetType": "prompt", "targetId": "p",
        "control": {"name": "A"}, "treatment": {"name": "B"},
        "allocation": {"control": 50, "treatment": 50},
        "primaryMetric": primary,
        "successCriteria": criterion,
        "secondaryMetrics": secondary,
        "minDuration": 7, "minSamplesPerVariant": 100
    }))
    .unwrap();
    e.spec = input.parse().unwrap();
    e
}

#[test]
fn a_verdict_once_reached_stays_when_a_later_look_is_less_clear() {
    let e = experiment(ExperimentStatus::Active, &[], 10);
    let first = run(
        &e,
        &users(2000, (0.60, 0.72), (1000.0, 1000.0), 11),
        &[],
        Utc::now(),
    );
    assert_eq!(first.detail.success_criterion.met, Some(true));
    assert_eq!(first.detail.looks, 1);
    // A later look whose data alone decides nothing (no difference at all).
    let later_users = users(2000, (0.66, 0.66), (1000.0, 1000.0), 12);
    let alone = run(&e, &later_users, &[], Utc::now());
    assert_ne!(alone.detail.success_criterion.met, Some(true));
    let data = Observed {
        users: &later_users,
        days: &[],
        assigned: None,
        users_in_both_arms: 0,
        latency: None,
    };
    let second = compute(&e, &data, Some(&first), Utc::now());
    assert_eq!(second.detail.looks, 2);
    assert_eq!(second.detail.success_criterion.met, Some(true));
    let (a, b) = (&first.detail.metrics[0], &second.detail.metrics[0]);
    assert!(b.sequential_p_value.unwrap() <= a.sequential_p_value.unwrap());
    let (ia, ib) = (a.sequential_ci.unwrap(), b.sequential_ci.unwrap());
    assert!(
        ib.lower >= ia.lower && ib.upper <= ia.upper,
        "{ia:?} {ib:?}"
    );
    assert!(b.sequential_relative_ci.unwrap().lower >= a.sequential_relative_ci.unwrap().lower);
    // A look at another experiment, or under another plan, is not carried.
    let mut other = e.clone();
    other.id = uuid::Uuid::from_u128(7);
    let fresh = compute(&other, &data, Some(&first), Utc::now());
    assert_eq!(fresh.detail.looks, 1);
    assert_ne!(fresh.detail.success_criterion.met, Some(true));
}

#[test]
fn a_latency_non_inferiority_criterion_refuses_a_regression_beyond_its_margin() {
    // "latency gets worse by at most 5 %": a 15 % rise is refused, no change is accepted.
    let criterion =
        json!({"metric": "latency", "operator": "<=", "threshold": 5, "confidenceLevel": 0.95});
    let e = experiment_with(ExperimentStatus::Completed, "latency", criterion, &[]);
    let worse = run(
        &e,
        &users(3000, (0.7, 0.7), (1000.0, 1150.0), 13),
        &[],
        Utc::now(),
    );
    assert_eq!(worse.detail.success_criterion.met, Some(false));
    assert_eq!(worse.comparison.recommendation, Recommendation::KeepControl);
    let same = run(
        &e,
        &users(3000, (0.7, 0.7), (1000.0, 1000.0), 14),
        &[],
        Utc::now(),
    );
    assert_eq!(
        same.detail.success_criterion.met,
        Some(true),
        "{:?}",
        same.detail.success_criterion
    );
    assert_eq!(
        same.comparison.recommendation,
        Recommendation::DeployTreatment
    );
    assert!(
        same.detail
            .success_criterion
            .text
            .contains("gets worse by at most 5%"),
        "{}",
        same.detail.success_criterion.text
    );
    assert_eq!(
        same.detail.success_criterion.improvement_to_beat,
        Some(-0.05)
    );
}

#[test]
fn a_latency_superiority_criterion_wants_latency_to_fall() {
    let criterion =
        json!({"metric": "latency", "operator": ">", "threshold": 5, "confidenceLevel": 0.95});
    let e = experiment_with(ExperimentStatus::Completed, "latency", criterion, &[]);
    let faster = run(
        &e,
        &users(3000, (0.7, 0.7), (1000.0, 800.0), 15),
        &[],
        Utc::now(),
    );
    assert_eq!(
        faster.comparison.recommendation,
        Recommendation::DeployTreatment
    );
    let slower = run(
        &e,
        &users(3000, (0.7, 0.7), (1000.0, 1040.0), 16),
        &[],
        Utc::now(),
    );
    assert_eq!(
        slower.comparison.recommendation,
        Recommendation::KeepControl
    );
}

#[test]
fn a_significantly_worse_primary_metric_blocks_a_deploy_on_another_criterion_metric() {
    // The criterion is on quality (clearly better); primaryMetric is latency, much worse.
    let criterion =
        json!({"metric": "quality", "operator": ">", "threshold": 5, "confidenceLevel": 0.95});
    let e = experiment_with(ExperimentStatus::Completed, "latency", criterion, &[]);
    let r = run(
        &e,
        &users(2000, (0.60, 0.72), (1000.0, 1500.0), 17),
        &[],
        Utc::now(),
    );
    assert_eq!(r.detail.metrics[0].metric, Metric::Quality);
    assert_eq!(r.detail.metrics[0].role, MetricRole::Primary);
    let latency = r
        .detail
        .metrics
        .iter()
        .find(|m| m.metric == Metric::Latency)
        .unwrap();
    assert_eq!(latency.role, MetricRole::PrimaryGuardrail);
    assert!(latency.worse);
    assert_eq!(r.comparison.recommendation, Recommendation::KeepControl);
    // statisticalSignificance is the criterion metric's
    let p = r.detail.metrics[0].sequential_p_value.unwrap();
    assert!((r.comparison.statistical_significance.unwrap() - (1.0 - p)).abs() < 1e-12);
}

#[test]
fn the_sample_ratio_check_counts_assigned_users() {
    let e = experiment(ExperimentStatus::Completed, &[], 10);
    let u = users(2000, (0.6, 0.75), (1000.0, 1000.0), 18);
    // Users with events are balanced, but far more were assigned to control.
    let data = Observed {
        users: &u,
        days: &[],
        assigned: Some([3000, 2000]),
        users_in_both_arms: 0,
        latency: None,
    };
    let r = compute(&e, &data, None, Utc::now());
    assert_eq!(r.detail.srm_basis, "assigned users");
    assert!(r.detail.srm.as_ref().unwrap().mismatch);
    assert_eq!(r.comparison.recommendation, Recommendation::Inconclusive);
    // Without the counts, the users with events are counted.
    let r = run(&e, &u, &[], Utc::now());
    assert_eq!(r.detail.srm_basis, "users with events");
    assert!(!r.detail.srm.as_ref().unwrap().mismatch);
}
