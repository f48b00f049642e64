//! A smaller run of the decision simulation (`cargo run --release --example simulate` prints
//! the full table of docs/STATISTICS.md): Verdict's own results code, looked at daily, under
//! the workflows people follow. The effects are sized with a 20 % minimum detectable effect
//! so that a debug build runs thousands of experiments in seconds; the goals are those of
//! the full table, within three Monte-Carlo standard errors.

use crate::common::decision_sim::{ALPHA, Scenario, Shape, Workflow, simulate};

const RUNS: usize = 2000;

fn se(p: f64) -> f64 {
    (p * (1.0 - p) / RUNS as f64).sqrt()
}

fn scenario(
    name: &'static str,
    shape: Shape,
    operator: &'static str,
    threshold: f64,
    lift: f64,
    null: bool,
) -> Scenario {
    Scenario {
        name,
        shape,
        operator,
        threshold,
        mde: Some(20.0),
        true_lift: lift,
        null,
    }
}

fn threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get().min(2))
}

/// On the null's boundary every workflow — peeking at the fixed-horizon p-value and
/// stopping by hand, stopping at the first deploy recommendation, at minDuration, at the
/// planned size, at the end — deploys at most α of the time.
#[test]
fn no_workflow_deploys_more_than_alpha_on_the_null() {
    for s in [
        scenario("quality A/A, > 0 %", Shape::Normal, ">", 0.0, 0.0, true),
        scenario("quality +5 %, > 5 %", Shape::Normal, ">", 5.0, 0.05, true),
        scenario(
            "latency +5 %, <= 5 %",
            Shape::HeavyTailed,
            "<=",
            5.0,
            0.05,
            true,
        ),
    ] {
        let out = simulate(&s, RUNS, 2026, threads());
        for w in Workflow::ALL {
            let rate = out.rate(w);
            assert!(
                rate <= ALPHA + 3.0 * se(ALPHA),
                "{}: {} deploys {:.2} % of the time at α = {ALPHA}",
                s.name,
                w.label(),
                rate * 100.0
            );
        }
    }
}

/// At threshold + MDE the plan's size gives at least 80 % power when the experiment is
/// stopped at the planned size or run to the end.
#[test]
fn the_planned_size_has_the_planned_power() {
    for s in [
        scenario("quality +25 %, > 5 %", Shape::Normal, ">", 5.0, 0.25, false),
        scenario(
            "latency −25 %, > 5 %",
            Shape::HeavyTailed,
            ">",
            5.0,
            -0.25,
            false,
        ),
        scenario(
            "latency −15 %, <= 5 %",
            Shape::HeavyTailed,
            "<=",
            5.0,
            -0.15,
            false,
        ),
    ] {
        let out = simulate(&s, RUNS, 7, threads());
        assert!(out.planned_per_variant >= 2);
        for w in [Workflow::AtPlannedSize, Workflow::ToTheEnd] {
            let rate = out.rate(w);
            assert!(
                rate >= 0.8 - 3.0 * se(0.8),
                "{}: {} power {:.1} % at {} per arm",
                s.name,
                w.label(),
                rate * 100.0,
                out.planned_per_variant
            );
        }
    }
}
