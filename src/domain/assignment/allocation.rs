//! Traffic allocation: mapping a bucket to a variant with ramp-stable ranges.

use serde::{Deserialize, Serialize};

use super::hash::{BUCKETS, bucket};

/// Percent of traffic in each arm, in whole percents.
///
/// A valid allocation has `control > 0`, `treatment > 0` and `control + treatment <= 100`
/// (validation lives elsewhere). The functions here accept any values without panicking:
/// an allocation whose sum is 0 or above 100 puts nobody in the experiment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct Allocation {
    pub control: u8,
    pub treatment: u8,
}

impl Allocation {
    pub const fn new(control: u8, treatment: u8) -> Self {
        Self { control, treatment }
    }

    /// `true` when both arms are non-zero and together take at most 100 %.
    pub const fn is_valid(&self) -> bool {
        self.control > 0 && self.treatment > 0 && self.control as u16 + self.treatment as u16 <= 100
    }
}

/// The arm a unit is assigned to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum Variant {
    Control,
    Treatment,
}

impl Variant {
    pub const fn as_str(&self) -> &'static str {
        match self {
            Variant::Control => "control",
            Variant::Treatment => "treatment",
        }
    }
}

/// A variant name that is neither `control` nor `treatment`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown variant {0:?}; expected control or treatment")]
pub struct UnknownVariant(pub String);

impl core::str::FromStr for Variant {
    type Err = UnknownVariant;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "control" => Ok(Variant::Control),
            "treatment" => Ok(Variant::Treatment),
            other => Err(UnknownVariant(other.to_owned())),
        }
    }
}

impl core::fmt::Display for Variant {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Half-open bucket ranges `[control, treatment]`, each `(start, end)` with `start <= end`.
///
/// With `s = control + treatment` (`1..=100`):
/// - control   = `[0, 100·control)`
/// - treatment = `[⌊10000·control / s⌋, ⌊10000·control / s⌋ + 100·treatment)`
///
/// The treatment range starts at the control:treatment split point of the whole bucket
/// space, so ramping both arms up at the same ratio only ever extends both ranges and no
/// assigned unit changes variant. Ranges never overlap and never exceed 10 000.
/// If `s == 0` or `s > 100` both ranges are empty (`(0, 0)`).
pub const fn bucket_ranges(alloc: Allocation) -> [(u16, u16); 2] {
    let control = alloc.control as u32;
    let treatment = alloc.treatment as u32;
    let sum = control + treatment;
    if sum == 0 || sum > 100 {
        return [(0, 0), (0, 0)];
    }
    let buckets = BUCKETS as u32;
    let start_t = buckets * control / sum;
    let control_end = 100 * control;
    let treatment_end = start_t + 100 * treatment;
    // All values are <= 10000 (proved in docs/ASSIGNMENT.md, tested exhaustively), so the casts are
    // lossless.
    [
        (0, control_end as u16),
        (start_t as u16, treatment_end as u16),
    ]
}

/// The variant for a bucket, or `None` when the bucket is outside both ranges
/// (not in the experiment).
pub const fn choose(bucket: u16, alloc: Allocation) -> Option<Variant> {
    let [(c_start, c_end), (t_start, t_end)] = bucket_ranges(alloc);
    if bucket >= c_start && bucket < c_end {
        Some(Variant::Control)
    } else if bucket >= t_start && bucket < t_end {
        Some(Variant::Treatment)
    } else {
        None
    }
}

/// Assign `unit_id` in the experiment salted with `salt`: `choose(bucket(salt, unit_id), alloc)`.
pub fn assign(salt: &str, unit_id: &str, alloc: Allocation) -> Option<Variant> {
    choose(bucket(salt, unit_id), alloc)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn a(control: u8, treatment: u8) -> Allocation {
        Allocation::new(control, treatment)
    }

    #[test]
    fn bucket_ranges_are_the_documented_ones() {
        assert_eq!(bucket_ranges(a(10, 10)), [(0, 1000), (5000, 6000)]);
        assert_eq!(bucket_ranges(a(50, 50)), [(0, 5000), (5000, 10000)]);
        assert_eq!(bucket_ranges(a(90, 10)), [(0, 9000), (9000, 10000)]);
        assert_eq!(bucket_ranges(a(10, 20)), [(0, 1000), (3333, 5333)]);
        assert_eq!(bucket_ranges(a(25, 25)), [(0, 2500), (5000, 7500)]);
        assert_eq!(bucket_ranges(a(1, 99)), [(0, 100), (100, 10000)]);
        assert_eq!(bucket_ranges(a(99, 1)), [(0, 9900), (9900, 10000)]);
        assert_eq!(bucket_ranges(a(1, 2)), [(0, 100), (3333, 3533)]);
    }

    #[test]
    fn matches_growthbook_float_formula() {
        // control = [0, round(c·r·10000)), treatment = [round(r·10000), +round(c·(1−r)·10000)).
        for control in 1..=100u32 {
            for treatment in 1..=(100 - control) {
                let s = f64::from(control + treatment);
                let r = f64::from(control) / s;
                let c = s / 100.0;
                let [(_, c_end), (t_start, t_end)] =
                    bucket_ranges(a(control as u8, treatment as u8));
                assert_eq!(f64::from(c_end), (c * r * 10000.0).round());
                assert_eq!(
                    f64::from(t_end - t_start),
                    (c * (1.0 - r) * 10000.0).round()
                );
                // The integer start is the floor; the float formula rounds. They differ by at
                // most one bucket (only when 10000·control/s has a fractional part >= .5).
                let float_start = (r * 10000.0).round();
                assert!((f64::from(t_start) - float_start).abs() <= 1.0);
            }
        }
    }

    #[test]
    fn property_all_valid_pairs_disjoint_exact_and_in_bounds() {
        for control in 1..=100u8 {
            for treatment in 1..=(100 - control) {
                let alloc = a(control, treatment);
                assert!(alloc.is_valid());
                let [(c0, c1), (t0, t1)] = bucket_ranges(alloc);
                assert_eq!(c0, 0);
                assert!(c1 <= t0, "overlap for {alloc:?}");
                assert!(t0 <= t1 && t1 <= BUCKETS, "out of bounds for {alloc:?}");
                // Exact traffic shares.
                assert_eq!(c1 - c0, 100 * u16::from(control));
                assert_eq!(t1 - t0, 100 * u16::from(treatment));
            }
        }
    }

    #[test]
    fn property_same_ratio_ramps_are_nested() {
        fn gcd(a: u32, b: u32) -> u32 {
            if b == 0 { a } else { gcd(b, a % b) }
        }
        // Every valid allocation is k·(p, q) for a reduced ratio p:q. Checking each step
        // k -> k+1 is nested covers every same-ratio ramp by transitivity.
        let mut checked = 0;
        for p in 1..=99u32 {
            for q in 1..=(100 - p) {
                if gcd(p, q) != 1 {
                    continue;
                }
                let mut k = 1;
                while (k + 1) * (p + q) <= 100 {
                    let small = bucket_ranges(a((k * p) as u8, (k * q) as u8));
                    let big = bucket_ranges(a(((k + 1) * p) as u8, ((k + 1) * q) as u8));
                    for (s, b) in small.iter().zip(big.iter()) {
                        assert!(b.0 <= s.0 && s.1 <= b.1, "{p}:{q} k={k}");
                    }
                    checked += 1;
                    k += 1;
                }
            }
        }
        assert!(checked > 100);
    }

    #[test]
    fn never_panics_on_any_u8_pair() {
        for control in 0..=u8::MAX {
            for treatment in 0..=u8::MAX {
                let alloc = a(control, treatment);
                let [(c0, c1), (t0, t1)] = bucket_ranges(alloc);
                assert!(c0 <= c1 && c1 <= t0 && t0 <= t1 && t1 <= BUCKETS);
                for b in [0, 1, 4999, 5000, 9999, 10000, u16::MAX] {
                    let _ = choose(b, alloc);
                }
            }
        }
    }

    #[test]
    fn invalid_allocations_exclude_everyone() {
        for alloc in [a(0, 0), a(60, 41), a(255, 255), a(100, 1)] {
            assert!(!alloc.is_valid());
            assert_eq!(bucket_ranges(alloc), [(0, 0), (0, 0)]);
            for b in 0..BUCKETS {
                assert_eq!(choose(b, alloc), None);
            }
        }
        // A single zero arm is well defined: that arm is simply empty.
        assert_eq!(bucket_ranges(a(0, 50)), [(0, 0), (0, 5000)]);
        assert_eq!(bucket_ranges(a(30, 0)), [(0, 3000), (10000, 10000)]);
        assert!(!a(0, 50).is_valid());
    }

    #[test]
    fn choose_includes_a_ranges_start_and_excludes_its_end() {
        let alloc = a(10, 20); // [0,1000) [3333,5333)
        assert_eq!(choose(0, alloc), Some(Variant::Control));
        assert_eq!(choose(999, alloc), Some(Variant::Control));
        assert_eq!(choose(1000, alloc), None);
        assert_eq!(choose(3332, alloc), None);
        assert_eq!(choose(3333, alloc), Some(Variant::Treatment));
        assert_eq!(choose(5332, alloc), Some(Variant::Treatment));
        assert_eq!(choose(5333, alloc), None);
        assert_eq!(choose(9999, alloc), None);
        assert_eq!(choose(10_000, a(50, 50)), None);
        assert_eq!(choose(u16::MAX, a(50, 50)), None);
    }

    #[test]
    fn choose_counts_equal_range_sizes() {
        let alloc = a(10, 20);
        let control = (0..BUCKETS)
            .filter(|&b| choose(b, alloc) == Some(Variant::Control))
            .count();
        let treatment = (0..BUCKETS)
            .filter(|&b| choose(b, alloc) == Some(Variant::Treatment))
            .count();
        assert_eq!((control, treatment), (1000, 2000));
    }

    #[test]
    fn assign_uses_bucket() {
        for i in 0..1_000 {
            let id = format!("user-{i}");
            let alloc = a(30, 30);
            assert_eq!(
                assign("f00d", &id, alloc),
                choose(bucket("f00d", &id), alloc)
            );
        }
        assert_eq!(assign("f00d", "anyone", a(0, 0)), None);
    }

    #[test]
    fn variant_serde_is_lowercase() {
        assert_eq!(
            serde_json::to_string(&Variant::Control).unwrap(),
            "\"control\""
        );
        assert_eq!(
            serde_json::from_str::<Variant>("\"treatment\"").unwrap(),
            Variant::Treatment
        );
        assert!(serde_json::from_str::<Variant>("\"Control\"").is_err());
        assert_eq!(Variant::Treatment.to_string(), "treatment");
        let alloc: Allocation = serde_json::from_str(r#"{"control":10,"treatment":20}"#).unwrap();
        assert_eq!(alloc, a(10, 20));
    }
}
