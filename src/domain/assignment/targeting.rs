//! Targeting: which requests are eligible for an experiment.
//!
//! Every non-empty dimension must match (AND across dimensions); within a dimension any
//! listed value may match (OR). An empty list places no restriction on that dimension.

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// Targeting rules of an experiment. An empty list means "no restriction" on that dimension.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase", default)]
pub struct Targeting {
    pub tenant_ids: Vec<String>,
    pub user_ids: Vec<String>,
    pub intents: Vec<String>,
    /// A request matches when **any** listed scope is a subset of the request scope: every key
    /// the listed scope names is present in the request scope with an equal JSON value.
    pub scopes: Vec<Map<String, Value>>,
}

/// The request attributes targeting is evaluated against.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct RequestContext<'a> {
    pub tenant_id: &'a str,
    pub user_id: &'a str,
    pub intent: Option<&'a str>,
    /// `None` behaves like an empty object: it only matches a listed scope `{}`.
    pub scope: Option<&'a Map<String, Value>>,
}

impl<'a> RequestContext<'a> {
    pub const fn new(tenant_id: &'a str, user_id: &'a str) -> Self {
        Self {
            tenant_id,
            user_id,
            intent: None,
            scope: None,
        }
    }

    pub const fn with_intent(mut self, intent: &'a str) -> Self {
        self.intent = Some(intent);
        self
    }

    pub const fn with_scope(mut self, scope: &'a Map<String, Value>) -> Self {
        self.scope = Some(scope);
        self
    }
}

impl Targeting {
    /// `true` when no dimension is restricted (every request matches).
    pub fn is_unrestricted(&self) -> bool {
        self.tenant_ids.is_empty()
            && self.user_ids.is_empty()
            && self.intents.is_empty()
            && self.scopes.is_empty()
    }

    /// Reference evaluation by linear scan: O(total list length). For large lists or hot paths
    /// use [`Targeting::compile`] once and [`CompiledTargeting::matches`] per request.
    pub fn matches(&self, ctx: &RequestContext<'_>) -> bool {
        let tenant_ok =
            self.tenant_ids.is_empty() || self.tenant_ids.iter().any(|t| t == ctx.tenant_id);
        let user_ok = self.user_ids.is_empty() || self.user_ids.iter().any(|u| u == ctx.user_id);
        let intent_ok = self.intents.is_empty()
            || ctx
                .intent
                .is_some_and(|intent| self.intents.iter().any(|i| i == intent));
        let scope_ok = self.scopes.is_empty()
            || self
                .scopes
                .iter()
                .any(|listed| scope_matches(listed, ctx.scope));
        tenant_ok && user_ok && intent_ok && scope_ok
    }

    /// Precompile into hash-based lookups.
    pub fn compile(&self) -> CompiledTargeting {
        CompiledTargeting::new(self)
    }
}

/// `true` when every key of `listed` is present in `request` with an equal JSON value.
pub fn scope_matches(listed: &Map<String, Value>, request: Option<&Map<String, Value>>) -> bool {
    listed.iter().all(|(key, want)| {
        request
            .and_then(|r| r.get(key))
            .is_some_and(|got| json_eq(want, got))
    })
}

/// JSON value equality used by scope matching.
///
/// Like `serde_json::Value`'s `==` except that numbers compare by their IEEE-754 `f64` value
/// (as in JavaScript), so `1`, `1.0` and `1e0` are equal. Strings compare by exact code points
/// (no Unicode normalization); objects compare as unordered key sets; arrays in order.
pub fn json_eq(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Null, Value::Null) => true,
        (Value::Bool(x), Value::Bool(y)) => x == y,
        (Value::Number(x), Value::Number(y)) => match (x.as_f64(), y.as_f64()) {
            (Some(x), Some(y)) => x == y,
            _ => x == y,
        },
        (Value::String(x), Value::String(y)) => x == y,
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(x, y)| json_eq(x, y))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, xv)| y.get(k).is_some_and(|yv| json_eq(xv, yv)))
        }
        _ => false,
    }
}

/// Hashable canonical form of a JSON value, consistent with [`json_eq`]:
/// `json_eq(a, b) == (canon(a) == canon(b))`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Canon<'a> {
    Null,
    Bool(bool),
    /// Bits of the `f64` value with `-0.0` normalized to `0.0` (JSON has no NaN).
    Num(u64),
    /// A number not representable as `f64` (only possible with serde_json's
    /// `arbitrary_precision` feature): compared by its text.
    NumText(String),
    Str(Cow<'a, str>),
    Arr(Vec<Canon<'a>>),
    /// Sorted by key.
    Obj(Vec<(Cow<'a, str>, Canon<'a>)>),
}

fn canon(v: &Value) -> Canon<'_> {
    match v {
        Value::Null => Canon::Null,
        Value::Bool(b) => Canon::Bool(*b),
        Value::Number(n) => match n.as_f64() {
            // `-0.0 == 0.0`, so both map to the bits of `+0.0` (which are 0).
            Some(f) => Canon::Num(if f == 0.0 { 0 } else { f.to_bits() }),
            None => Canon::NumText(n.to_string()),
        },
        Value::String(s) => Canon::Str(Cow::Borrowed(s.as_str())),
        Value::Array(items) => Canon::Arr(items.iter().map(canon).collect()),
        Value::Object(map) => {
            let mut entries: Vec<_> = map
                .iter()
                .map(|(k, v)| (Cow::Borrowed(k.as_str()), canon(v)))
                .collect();
            entries.sort_by(|a, b| a.0.cmp(&b.0));
            Canon::Obj(entries)
        }
    }
}

fn canon_owned(v: &Value) -> Canon<'static> {
    fn own(c: Canon<'_>) -> Canon<'static> {
        match c {
            Canon::Null => Canon::Null,
            Canon::Bool(b) => Canon::Bool(b),
            Canon::Num(n) => Canon::Num(n),
            Canon::NumText(t) => Canon::NumText(t),
            Canon::Str(s) => Canon::Str(Cow::Owned(s.into_owned())),
            Canon::Arr(items) => Canon::Arr(items.into_iter().map(own).collect()),
            Canon::Obj(entries) => Canon::Obj(
                entries
                    .into_iter()
                    .map(|(k, v)| (Cow::Owned(k.into_owned()), own(v)))
                    .collect(),
            ),
        }
    }
    own(canon(v))
}

/// The hash of one canonical value (`DefaultHasher::new()` has fixed keys: the same value
/// hashes the same in every process).
fn canon_hash(c: &Canon<'_>) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    c.hash(&mut h);
    h.finish()
}

/// The hash of a tuple of values, from the hashes of its values in order: start from
/// [`TUPLE_HASH_START`] and take each value's hash with [`tuple_hash_step`].
const TUPLE_HASH_START: u64 = 0xcbf2_9ce4_8422_2325;

fn tuple_hash_step(h: u64, value_hash: u64) -> u64 {
    (h ^ value_hash).wrapping_mul(0x0000_0100_0000_01b3)
}

fn tuple_hash(hashes: impl Iterator<Item = u64>) -> u64 {
    hashes.fold(TUPLE_HASH_START, tuple_hash_step)
}

/// A request's scope, each top-level value canonicalised (and hashed) once per request, so
/// that matching it against every scope group of every live experiment costs a lookup per
/// key, not a canonicalisation of the value each time. A scope is at most 4 KiB and 32 keys
/// (`domain::limits`).
#[derive(Debug)]
pub struct CanonicalScope<'a> {
    values: HashMap<&'a str, (Canon<'a>, u64)>,
}

impl<'a> CanonicalScope<'a> {
    pub fn of(scope: &'a Map<String, Value>) -> Self {
        Self {
            values: scope
                .iter()
                .map(|(k, v)| {
                    let c = canon(v);
                    let h = canon_hash(&c);
                    (k.as_str(), (c, h))
                })
                .collect(),
        }
    }
}

/// Listed scopes that name the same (sorted) set of keys, indexed by the hash of their value
/// tuples (each bucket holds the tuples, compared value by value on a hit).
#[derive(Debug, Clone)]
struct ScopeGroup {
    keys: Vec<String>,
    tuples: HashMap<u64, Vec<Vec<Canon<'static>>>>,
}

#[derive(Debug, Clone, Default)]
struct CompiledScopes {
    /// A listed scope `{}` matches every request.
    match_all: bool,
    groups: Vec<ScopeGroup>,
}

impl CompiledScopes {
    fn new(scopes: &[Map<String, Value>]) -> Self {
        let mut match_all = false;
        let mut by_keys: HashMap<Vec<String>, HashSet<Vec<Canon<'static>>>> = HashMap::new();
        for scope in scopes {
            if scope.is_empty() {
                match_all = true;
                continue;
            }
            let mut entries: Vec<(&String, &Value)> = scope.iter().collect();
            entries.sort_by(|a, b| a.0.cmp(b.0));
            let keys: Vec<String> = entries.iter().map(|(k, _)| (*k).clone()).collect();
            let tuple: Vec<Canon<'static>> = entries.iter().map(|(_, v)| canon_owned(v)).collect();
            by_keys.entry(keys).or_default().insert(tuple);
        }
        let mut groups: Vec<ScopeGroup> = by_keys
            .into_iter()
            .map(|(keys, set)| {
                let mut tuples: HashMap<u64, Vec<Vec<Canon<'static>>>> = HashMap::new();
                for tuple in set {
                    let h = tuple_hash(tuple.iter().map(canon_hash));
                    tuples.entry(h).or_default().push(tuple);
                }
                ScopeGroup { keys, tuples }
            })
            .collect();
        // Deterministic order (fewest keys first); does not affect the result.
        groups.sort_by(|a, b| a.keys.len().cmp(&b.keys.len()).then(a.keys.cmp(&b.keys)));
        Self { match_all, groups }
    }

    fn matches(&self, request: Option<&CanonicalScope<'_>>) -> bool {
        if self.match_all {
            return true;
        }
        let Some(request) = request else {
            return false;
        };
        let mut values: Vec<&Canon<'_>> = Vec::new();
        'groups: for group in &self.groups {
            values.clear();
            let mut hash = TUPLE_HASH_START;
            for key in &group.keys {
                match request.values.get(key.as_str()) {
                    Some((c, h)) => {
                        values.push(c);
                        hash = tuple_hash_step(hash, *h);
                    }
                    None => continue 'groups,
                }
            }
            let Some(bucket) = group.tuples.get(&hash) else {
                continue;
            };
            if bucket.iter().any(|tuple| {
                tuple
                    .iter()
                    .zip(&values)
                    .all(|(stored, got)| stored == *got)
            }) {
                return true;
            }
        }
        false
    }
}

/// [`Targeting`] precompiled into hash sets: each id/intent dimension is an O(1) lookup and the
/// scope dimension costs one lookup per distinct key set among the listed scopes.
/// Produces exactly the same result as [`Targeting::matches`].
#[derive(Debug, Clone, Default)]
pub struct CompiledTargeting {
    tenant_ids: Option<HashSet<String>>,
    user_ids: Option<HashSet<String>>,
    intents: Option<HashSet<String>>,
    scopes: Option<CompiledScopes>,
}

fn id_set(list: &[String]) -> Option<HashSet<String>> {
    (!list.is_empty()).then(|| list.iter().cloned().collect())
}

impl CompiledTargeting {
    pub fn new(targeting: &Targeting) -> Self {
        Self {
            tenant_ids: id_set(&targeting.tenant_ids),
            user_ids: id_set(&targeting.user_ids),
            intents: id_set(&targeting.intents),
            scopes: (!targeting.scopes.is_empty()).then(|| CompiledScopes::new(&targeting.scopes)),
        }
    }

    /// `true` when no dimension is restricted (every request matches).
    pub fn is_unrestricted(&self) -> bool {
        self.tenant_ids.is_none()
            && self.user_ids.is_none()
            && self.intents.is_none()
            && self.scopes.is_none()
    }

    pub fn matches(&self, ctx: &RequestContext<'_>) -> bool {
        let scope = ctx.scope.map(CanonicalScope::of);
        self.matches_with(ctx, scope.as_ref())
    }

    /// [`matches`](Self::matches) with the request's scope canonicalised already (once per
    /// request, however many experiments are matched against it).
    pub fn matches_with(
        &self,
        ctx: &RequestContext<'_>,
        scope: Option<&CanonicalScope<'_>>,
    ) -> bool {
        self.tenant_ids
            .as_ref()
            .is_none_or(|set| set.contains(ctx.tenant_id))
            && self
                .user_ids
                .as_ref()
                .is_none_or(|set| set.contains(ctx.user_id))
            && self
                .intents
                .as_ref()
                .is_none_or(|set| ctx.intent.is_some_and(|i| set.contains(i)))
            && self.scopes.as_ref().is_none_or(|s| s.matches(scope))
    }
}

impl From<&Targeting> for CompiledTargeting {
    fn from(targeting: &Targeting) -> Self {
        Self::new(targeting)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn obj(v: Value) -> Map<String, Value> {
        match v {
            Value::Object(m) => m,
            other => panic!("not an object: {other}"),
        }
    }

    fn strings(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| (*s).to_owned()).collect()
    }

    /// Asserts both evaluators agree and returns the result.
    fn eval(t: &Targeting, ctx: &RequestContext<'_>) -> bool {
        let slow = t.matches(ctx);
        let fast = t.compile().matches(ctx);
        assert_eq!(slow, fast, "evaluators disagree on {t:?} / {ctx:?}");
        slow
    }

    #[test]
    fn empty_targeting_matches_everything() {
        let t = Targeting::default();
        assert!(t.is_unrestricted());
        assert!(t.compile().is_unrestricted());
        assert!(eval(&t, &RequestContext::new("", "")));
        let scope = obj(json!({"a": 1}));
        let ctx = RequestContext::new("t", "u")
            .with_intent("x")
            .with_scope(&scope);
        assert!(eval(&t, &ctx));
    }

    #[test]
    fn a_tenant_list_admits_only_the_listed_tenants_case_sensitively() {
        let t = Targeting {
            tenant_ids: strings(&["acme", "globex"]),
            ..Default::default()
        };
        assert!(!t.is_unrestricted());
        assert!(eval(&t, &RequestContext::new("acme", "u1")));
        assert!(eval(&t, &RequestContext::new("globex", "u1")));
        assert!(!eval(&t, &RequestContext::new("initech", "u1")));
        assert!(
            !eval(&t, &RequestContext::new("ACME", "u1")),
            "case-sensitive"
        );
        assert!(!eval(&t, &RequestContext::new("", "u1")));
    }

    #[test]
    fn a_user_list_admits_only_the_listed_users() {
        let t = Targeting {
            user_ids: strings(&["u1", "用户"]),
            ..Default::default()
        };
        assert!(eval(&t, &RequestContext::new("any", "u1")));
        assert!(eval(&t, &RequestContext::new("any", "用户")));
        assert!(!eval(&t, &RequestContext::new("any", "u2")));
    }

    #[test]
    fn intent_dimension_requires_an_intent() {
        let t = Targeting {
            intents: strings(&["checkout", "search"]),
            ..Default::default()
        };
        let ctx = RequestContext::new("t", "u");
        assert!(!eval(&t, &ctx), "no intent on request");
        assert!(eval(&t, &ctx.with_intent("search")));
        assert!(!eval(&t, &ctx.with_intent("browse")));
    }

    #[test]
    fn all_dimensions_are_anded() {
        let scope_ok = obj(json!({"plan": "pro", "region": "eu"}));
        let scope_bad = obj(json!({"plan": "free", "region": "eu"}));
        let t = Targeting {
            tenant_ids: strings(&["acme"]),
            user_ids: strings(&["u1"]),
            intents: strings(&["checkout"]),
            scopes: vec![obj(json!({"plan": "pro"}))],
        };
        let good = RequestContext::new("acme", "u1")
            .with_intent("checkout")
            .with_scope(&scope_ok);
        assert!(eval(&t, &good));
        assert!(!eval(
            &t,
            &RequestContext {
                tenant_id: "x",
                ..good
            }
        ));
        assert!(!eval(
            &t,
            &RequestContext {
                user_id: "x",
                ..good
            }
        ));
        assert!(!eval(
            &t,
            &RequestContext {
                intent: Some("x"),
                ..good
            }
        ));
        assert!(!eval(
            &t,
            &RequestContext {
                intent: None,
                ..good
            }
        ));
        assert!(!eval(
            &t,
            &RequestContext {
                scope: Some(&scope_bad),
                ..good
            }
        ));
        assert!(!eval(
            &t,
            &RequestContext {
                scope: None,
                ..good
            }
        ));
    }

    #[test]
    fn scope_is_subset_match_and_any_of_list() {
        let t = Targeting {
            scopes: vec![
                obj(json!({"plan": "pro", "region": "eu"})),
                obj(json!({"beta": true})),
            ],
            ..Default::default()
        };
        let check = |scope: Value| {
            let scope = obj(scope);
            eval(&t, &RequestContext::new("t", "u").with_scope(&scope))
        };
        assert!(check(json!({"plan": "pro", "region": "eu"})));
        assert!(check(
            json!({"plan": "pro", "region": "eu", "extra": [1, 2]})
        ));
        assert!(!check(json!({"plan": "pro"})), "missing key");
        assert!(!check(json!({"plan": "pro", "region": "us"})));
        assert!(check(json!({"beta": true})));
        assert!(!check(json!({"beta": "true"})), "types must match");
        assert!(!check(json!({"beta": null})));
        assert!(!check(json!({})));
        assert!(!eval(&t, &RequestContext::new("t", "u")), "no scope");
    }

    #[test]
    fn null_is_a_value_not_absence() {
        let t = Targeting {
            scopes: vec![obj(json!({"team": null}))],
            ..Default::default()
        };
        let with_null = obj(json!({"team": null}));
        let without = obj(json!({}));
        assert!(eval(
            &t,
            &RequestContext::new("t", "u").with_scope(&with_null)
        ));
        assert!(!eval(
            &t,
            &RequestContext::new("t", "u").with_scope(&without)
        ));
    }

    #[test]
    fn empty_listed_scope_matches_any_request() {
        let t = Targeting {
            scopes: vec![obj(json!({"plan": "pro"})), Map::new()],
            ..Default::default()
        };
        assert!(eval(&t, &RequestContext::new("t", "u")));
        let other = obj(json!({"plan": "free"}));
        assert!(eval(&t, &RequestContext::new("t", "u").with_scope(&other)));
    }

    #[test]
    fn json_equality_compares_numbers_by_value_and_ignores_key_order() {
        assert!(json_eq(&json!(1), &json!(1.0)));
        assert!(json_eq(&json!(-0.0), &json!(0)));
        assert!(json_eq(&json!(1e2), &json!(100u64)));
        assert!(!json_eq(&json!(1), &json!(1.5)));
        assert!(!json_eq(&json!(1), &json!("1")));
        assert!(json_eq(
            &json!({"a": 1, "b": [1, {"c": 2}]}),
            &json!({"b": [1.0, {"c": 2}], "a": 1})
        ));
        assert!(!json_eq(&json!([1, 2]), &json!([2, 1])));
        assert!(!json_eq(&json!({"a": 1}), &json!({"a": 1, "b": 2})));
        assert!(
            !json_eq(&json!("é"), &json!("e\u{301}")),
            "no normalization"
        );
        // Same for the canonical form used by the compiled path.
        for (a, b) in [
            (json!(1), json!(1.0)),
            (json!(-0.0), json!(0)),
            (
                json!({"x": {"b": 1, "a": [true, null]}}),
                json!({"x": {"a": [true, null], "b": 1.0}}),
            ),
        ] {
            assert_eq!(canon(&a), canon(&b));
        }
        assert_ne!(canon(&json!([1, 2])), canon(&json!([2, 1])));
    }

    #[test]
    fn nested_values_match_in_both_paths() {
        let t = Targeting {
            scopes: vec![obj(json!({"flags": {"a": 1, "b": [1, 2]}, "n": 3}))],
            ..Default::default()
        };
        let req = obj(json!({"n": 3.0, "flags": {"b": [1, 2.0], "a": 1}, "z": 0}));
        assert!(eval(&t, &RequestContext::new("t", "u").with_scope(&req)));
        let req = obj(json!({"n": 3, "flags": {"b": [1, 2], "a": 1, "c": 0}}));
        assert!(
            !eval(&t, &RequestContext::new("t", "u").with_scope(&req)),
            "nested objects compare whole"
        );
    }

    #[test]
    fn targeting_round_trips_as_json_and_omitted_lists_are_empty() {
        let t: Targeting =
            serde_json::from_str(r#"{"tenantIds":["acme"],"scopes":[{"plan":"pro"}]}"#).unwrap();
        assert_eq!(t.tenant_ids, strings(&["acme"]));
        assert!(t.user_ids.is_empty() && t.intents.is_empty());
        assert_eq!(t.scopes, vec![obj(json!({"plan": "pro"}))]);
        let back: Targeting = serde_json::from_str(&serde_json::to_string(&t).unwrap()).unwrap();
        assert_eq!(back, t);
        let empty: Targeting = serde_json::from_str("{}").unwrap();
        assert!(empty.is_unrestricted());
    }

    #[test]
    fn lists_of_ten_thousand_entries_match_as_the_reference_does() {
        let t = Targeting {
            tenant_ids: (0..10_000).map(|i| format!("tenant-{i}")).collect(),
            user_ids: (0..10_000).map(|i| format!("user-{i}")).collect(),
            intents: (0..10_000).map(|i| format!("intent-{i}")).collect(),
            scopes: (0..10_000)
                .map(|i| obj(json!({"org": i, "tier": if i % 2 == 0 { "a" } else { "b" }})))
                .chain((0..100).map(|i| obj(json!({"region": format!("r{i}")}))))
                .collect(),
        };
        let c = t.compile();
        let scope_hit = obj(json!({"org": 9_998, "tier": "a", "other": 1}));
        let scope_miss = obj(json!({"org": 9_998, "tier": "b"}));
        let scope_region = obj(json!({"region": "r42"}));
        let base = RequestContext::new("tenant-9999", "user-0").with_intent("intent-5000");
        assert!(c.matches(&base.with_scope(&scope_hit)));
        assert!(c.matches(&base.with_scope(&scope_region)));
        assert!(!c.matches(&base.with_scope(&scope_miss)));
        assert!(!c.matches(&RequestContext {
            tenant_id: "tenant-10000",
            ..base.with_scope(&scope_hit)
        }));
        // Spot-check agreement with the reference evaluator.
        for ctx in [
            base.with_scope(&scope_hit),
            base.with_scope(&scope_miss),
            base.with_scope(&scope_region),
            base,
        ] {
            assert_eq!(t.matches(&ctx), c.matches(&ctx));
        }
    }

    /// SplitMix64, for reproducible pseudo-random test inputs.
    struct Rng(crate::domain::splitmix::SplitMix64);
    impl Rng {
        fn next(&mut self) -> u64 {
            self.0.next_u64()
        }
        fn below(&mut self, n: u64) -> u64 {
            self.next() % n
        }
    }

    fn random_value(rng: &mut Rng) -> Value {
        match rng.below(6) {
            0 => Value::Null,
            1 => json!(rng.below(2) == 0),
            2 => json!(rng.below(3)),
            3 => json!(rng.below(3) as f64),
            4 => json!(["a", "b"][rng.below(2) as usize]),
            _ => json!({"k": rng.below(2)}),
        }
    }

    fn random_scope(rng: &mut Rng, max_keys: u64) -> Map<String, Value> {
        let mut m = Map::new();
        for _ in 0..rng.below(max_keys + 1) {
            let key = ["a", "b", "c", "d"][rng.below(4) as usize];
            m.insert(key.to_owned(), random_value(rng));
        }
        m
    }

    #[test]
    fn compiled_agrees_with_reference_on_random_inputs() {
        let mut rng = Rng(crate::domain::splitmix::SplitMix64(42));
        let pick = |rng: &mut Rng, prefix: &str| format!("{prefix}{}", rng.below(5));
        let mut matched = 0;
        for _ in 0..300 {
            let list = |rng: &mut Rng, prefix: &str| -> Vec<String> {
                (0..rng.below(4)).map(|_| pick(rng, prefix)).collect()
            };
            let t = Targeting {
                tenant_ids: list(&mut rng, "t"),
                user_ids: list(&mut rng, "u"),
                intents: list(&mut rng, "i"),
                scopes: (0..rng.below(4))
                    .map(|_| random_scope(&mut rng, 2))
                    .collect(),
            };
            let c = t.compile();
            for _ in 0..30 {
                let scope = random_scope(&mut rng, 4);
                let tenant = pick(&mut rng, "t");
                let user = pick(&mut rng, "u");
                let intent = pick(&mut rng, "i");
                let mut ctx = RequestContext::new(&tenant, &user);
                if rng.below(4) != 0 {
                    ctx = ctx.with_intent(&intent);
                }
                if rng.below(4) != 0 {
                    ctx = ctx.with_scope(&scope);
                }
                let slow = t.matches(&ctx);
                assert_eq!(slow, c.matches(&ctx), "{t:?} / {ctx:?}");
                matched += usize::from(slow);
            }
        }
        assert!(
            matched > 100,
            "random inputs should sometimes match: {matched}"
        );
    }
}
