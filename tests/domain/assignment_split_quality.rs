//! Split quality over 1,000,000 synthetic unit ids: chi-square goodness of fit (p > 0.001),
//! for two arms and for k arms (k − 1 degrees of freedom among the arms, one more for those
//! not in the experiment).

use std::sync::OnceLock;
use std::time::Instant;

use crate::common::{chi2_p_value, chi2_p_value_wilson_hilferty, chi2_stat};
use verdict::domain::assignment::{
    Allocation, BUCKETS, Variant, assign, assign_arm, bucket, bucket_ranges, choose_arm, in_rollout,
};

const USERS: u32 = 1_000_000;
const SALT: &str = "5f3a9c0e7b1d4a86";
const ALPHA: f64 = 0.001;

/// Buckets of `user-0 .. user-999999` under `SALT`, computed once and shared by the tests.
fn buckets() -> &'static [u16] {
    static CELL: OnceLock<Vec<u16>> = OnceLock::new();
    CELL.get_or_init(|| {
        let start = Instant::now();
        let v: Vec<u16> = (0..USERS)
            .map(|i| bucket(SALT, &format!("user-{i}")))
            .collect();
        eprintln!("hashed {USERS} ids in {:?}", start.elapsed());
        v
    })
}

#[test]
fn p_value_implementation_is_sane() {
    // Known critical values: chi2(0.95; df) for df = 1, 2, 10 and chi2(0.999; 1).
    for (stat, df, p) in [
        (3.841_458_820_694_124, 1.0, 0.05),
        (5.991_464_547_107_979, 2.0, 0.05),
        (18.307_038_053_275_146, 10.0, 0.05),
        (10.827_566_170_662_733, 1.0, 0.001),
        (0.0, 3.0, 1.0),
    ] {
        let got = chi2_p_value(stat, df);
        assert!((got - p).abs() < 1e-9, "df {df}: {got} vs {p}");
    }
    // For large df, the exact value and Wilson–Hilferty agree closely.
    for stat in [9_800.0, 10_000.0, 10_300.0, 10_500.0] {
        let exact = chi2_p_value(stat, 9_999.0);
        let wh = chi2_p_value_wilson_hilferty(stat, 9_999.0);
        assert!((exact - wh).abs() < 1e-3, "{stat}: {exact} vs {wh}");
    }
}

fn split_test(alloc: Allocation) {
    let ranges = bucket_ranges(&alloc);
    let k = alloc.len();
    let mut counts = vec![0u64; k + 1]; // the arms, then excluded
    for &b in buckets() {
        counts[choose_arm(b, &alloc).unwrap_or(k)] += 1;
    }
    let total = f64::from(BUCKETS);
    let mut probs: Vec<f64> = ranges
        .iter()
        .take(k)
        .map(|(s, e)| f64::from(e - s) / total)
        .collect();
    let pe = 1.0 - probs.iter().sum::<f64>();
    let observed = if pe.abs() < 1e-12 {
        assert_eq!(counts[k], 0, "full allocation excludes nobody");
        counts[..k].to_vec()
    } else {
        probs.push(pe);
        counts.clone()
    };
    let df = (observed.len() - 1) as f64;
    let stat = chi2_stat(&observed, &probs);
    let p = chi2_p_value(stat, df);
    eprintln!("{alloc:?}: counts {counts:?} chi2 {stat:.3} df {df} p {p:.4}");
    assert!(
        p > ALPHA,
        "{alloc:?}: p = {p} (chi2 {stat}, counts {counts:?})"
    );
}

fn arms(shares: &[u8]) -> Allocation {
    let keys = ["control", "b", "c", "d", "e", "f", "g", "h"];
    let arms: Vec<(Variant, u8)> = shares
        .iter()
        .zip(keys)
        .map(|(&s, k)| (k.parse().unwrap(), s))
        .collect();
    Allocation::from_arms(&arms).unwrap()
}

#[test]
fn a_three_arm_even_split_matches_its_shares_by_chi_square() {
    split_test(arms(&[33, 33, 34]));
}

#[test]
fn a_four_arm_uneven_split_excluding_some_matches_its_shares() {
    split_test(arms(&[40, 10, 20, 5]));
}

#[test]
fn an_eight_arm_split_matches_its_shares_by_chi_square() {
    split_test(arms(&[12, 12, 12, 12, 12, 12, 12, 16]));
}

#[test]
fn k_arm_assignment_is_sticky() {
    // The same id gets the same arm every time, whichever order ids come in.
    let alloc = arms(&[20, 20, 20, 20]);
    let first: Vec<Option<usize>> = (0..50_000)
        .map(|i| assign_arm(SALT, &format!("user-{i}"), &alloc))
        .collect();
    for i in (0..50_000).rev() {
        assert_eq!(assign_arm(SALT, &format!("user-{i}"), &alloc), first[i]);
    }
}

#[test]
fn a_50_50_split_matches_its_shares_by_chi_square() {
    split_test(Allocation::new(50, 50));
}

#[test]
fn a_90_10_split_matches_its_shares_by_chi_square() {
    split_test(Allocation::new(90, 10));
}

#[test]
fn a_10_20_split_excluding_70_percent_matches_its_shares() {
    split_test(Allocation::new(10, 20));
}

#[test]
fn buckets_are_uniform() {
    let mut per_bucket = vec![0u64; usize::from(BUCKETS)];
    let mut per_percent = vec![0u64; 100];
    for &b in buckets() {
        per_bucket[usize::from(b)] += 1;
        per_percent[usize::from(b / 100)] += 1;
    }
    let stat = chi2_stat(
        &per_bucket,
        &vec![1.0 / f64::from(BUCKETS); per_bucket.len()],
    );
    let p = chi2_p_value(stat, f64::from(BUCKETS - 1));
    let p_wh = chi2_p_value_wilson_hilferty(stat, f64::from(BUCKETS - 1));
    eprintln!("10000 buckets: chi2 {stat:.1} p {p:.4} (Wilson–Hilferty {p_wh:.4})");
    assert!(p > ALPHA && p_wh > ALPHA);
    let stat = chi2_stat(&per_percent, &[0.01; 100]);
    let p = chi2_p_value(stat, 99.0);
    eprintln!("100 percent-buckets: chi2 {stat:.1} p {p:.4}");
    assert!(p > ALPHA);
}

#[test]
fn random_looking_ids_split_and_roll_out_in_their_shares() {
    // A second id population (UUID-like hex), 200k ids, through the public `assign` and
    // `in_rollout` paths.
    let n = 200_000u64;
    let mut rng = verdict::domain::splitmix::SplitMix64(0x1234_5678_9ABC_DEF0);
    let mut counts = [0u64; 3];
    let mut rollout = [0u64; 2];
    let alloc = Allocation::new(10, 20);
    for _ in 0..n {
        let z = rng.next_u64();
        let id = format!(
            "{:08x}-{:04x}-{:04x}",
            z >> 32,
            (z >> 16) & 0xffff,
            z & 0xffff
        );
        let got = assign("0a1b2c3d", &id, &alloc);
        counts[if got == Some(Variant::Control) {
            0
        } else if got == Some(Variant::Treatment) {
            1
        } else {
            2
        }] += 1;
        rollout[usize::from(in_rollout("0a1b2c3d", &id, 35))] += 1;
    }
    let p = chi2_p_value(chi2_stat(&counts, &[0.1, 0.2, 0.7]), 2.0);
    assert!(p > ALPHA, "assign: p {p}, {counts:?}");
    let p = chi2_p_value(chi2_stat(&rollout, &[0.65, 0.35]), 1.0);
    assert!(p > ALPHA, "rollout: p {p}, {rollout:?}");
}
