//! The decision simulation (docs/STATISTICS.md, "Simulation"): Verdict's own results code
//! over thousands of simulated experiments, per workflow, printing the deploy rate.
//!
//! `cargo run --release --example simulate -- [--runs 4000] [--seed 2026] [--threads 2]`
//!
//! Exits 1 when a goal fails: a false deploy rate above α beyond Monte-Carlo error (three
//! standard errors), or a power below 80 % at the planned size (the same margin).

#[path = "../tests/domain/common/decision_sim.rs"]
mod decision_sim;

use decision_sim::{ALPHA, Workflow, scenarios, simulate};

fn arg(name: &str, default: u64) -> u64 {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn main() {
    let runs = arg("--runs", 4000) as usize;
    let seed = arg("--seed", 2026);
    let threads = arg("--threads", 2) as usize;
    println!(
        "{runs} simulated experiments per scenario, seed {seed}; daily looks for {} days, the \
         planned size reached on day {}, minDuration {}; α = {ALPHA:.2}. Deploy rate per workflow \
         (a false deploy rate where the scenario is a null, the power otherwise).\n",
        decision_sim::DAYS,
        decision_sim::PLANNED_DAY,
        decision_sim::MIN_DURATION
    );
    let mut header = "| scenario | planned per arm |".to_owned();
    let mut rule = "|---|---:|".to_owned();
    for w in Workflow::ALL {
        header.push_str(&format!(" {} |", w.label()));
        rule.push_str("---:|");
    }
    println!("{header}\n{rule}");
    let mut failed = Vec::new();
    for s in scenarios() {
        let started = std::time::Instant::now();
        let out = simulate(&s, runs, seed, threads);
        let mut line = format!(
            "| {}{} | {} |",
            s.name,
            if s.null { " (null)" } else { "" },
            out.planned_per_variant
        );
        for w in Workflow::ALL {
            let rate = out.rate(w);
            line.push_str(&format!(" {:.1} % |", rate * 100.0));
            let se = |p: f64| (p * (1.0 - p) / runs as f64).sqrt();
            if s.null && rate > ALPHA + 3.0 * se(ALPHA) {
                failed.push(format!(
                    "{}: {} false deploys {:.1} %",
                    s.name,
                    w.label(),
                    rate * 100.0
                ));
            }
            let at_plan = matches!(w, Workflow::AtPlannedSize | Workflow::ToTheEnd);
            if !s.null && at_plan && rate < 0.8 - 3.0 * se(0.8) {
                failed.push(format!(
                    "{}: {} power {:.1} %",
                    s.name,
                    w.label(),
                    rate * 100.0
                ));
            }
        }
        println!("{line}");
        eprintln!("  ({} in {:.0} s)", s.name, started.elapsed().as_secs_f64());
    }
    if failed.is_empty() {
        println!(
            "\nEvery goal holds: false deploy rates ≤ α and power ≥ 80 % at the planned size, within 3 Monte-Carlo standard errors."
        );
    } else {
        println!("\nGoals that fail:");
        for f in &failed {
            println!("- {f}");
        }
        std::process::exit(1);
    }
}
