//! Ramping 10/10 -> 25/25 -> 50/50 (and k arms at the same ratio) never moves a unit that
//! already had a variant.

use verdict::domain::assignment::{Allocation, Variant, assign};

#[test]
fn ramp_keeps_every_assigned_user_in_place() {
    const USERS: usize = 100_000;
    let salt = "9e107d9d372bb682";
    let stages = [
        Allocation::new(10, 10),
        Allocation::new(25, 25),
        Allocation::new(50, 50),
    ];
    let ids: Vec<String> = (0..USERS).map(|i| format!("user-{i}")).collect();
    let mut previous: Vec<Option<Variant>> = vec![None; USERS];
    for (stage, alloc) in stages.iter().enumerate() {
        let mut assigned = 0usize;
        for (id, prev) in ids.iter().zip(previous.iter_mut()) {
            let now = assign(salt, id, alloc);
            if let Some(before) = *prev {
                assert_eq!(now, Some(before), "{id} moved at stage {stage} ({alloc:?})");
            }
            assigned += usize::from(now.is_some());
            *prev = now;
        }
        // Coverage grows as expected (20 %, 50 %, 100 %), within 1 percentage point.
        let expected = usize::from(alloc.total()) * USERS / 100;
        assert!(
            assigned.abs_diff(expected) < USERS / 100,
            "stage {stage}: {assigned} vs {expected}"
        );
    }
    assert!(
        previous.iter().all(Option::is_some),
        "50/50 covers everyone"
    );
}

#[test]
fn ramp_with_unequal_ratio_is_stable_too() {
    // 1:2 ratio: 5/10 -> 10/20 -> 20/40 -> 33/66.
    let salt = "c0ffee";
    let stages = [(5, 10), (10, 20), (20, 40), (33, 66)].map(|(c, t)| Allocation::new(c, t));
    for i in 0..100_000 {
        let id = format!("u{i}");
        let mut before = None;
        for alloc in stages {
            let now = assign(salt, &id, &alloc);
            if before.is_some() {
                assert_eq!(now, before, "{id} moved at {alloc:?}");
            }
            before = now;
        }
    }
}

#[test]
fn k_arm_ramps_at_the_same_ratio_keep_every_assigned_user_in_place() {
    let keys: Vec<Variant> = ["control", "b", "c", "d"]
        .iter()
        .map(|k| k.parse().unwrap())
        .collect();
    let salt = "5eed";
    // 3 arms 1:1:1 from 3 % each to 33 % each; 4 arms 1:2:3:4 from 10 % to 100 %.
    for (arms, steps) in [
        (&keys[..3], vec![3u8, 5, 10, 20, 33]),
        (&keys[..4], vec![1, 2, 5, 10]),
    ] {
        let ratio: Vec<u8> = if arms.len() == 3 {
            vec![1, 1, 1]
        } else {
            vec![1, 2, 3, 4]
        };
        let stages: Vec<Allocation> = steps
            .iter()
            .map(|&f| {
                let shares: Vec<(Variant, u8)> =
                    arms.iter().zip(&ratio).map(|(k, r)| (*k, r * f)).collect();
                Allocation::from_arms(&shares).unwrap()
            })
            .collect();
        let mut per_arm = vec![0usize; arms.len()];
        for i in 0..60_000 {
            let id = format!("u{i}");
            let mut before = None;
            for alloc in &stages {
                let now = assign(salt, &id, alloc);
                if before.is_some() {
                    assert_eq!(now, before, "{id} moved at {alloc:?}");
                }
                before = now;
            }
            if let Some(v) = before {
                per_arm[arms.iter().position(|k| *k == v).unwrap()] += 1;
            }
        }
        // The last stage's shares hold, within 1.5 percentage points.
        let last = stages.last().unwrap();
        for (n, share) in per_arm.iter().zip(last.shares()) {
            let expected = 60_000 * usize::from(*share) / 100;
            assert!(n.abs_diff(expected) < 900, "{n} vs {expected} in {last:?}");
        }
    }
}
