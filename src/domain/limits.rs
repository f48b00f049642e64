//! The upper bound of everything Verdict accepts, in one place (docs/API.md, "Limits").
//!
//! Every number a client sends is bounded so that no sum, mean, variance or merge that
//! Verdict computes from it — in Rust or in SQL — can overflow a 64-bit float, for any
//! accepted value and any number of them: the largest value is 1e9, its square 1e18, and a
//! sum of a trillion of them 1e21, far below f64's 1.8e308. The stored ones are also
//! enforced by CHECK constraints (migration `20261202000013`). Collections and strings are
//! bounded so that no request can make the server allocate more than its body limit allows.

use serde_json::{Map, Value};

/// Longest latency of one event, in milliseconds (a day).
pub const MAX_LATENCY_MS: f64 = 86_400_000.0;
/// Most tokens one event may report.
pub const MAX_TOKENS: i64 = 100_000_000;
/// Largest cost of one event (in the product's currency unit).
pub const MAX_COST: f64 = 1_000_000.0;
/// Largest magnitude of a custom metric's value (e.g. `pre_experiment`).
pub const MAX_CUSTOM_ABS: f64 = 1_000_000_000.0;

/// Largest `scope` object (of an event's context, a resolve request, or a targeting entry),
/// measured as compact JSON.
pub const MAX_SCOPE_BYTES: usize = 4 * 1024;
/// Most keys in a `scope` object (all levels together).
pub const MAX_SCOPE_KEYS: usize = 32;
/// Deepest nesting inside a `scope` object.
pub const MAX_SCOPE_DEPTH: usize = 4;

/// Largest body of a resolve request or a single event.
pub const MAX_SMALL_BODY: usize = 64 * 1024;
/// Largest body of an event batch (10,000 events of up to ~1.6 KiB each).
pub const MAX_BATCH_BODY: usize = 16 * 1024 * 1024;
/// Largest body of an admin request (create or edit an experiment: four targeting lists of
/// up to 10,000 entries each).
pub const MAX_ADMIN_BODY: usize = 8 * 1024 * 1024;

/// PostgreSQL stores no NUL character (U+0000) in `text` or `jsonb`: every text Verdict
/// stores, or looks rows up by, is refused with this when it holds one (a 422 naming the
/// field, not a database error).
pub const NUL_REFUSED: &str = "must not contain the NUL character (U+0000)";

/// Whether `text` holds a NUL character.
pub fn holds_nul(text: &str) -> bool {
    text.contains('\0')
}

/// The refusal of `field` when its `text` holds a NUL character.
pub fn nul_in(field: &str, text: Option<&str>) -> Option<crate::domain::FieldError> {
    text.is_some_and(holds_nul)
        .then(|| crate::domain::FieldError::new(field, NUL_REFUSED))
}

/// Whether any string or key anywhere in `value` holds a NUL character.
pub fn json_holds_nul(value: &Value) -> bool {
    match value {
        Value::String(s) => holds_nul(s),
        Value::Array(items) => items.iter().any(json_holds_nul),
        Value::Object(map) => map.iter().any(|(k, v)| holds_nul(k) || json_holds_nul(v)),
        Value::Null | Value::Bool(_) | Value::Number(_) => false,
    }
}

/// Why `scope` is out of bounds, if it is: too large, too many keys, nested too deep, or
/// holding a NUL character.
pub fn scope_problem(scope: &Map<String, Value>) -> Option<String> {
    let mut budget = Budget { bytes: 2, keys: 0 };
    if !budget.object(scope, 1) {
        return Some(format!(
            "must be at most {MAX_SCOPE_BYTES} bytes of JSON with at most {MAX_SCOPE_KEYS} keys \
             nested at most {MAX_SCOPE_DEPTH} deep"
        ));
    }
    // (Walked only once it is known to be small.)
    scope
        .iter()
        .any(|(k, v)| holds_nul(k) || json_holds_nul(v))
        .then(|| NUL_REFUSED.to_owned())
}

/// What is left of a scope's allowance while it is walked (stops at the first excess, so a
/// huge value costs no more than the allowance to refuse).
struct Budget {
    bytes: usize,
    keys: usize,
}

impl Budget {
    fn spend(&mut self, bytes: usize) -> bool {
        self.bytes += bytes;
        self.bytes <= MAX_SCOPE_BYTES
    }

    fn object(&mut self, map: &Map<String, Value>, depth: usize) -> bool {
        if depth > MAX_SCOPE_DEPTH {
            return false;
        }
        for (key, value) in map {
            self.keys += 1;
            // "key": value,
            if self.keys > MAX_SCOPE_KEYS || !self.spend(key.len() + 4) {
                return false;
            }
            if !self.value(value, depth) {
                return false;
            }
        }
        true
    }

    fn value(&mut self, value: &Value, depth: usize) -> bool {
        match value {
            Value::Null | Value::Bool(_) => self.spend(5),
            // Digits of the longest f64 text.
            Value::Number(_) => self.spend(24),
            // Escapes can at most double a string's bytes (and \u00XX six-fold, which the
            // allowance of 4 KiB makes immaterial).
            Value::String(s) => self.spend(s.len() + 2),
            Value::Array(items) => {
                if depth + 1 > MAX_SCOPE_DEPTH || !self.spend(2) {
                    return false;
                }
                items
                    .iter()
                    .all(|v| self.spend(1) && self.value(v, depth + 1))
            }
            Value::Object(m) => self.spend(2) && self.object(m, depth + 1),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn obj(v: Value) -> Map<String, Value> {
        v.as_object().cloned().unwrap()
    }

    #[test]
    fn a_scope_within_every_bound_is_accepted() {
        assert_eq!(
            scope_problem(&obj(json!({"project": 7, "plan": "pro"}))),
            None
        );
        assert_eq!(scope_problem(&Map::new()), None);
        assert_eq!(
            scope_problem(&obj(json!({"a": {"b": {"c": [1, 2, 3]}}}))),
            None
        );
    }

    #[test]
    fn a_scope_too_large_too_wide_or_too_deep_is_refused() {
        let long = "x".repeat(MAX_SCOPE_BYTES);
        assert!(scope_problem(&obj(json!({ "k": long }))).is_some());
        let wide: Map<String, Value> = (0..=MAX_SCOPE_KEYS)
            .map(|i| (format!("k{i}"), json!(1)))
            .collect();
        assert!(scope_problem(&wide).is_some());
        assert!(scope_problem(&obj(json!({"a": {"b": {"c": {"d": {"e": 1}}}}}))).is_some());
        assert!(scope_problem(&obj(json!({"a": [[[[[1]]]]]}))).is_some());
    }

    #[test]
    fn a_long_array_in_a_scope_is_refused_before_it_is_all_walked() {
        let items: Vec<Value> = (0..100_000).map(|_| json!(1)).collect();
        assert!(scope_problem(&obj(json!({ "a": items }))).is_some());
    }

    #[test]
    fn no_merge_of_the_largest_values_overflows() {
        // The largest accepted value, squared, times the largest product of two counts a
        // rollup can hold (2^31 events each side, far more than any day or user sees).
        let m2 = (MAX_CUSTOM_ABS * 2.0).powi(2) * (2f64.powi(31) * 2f64.powi(31));
        assert!(m2.is_finite());
        assert!((MAX_CUSTOM_ABS * 1e12).is_finite());
    }
}
