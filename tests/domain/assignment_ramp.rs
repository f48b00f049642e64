//! Ramping 10/10 -> 25/25 -> 50/50 never moves a unit that already had a variant.

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
            let now = assign(salt, id, *alloc);
            if let Some(before) = *prev {
                assert_eq!(now, Some(before), "{id} moved at stage {stage} ({alloc:?})");
            }
            assigned += usize::from(now.is_some());
            *prev = now;
        }
        // Coverage grows as expected (20 %, 50 %, 100 %), within 1 percentage point.
        let expected = usize::from(alloc.control + alloc.treatment) * USERS / 100;
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
            let now = assign(salt, &id, alloc);
            if before.is_some() {
                assert_eq!(now, before, "{id} moved at {alloc:?}");
            }
            before = now;
        }
    }
}
