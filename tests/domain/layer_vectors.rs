//! Every case in `fixtures/layer-vectors.json` reproduces with this implementation, the file
//! is what `cargo run --example make_assignment_vectors` generates, and the worked example of
//! docs/ASSIGNMENT.md ("Layers") holds.

use crate::common::vectors_gen::{self, LayerVector};
use verdict::domain::assignment::{assign, bucket};
use verdict::domain::experiment::{
    LayerSlice, TargetType, in_slice, layer_bucket, layer_id, layer_salt,
};

const FIXTURE: &str = include_str!("../fixtures/layer-vectors.json");

#[test]
fn every_layer_vector_reproduces() {
    let cases: Vec<LayerVector> = serde_json::from_str(FIXTURE).expect("fixture parses");
    assert!(cases.len() >= 100);
    for (i, v) in cases.iter().enumerate() {
        let ctx = format!("case {i}: layer {:?} id {:?}", v.layer, v.user_id);
        assert_eq!(v.layer_salt, format!("layer:{}", v.layer), "{ctx}");
        assert_eq!(layer_salt(&v.layer), v.layer_salt, "{ctx}");
        assert_eq!(bucket(&v.layer_salt, &v.user_id), v.layer_bucket, "{ctx}");
        assert_eq!(
            layer_bucket(&v.layer_salt, &v.user_id),
            v.layer_bucket,
            "{ctx}"
        );
        let inside = v.slice.start <= v.layer_bucket && v.layer_bucket < v.slice.end;
        assert_eq!(inside, v.in_slice, "{ctx}");
        assert_eq!(
            in_slice(&v.layer_salt, &v.user_id, v.slice),
            v.in_slice,
            "{ctx}"
        );
        let arm = if inside {
            assign(&v.salt, &v.user_id, &v.allocation)
        } else {
            None
        };
        assert_eq!(arm, v.variant, "{ctx}");
    }
    assert!(cases.iter().any(|v| v.in_slice && v.variant.is_some()));
    assert!(cases.iter().any(|v| !v.in_slice));
    assert!(cases.iter().any(|v| v.in_slice && v.variant.is_none()));
}

#[test]
fn layer_fixture_is_up_to_date() {
    assert!(
        FIXTURE == vectors_gen::layer_vectors_json(),
        "fixtures/layer-vectors.json is stale: run `cargo run --example make_assignment_vectors`"
    );
}

#[test]
fn the_worked_layer_example_in_assignment_md_holds() {
    let id = layer_id("acme", None, TargetType::Prompt, "summary-v2");
    assert_eq!(id, "target:prompt/summary-v2");
    let salt = layer_salt(&id);
    assert_eq!(salt, "layer:target:prompt/summary-v2");
    assert_eq!(layer_bucket(&salt, "user-10"), EXAMPLE_BUCKET);
    // The second of two experiments with layerShare 50 holds [5000, 10000): the user is in
    // it, and gets its arm as in worked example A (salt a1b2c3, 45/55: bucket 1829, control).
    let first = LayerSlice {
        start: 0,
        end: 5000,
    };
    let second = LayerSlice {
        start: 5000,
        end: 10000,
    };
    assert!(!in_slice(&salt, "user-10", first));
    assert!(in_slice(&salt, "user-10", second));
    assert_eq!(
        assign(
            "a1b2c3",
            "user-10",
            &verdict::domain::assignment::Allocation::new(45, 55)
        ),
        Some(verdict::domain::assignment::Variant::Control)
    );
    assert_eq!(
        layer_id("system", Some("checkout"), TargetType::Prompt, "x"),
        "named:system/checkout"
    );
}

/// `bucket("layer:target:prompt/summary-v2", "user-10")`, as docs/ASSIGNMENT.md shows it.
const EXAMPLE_BUCKET: u16 = 8459;
