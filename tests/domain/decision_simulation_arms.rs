//! The decision rule of more than two arms, by simulation: experiments of four arms run
//! through Verdict's own results code (`compute_arms`, with the previous look carried as the
//! server carries its snapshot), looked at daily, under the workflows people follow.
//! - With every treatment on the null's boundary, the chance of deploying any arm stays at
//!   most α (the family-wise error of the k − 1 comparisons, under peeking).
//! - With one treatment truly better by threshold + MDE and the others not, Verdict
//!   recommends that arm, and (almost) never another.

use crate::common::decision_sim::{ALPHA, CONFIDENCE, DAYS, MIN_DURATION, Rng};
use chrono::{DateTime, Duration, TimeZone, Utc};
use verdict::domain::ExperimentStatus;
use verdict::domain::assignment::Variant;
use verdict::domain::experiment::{Experiment, ExperimentInput};
use verdict::domain::results::{
    Feedback, ObservedArms, Recommendation, ResultsReport, UserRow, compute_arms, plan,
};

const RUNS: usize = 1200;
const KEYS: [&str; 4] = ["control", "b", "c", "d"];

fn experiment(threshold: f64, start: DateTime<Utc>) -> Experiment {
    let input: ExperimentInput = serde_json::from_value(serde_json::json!({
        "name": "four arms", "targetType": "prompt", "targetId": "simulated",
        "variants": KEYS.iter().map(|k| serde_json::json!({"key": k, "name": k})).collect::<Vec<_>>(),
        "allocation": {"control": 25, "b": 25, "c": 25, "d": 25},
        "primaryMetric": "quality",
        "successCriteria": {"metric": "quality", "operator": ">", "threshold": threshold,
                            "confidenceLevel": CONFIDENCE, "minimumDetectableEffect": 20.0},
        "minDuration": MIN_DURATION, "minSamplesPerVariant": 100
    }))
    .expect("a valid simulated experiment");
    Experiment {
        id: uuid::Uuid::from_u128(4),
        tenant_id: "sim".into(),
        spec: input.parse().expect("a valid simulated experiment"),
        status: ExperimentStatus::Active,
        start_date: Some(start),
        end_date: None,
        results: None,
        winner: None,
        created_by: "simulation".into(),
        approved_by: None,
        created_at: start,
        updated_at: start,
        version: 1,
        layer_slice: None,
        kind: Default::default(),
    }
}

fn user(variant: Variant, lift: f64, rng: &mut Rng) -> UserRow {
    let mut row = UserRow {
        variant,
        events: 1,
        errors: 0,
        sums: [(0, 0.0); 5],
        feedback: Feedback::default(),
        covariate: None,
    };
    row.sums[0] = (1, (0.7 + 0.2 * rng.normal()) * (1.0 + lift));
    row
}

/// What each workflow ended with: the arm deployed, if any.
#[derive(Debug, Default, Clone, Copy)]
struct Ends {
    first_deploy: Option<Variant>,
    at_min_duration: Option<Variant>,
    to_the_end: Option<Variant>,
}

fn deployed(r: &ResultsReport) -> Option<Variant> {
    (r.comparison.recommendation == Recommendation::DeployTreatment)
        .then_some(r.recommended_arm)
        .flatten()
}

/// The final report when stopped by hand at this look.
fn stop(
    e: &Experiment,
    data: &ObservedArms<'_>,
    look: &ResultsReport,
    now: DateTime<Utc>,
) -> Option<Variant> {
    let mut done = e.clone();
    done.status = ExperimentStatus::Completed;
    done.end_date = Some(now);
    deployed(&compute_arms(&done, data, Some(look), now))
}

/// One experiment of four arms with the true lifts `lifts` (control first), looked at daily.
fn one_run(e: &Experiment, lifts: [f64; 4], per_day: usize, seed: u64) -> Ends {
    let start = e.start_date.unwrap_or_default();
    let keys: Vec<Variant> = KEYS.iter().map(|k| k.parse().unwrap()).collect();
    let mut rng = Rng::new(seed);
    let mut users: Vec<UserRow> = Vec::new();
    let mut previous: Option<ResultsReport> = None;
    let mut ends = Ends::default();
    let (mut first_done, mut min_done) = (false, false);
    for day in 1..=DAYS {
        for _ in 0..per_day {
            for (k, lift) in keys.iter().zip(lifts) {
                users.push(user(*k, lift, &mut rng));
            }
        }
        let now = start + Duration::days(i64::from(day));
        let per_arm = (users.len() / 4) as u64;
        let assigned: Vec<(Variant, u64)> = keys.iter().map(|k| (*k, per_arm)).collect();
        let data = ObservedArms {
            users: &users,
            days: &[],
            assigned: Some(&assigned),
            users_in_both_arms: 0,
            latency: None,
        };
        let look = compute_arms(e, &data, previous.as_ref(), now);
        let last = day == DAYS;
        if !first_done && (deployed(&look).is_some() || last) {
            ends.first_deploy = stop(e, &data, &look, now);
            first_done = true;
        }
        if !min_done && day == MIN_DURATION {
            ends.at_min_duration = stop(e, &data, &look, now);
            min_done = true;
        }
        if last {
            ends.to_the_end = stop(e, &data, &look, now);
        }
        previous = Some(look);
    }
    ends
}

fn run_all(threshold: f64, lifts: [f64; 4]) -> Vec<Ends> {
    let start = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
    let e = experiment(threshold, start);
    // Sized so that the planned size per arm is reached around day 10, as in the two-arm
    // simulation (the plan is the pair's, at its corrected level).
    let mut pair = e.clone();
    pair.spec.success_criteria.confidence_level =
        verdict::domain::results::per_comparison_confidence(CONFIDENCE, 4);
    let per_day = plan(&pair.spec).per_variant.div_ceil(10) as usize;
    let threads = 2;
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let e = &e;
                s.spawn(move || {
                    (0..RUNS)
                        .filter(|r| r % threads == t)
                        .map(|r| {
                            one_run(
                                e,
                                lifts,
                                per_day,
                                0x5eed ^ (r as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15),
                            )
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap())
            .collect()
    })
}

fn rate(
    ends: &[Ends],
    pick: impl Fn(&Ends) -> Option<Variant>,
    wanted: impl Fn(Variant) -> bool,
) -> f64 {
    ends.iter().filter(|e| pick(e).is_some_and(&wanted)).count() as f64 / ends.len() as f64
}

fn se(p: f64) -> f64 {
    (p * (1.0 - p) / RUNS as f64).sqrt()
}

#[test]
fn with_every_treatment_on_the_null_no_workflow_deploys_any_arm_more_than_alpha() {
    // Threshold 5 %: every treatment is exactly 5 % better (the null's boundary).
    let ends = run_all(5.0, [0.0, 0.05, 0.05, 0.05]);
    for (label, r) in [
        (
            "stop at first deploy",
            rate(&ends, |e| e.first_deploy, |_| true),
        ),
        (
            "stop at minDuration",
            rate(&ends, |e| e.at_min_duration, |_| true),
        ),
        ("run to the end", rate(&ends, |e| e.to_the_end, |_| true)),
    ] {
        eprintln!(
            "four arms on the null, {label}: deploys any arm {:.2} %",
            r * 100.0
        );
        assert!(
            r <= ALPHA + 3.0 * se(ALPHA),
            "{label}: {:.2} % at α = {ALPHA}",
            r * 100.0
        );
    }
}

#[test]
fn the_one_better_arm_is_the_one_recommended() {
    // Threshold 5 %, MDE 20 %: arm c is 25 % better, b is 5 % better (the null), d is 5 % worse.
    let ends = run_all(5.0, [0.0, 0.05, 0.25, -0.05]);
    let c: Variant = "c".parse().unwrap();
    let right = rate(&ends, |e| e.to_the_end, |v| v == c);
    let wrong = rate(&ends, |e| e.to_the_end, |v| v != c);
    eprintln!(
        "one better arm: deploys c {:.1} %, another {:.2} %",
        right * 100.0,
        wrong * 100.0
    );
    assert!(
        right >= 0.75,
        "c deployed {:.1} % of the time",
        right * 100.0
    );
    assert!(
        wrong <= ALPHA + 3.0 * se(ALPHA),
        "another arm {:.2} %",
        wrong * 100.0
    );
}
