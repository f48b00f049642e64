//! The decision simulation: thousands of simulated experiments run through Verdict's own
//! results code (`verdict::domain::results::compute`, the function the server calls at
//! every look, with the previous look's report carried as the server carries its stored
//! snapshot), under the workflows people follow, counting how often the final
//! recommendation is `deploy_treatment`.
//!
//! Shared by `cargo run --release --example simulate` (the table in docs/STATISTICS.md)
//! and the smaller run in `tests/domain/decision_simulation.rs`.

#![allow(dead_code)]

use chrono::{DateTime, Duration, TimeZone, Utc};
use verdict::domain::ExperimentStatus;
use verdict::domain::assignment::Variant;
use verdict::domain::experiment::{Experiment, ExperimentInput};
use verdict::domain::results::{
    Feedback, Observed, Recommendation, ResultsReport, UserRow, compute, plan,
};
use verdict::domain::splitmix::SplitMix64;

/// The domain's SplitMix64, with the normal draws the simulation needs.
pub struct Rng(SplitMix64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Self(SplitMix64(seed))
    }

    /// Uniform in (0, 1).
    pub fn uniform(&mut self) -> f64 {
        self.0.open_unit()
    }

    /// Standard normal (Box–Muller, one draw per call).
    pub fn normal(&mut self) -> f64 {
        let (u, v) = (self.uniform(), self.uniform());
        (-2.0 * u.ln()).sqrt() * (2.0 * std::f64::consts::PI * v).cos()
    }
}

/// The kind of data a metric has.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Shape {
    /// Quality: normal, mean 0.7 and standard deviation 0.2 (the plan's prior).
    Normal,
    /// Latency: log-normal, mean 1500 ms, coefficient of variation 0.5 (right-skewed).
    HeavyTailed,
    /// Satisfaction: one thumbs-up (1) or not (0) per user, rate 0.7.
    Binary,
}

/// One simulated situation: a metric, a success criterion, and the true relative lift of
/// the treatment's mean (raw: treatment/control − 1).
#[derive(Debug, Clone)]
pub struct Scenario {
    pub name: &'static str,
    pub shape: Shape,
    /// `>`, `>=`, `<` or `<=`.
    pub operator: &'static str,
    /// Percent.
    pub threshold: f64,
    /// Percent; `None` for the default (5).
    pub mde: Option<f64>,
    /// The true raw lift (fraction).
    pub true_lift: f64,
    /// Whether deploying is wrong here (the truth is on the null's boundary or worse): the
    /// deploy rate is then a false deploy rate, to be at most α.
    pub null: bool,
}

impl Scenario {
    fn metric(&self) -> &'static str {
        match self.shape {
            Shape::Normal => "quality",
            Shape::HeavyTailed => "latency",
            Shape::Binary => "satisfaction",
        }
    }

    /// The experiment the scenario runs, started at `start`, with `min_duration` days.
    pub fn experiment(&self, min_duration: u32, start: DateTime<Utc>) -> Experiment {
        let mut criterion = serde_json::json!({
            "metric": self.metric(), "operator": self.operator,
            "threshold": self.threshold, "confidenceLevel": CONFIDENCE,
        });
        if let Some(m) = self.mde {
            criterion["minimumDetectableEffect"] = m.into();
        }
        let input: ExperimentInput = serde_json::from_value(serde_json::json!({
            "name": self.name, "targetType": "prompt", "targetId": "simulated",
            "control": {"name": "A"}, "treatment": {"name": "B"},
            "allocation": {"control": 50, "treatment": 50},
            "primaryMetric": self.metric(),
            "successCriteria": criterion,
            "minDuration": min_duration, "minSamplesPerVariant": 100
        }))
        .expect("a valid simulated experiment");
        Experiment {
            id: uuid::Uuid::from_u128(1),
            tenant_id: "sim".into(),
            spec: input.parse().expect("a valid simulated experiment"),
            status: ExperimentStatus::Active,
            start_date: Some(start),
            end_date: None,
            layer_slice: None,
            kind: Default::default(),
            results: None,
            winner: None,
            created_by: "simulation".into(),
            approved_by: None,
            created_at: start,
            updated_at: start,
            version: 1,
        }
    }

    /// One user of `variant`.
    fn user(&self, variant: Variant, rng: &mut Rng) -> UserRow {
        let lift = if variant == Variant::Treatment {
            1.0 + self.true_lift
        } else {
            1.0
        };
        let mut row = UserRow {
            variant,
            events: 1,
            errors: 0,
            sums: [(0, 0.0); 5],
            feedback: Feedback::default(),
            covariate: None,
        };
        match self.shape {
            Shape::Normal => row.sums[0] = (1, (0.7 + 0.2 * rng.normal()) * lift),
            Shape::HeavyTailed => {
                // log-normal with mean 1500·lift and cv 0.5
                let s2 = (1.0f64 + 0.25).ln();
                let mu = (1500.0 * lift).ln() - s2 / 2.0;
                row.sums[2] = (1, (mu + s2.sqrt() * rng.normal()).exp());
            }
            Shape::Binary => {
                if rng.uniform() < (0.7 * lift).min(1.0) {
                    row.feedback.positive = 1;
                } else {
                    row.feedback.negative = 1;
                }
            }
        }
        row
    }
}

pub const CONFIDENCE: f64 = 0.95;
pub const ALPHA: f64 = 1.0 - CONFIDENCE;
/// Days an experiment can run; the planned size is reached on day `PLANNED_DAY`.
pub const DAYS: u32 = 14;
pub const PLANNED_DAY: u32 = 10;
/// The minimum duration of the experiments (a week, as most teams set it).
pub const MIN_DURATION: u32 = 7;

/// How people run experiments: when they stop, looking at the results page every day.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Workflow {
    /// Stop at the first daily look from the minimum duration on where the fixed-horizon
    /// Welch p-value on screen is below α (or run to the end).
    PeekWelch,
    /// The same, with a minimum duration of one day.
    PeekWelchFromDayOne,
    /// Stop at the first look where Verdict recommends deploying (or run to the end).
    FirstDeploy,
    /// Stop when the minimum duration is reached.
    AtMinDuration,
    /// Stop at the first look where both arms have the planned size.
    AtPlannedSize,
    /// Run all the days.
    ToTheEnd,
}

impl Workflow {
    pub const ALL: [Workflow; 6] = [
        Workflow::PeekWelch,
        Workflow::PeekWelchFromDayOne,
        Workflow::FirstDeploy,
        Workflow::AtMinDuration,
        Workflow::AtPlannedSize,
        Workflow::ToTheEnd,
    ];

    pub fn label(self) -> &'static str {
        match self {
            Workflow::PeekWelch => "stop at first Welch p<α (from day 7)",
            Workflow::PeekWelchFromDayOne => "stop at first Welch p<α (minDuration 1)",
            Workflow::FirstDeploy => "stop at first deploy recommendation",
            Workflow::AtMinDuration => "stop at minDuration (day 7)",
            Workflow::AtPlannedSize => "stop at the planned size",
            Workflow::ToTheEnd => "run to the end (day 14)",
        }
    }
}

/// Deploys per workflow over `runs` simulated experiments of `scenario`.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub runs: usize,
    pub planned_per_variant: u64,
    pub deploys: Vec<(Workflow, usize)>,
}

impl Outcome {
    pub fn rate(&self, w: Workflow) -> f64 {
        let d = self
            .deploys
            .iter()
            .find(|(x, _)| *x == w)
            .map_or(0, |(_, d)| *d);
        d as f64 / self.runs as f64
    }
}

fn primary_welch_p(r: &ResultsReport) -> Option<f64> {
    r.detail.metrics.first().and_then(|m| m.p_value)
}

/// The final report when the experiment is stopped by hand at look `day` (whose report is
/// `at_look`): completed, judged with the last look carried.
fn stop(
    e: &Experiment,
    min_duration: u32,
    data: &Observed<'_>,
    at_look: &ResultsReport,
    now: DateTime<Utc>,
) -> Recommendation {
    let mut done = e.clone();
    done.spec.min_duration = min_duration as u16;
    done.status = ExperimentStatus::Completed;
    done.end_date = Some(now);
    compute(&done, data, Some(at_look), now)
        .comparison
        .recommendation
}

/// Runs `runs` experiments of `scenario` from `seed`, on `threads` threads.
pub fn simulate(scenario: &Scenario, runs: usize, seed: u64, threads: usize) -> Outcome {
    let start = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
    let e = scenario.experiment(MIN_DURATION, start);
    let planned = plan(&e.spec).per_variant;
    let per_day = planned.div_ceil(u64::from(PLANNED_DAY)) as usize;
    let threads = threads.max(1);
    let chunks: Vec<Vec<usize>> = (0..threads)
        .map(|t| (0..runs).filter(|r| r % threads == t).collect())
        .collect();
    let counts: Vec<Vec<usize>> = std::thread::scope(|s| {
        let handles: Vec<_> = chunks
            .iter()
            .map(|chunk| {
                let e = &e;
                s.spawn(move || {
                    let mut deploys = vec![0usize; Workflow::ALL.len()];
                    for &run in chunk {
                        let outcome = one_run(scenario, e, planned, per_day, seed, run, start);
                        for (i, d) in outcome.iter().enumerate() {
                            deploys[i] += usize::from(*d);
                        }
                    }
                    deploys
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("a simulation thread"))
            .collect()
    });
    let deploys = Workflow::ALL
        .iter()
        .enumerate()
        .map(|(i, w)| (*w, counts.iter().map(|c| c[i]).sum()))
        .collect();
    Outcome {
        runs,
        planned_per_variant: planned,
        deploys,
    }
}

/// One experiment, looked at daily: whether each workflow ends in a deploy.
fn one_run(
    scenario: &Scenario,
    e: &Experiment,
    planned: u64,
    per_day: usize,
    seed: u64,
    run: usize,
    start: DateTime<Utc>,
) -> [bool; Workflow::ALL.len()] {
    let mut rng = Rng::new(seed ^ (run as u64).wrapping_mul(0xA24B_AED4_963E_E407));
    let mut users: Vec<UserRow> = Vec::new();
    let mut previous: Option<ResultsReport> = None;
    let mut decided: [Option<bool>; Workflow::ALL.len()] = [None; Workflow::ALL.len()];
    for day in 1..=DAYS {
        for _ in 0..per_day {
            users.push(scenario.user(Variant::Control, &mut rng));
            users.push(scenario.user(Variant::Treatment, &mut rng));
        }
        let now = start + Duration::days(i64::from(day));
        let arm = (users.len() / 2) as u64;
        let data = Observed {
            users: &users,
            days: &[],
            assigned: Some([arm, arm]),
            users_in_both_arms: 0,
            latency: None,
        };
        let look = compute(e, &data, previous.as_ref(), now);
        let last = day == DAYS;
        let welch_sig = primary_welch_p(&look).is_some_and(|p| p < ALPHA);
        for (i, w) in Workflow::ALL.iter().enumerate() {
            if decided[i].is_some() {
                continue;
            }
            let (stop_now, min_duration) = match w {
                Workflow::PeekWelch => (day >= MIN_DURATION && welch_sig, MIN_DURATION),
                Workflow::PeekWelchFromDayOne => (welch_sig, 1),
                Workflow::FirstDeploy => (
                    look.comparison.recommendation == Recommendation::DeployTreatment,
                    MIN_DURATION,
                ),
                Workflow::AtMinDuration => (day == MIN_DURATION, MIN_DURATION),
                Workflow::AtPlannedSize => (arm >= planned, MIN_DURATION),
                Workflow::ToTheEnd => (false, MIN_DURATION),
            };
            if stop_now || last {
                decided[i] = Some(
                    stop(e, min_duration, &data, &look, now) == Recommendation::DeployTreatment,
                );
            }
        }
        previous = Some(look);
        if decided.iter().all(Option::is_some) {
            break;
        }
    }
    decided.map(|d| d.unwrap_or(false))
}

/// The scenarios of the table in docs/STATISTICS.md: for each kind of metric, the truth on
/// the null's boundary (deploying is wrong) and at threshold + MDE (the plan's power).
pub fn scenarios() -> Vec<Scenario> {
    let s = |name, shape, operator, threshold, true_lift, null| Scenario {
        name,
        shape,
        operator,
        threshold,
        mde: None,
        true_lift,
        null,
    };
    vec![
        s("quality A/A, > 0 %", Shape::Normal, ">", 0.0, 0.0, true),
        s("quality +5 %, > 5 %", Shape::Normal, ">", 5.0, 0.05, true),
        s("quality +10 %, > 5 %", Shape::Normal, ">", 5.0, 0.10, false),
        s(
            "latency −5 %, > 5 % (falls by more than 5 %)",
            Shape::HeavyTailed,
            ">",
            5.0,
            -0.05,
            true,
        ),
        s(
            "latency −10 %, > 5 %",
            Shape::HeavyTailed,
            ">",
            5.0,
            -0.10,
            false,
        ),
        s(
            "latency +5 %, <= 5 % (rises by at most 5 %)",
            Shape::HeavyTailed,
            "<=",
            5.0,
            0.05,
            true,
        ),
        s(
            "latency ±0 %, <= 5 %",
            Shape::HeavyTailed,
            "<=",
            5.0,
            0.0,
            false,
        ),
        s(
            "satisfaction A/A, > 0 %",
            Shape::Binary,
            ">",
            0.0,
            0.0,
            true,
        ),
        s(
            "satisfaction +5 %, > 0 %",
            Shape::Binary,
            ">",
            0.0,
            0.05,
            false,
        ),
    ]
}
