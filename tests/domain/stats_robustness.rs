//! Adversarial inputs: every public function, fed a grid of degenerate and
//! extreme values, must return either `Err(Insufficient)` or an output whose
//! numbers are all finite — never panic, never NaN/inf.

use serde::Serialize;
use serde_json::Value;
use verdict::domain::stats::{
    Comparison, CovSummary, Describe, Direction, Proportion, Summary, cuped_adjust, holm_adjust,
    percentile, proportion_relative_lift, proportion_z_test, relative_lift,
    sample_size_per_variant, sequential_test, srm_check, welch_test,
};

/// serde_json turns NaN/inf into `null`; none of the checked outputs has an
/// optional field, so any `null` means a non-finite number leaked.
fn assert_all_finite<T: Serialize + std::fmt::Debug>(what: &str, out: &T) {
    fn walk(v: &Value) -> bool {
        match v {
            Value::Null => false,
            Value::Number(n) => n.as_f64().is_some_and(f64::is_finite),
            Value::Array(a) => a.iter().all(walk),
            Value::Object(o) => o.values().all(walk),
            _ => true,
        }
    }
    let v = serde_json::to_value(out).unwrap();
    assert!(walk(&v), "{what}: non-finite output {out:?}");
}

const NS: [u64; 6] = [0, 1, 2, 3, 1_000_000, u64::MAX];
const MEANS: [f64; 8] = [
    0.0,
    -0.0,
    1e-300,
    -5.0,
    1e300,
    f64::NAN,
    f64::INFINITY,
    f64::MIN_POSITIVE,
];
const M2S: [f64; 6] = [0.0, 1.0, 1e300, -1.0, f64::NAN, f64::INFINITY];
const CONFIDENCES: [f64; 5] = [0.95, 0.0, 1.0, f64::NAN, 1e-300];

fn summaries() -> Vec<Summary> {
    let mut v = Vec::new();
    for n in NS {
        for mean in MEANS {
            for m2 in M2S {
                v.push(Summary { n, mean, m2 });
            }
        }
    }
    v
}

#[test]
fn two_sample_tests_never_leak_non_finite_values() {
    let all = summaries();
    // a representative subset on one side keeps the grid fast in debug
    let partners: Vec<Summary> = all.iter().step_by(7).copied().collect();
    let mut ok = 0usize;
    for c in &all {
        for t in &partners {
            for conf in CONFIDENCES {
                for (a, b) in [(c, t), (t, c)] {
                    if let Ok(r) = welch_test(a, b, conf) {
                        assert_all_finite("welch", &r);
                        assert!(r.p_value >= 0.0 && r.p_value <= 1.0);
                        assert!(r.ci.lower <= r.ci.upper);
                        ok += 1;
                    }
                    if let Ok(r) = relative_lift(a, b, conf) {
                        assert_all_finite("lift", &r);
                        for cmp in [Comparison::Greater, Comparison::LessOrEqual] {
                            for dir in [Direction::HigherIsBetter, Direction::LowerIsBetter] {
                                if let Ok(tt) = r.threshold_test(cmp, 0.01, dir, conf) {
                                    assert_all_finite("threshold", &tt);
                                }
                            }
                        }
                    }
                    if let Ok(r) = sequential_test(a, b, conf, 1000.0) {
                        assert_all_finite("sequential", &r);
                        assert!(r.p_value >= 0.0 && r.p_value <= 1.0);
                    }
                }
            }
        }
    }
    assert!(ok > 0, "the grid must contain valid cases too");
}

#[test]
fn single_sample_helpers_never_leak_non_finite_values() {
    let values = [0.0, 1e300, -1e300, f64::NAN, f64::INFINITY, 5e-324, 3.0];
    for i in 0..values.len() {
        for j in i..values.len() {
            let slice = &values[i..j];
            if let Ok(d) = Describe::from_slice(slice) {
                let v = serde_json::to_value(&d).unwrap();
                for k in ["mean", "median", "p95", "p99"] {
                    assert!(v[k].as_f64().is_some_and(f64::is_finite), "{d:?}");
                }
            }
            let s = Summary::from_slice(slice);
            if let Some(var) = s.variance() {
                assert!(var.is_finite() && var >= 0.0);
            }
            for q in [-1.0, 0.0, 0.5, 1.0, 2.0, f64::NAN] {
                if let Some(p) = percentile(slice, q) {
                    assert!(p.is_finite());
                }
            }
        }
    }
}

#[test]
fn proportions_srm_power_holm_and_cuped_never_leak_non_finite_values() {
    let counts = [0u64, 1, 2, 50, 1_000_000, u64::MAX];
    for &sc in &counts {
        for &nc in &counts {
            for &st in &counts[..4] {
                for &nt in &counts {
                    let (c, t) = (Proportion::new(sc, nc), Proportion::new(st, nt));
                    for conf in CONFIDENCES {
                        if let Ok(r) = proportion_z_test(c, t, conf) {
                            assert_all_finite("prop", &r);
                        }
                        if let Ok(r) = proportion_relative_lift(c, t, conf) {
                            assert_all_finite("prop lift", &r);
                        }
                    }
                    if let Ok(r) = srm_check(&[sc, nc, st, nt], &[1.0, 2.0, 1e-300, 1e300]) {
                        assert_all_finite("srm", &r);
                    }
                }
            }
        }
    }
    for mean in MEANS {
        for sd in [0.0, 1.0, -1.0, 1e-300, 1e300, f64::NAN] {
            for change in [0.05, -0.5, 0.0, 1e-300, f64::INFINITY] {
                for power in [0.8, 0.0, 1.0, 0.01] {
                    if let Ok(r) = sample_size_per_variant(mean, sd, change, 0.95, power) {
                        assert_all_finite("power", &r);
                        assert!(r.per_variant >= 2);
                    }
                }
            }
        }
    }
    for ps in [
        vec![],
        vec![0.0],
        vec![1.0, 1.0],
        vec![f64::NAN],
        vec![0.5, -0.0, 1e-300],
    ] {
        if let Ok(r) = holm_adjust(&ps) {
            assert_all_finite("holm", &r);
        }
    }
    let weird = [0.0, 1.0, -1e300, 1e300, f64::NAN];
    for &y in &weird {
        for &x in &weird {
            let c = CovSummary::from_pairs(&[(y, x), (1.0, 2.0), (3.0, x)]);
            let t = CovSummary::from_pairs(&[(2.0, 1.0), (y, 0.5), (4.0, 4.0)]);
            if let Ok(r) = cuped_adjust(&c, &t) {
                assert_all_finite("cuped", &r);
            }
        }
    }
}
