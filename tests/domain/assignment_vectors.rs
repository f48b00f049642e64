//! Every case in `fixtures/assignment-vectors.json` reproduces with this implementation,
//! and the file is what `cargo run --example make_vectors` generates.

use crate::common::vectors_gen;

use vectors_gen::Vector;
use verdict::domain::assignment::{
    assign, bucket, bucket_ranges, choose, choose_arm, in_rollout, rollout_bucket,
};

const FIXTURE: &str = include_str!("../fixtures/assignment-vectors.json");

fn load() -> Vec<Vector> {
    serde_json::from_str(FIXTURE).expect("fixture parses")
}

#[test]
fn every_vector_reproduces() {
    let cases = load();
    assert!(cases.len() >= 300, "only {} vectors", cases.len());
    for (i, v) in cases.iter().enumerate() {
        let ctx = format!(
            "case {i}: salt {:?} id {:?}",
            v.salt,
            v.user_id.chars().take(40).collect::<String>()
        );
        assert!(v.bucket < 10_000, "{ctx}");
        assert_eq!(bucket(&v.salt, &v.user_id), v.bucket, "{ctx}");
        assert_eq!(choose(v.bucket, &v.allocation), v.variant, "{ctx}");
        assert_eq!(
            assign(&v.salt, &v.user_id, &v.allocation),
            v.variant,
            "{ctx}"
        );
        assert_eq!(
            rollout_bucket(&v.salt, &v.user_id),
            v.rollout_bucket,
            "{ctx}"
        );
        assert_eq!(
            bucket(&format!("{}/rollout", v.salt), &v.user_id),
            v.rollout_bucket,
            "{ctx}"
        );
        assert_eq!(
            in_rollout(&v.salt, &v.user_id, v.rollout_percentage),
            v.in_rollout,
            "{ctx}"
        );
        // The variant agrees with the documented ranges.
        let ranges = bucket_ranges(&v.allocation);
        let expected = ranges
            .iter()
            .take(v.allocation.len())
            .position(|&(s, e)| (s..e).contains(&v.bucket))
            .and_then(|i| v.allocation.key(i));
        assert_eq!(v.variant, expected, "{ctx}");
        assert_eq!(
            choose_arm(v.bucket, &v.allocation).and_then(|i| v.allocation.key(i)),
            v.variant,
            "{ctx}"
        );
    }
}

#[test]
fn vectors_cover_the_edge_cases() {
    let cases = load();
    let ids = || cases.iter().map(|v| v.user_id.as_str());
    assert!(ids().any(str::is_empty), "empty id");
    assert!(cases.iter().any(|v| v.salt.is_empty()), "empty salt");
    assert!(ids().any(|s| s.chars().count() >= 1_000), "1,000+ char id");
    assert!(ids().any(|s| s.contains(':')), "':' in id");
    assert!(
        ids().any(|s| s.contains(' ') || s.contains('\t')),
        "whitespace"
    );
    assert!(ids().any(|s| s.contains('漢') || s.contains('用')), "CJK");
    assert!(ids().any(|s| s.contains('🙂')), "emoji");
    assert!(ids().any(|s| s.contains('\u{301}')), "combining mark");
    assert!(cases.iter().any(|v| v.variant.is_none()), "excluded units");
    for arms in 3..=8 {
        assert!(
            cases
                .iter()
                .any(|v| v.allocation.len() == arms && v.variant.is_some()),
            "{arms} arms"
        );
    }
    assert!(cases.iter().any(|v| v.in_rollout) && cases.iter().any(|v| !v.in_rollout));
}

#[test]
fn fixture_is_up_to_date() {
    assert!(
        FIXTURE == vectors_gen::vectors_json(),
        "fixtures/assignment-vectors.json is stale: run `cargo run --example make_assignment_vectors`"
    );
}

#[test]
fn the_worked_examples_in_assignment_md_hold() {
    use verdict::domain::assignment::{Allocation, Variant};
    type Example = (
        &'static str,
        &'static str,
        (u8, u8),
        u16,
        Option<Variant>,
        u16,
        u8,
        bool,
    );
    let cases: [Example; 3] = [
        (
            "a1b2c3",
            "user-10",
            (45, 55),
            1829,
            Some(Variant::Control),
            5885,
            10,
            false,
        ),
        (
            "5f3a9c0e7b1d4a86",
            "用户一号",
            (10, 20),
            2506,
            None,
            3772,
            50,
            true,
        ),
        (
            "5f3a9c0e7b1d4a86",
            "e\u{301}",
            (33, 33),
            5096,
            Some(Variant::Treatment),
            7122,
            0,
            false,
        ),
    ];
    for (salt, id, (c, t), b, variant, rb, pct, inside) in cases {
        let alloc = Allocation::new(c, t);
        assert_eq!(bucket(salt, id), b);
        assert_eq!(assign(salt, id, &alloc), variant);
        assert_eq!(rollout_bucket(salt, id), rb);
        assert_eq!(in_rollout(salt, id, pct), inside);
    }
    assert_eq!(
        bucket_ranges(&Allocation::new(33, 33))[..2],
        [(0, 3300), (5000, 8300)]
    );
}
