use super::*;
use crate::domain::assignment::Allocation;
use serde_json::json;

fn valid() -> serde_json::Value {
    json!({
        "name": "Improve context template for risk analysis",
        "description": "More historical data",
        "hypothesis": "Quality improves by 15%",
        "targetType": "context_template",
        "targetId": "risk-analysis",
        "control": {"name": "Current", "configuration": {"templateId": "t1"}},
        "treatment": {"name": "With history", "configuration": {"templateId": "t2"}},
        "allocation": {"control": 50, "treatment": 50},
        "targeting": {"tenantIds": ["acme"], "intents": ["risk", "risk"]},
        "primaryMetric": "quality",
        "successCriteria": {"metric": "quality", "operator": ">", "threshold": 5, "confidenceLevel": 0.95},
        "secondaryMetrics": ["latency", "tokensUsed"],
        "minDuration": 7,
        "minSamplesPerVariant": 1000
    })
}

fn parse(value: serde_json::Value) -> Result<ExperimentSpec, Vec<crate::domain::FieldError>> {
    serde_json::from_value::<ExperimentInput>(value)
        .expect("deserialises")
        .parse()
}

fn fields(value: serde_json::Value) -> Vec<String> {
    parse(value)
        .expect_err("refused")
        .into_iter()
        .map(|f| f.field)
        .collect()
}

#[test]
fn a_complete_request_parses_into_a_spec() {
    let spec = parse(valid()).unwrap();
    assert_eq!(spec.name, "Improve context template for risk analysis");
    assert_eq!(spec.target_type, TargetType::ContextTemplate);
    assert_eq!(spec.allocation, Allocation::new(50, 50));
    assert_eq!(spec.primary_metric, Metric::Quality);
    assert_eq!(spec.success_criteria.operator, Operator::Greater);
    assert_eq!(
        spec.secondary_metrics,
        vec![Metric::Latency, Metric::TokensUsed]
    );
    assert_eq!(
        spec.targeting.intents,
        vec!["risk"],
        "duplicates are dropped"
    );
    assert_eq!(spec.min_duration, 7);
    assert_eq!(spec.min_samples_per_variant, 1000);
}

#[test]
fn the_fields_a_create_must_send_are_those_the_rules_require() {
    let errors = ExperimentInput::default().parse().unwrap_err();
    let mut required: Vec<&str> = errors
        .iter()
        .filter(|e| e.message == "is required")
        .map(|e| e.field.as_str())
        .collect();
    required.sort_unstable();
    let mut listed = super::REQUIRED_TO_CREATE.to_vec();
    listed.sort_unstable();
    assert_eq!(required, listed);
}

#[test]
fn the_fields_within_each_object_a_create_must_send_are_those_the_rules_require() {
    let mut body = json!({});
    for (object, _) in super::REQUIRED_WITHIN {
        body[object] = json!({});
    }
    let input: ExperimentInput = serde_json::from_value(body).unwrap();
    let errors = input.parse().unwrap_err();
    let mut required: Vec<&str> = errors
        .iter()
        .filter(|e| e.message == "is required" && e.field.contains('.'))
        .map(|e| e.field.as_str())
        .collect();
    required.sort_unstable();
    let mut listed: Vec<String> = super::REQUIRED_WITHIN
        .iter()
        .flat_map(|(object, fields)| fields.iter().map(move |f| format!("{object}.{f}")))
        .collect();
    listed.sort_unstable();
    assert_eq!(required, listed);
}

#[test]
fn every_missing_required_field_is_reported_at_once() {
    let got = fields(json!({}));
    for field in [
        "name",
        "targetType",
        "targetId",
        "control",
        "treatment",
        "allocation",
        "primaryMetric",
        "successCriteria",
        "minDuration",
        "minSamplesPerVariant",
    ] {
        assert!(
            got.contains(&field.to_owned()),
            "{field} missing from {got:?}"
        );
    }
}

#[test]
fn each_rule_is_reported_with_its_field_path() {
    let cases: Vec<(&str, serde_json::Value, &str)> = vec![
        ("empty name", json!({"name": "  "}), "name"),
        ("long name", json!({"name": "x".repeat(201)}), "name"),
        (
            "unknown target type",
            json!({"targetType": "colour"}),
            "targetType",
        ),
        (
            "zero control",
            json!({"allocation": {"control": 0, "treatment": 50}}),
            "allocation.control",
        ),
        (
            "fractional treatment",
            json!({"allocation": {"control": 50, "treatment": 10.5}}),
            "allocation.treatment",
        ),
        (
            "over 100 in all",
            json!({"allocation": {"control": 60, "treatment": 50}}),
            "allocation",
        ),
        (
            "unknown primary metric",
            json!({"primaryMetric": "clicks"}),
            "primaryMetric",
        ),
        (
            "unknown criteria metric",
            json!({"successCriteria": {"metric": "x", "operator": ">", "threshold": 5, "confidenceLevel": 0.95}}),
            "successCriteria.metric",
        ),
        (
            "bad operator",
            json!({"successCriteria": {"metric": "quality", "operator": "==", "threshold": 5, "confidenceLevel": 0.95}}),
            "successCriteria.operator",
        ),
        (
            "negative threshold",
            json!({"successCriteria": {"metric": "quality", "operator": ">", "threshold": -1, "confidenceLevel": 0.95}}),
            "successCriteria.threshold",
        ),
        (
            "huge threshold",
            json!({"successCriteria": {"metric": "quality", "operator": ">", "threshold": 1000.5, "confidenceLevel": 0.95}}),
            "successCriteria.threshold",
        ),
        (
            "confidence 1",
            json!({"successCriteria": {"metric": "quality", "operator": ">", "threshold": 5, "confidenceLevel": 1.0}}),
            "successCriteria.confidenceLevel",
        ),
        (
            "confidence 0.5",
            json!({"successCriteria": {"metric": "quality", "operator": ">", "threshold": 5, "confidenceLevel": 0.5}}),
            "successCriteria.confidenceLevel",
        ),
        ("zero days", json!({"minDuration": 0}), "minDuration"),
        ("too many days", json!({"minDuration": 366}), "minDuration"),
        (
            "no samples",
            json!({"minSamplesPerVariant": 0}),
            "minSamplesPerVariant",
        ),
        (
            "too many samples",
            json!({"minSamplesPerVariant": 10_000_001}),
            "minSamplesPerVariant",
        ),
        (
            "config not an object",
            json!({"treatment": {"name": "T", "configuration": [1]}}),
            "treatment.configuration",
        ),
        (
            "config too large",
            json!({"treatment": {"name": "T", "configuration": {"t": "x".repeat(70_000)}}}),
            "treatment.configuration",
        ),
        (
            "variant without name",
            json!({"control": {"configuration": {}}}),
            "control.name",
        ),
        (
            "empty targeting entry",
            json!({"targeting": {"userIds": [""]}}),
            "targeting.userIds[0]",
        ),
        (
            "scope not an object",
            json!({"targeting": {"scopes": [3]}}),
            "targeting.scopes[0]",
        ),
        (
            "unknown secondary metric",
            json!({"secondaryMetrics": ["latency", "nope"]}),
            "secondaryMetrics[1]",
        ),
        (
            "secondary repeats primary",
            json!({"secondaryMetrics": ["quality"]}),
            "secondaryMetrics[0]",
        ),
    ];
    for (what, patch, field) in cases {
        let mut body = valid();
        for (k, v) in patch.as_object().unwrap() {
            body[k] = v.clone();
        }
        let got = fields(body);
        assert_eq!(got, vec![field.to_owned()], "{what}");
    }
}

#[test]
fn too_many_targeting_entries_are_refused() {
    let mut body = valid();
    body["targeting"] = json!({"userIds": (0..10_001).map(|i| i.to_string()).collect::<Vec<_>>()});
    assert_eq!(fields(body), vec!["targeting.userIds"]);
}

#[test]
fn unknown_fields_do_not_deserialise() {
    let mut body = valid();
    body["minDurationDays"] = json!(3);
    let err = serde_json::from_value::<ExperimentInput>(body).unwrap_err();
    assert!(err.to_string().contains("minDurationDays"), "{err}");
}

#[test]
fn an_input_rebuilt_from_a_spec_parses_back_to_it() {
    let spec = parse(valid()).unwrap();
    assert_eq!(ExperimentInput::from_spec(&spec).parse().unwrap(), spec);
}

#[test]
fn a_patch_overlays_only_what_it_sets() {
    let spec = parse(valid()).unwrap();
    let patch: ExperimentInput = serde_json::from_value(json!({
        "name": "Renamed",
        "allocation": {"treatment": 40},
        "successCriteria": {"threshold": 10}
    }))
    .unwrap();
    assert_eq!(
        patch.fields_set(),
        vec!["name", "allocation", "successCriteria"]
    );
    let merged = ExperimentInput::from_spec(&spec)
        .overlay(patch)
        .parse()
        .unwrap();
    assert_eq!(merged.name, "Renamed");
    assert_eq!(merged.allocation, Allocation::new(50, 40));
    assert_eq!(merged.success_criteria.threshold, 10.0);
    assert_eq!(merged.success_criteria.metric, Metric::Quality);
    assert_eq!(merged.description, spec.description);
}

fn three_arms() -> serde_json::Value {
    let mut body = valid();
    let o = body.as_object_mut().unwrap();
    o.remove("control");
    o.remove("treatment");
    o.insert(
        "variants".into(),
        json!([
            {"key": "control", "name": "Current", "configuration": {"model": "a"}},
            {"key": "gpt-4o", "name": "Bigger model", "configuration": {"model": "b"}},
            {"key": "v3.1", "name": "Newest", "configuration": {"model": "c"}}
        ]),
    );
    o.insert(
        "allocation".into(),
        json!({"control": 30, "gpt-4o": 30, "v3.1": 40}),
    );
    body
}

#[test]
fn the_general_form_parses_every_arm_in_order() {
    let spec = parse(three_arms()).unwrap();
    let keys: Vec<&str> = spec.variants.iter().map(|a| a.key.as_str()).collect();
    assert_eq!(keys, ["control", "gpt-4o", "v3.1"]);
    assert_eq!(spec.allocation.shares(), &[30, 30, 40]);
    assert_eq!(spec.variants[2].configuration["model"], "c");
    assert!(!spec.is_two_arm_shape());
    // On the wire: the two-arm shape (arms 0 and 1) beside every arm.
    let wire = serde_json::to_value(&spec).unwrap();
    assert_eq!(wire["control"]["name"], "Current");
    assert_eq!(wire["treatment"]["name"], "Bigger model");
    assert_eq!(wire["variants"][2]["key"], "v3.1");
    assert_eq!(
        wire["allocation"],
        json!({"control": 30, "gpt-4o": 30, "v3.1": 40})
    );
    let back: ExperimentSpec = serde_json::from_value(wire).unwrap();
    assert_eq!(back, spec);
}

#[test]
fn the_two_arm_shape_reads_back_exactly_and_as_variants() {
    let spec = parse(valid()).unwrap();
    assert!(spec.is_two_arm_shape());
    let wire = serde_json::to_value(&spec).unwrap();
    assert_eq!(wire["allocation"], json!({"control": 50, "treatment": 50}));
    assert_eq!(
        wire["control"]["configuration"],
        json!({"templateId": "t1"})
    );
    assert_eq!(wire["variants"][1]["key"], "treatment");
    // A body of the spec's shape (without `variants`) deserialises to the same spec.
    let mut old = wire.clone();
    old.as_object_mut().unwrap().remove("variants");
    assert_eq!(serde_json::from_value::<ExperimentSpec>(old).unwrap(), spec);
}

#[test]
fn every_rule_of_the_general_form_is_reported_with_its_field() {
    let with = |edit: &dyn Fn(&mut serde_json::Value)| {
        let mut body = three_arms();
        edit(&mut body);
        fields(body)
    };
    assert_eq!(
        with(&|b| b["variants"] = json!([{"key": "control", "name": "only"}])),
        ["variants"]
    );
    let nine: Vec<_> = (0..9)
        .map(|i| json!({"key": format!("a{i}"), "name": "n"}))
        .collect();
    assert!(with(&|b| b["variants"] = json!(nine)).contains(&"variants".to_owned()));
    assert!(
        with(&|b| b["variants"][1]["key"] = json!("control"))
            .contains(&"variants[1].key".to_owned())
    );
    assert!(
        with(&|b| b["variants"][2]["key"] = json!("no spaces"))
            .contains(&"variants[2].key".to_owned())
    );
    assert!(with(&|b| b["variants"][2]["key"] = json!("")).contains(&"variants[2].key".to_owned()));
    assert!(
        with(&|b| {
            b["variants"][1].as_object_mut().unwrap().remove("key");
        })
        .contains(&"variants[1].key".to_owned())
    );
    assert!(
        with(&|b| {
            b["variants"][1].as_object_mut().unwrap().remove("name");
        })
        .contains(&"variants[1].name".to_owned())
    );
    assert!(
        with(&|b| b["variants"][2]["configuration"] = json!([1]))
            .contains(&"variants[2].configuration".to_owned())
    );
    assert!(
        with(&|b| {
            b["allocation"].as_object_mut().unwrap().remove("v3.1");
        })
        .contains(&"allocation.v3.1".to_owned())
    );
    assert!(
        with(&|b| b["allocation"]["treatment"] = json!(10))
            .contains(&"allocation.treatment".to_owned())
    );
    assert!(with(&|b| b["allocation"]["v3.1"] = json!(41)).contains(&"allocation".to_owned()));
    assert!(with(&|b| b["allocation"]["v3.1"] = json!(0)).contains(&"allocation.v3.1".to_owned()));
    assert!(with(&|b| b["control"] = json!({"name": "x"})).contains(&"control".to_owned()));
}

#[test]
fn a_patch_of_new_arms_replaces_the_arms_and_their_shares() {
    let base = ExperimentInput::from_spec(&parse(valid()).unwrap());
    let patch: ExperimentInput = serde_json::from_value(json!({
        "variants": three_arms()["variants"],
        "allocation": {"control": 10, "gpt-4o": 10, "v3.1": 10}
    }))
    .unwrap();
    let spec = base.overlay(patch).parse().unwrap();
    assert_eq!(spec.variants.len(), 3);
    assert_eq!(spec.allocation.shares(), &[10, 10, 10]);
    // And a patch of the two-arm fields edits arms 0 and 1 of a general-form experiment.
    let base = ExperimentInput::from_spec(&spec);
    let patch: ExperimentInput =
        serde_json::from_value(json!({"treatment": {"name": "Renamed"}})).unwrap();
    let spec = base.overlay(patch).parse().unwrap();
    assert_eq!(spec.variants[1].name, "Renamed");
    assert_eq!(spec.variants[1].key.as_str(), "gpt-4o");
}
