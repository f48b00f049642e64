//! OpenFeature's remote evaluation protocol (OFREP 0.3) in Verdict's terms, as pure rules:
//! a flag is a target, keyed `targetType:targetId` (`prompt:checkout-summary`); its value is
//! the configuration the user gets, its variant the arm, its reason `SPLIT` (an experiment's
//! arm), `STATIC` (a deployed winner) or `DEFAULT` (nothing for this user: no value, so the
//! caller's own default is used). The evaluation context maps onto a resolve request:
//! `targetingKey` is the user id, and the `tenantId`, `intent` and `scope` attributes are
//! resolve's. docs/OPENFEATURE.md has the whole mapping.

use crate::domain::assignment::RequestContext;
use crate::domain::experiment::TargetType;
use crate::domain::resolve::{Resolution, TargetRef};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// What separates a flag key's target type from its target id.
pub const KEY_SEPARATOR: char = ':';

/// The variant of an answer that gives the user nothing (the caller's default applies).
pub const DEFAULT_VARIANT: &str = "default";

/// The target a flag key names: `targetType:targetId`, split at the first `:` (a target id
/// may itself hold `:`). `None` when the key is not of that form.
pub fn parse_key(key: &str) -> Option<TargetRef<'_>> {
    let (target_type, target_id) = key.split_once(KEY_SEPARATOR)?;
    let target_type = target_type.parse::<TargetType>().ok()?;
    (!target_id.is_empty()).then_some((target_type, target_id))
}

/// The flag key of a target.
pub fn key_of((target_type, target_id): TargetRef<'_>) -> String {
    format!("{target_type}{KEY_SEPARATOR}{target_id}")
}

/// OpenFeature's error codes that Verdict answers with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ErrorCode {
    /// The body is not a JSON object.
    ParseError,
    /// No `targetingKey` (no user to assign).
    TargetingKeyMissing,
    /// A context attribute Verdict reads is of the wrong type or out of bounds.
    InvalidContext,
    /// No live experiment or deployed winner on that target for the caller's tenant.
    FlagNotFound,
    /// Anything else (auth, body size, busy): the message says what.
    General,
}

/// An evaluation refused, with why (OFREP's `errorCode` and `errorDetails`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlagError {
    pub code: ErrorCode,
    pub details: String,
}

impl FlagError {
    pub fn new(code: ErrorCode, details: impl Into<String>) -> Self {
        Self {
            code,
            details: details.into(),
        }
    }
}

/// The evaluation context as resolve reads it. Other attributes are allowed and ignored.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct FlagContext {
    /// `targetingKey`: the user id.
    pub user_id: String,
    /// `tenantId`: the caller's own tenant when absent.
    pub tenant_id: Option<String>,
    pub intent: Option<String>,
    pub scope: Option<Map<String, Value>>,
}

/// Reads an evaluation request, `{"context": {"targetingKey": …, …}}`: `PARSE_ERROR` when
/// the body is not a JSON object, `TARGETING_KEY_MISSING` without a context or a non-empty
/// `targetingKey`, `INVALID_CONTEXT` naming the attribute of a wrong type.
pub fn parse_request(body: &[u8]) -> Result<FlagContext, FlagError> {
    let body: Value = serde_json::from_slice(body).map_err(|e| {
        FlagError::new(
            ErrorCode::ParseError,
            format!("the body is not valid JSON: {e}"),
        )
    })?;
    let Value::Object(mut body) = body else {
        return Err(FlagError::new(
            ErrorCode::ParseError,
            "the body must be a JSON object: {\"context\": {\"targetingKey\": …}}",
        ));
    };
    let missing = || {
        FlagError::new(
            ErrorCode::TargetingKeyMissing,
            "context.targetingKey is required: the id of the user to evaluate for",
        )
    };
    let mut context = match body.remove("context") {
        None | Some(Value::Null) => return Err(missing()),
        Some(Value::Object(context)) => context,
        Some(_) => {
            return Err(FlagError::new(
                ErrorCode::InvalidContext,
                "context must be an object",
            ));
        }
    };
    let user_id = match context.remove("targetingKey") {
        None | Some(Value::Null) => return Err(missing()),
        Some(Value::String(s)) if s.is_empty() => return Err(missing()),
        Some(Value::String(s)) => s,
        Some(_) => return Err(wrong_type("targetingKey", "a string")),
    };
    let text = |name: &str, value: Option<Value>| match value {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(wrong_type(name, "a string")),
    };
    let tenant_id = text("tenantId", context.remove("tenantId"))?;
    let intent = text("intent", context.remove("intent"))?;
    let scope = match context.remove("scope") {
        None | Some(Value::Null) => None,
        Some(Value::Object(scope)) => Some(scope),
        Some(_) => return Err(wrong_type("scope", "an object")),
    };
    Ok(FlagContext {
        user_id,
        tenant_id,
        intent,
        scope,
    })
}

fn wrong_type(attribute: &str, expected: &str) -> FlagError {
    FlagError::new(
        ErrorCode::InvalidContext,
        format!("context.{attribute} must be {expected}"),
    )
}

/// The evaluation of one flag as OFREP answers it: the resolution's configuration, arm and
/// reason, or — when the target gives this user nothing — no value, reason `DEFAULT`.
pub fn evaluation_json(target: TargetRef<'_>, resolution: Option<&Resolution<'_>>) -> Vec<u8> {
    let mut out = Vec::with_capacity(
        160 + target.1.len() + resolution.map_or(0, |r| r.configuration.get().len()),
    );
    write_evaluation(&mut out, target, resolution);
    out
}

/// `{"flags": [...]}`: every target's evaluation, in `targets`' order.
pub fn bulk_json(targets: &[TargetRef<'_>], resolutions: &[Resolution<'_>]) -> Vec<u8> {
    let mut out = Vec::with_capacity(
        16 + targets.len() * 160
            + resolutions
                .iter()
                .map(|r| r.configuration.get().len())
                .sum::<usize>(),
    );
    out.extend_from_slice(b"{\"flags\":[");
    for (i, &target) in targets.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        let resolution = resolutions
            .iter()
            .find(|r| r.target_type == target.0 && r.target_id == target.1);
        write_evaluation(&mut out, target, resolution);
    }
    out.extend_from_slice(b"]}");
    out
}

fn write_evaluation(out: &mut Vec<u8>, target: TargetRef<'_>, resolution: Option<&Resolution<'_>>) {
    // Strings to JSON cannot fail.
    out.extend_from_slice(b"{\"key\":");
    let _ = serde_json::to_writer(&mut *out, &key_of(target));
    let Some(r) = resolution else {
        out.extend_from_slice(b",\"reason\":\"DEFAULT\",\"variant\":\"");
        out.extend_from_slice(DEFAULT_VARIANT.as_bytes());
        out.extend_from_slice(b"\"}");
        return;
    };
    out.extend_from_slice(b",\"value\":");
    out.extend_from_slice(r.configuration.get().as_bytes());
    out.extend_from_slice(if r.deployed {
        b",\"reason\":\"STATIC\",\"variant\":\""
    } else {
        b",\"reason\":\"SPLIT\",\"variant\":\""
    });
    out.extend_from_slice(r.variant.as_str().as_bytes());
    out.extend_from_slice(b"\",\"metadata\":{\"experimentId\":\"");
    out.extend_from_slice(
        r.decided_by
            .hyphenated()
            .encode_lower(&mut uuid::Uuid::encode_buffer())
            .as_bytes(),
    );
    out.extend_from_slice(if r.deployed {
        b"\",\"deployed\":true}}"
    } else {
        b"\",\"deployed\":false}}"
    });
}

/// The entity tag of a bulk evaluation: a hash of the snapshot's fingerprint and of every
/// request field an answer depends on (tenant, user, intent, scope). The same tag means the
/// same answer, so a matching `If-None-Match` is answered 304 without evaluating again.
pub fn etag(fingerprint: u128, ctx: &RequestContext<'_>) -> String {
    let mut h = xxhash_rust::xxh3::Xxh3Default::new();
    let mut field = |bytes: &[u8]| {
        h.update(&(bytes.len() as u64).to_le_bytes());
        h.update(bytes);
    };
    // The answer's format, should it ever change.
    field(b"ofrep-bulk-1");
    field(&fingerprint.to_le_bytes());
    field(ctx.tenant_id.as_bytes());
    field(ctx.user_id.as_bytes());
    match ctx.intent {
        Some(intent) => field(intent.as_bytes()),
        None => field(b"\xff"),
    }
    match ctx.scope {
        Some(scope) => field(&serde_json::to_vec(scope).unwrap_or_default()),
        None => field(b"\xff"),
    }
    format!("\"{:032x}\"", h.digest128())
}

/// Whether an `If-None-Match` value names `etag` (a list, weak tags, or `*`).
pub fn etag_matches(if_none_match: &str, etag: &str) -> bool {
    if_none_match
        .split(',')
        .map(str::trim)
        .any(|tag| tag == "*" || tag.strip_prefix("W/").unwrap_or(tag) == etag)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::assignment::Variant;
    use serde_json::json;
    use serde_json::value::RawValue;

    fn parse(body: Value) -> Result<FlagContext, FlagError> {
        parse_request(body.to_string().as_bytes())
    }

    #[test]
    fn a_key_is_a_target_type_and_id_split_at_the_first_colon() {
        assert_eq!(
            parse_key("prompt:checkout-summary"),
            Some((TargetType::Prompt, "checkout-summary"))
        );
        assert_eq!(
            parse_key("model_selection:a:b/c"),
            Some((TargetType::ModelSelection, "a:b/c"))
        );
        for bad in ["prompt", "prompt:", ":x", "flag:x", "Prompt:x", ""] {
            assert_eq!(parse_key(bad), None, "{bad}");
        }
        assert_eq!(
            key_of((TargetType::ContextTemplate, "t:1")),
            "context_template:t:1"
        );
        assert_eq!(
            parse_key(&key_of((TargetType::Prompt, "x"))),
            Some((TargetType::Prompt, "x"))
        );
    }

    #[test]
    fn the_context_maps_onto_resolves_fields_and_other_attributes_are_ignored() {
        let ctx = parse(json!({"context": {"targetingKey": "u1", "tenantId": "acme",
            "intent": "risk", "scope": {"project": "p"}, "email": "a@b.c", "age": 3}}))
        .unwrap();
        assert_eq!(ctx.user_id, "u1");
        assert_eq!(ctx.tenant_id.as_deref(), Some("acme"));
        assert_eq!(ctx.intent.as_deref(), Some("risk"));
        assert_eq!(ctx.scope.unwrap()["project"], "p");
        let bare = parse(json!({"context": {"targetingKey": "u1", "intent": null}})).unwrap();
        assert_eq!(bare.tenant_id, None);
        assert_eq!(bare.intent, None);
    }

    #[test]
    fn each_refusal_has_its_code_and_names_the_attribute() {
        let code = |body: &[u8]| parse_request(body).unwrap_err();
        assert_eq!(code(b"{").code, ErrorCode::ParseError);
        assert_eq!(code(b"[1]").code, ErrorCode::ParseError);
        assert_eq!(code(b"{}").code, ErrorCode::TargetingKeyMissing);
        assert_eq!(
            code(br#"{"context": {}}"#).code,
            ErrorCode::TargetingKeyMissing
        );
        assert_eq!(
            code(br#"{"context": {"targetingKey": ""}}"#).code,
            ErrorCode::TargetingKeyMissing
        );
        for (body, attribute) in [
            (json!({"context": 3}), "context"),
            (json!({"context": {"targetingKey": 7}}), "targetingKey"),
            (
                json!({"context": {"targetingKey": "u", "tenantId": 1}}),
                "tenantId",
            ),
            (
                json!({"context": {"targetingKey": "u", "intent": []}}),
                "intent",
            ),
            (
                json!({"context": {"targetingKey": "u", "scope": "x"}}),
                "scope",
            ),
        ] {
            let e = parse(body).unwrap_err();
            assert_eq!(e.code, ErrorCode::InvalidContext);
            assert!(e.details.contains(attribute), "{}", e.details);
        }
    }

    fn resolution<'a>(config: &'a RawValue, deployed: bool) -> Resolution<'a> {
        Resolution {
            target_type: TargetType::Prompt,
            target_id: "p\"1",
            experiment_id: (!deployed).then(uuid::Uuid::nil),
            variant: Variant::Treatment,
            deployed,
            decided_by: uuid::Uuid::nil(),
            configuration: config,
            json: "",
        }
    }

    #[test]
    fn evaluations_are_split_static_or_default_with_the_arm_and_the_experiment() {
        let config = RawValue::from_string(r#"{"model":"m"}"#.into()).unwrap();
        let target = (TargetType::Prompt, "p\"1");
        let split: Value =
            serde_json::from_slice(&evaluation_json(target, Some(&resolution(&config, false))))
                .unwrap();
        assert_eq!(
            split,
            json!({"key": "prompt:p\"1", "value": {"model": "m"}, "reason": "SPLIT",
                   "variant": "treatment",
                   "metadata": {"experimentId": uuid::Uuid::nil(), "deployed": false}})
        );
        let deployed: Value =
            serde_json::from_slice(&evaluation_json(target, Some(&resolution(&config, true))))
                .unwrap();
        assert_eq!(deployed["reason"], "STATIC");
        assert_eq!(deployed["metadata"]["deployed"], true);
        let none: Value = serde_json::from_slice(&evaluation_json(target, None)).unwrap();
        assert_eq!(
            none,
            json!({"key": "prompt:p\"1", "reason": "DEFAULT", "variant": "default"})
        );
        let bulk: Value = serde_json::from_slice(&bulk_json(
            &[(TargetType::ModelSelection, "x"), target],
            &[resolution(&config, false)],
        ))
        .unwrap();
        assert_eq!(bulk["flags"][0]["reason"], "DEFAULT");
        assert_eq!(bulk["flags"][1]["reason"], "SPLIT");
        assert_eq!(bulk_json(&[], &[]), br#"{"flags":[]}"#);
    }

    #[test]
    fn the_etag_changes_with_anything_the_answer_depends_on_and_matches_lists() {
        let scope = json!({"project": "p"}).as_object().unwrap().clone();
        let base = RequestContext::new("acme", "u1");
        let tag = etag(1, &base);
        assert_eq!(tag, etag(1, &base), "stable");
        assert!(tag.starts_with('"') && tag.ends_with('"') && tag.len() == 34);
        for other in [
            etag(2, &base),
            etag(1, &RequestContext::new("globex", "u1")),
            etag(1, &RequestContext::new("acme", "u2")),
            etag(1, &base.with_intent("risk")),
            etag(1, &base.with_scope(&scope)),
        ] {
            assert_ne!(tag, other);
        }
        assert!(etag_matches(&tag, &tag));
        assert!(etag_matches(&format!("\"x\", W/{tag}"), &tag));
        assert!(etag_matches("*", &tag));
        assert!(!etag_matches("\"x\"", &tag));
    }
}
