//! In-process resolve: one user against 20 active experiments (the hot path of
//! `POST /api/v1/insights/resolve` and of `AbTestLayer`, without HTTP).
//!
//! `cargo bench --bench resolve`

use criterion::{BatchSize, Criterion, black_box, criterion_group, criterion_main};
use serde_json::value::RawValue;
use std::sync::Arc;
use uuid::Uuid;
use verdict::domain::assignment::{Allocation, RequestContext, Targeting, Variant, bucket};
use verdict::domain::experiment::{LayerSlice, TargetType};
use verdict::domain::resolve::{Exposure, LiveExperiment, Resolution, Snapshot, answer_json};

fn raw(s: &str) -> Arc<RawValue> {
    Arc::from(RawValue::from_string(s.to_owned()).unwrap())
}

/// 20 active experiments that all apply to tenant "acme": 12 of its own, 8 system-wide,
/// on 20 different targets; a quarter restrict intents, one restricts 10,000 users.
fn snapshot() -> Snapshot {
    let types = TargetType::ALL;
    let experiments = (0..20)
        .map(|i| {
            let mut targeting = Targeting::default();
            if i % 4 == 0 {
                targeting.intents = vec!["risk".into(), "summary".into()];
            }
            if i == 7 {
                targeting.user_ids = (0..10_000).map(|u| format!("user-{u}")).collect();
            }
            LiveExperiment {
                id: Uuid::now_v7(),
                tenant_id: if i < 12 {
                    "acme".into()
                } else {
                    "system".into()
                },
                target_type: types[i % types.len()],
                target_id: format!("target-{i}"),
                salt: format!("{:032x}", i * 7919 + 13),
                start_date: chrono::Utc::now(),
                allocation: Allocation::new(50, 50),
                compiled: targeting.compile(),
                targeting,
                arms: vec![
                    raw(r#"{"templateId":"control-template","temperature":0.2}"#),
                    raw(r#"{"templateId":"treatment-template","temperature":0.4}"#),
                ],
                layer_salt: format!("layer:target:{}/target-{i}", types[i % types.len()]).into(),
                slice: LayerSlice::FULL,
            }
        })
        .collect();
    Snapshot::new(experiments, vec![])
}

/// 20 experiments of tenant "acme", each targeting 8 scopes of different key sets (8 scope
/// groups each, 160 in all), none of which the request's scope matches: every group is
/// looked up.
fn scoped_snapshot() -> Snapshot {
    let types = TargetType::ALL;
    let experiments = (0..20)
        .map(|i| {
            let targeting = Targeting {
                scopes: (0..8)
                    .map(|g| {
                        let mut scope = serde_json::Map::new();
                        for k in 0..=g {
                            scope.insert(format!("key{k}"), serde_json::json!(format!("v{i}-{g}")));
                        }
                        scope
                    })
                    .collect(),
                ..Targeting::default()
            };
            LiveExperiment {
                id: Uuid::now_v7(),
                tenant_id: "acme".into(),
                target_type: types[i % types.len()],
                target_id: format!("target-{i}"),
                salt: format!("{:032x}", i * 7919 + 13),
                start_date: chrono::Utc::now(),
                allocation: Allocation::new(50, 50),
                compiled: targeting.compile(),
                targeting,
                arms: vec![
                    raw(r#"{"templateId":"control-template"}"#),
                    raw(r#"{"templateId":"treatment-template"}"#),
                ],
                layer_salt: format!("layer:target:{}/target-{i}", types[i % types.len()]).into(),
                slice: LayerSlice::FULL,
            }
        })
        .collect();
    Snapshot::new(experiments, vec![])
}

/// 20 active experiments of 3 arms each (34/33/33) for tenant "acme", two on each of 10
/// targets, each holding half of its target's layer ([0, 5000) and [5000, 10000)), and a
/// tenant holdout of 10 %: the k-arm, layered hot path.
fn layered_snapshot() -> Snapshot {
    let types = TargetType::ALL;
    let keys: Vec<Variant> = ["control", "b", "c"]
        .iter()
        .map(|k| k.parse().unwrap())
        .collect();
    let allocation = Allocation::from_arms(&[(keys[0], 34), (keys[1], 33), (keys[2], 33)]).unwrap();
    let experiments = (0..20)
        .map(|i| {
            let target = i / 2;
            let targeting = Targeting::default();
            LiveExperiment {
                id: Uuid::now_v7(),
                tenant_id: "acme".into(),
                target_type: types[target % types.len()],
                target_id: format!("target-{target}"),
                salt: format!("{:032x}", i * 7919 + 13),
                start_date: chrono::Utc::now(),
                allocation,
                compiled: targeting.compile(),
                targeting,
                arms: vec![
                    raw(r#"{"templateId":"control-template","temperature":0.2}"#),
                    raw(r#"{"templateId":"b-template","temperature":0.4}"#),
                    raw(r#"{"templateId":"c-template","temperature":0.6}"#),
                ],
                layer_salt: format!(
                    "layer:target:{}/target-{target}",
                    types[target % types.len()]
                )
                .into(),
                slice: if i % 2 == 0 {
                    LayerSlice {
                        start: 0,
                        end: 5000,
                    }
                } else {
                    LayerSlice {
                        start: 5000,
                        end: 10_000,
                    }
                },
            }
        })
        .collect();
    let held: Variant = "holdout".parse().unwrap();
    let exposed: Variant = "exposed".parse().unwrap();
    let holdout = LiveExperiment {
        id: Uuid::now_v7(),
        tenant_id: "acme".into(),
        target_type: TargetType::Prompt,
        target_id: "verdict-holdout".into(),
        salt: "0123456789abcdef0123456789abcdef".into(),
        start_date: chrono::Utc::now(),
        allocation: Allocation::from_arms(&[(held, 10), (exposed, 90)]).unwrap(),
        compiled: Targeting::default().compile(),
        targeting: Targeting::default(),
        arms: vec![raw("{}"), raw("{}")],
        layer_salt: "layer:holdout".into(),
        slice: LayerSlice::FULL,
    };
    Snapshot::new(experiments, vec![]).with_holdouts(vec![holdout])
}

/// A request scope near the 4 KiB bound: the 8 keys the experiments name, each an object of
/// 12 entries, plus other keys.
fn big_scope() -> serde_json::Map<String, serde_json::Value> {
    let mut scope = serde_json::Map::new();
    for k in 0..15 {
        let inner: serde_json::Map<String, serde_json::Value> = (0..12)
            .map(|j| {
                (
                    format!("field{j}"),
                    serde_json::json!(format!("value-{k}-{j}")),
                )
            })
            .collect();
        scope.insert(format!("key{k}"), serde_json::Value::Object(inner));
    }
    scope
}

fn bench(c: &mut Criterion) {
    let snapshot = snapshot();
    let users: Vec<String> = (0..4096).map(|i| format!("user-{i}")).collect();
    let mut group = c.benchmark_group("resolve");

    let mut i = 0usize;
    group.bench_function("one user, 20 active experiments", |b| {
        let mut out: Vec<Resolution<'_>> = Vec::with_capacity(32);
        let mut exposures: Vec<Exposure> = Vec::with_capacity(32);
        b.iter(|| {
            i = (i + 1) & 4095;
            let ctx = RequestContext {
                tenant_id: "acme",
                user_id: &users[i],
                intent: Some("risk"),
                scope: None,
            };
            out.clear();
            exposures.clear();
            snapshot.resolve(black_box(&ctx), &mut out, &mut exposures);
            black_box(out.len())
        })
    });

    let layered = layered_snapshot();
    group.bench_function(
        "one user, 20 experiments of 3 arms in layers, and a holdout",
        |b| {
            let mut out: Vec<Resolution<'_>> = Vec::with_capacity(32);
            let mut exposures: Vec<Exposure> = Vec::with_capacity(32);
            let mut holdouts = Vec::with_capacity(4);
            b.iter(|| {
                i = (i + 1) & 4095;
                let ctx = RequestContext {
                    tenant_id: "acme",
                    user_id: &users[i],
                    intent: Some("risk"),
                    scope: None,
                };
                out.clear();
                exposures.clear();
                holdouts.clear();
                layered.resolve_all(
                    black_box(&ctx),
                    None,
                    &mut out,
                    &mut exposures,
                    &mut holdouts,
                );
                black_box(out.len() + holdouts.len())
            })
        },
    );

    group.bench_function("one user, 20 experiments, answer serialised to JSON", |b| {
        b.iter_batched(
            || {
                i = (i + 1) & 4095;
                users[i].clone()
            },
            |user| {
                let ctx = RequestContext::new("acme", &user).with_intent("risk");
                let mut out = Vec::new();
                let mut exposures = Vec::new();
                snapshot.resolve(&ctx, &mut out, &mut exposures);
                black_box(answer_json("acme", &user, &out))
            },
            BatchSize::SmallInput,
        )
    });

    let scoped = scoped_snapshot();
    let scope = big_scope();
    group.bench_function(
        "a 4 KiB scope against 20 experiments of 8 scope groups each",
        |b| {
            let mut out: Vec<Resolution<'_>> = Vec::with_capacity(32);
            let mut exposures: Vec<Exposure> = Vec::with_capacity(32);
            b.iter(|| {
                i = (i + 1) & 4095;
                let ctx = RequestContext {
                    tenant_id: "acme",
                    user_id: &users[i],
                    intent: None,
                    scope: Some(&scope),
                };
                out.clear();
                exposures.clear();
                scoped.resolve(black_box(&ctx), &mut out, &mut exposures);
                black_box(out.len())
            })
        },
    );

    group.bench_function("the bucket hash alone", |b| {
        b.iter(|| {
            i = (i + 1) & 4095;
            black_box(bucket(
                black_box("0123456789abcdef0123456789abcdef"),
                &users[i],
            ))
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
