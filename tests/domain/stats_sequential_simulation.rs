//! Monte-Carlo check of "peeking": 2,000 A/A experiments, one look per day
//! for 14 days, 50 new users per arm per day. A fixed-horizon Welch test
//! that is allowed to stop at the first look with p < 0.05 rejects far more
//! often than 5 %; the mixture-SPRT always-valid p-value must not.
//!
//! Deterministic (own PRNG, fixed seed), no external crates, ~1 s in debug.

use verdict::domain::splitmix::SplitMix64;
use verdict::domain::stats::{Summary, sequential_test, welch_test};

/// Box–Muller: a pair of independent N(0, 1) draws per two uniforms.
struct Normals {
    rng: SplitMix64,
    spare: Option<f64>,
}

impl Normals {
    fn new(seed: u64) -> Self {
        Self {
            rng: SplitMix64(seed),
            spare: None,
        }
    }

    fn next(&mut self) -> f64 {
        if let Some(z) = self.spare.take() {
            return z;
        }
        let r = (-2.0 * self.rng.open_unit().ln()).sqrt();
        let theta = 2.0 * std::f64::consts::PI * self.rng.open_unit();
        self.spare = Some(r * theta.sin());
        r * theta.cos()
    }
}

const EXPERIMENTS: usize = 2_000;
const DAYS: usize = 14;
const USERS_PER_ARM_PER_DAY: usize = 50;
const CONFIDENCE: f64 = 0.95;
const ALPHA: f64 = 1.0 - CONFIDENCE;
/// Tuning parameter N*: the planned total sample (both arms, last day).
const TUNING_N: f64 = (2 * DAYS * USERS_PER_ARM_PER_DAY) as f64;

struct Rates {
    fixed_any_look: f64,
    fixed_last_look: f64,
    sequential_any_look: f64,
}

/// Runs the experiments with a true treatment effect of `effect` (in units
/// of the standard deviation) and returns rejection rates.
fn simulate(seed: u64, experiments: usize, effect: f64) -> Rates {
    let mut normals = Normals::new(seed);
    let (mut fixed_any, mut fixed_last, mut seq_any) = (0usize, 0usize, 0usize);
    for _ in 0..experiments {
        let mut control = Summary::new();
        let mut treatment = Summary::new();
        let (mut f_hit, mut s_hit) = (false, false);
        for day in 0..DAYS {
            for _ in 0..USERS_PER_ARM_PER_DAY {
                control.add(10.0 + 3.0 * normals.next());
                treatment.add(10.0 + 3.0 * (normals.next() + effect));
            }
            let w = welch_test(&control, &treatment, CONFIDENCE).expect("enough data");
            let s =
                sequential_test(&control, &treatment, CONFIDENCE, TUNING_N).expect("enough data");
            // duality of the always-valid p-value and confidence sequence
            assert_eq!(s.p_value < ALPHA, !s.ci.contains(0.0), "{s:?}");
            f_hit |= w.p_value < ALPHA;
            s_hit |= s.p_value < ALPHA;
            if day == DAYS - 1 && w.p_value < ALPHA {
                fixed_last += 1;
            }
        }
        fixed_any += usize::from(f_hit);
        seq_any += usize::from(s_hit);
    }
    let n = experiments as f64;
    Rates {
        fixed_any_look: fixed_any as f64 / n,
        fixed_last_look: fixed_last as f64 / n,
        sequential_any_look: seq_any as f64 / n,
    }
}

#[test]
fn peeking_inflates_fixed_horizon_but_not_msprt() {
    let r = simulate(0x5EED_A11A, EXPERIMENTS, 0.0);
    println!(
        "A/A, {EXPERIMENTS} experiments x {DAYS} daily looks, {USERS_PER_ARM_PER_DAY} users/arm/day, \
         N* = {TUNING_N}:"
    );
    println!(
        "  fixed-horizon Welch, reject at ANY look:  {:.4}",
        r.fixed_any_look
    );
    println!(
        "  fixed-horizon Welch, last look only:      {:.4}",
        r.fixed_last_look
    );
    println!(
        "  mixture SPRT always-valid p, ANY look:    {:.4}",
        r.sequential_any_look
    );
    // Monte-Carlo SE of a 5 % rate over 2,000 runs is ~0.005.
    assert!(
        (r.fixed_last_look - ALPHA).abs() < 0.02,
        "a single look must be calibrated"
    );
    assert!(
        r.fixed_any_look > 0.12,
        "peeking should inflate the error rate"
    );
    assert!(
        r.sequential_any_look <= ALPHA + 0.015,
        "always-valid p-value must control the error rate"
    );
}

#[test]
fn msprt_still_detects_a_real_effect() {
    // 0.2 SD effect: z ≈ 3.7 at day 14 (fixed-horizon power ≈ 96 %).
    let r = simulate(0x00E7_7EC7, 200, 0.2);
    println!(
        "effect 0.2 SD, 200 experiments: fixed any look {:.3}, sequential any look {:.3}",
        r.fixed_any_look, r.sequential_any_look
    );
    // the price of always-valid inference is some power, not most of it
    assert!(r.sequential_any_look > 0.6, "{}", r.sequential_any_look);
    assert!(r.fixed_last_look > r.sequential_any_look - 0.2);
}
