//! Percentage rollout of a deployed winner, independent of the experiment's own buckets.

use super::hash::rollout_bucket;

/// `true` when `unit_id` falls inside a `percentage` % rollout:
/// `bucket(salt + "/rollout", unit_id) < 100 · percentage`.
///
/// Monotonic in `percentage` (a unit included at p % stays included at any higher p);
/// `0` includes nobody, `100` (or more) includes everybody.
pub fn in_rollout(salt: &str, unit_id: &str, percentage: u8) -> bool {
    u32::from(rollout_bucket(salt, unit_id)) < 100 * u32::from(percentage)
}

#[cfg(test)]
mod tests {
    use super::super::hash::bucket;
    use super::*;

    #[test]
    fn a_rollout_of_0_admits_no_one_and_of_100_or_more_everyone() {
        for i in 0..2_000 {
            let id = format!("user-{i}");
            assert!(!in_rollout("beef", &id, 0));
            assert!(in_rollout("beef", &id, 100));
            assert!(in_rollout("beef", &id, 255));
        }
        assert!(!in_rollout("", "", 0));
        assert!(in_rollout("", "", 100));
    }

    #[test]
    fn uses_suffixed_salt() {
        for i in 0..500 {
            let id = format!("user-{i}");
            for p in [1u8, 10, 33, 50, 99] {
                let expected = u32::from(bucket("beef/rollout", &id)) < 100 * u32::from(p);
                assert_eq!(in_rollout("beef", &id, p), expected);
            }
        }
    }

    #[test]
    fn monotonic_in_percentage() {
        for i in 0..2_000 {
            let id = format!("user-{i}");
            let mut was_in = false;
            for p in 0..=100u8 {
                let now_in = in_rollout("beef", &id, p);
                assert!(!was_in || now_in, "{id} left the rollout at {p}%");
                was_in = now_in;
            }
        }
    }

    #[test]
    fn roughly_proportional() {
        let n = 20_000;
        let inside = (0..n)
            .filter(|i| in_rollout("beef", &format!("user-{i}"), 30))
            .count();
        let share = inside as f64 / f64::from(n);
        assert!((share - 0.30).abs() < 0.02, "share {share}");
    }

    #[test]
    fn independent_of_experiment_bucket() {
        // Rollout membership should not be a function of the experiment bucket: among units in
        // the lowest 30 % of experiment buckets, roughly 30 % (not ~100 %) are in a 30 % rollout.
        let ids: Vec<String> = (0..20_000).map(|i| format!("user-{i}")).collect();
        let low: Vec<&String> = ids.iter().filter(|id| bucket("beef", id) < 3000).collect();
        let inside = low.iter().filter(|id| in_rollout("beef", id, 30)).count();
        let share = inside as f64 / low.len() as f64;
        assert!((share - 0.30).abs() < 0.04, "share {share}");
    }
}
