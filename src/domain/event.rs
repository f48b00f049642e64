//! Events (spec: ExperimentEvent): what a client sends, and the rules that make it an event
//! worth storing. Each refusal names its field; a batch reports per event.

use crate::domain::FieldError;
use crate::domain::limits::{MAX_COST, MAX_CUSTOM_ABS, MAX_LATENCY_MS, MAX_TOKENS, scope_problem};
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use uuid::Uuid;

/// Most events in one batch request.
pub const MAX_BATCH: usize = 10_000;
/// How far in the future a timestamp may be (clock skew).
pub const MAX_FUTURE: Duration = Duration::minutes(5);
/// Longest id, key or intent, in characters.
const MAX_ID_CHARS: usize = 200;
/// Most custom metrics on one event.
const MAX_CUSTOM_METRICS: usize = 32;

/// What happened (spec: eventType).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventType {
    Exposure,
    Conversion,
    Feedback,
    Error,
}

impl EventType {
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::Exposure => "exposure",
            EventType::Conversion => "conversion",
            EventType::Feedback => "feedback",
            EventType::Error => "error",
        }
    }
}

/// A user's feedback (spec: userSatisfaction).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Satisfaction {
    Positive,
    Negative,
    Neutral,
}

impl Satisfaction {
    pub fn as_str(self) -> &'static str {
        match self {
            Satisfaction::Positive => "positive",
            Satisfaction::Negative => "negative",
            Satisfaction::Neutral => "neutral",
        }
    }
}

/// An event that passed every rule that needs no database: ready to be matched with its
/// user's assignment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EventDraft {
    pub experiment_id: Uuid,
    pub tenant_id: String,
    pub user_id: String,
    pub event_type: EventType,
    pub quality: Option<f64>,
    pub latency_ms: Option<f64>,
    pub tokens_used: Option<i64>,
    pub cost: Option<f64>,
    pub satisfaction: Option<Satisfaction>,
    /// Custom numeric metrics, e.g. `citation_quality`.
    pub custom: Map<String, Value>,
    pub insight_id: Option<String>,
    pub conversation_id: Option<String>,
    pub intent: Option<String>,
    pub scope: Option<Map<String, Value>>,
    pub timestamp: DateTime<Utc>,
    pub idempotency_key: Option<String>,
}

/// What the request itself fixes: the experiment of the path, the caller's tenant, the time.
pub struct EventFrame<'a> {
    /// The experiment named by the URL (single-event route); batches name it per event.
    pub experiment_id: Option<Uuid>,
    /// The caller's tenant; `None` for a super_admin spanning all tenants.
    pub caller_tenant: Option<&'a str>,
    pub now: DateTime<Utc>,
}

const TOP_FIELDS: [&str; 8] = [
    "experimentId",
    "tenantId",
    "userId",
    "eventType",
    "metrics",
    "context",
    "timestamp",
    "idempotencyKey",
];
const CONTEXT_FIELDS: [&str; 4] = ["insightId", "conversationId", "intent", "scope"];

struct Check<'a> {
    prefix: &'a str,
    errors: Vec<FieldError>,
}

/// Most errors reported for one event (a body of a thousand unknown fields gets this many).
const MAX_ERRORS: usize = 20;

impl Check<'_> {
    fn add(&mut self, field: &str, message: impl Into<String>) {
        if self.errors.len() >= MAX_ERRORS {
            return;
        }
        self.errors
            .push(FieldError::new(format!("{}{field}", self.prefix), message));
    }

    fn text(&mut self, obj: &Map<String, Value>, key: &str, field: &str) -> Option<String> {
        match obj.get(key) {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) if crate::domain::limits::holds_nul(s) => {
                self.add(field, crate::domain::limits::NUL_REFUSED);
                None
            }
            Some(Value::String(s)) if !s.trim().is_empty() && s.chars().count() <= MAX_ID_CHARS => {
                Some(s.clone())
            }
            Some(Value::String(_)) => {
                self.add(field, format!("must have 1 to {MAX_ID_CHARS} characters"));
                None
            }
            Some(_) => {
                self.add(field, "must be a string");
                None
            }
        }
    }

    /// A metric's number (null: none); `field` names it in an error.
    fn metric(&mut self, value: &Value, field: impl FnOnce() -> String) -> Option<f64> {
        match value {
            Value::Null => None,
            Value::Number(n) => match n.as_f64() {
                Some(x) if x.is_finite() => Some(x),
                _ => {
                    self.add(&field(), "must be a finite number");
                    None
                }
            },
            _ => {
                self.add(&field(), "must be a number");
                None
            }
        }
    }
}

fn event_type_named(s: &str) -> Option<EventType> {
    Some(match s {
        "exposure" => EventType::Exposure,
        "conversion" => EventType::Conversion,
        "feedback" => EventType::Feedback,
        "error" => EventType::Error,
        _ => return None,
    })
}

fn satisfaction_named(s: &str) -> Option<Satisfaction> {
    Some(match s {
        "positive" => Satisfaction::Positive,
        "negative" => Satisfaction::Negative,
        "neutral" => Satisfaction::Neutral,
        _ => return None,
    })
}

/// Checks one event as sent; `prefix` is put before field names (e.g. `events[3].`).
pub fn parse_event(
    value: &Value,
    frame: &EventFrame<'_>,
    prefix: &str,
) -> Result<EventDraft, Vec<FieldError>> {
    let mut c = Check {
        prefix,
        errors: Vec::new(),
    };
    let Some(obj) = value.as_object() else {
        c.add("", "an event must be a JSON object");
        return Err(c.errors);
    };
    for key in obj.keys() {
        if !TOP_FIELDS.contains(&key.as_str()) {
            c.add(key, "unknown field");
        }
    }

    let experiment_id = match (obj.get("experimentId"), frame.experiment_id) {
        (None | Some(Value::Null), Some(id)) => Some(id),
        (Some(Value::String(s)), path) => match Uuid::parse_str(s) {
            Ok(id) if path.is_none_or(|p| p == id) => Some(id),
            Ok(_) => {
                c.add("experimentId", "differs from the experiment in the URL");
                None
            }
            Err(_) => {
                c.add("experimentId", "must be an experiment id (UUID)");
                None
            }
        },
        (None | Some(Value::Null), None) => {
            c.add("experimentId", "is required");
            None
        }
        (Some(_), _) => {
            c.add("experimentId", "must be an experiment id (UUID)");
            None
        }
    };

    let sent_tenant = c.text(obj, "tenantId", "tenantId");
    let tenant_id = match (sent_tenant, frame.caller_tenant) {
        (Some(t), Some(own)) if t != own => {
            c.add(
                "tenantId",
                format!("this token may only send events of tenant {own:?}"),
            );
            None
        }
        (Some(t), _) => Some(t),
        (None, Some(own)) => Some(own.to_owned()),
        (None, None) => {
            c.add("tenantId", "is required with a token that spans tenants");
            None
        }
    };

    let user_id = c.text(obj, "userId", "userId");
    if user_id.is_none() && !c.errors.iter().any(|e| e.field.ends_with("userId")) {
        c.add("userId", "is required");
    }

    let event_type = match obj.get("eventType") {
        Some(Value::String(s)) => match event_type_named(s) {
            Some(t) => Some(t),
            None => {
                c.add(
                    "eventType",
                    "must be one of exposure, conversion, feedback, error",
                );
                None
            }
        },
        None | Some(Value::Null) => {
            c.add("eventType", "is required");
            None
        }
        Some(_) => {
            c.add("eventType", "must be a string");
            None
        }
    };

    let mut quality = None;
    let mut latency_ms = None;
    let mut tokens_used = None;
    let mut cost = None;
    let mut satisfaction = None;
    let mut custom = Map::new();
    match obj.get("metrics") {
        None | Some(Value::Null) => {}
        Some(Value::Object(m)) => {
            for (key, value) in m {
                // The field's name is only spelled out for an error (this loop is hot).
                let field = || format!("metrics.{key}");
                match key.as_str() {
                    "quality" => {
                        quality = c.metric(value, field);
                        if quality.is_some_and(|q| !(0.0..=1.0).contains(&q)) {
                            c.add(&field(), "must be between 0 and 1");
                            quality = None;
                        }
                    }
                    "latency" => {
                        latency_ms = c.metric(value, field);
                        if latency_ms.is_some_and(|l| !(0.0..=MAX_LATENCY_MS).contains(&l)) {
                            c.add(
                                &field(),
                                format!("must be from 0 to {MAX_LATENCY_MS} (milliseconds)"),
                            );
                            latency_ms = None;
                        }
                    }
                    "tokensUsed" => match value {
                        Value::Number(n)
                            if n.as_i64().is_some_and(|t| (0..=MAX_TOKENS).contains(&t)) =>
                        {
                            tokens_used = n.as_i64();
                        }
                        _ => c.add(
                            &field(),
                            format!("must be a whole number from 0 to {MAX_TOKENS}"),
                        ),
                    },
                    "cost" => {
                        cost = c.metric(value, field);
                        if cost.is_some_and(|x| !(0.0..=MAX_COST).contains(&x)) {
                            c.add(&field(), format!("must be from 0 to {MAX_COST}"));
                            cost = None;
                        }
                    }
                    "userSatisfaction" => match value {
                        Value::Null => satisfaction = None,
                        Value::String(s) if satisfaction_named(s).is_some() => {
                            satisfaction = satisfaction_named(s);
                        }
                        _ => c.add(&field(), "must be one of positive, negative, neutral"),
                    },
                    name if custom.len() >= MAX_CUSTOM_METRICS => {
                        // Counted as they are taken: a huge object costs no more than the
                        // allowance to refuse.
                        c.add(
                            "metrics",
                            format!("at most {MAX_CUSTOM_METRICS} custom metrics (got {name:?} and more)"),
                        );
                        break;
                    }
                    name => {
                        let valid_name = !name.is_empty()
                            && name.len() <= 64
                            && name
                                .chars()
                                .all(|ch| ch.is_ascii_alphanumeric() || ch == '_');
                        if !valid_name {
                            c.add(
                                &field(),
                                "a custom metric's name has 1 to 64 letters, digits or _",
                            );
                            continue;
                        }
                        match c.metric(value, field) {
                            Some(x) if name == "citation_quality" && !(0.0..=1.0).contains(&x) => {
                                c.add(&field(), "must be between 0 and 1")
                            }
                            Some(x) if x.abs() > MAX_CUSTOM_ABS => c.add(
                                &field(),
                                format!("must be from -{MAX_CUSTOM_ABS} to {MAX_CUSTOM_ABS}"),
                            ),
                            Some(x) => {
                                custom.insert(name.to_owned(), Value::from(x));
                            }
                            None => {}
                        }
                    }
                }
            }
        }
        Some(_) => c.add("metrics", "must be a JSON object"),
    }

    let (mut insight_id, mut conversation_id, mut intent, mut scope) = (None, None, None, None);
    match obj.get("context") {
        None | Some(Value::Null) => {}
        Some(Value::Object(ctx)) => {
            for key in ctx.keys() {
                if !CONTEXT_FIELDS.contains(&key.as_str()) {
                    c.add(&format!("context.{key}"), "unknown field");
                }
            }
            insight_id = c.text(ctx, "insightId", "context.insightId");
            conversation_id = c.text(ctx, "conversationId", "context.conversationId");
            intent = c.text(ctx, "intent", "context.intent");
            match ctx.get("scope") {
                None | Some(Value::Null) => {}
                Some(Value::Object(s)) => match scope_problem(s) {
                    None => scope = Some(s.clone()),
                    Some(problem) => c.add("context.scope", problem),
                },
                Some(_) => c.add("context.scope", "must be a JSON object"),
            }
        }
        Some(_) => c.add("context", "must be a JSON object"),
    }

    let timestamp = match obj.get("timestamp") {
        None | Some(Value::Null) => Some(frame.now),
        Some(Value::String(s)) => match DateTime::parse_from_rfc3339(s) {
            Ok(t) if t.with_timezone(&Utc) > frame.now + MAX_FUTURE => {
                c.add("timestamp", "is more than 5 minutes in the future");
                None
            }
            Ok(t) => Some(t.with_timezone(&Utc)),
            Err(_) => {
                c.add(
                    "timestamp",
                    "must be an RFC 3339 date-time, e.g. 2026-11-27T10:00:00Z",
                );
                None
            }
        },
        Some(_) => {
            c.add("timestamp", "must be an RFC 3339 date-time string");
            None
        }
    };
    let idempotency_key = c.text(obj, "idempotencyKey", "idempotencyKey");

    if !c.errors.is_empty() {
        return Err(c.errors);
    }
    match (experiment_id, tenant_id, user_id, event_type, timestamp) {
        (
            Some(experiment_id),
            Some(tenant_id),
            Some(user_id),
            Some(event_type),
            Some(timestamp),
        ) => Ok(EventDraft {
            experiment_id,
            tenant_id,
            user_id,
            event_type,
            quality,
            latency_ms,
            tokens_used,
            cost,
            satisfaction,
            custom,
            insight_id,
            conversation_id,
            intent,
            scope,
            timestamp,
            idempotency_key,
        }),
        _ => Err(c.errors),
    }
}

/// Why a batch body could not be read.
#[derive(Debug, Clone, PartialEq)]
pub enum BatchError {
    /// More than [`MAX_BATCH`] events: refused as soon as the one past the limit begins.
    TooMany,
    /// Not `{"events": [...]}`.
    Malformed(String),
}

const TOO_MANY: &str = "verdict: more events than a batch takes";

/// Reads `{"events": [...]}` without ever holding more than [`MAX_BATCH`] parsed events: the
/// array is read element by element and reading stops at the first one past the limit.
pub fn parse_batch(body: &[u8]) -> Result<Vec<Value>, BatchError> {
    use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
    use std::fmt;

    struct Events;
    impl<'de> Visitor<'de> for Events {
        type Value = Vec<Value>;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("an array of events")
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<Value>, A::Error> {
            let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(MAX_BATCH));
            while let Some(event) = seq.next_element::<Value>()? {
                if out.len() == MAX_BATCH {
                    return Err(de::Error::custom(TOO_MANY));
                }
                out.push(event);
            }
            Ok(out)
        }
    }
    struct EventsField(Vec<Value>);
    impl<'de> Deserialize<'de> for EventsField {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            d.deserialize_seq(Events).map(EventsField)
        }
    }
    struct Body;
    impl<'de> Visitor<'de> for Body {
        type Value = Vec<Value>;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("an object {\"events\": [...]}")
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Vec<Value>, A::Error> {
            let mut events = None;
            while let Some(key) = map.next_key::<std::borrow::Cow<'de, str>>()? {
                if key != "events" {
                    return Err(de::Error::unknown_field(&key, &["events"]));
                }
                if events.is_some() {
                    return Err(de::Error::duplicate_field("events"));
                }
                events = Some(map.next_value::<EventsField>()?.0);
            }
            events.ok_or_else(|| de::Error::missing_field("events"))
        }
    }
    let mut de = serde_json::Deserializer::from_slice(body);
    let events = de
        .deserialize_map(Body)
        .and_then(|events| de.end().map(|()| events));
    events.map_err(|e| {
        if e.to_string().starts_with(TOO_MANY) {
            BatchError::TooMany
        } else {
            BatchError::Malformed(e.to_string())
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_batch_body_is_read_up_to_the_event_limit_and_no_further() {
        let ok = parse_batch(br#"{"events": [{"a": 1}, {"b": 2}]}"#).unwrap();
        assert_eq!(ok.len(), 2);
        let at_limit = format!("{{\"events\": [{}]}}", vec!["{}"; MAX_BATCH].join(","));
        assert_eq!(parse_batch(at_limit.as_bytes()).unwrap().len(), MAX_BATCH);
        // One past the limit, then a body that is not even valid JSON: refused as too many
        // before the rest is read.
        let over = format!(
            "{{\"events\": [{},{{}}, oops",
            vec!["{}"; MAX_BATCH].join(",")
        );
        assert_eq!(parse_batch(over.as_bytes()), Err(BatchError::TooMany));
    }

    #[test]
    fn a_batch_body_of_another_shape_is_malformed() {
        for body in [
            &br#"{"events": 3}"#[..],
            br#"{"events": [], "more": 1}"#,
            br#"{}"#,
            br#"[]"#,
            br#"{"events": []} x"#,
            b"",
        ] {
            assert!(
                matches!(parse_batch(body), Err(BatchError::Malformed(_))),
                "{}",
                String::from_utf8_lossy(body)
            );
        }
    }

    fn frame() -> EventFrame<'static> {
        EventFrame {
            experiment_id: Some(Uuid::nil()),
            caller_tenant: Some("acme"),
            now: "2026-11-27T12:00:00Z".parse().unwrap(),
        }
    }

    fn fields(v: Value) -> Vec<String> {
        parse_event(&v, &frame(), "")
            .unwrap_err()
            .into_iter()
            .map(|e| e.field)
            .collect()
    }

    #[test]
    fn a_full_event_parses() {
        let e = parse_event(
            &json!({
                "userId": "u1", "eventType": "feedback",
                "metrics": {"quality": 0.8, "latency": 1200, "tokensUsed": 900, "cost": 0.01,
                            "userSatisfaction": "positive", "citation_quality": 0.5},
                "context": {"insightId": "i", "conversationId": "c", "intent": "risk", "scope": {"project": 7}},
                "timestamp": "2026-11-27T11:00:00Z", "idempotencyKey": "k1"
            }),
            &frame(),
            "",
        )
        .unwrap();
        assert_eq!(e.tenant_id, "acme");
        assert_eq!(e.quality, Some(0.8));
        assert_eq!(e.tokens_used, Some(900));
        assert_eq!(e.satisfaction, Some(Satisfaction::Positive));
        assert_eq!(e.custom["citation_quality"], 0.5);
        assert_eq!(e.intent.as_deref(), Some("risk"));
        assert_eq!(e.idempotency_key.as_deref(), Some("k1"));
    }

    #[test]
    fn each_rule_names_its_field() {
        let cases = [
            (json!({"eventType": "exposure"}), "userId"),
            (json!({"userId": "u"}), "eventType"),
            (json!({"userId": "u", "eventType": "click"}), "eventType"),
            (
                json!({"userId": "u", "eventType": "exposure", "metrics": {"quality": 1.5}}),
                "metrics.quality",
            ),
            (
                json!({"userId": "u", "eventType": "exposure", "metrics": {"latency": -1}}),
                "metrics.latency",
            ),
            (
                json!({"userId": "u", "eventType": "exposure", "metrics": {"tokensUsed": 1.5}}),
                "metrics.tokensUsed",
            ),
            (
                json!({"userId": "u", "eventType": "exposure", "metrics": {"cost": -0.1}}),
                "metrics.cost",
            ),
            (
                json!({"userId": "u", "eventType": "exposure", "metrics": {"userSatisfaction": "meh"}}),
                "metrics.userSatisfaction",
            ),
            (
                json!({"userId": "u", "eventType": "exposure", "metrics": {"citation_quality": 2}}),
                "metrics.citation_quality",
            ),
            (
                json!({"userId": "u", "eventType": "exposure", "metrics": {"bad name": 2}}),
                "metrics.bad name",
            ),
            (
                json!({"userId": "u", "eventType": "exposure", "timestamp": "2026-11-27T12:06:00Z"}),
                "timestamp",
            ),
            (
                json!({"userId": "u", "eventType": "exposure", "timestamp": "yesterday"}),
                "timestamp",
            ),
            (
                json!({"userId": "u", "eventType": "exposure", "colour": 1}),
                "colour",
            ),
            (
                json!({"userId": "u", "eventType": "exposure", "context": {"mood": 1}}),
                "context.mood",
            ),
            (
                json!({"userId": "u", "eventType": "exposure", "tenantId": "globex"}),
                "tenantId",
            ),
            (
                json!({"userId": "u", "eventType": "exposure", "experimentId": "018f0000-0000-7000-8000-000000000001"}),
                "experimentId",
            ),
        ];
        for (event, field) in cases {
            assert_eq!(fields(event.clone()), vec![field.to_owned()], "{event}");
        }
    }

    #[test]
    fn every_number_an_event_carries_is_bounded() {
        let base =
            |metrics: Value| json!({"userId": "u", "eventType": "feedback", "metrics": metrics});
        for (metrics, field) in [
            (json!({"latency": 1e308}), "metrics.latency"),
            (json!({"latency": MAX_LATENCY_MS + 1.0}), "metrics.latency"),
            (json!({"cost": 1e308}), "metrics.cost"),
            (json!({"cost": MAX_COST * 2.0}), "metrics.cost"),
            (json!({"tokensUsed": MAX_TOKENS + 1}), "metrics.tokensUsed"),
            (json!({"pre_experiment": 1e200}), "metrics.pre_experiment"),
            (json!({"pre_experiment": -1e10}), "metrics.pre_experiment"),
        ] {
            assert_eq!(
                fields(base(metrics.clone())),
                vec![field.to_owned()],
                "{metrics}"
            );
        }
        let fine = parse_event(
            &base(
                json!({"latency": MAX_LATENCY_MS, "cost": MAX_COST, "tokensUsed": MAX_TOKENS,
                          "pre_experiment": -MAX_CUSTOM_ABS}),
            ),
            &frame(),
            "",
        )
        .unwrap();
        assert_eq!(fine.latency_ms, Some(MAX_LATENCY_MS));
    }

    #[test]
    fn an_oversized_scope_or_too_many_custom_metrics_are_refused() {
        let scope = json!({"userId": "u", "eventType": "exposure",
                           "context": {"scope": {"k": "x".repeat(5000)}}});
        assert_eq!(fields(scope), vec!["context.scope".to_owned()]);
        let many: Map<String, Value> = (0..100).map(|i| (format!("m{i}"), json!(1))).collect();
        let event = json!({"userId": "u", "eventType": "exposure", "metrics": many});
        assert_eq!(fields(event), vec!["metrics".to_owned()]);
    }

    #[test]
    fn an_event_with_a_thousand_unknown_fields_gets_a_bounded_answer() {
        let mut event: Map<String, Value> =
            (0..1000).map(|i| (format!("x{i}"), json!(1))).collect();
        event.insert("userId".into(), json!("u"));
        event.insert("eventType".into(), json!("exposure"));
        let errors = parse_event(&Value::Object(event), &frame(), "").unwrap_err();
        assert_eq!(errors.len(), MAX_ERRORS);
    }

    #[test]
    fn a_prefix_is_put_before_every_field() {
        let errors = parse_event(&json!({"eventType": 3}), &frame(), "events[4].").unwrap_err();
        let names: Vec<_> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(names, ["events[4].userId", "events[4].eventType"]);
    }

    #[test]
    fn a_timestamp_within_the_skew_is_fine_and_a_missing_one_is_now() {
        let e = parse_event(
            &json!({"userId": "u", "eventType": "exposure", "timestamp": "2026-11-27T12:04:00Z"}),
            &frame(),
            "",
        )
        .unwrap();
        assert_eq!(
            e.timestamp,
            "2026-11-27T12:04:00Z".parse::<DateTime<Utc>>().unwrap()
        );
        let e = parse_event(&json!({"userId": "u", "eventType": "error"}), &frame(), "").unwrap();
        assert_eq!(e.timestamp, frame().now);
    }
}
