//! Requests to create or edit an experiment, and the rules that turn them into an
//! [`ExperimentSpec`]. A request that deserialises is not yet an experiment: `parse`
//! checks every rule and reports every violation, each with its field path.

use super::{Arm, ExperimentSpec, Metric, Operator, SuccessCriteria, TargetType, VariantConfig};
use crate::domain::FieldError;
use crate::domain::assignment::{Allocation, MAX_ARMS, Targeting, Variant};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::collections::BTreeMap;

/// Longest name, in characters.
pub const MAX_NAME_CHARS: usize = 200;
/// Longest description or hypothesis, in characters.
pub const MAX_TEXT_CHARS: usize = 10_000;
/// Largest configuration, as compact JSON.
pub const MAX_CONFIG_BYTES: usize = 64 * 1024;
/// Most entries in one targeting list.
pub const MAX_TARGETING_ENTRIES: usize = 10_000;

/// The fields a create must send (an edit may send any): `parse` reports each one missing
/// as "is required", and the OpenAPI document marks them required from this list.
/// (The arms are `control` and `treatment`, or `variants`: either form, so neither is listed.)
pub const REQUIRED_TO_CREATE: [&str; 8] = [
    "name",
    "targetType",
    "targetId",
    "allocation",
    "primaryMetric",
    "successCriteria",
    "minDuration",
    "minSamplesPerVariant",
];

/// Within the objects a create must send, the fields each must have (`parse` reports each one
/// missing as `<object>.<field>` "is required"; the OpenAPI document marks them from here).
/// (`allocation` needs one share per arm key, which depends on the arms.)
pub const REQUIRED_WITHIN: [(&str, &[&str]); 3] = [
    ("control", &["name"]),
    ("treatment", &["name"]),
    (
        "successCriteria",
        &["metric", "operator", "threshold", "confidenceLevel"],
    ),
];

/// One arm as sent.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct VariantInput {
    #[cfg_attr(feature = "ssr", schema(min_length = 1, max_length = 200))]
    pub name: Option<String>,
    #[cfg_attr(feature = "ssr", schema(value_type = Option<Object>))]
    pub configuration: Option<Value>,
}

/// One arm of the general form as sent.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ArmInput {
    /// 1 to 31 ASCII letters, digits, '_', '-' or '.', starting with a letter or digit;
    /// unique within the experiment.
    #[cfg_attr(feature = "ssr", schema(min_length = 1, max_length = 31))]
    pub key: Option<String>,
    #[cfg_attr(feature = "ssr", schema(min_length = 1, max_length = 200))]
    pub name: Option<String>,
    #[cfg_attr(feature = "ssr", schema(value_type = Option<Object>))]
    pub configuration: Option<Value>,
}

/// The traffic split as sent: whole percent of all traffic per arm key (`control` and
/// `treatment` in the two-arm shape), together at most 100.
pub type AllocationInput = BTreeMap<String, f64>;

/// The success criteria as sent.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SuccessCriteriaInput {
    #[cfg_attr(feature = "ssr", schema(value_type = Option<super::Metric>))]
    pub metric: Option<String>,
    #[cfg_attr(feature = "ssr", schema(value_type = Option<super::Operator>))]
    pub operator: Option<String>,
    /// A relative change in percent.
    #[cfg_attr(feature = "ssr", schema(minimum = 0, maximum = 1000))]
    pub threshold: Option<f64>,
    #[cfg_attr(
        feature = "ssr",
        schema(exclusive_minimum = 0.5, exclusive_maximum = 1)
    )]
    pub confidence_level: Option<f64>,
    /// The effect beyond the threshold the plan is sized to detect, in percent (default 5).
    #[cfg_attr(feature = "ssr", schema(exclusive_minimum = 0, maximum = 1000))]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub minimum_detectable_effect: Option<f64>,
}

/// Targeting as sent.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TargetingInput {
    #[cfg_attr(feature = "ssr", schema(max_items = 10000))]
    pub tenant_ids: Option<Vec<String>>,
    #[cfg_attr(feature = "ssr", schema(max_items = 10000))]
    pub user_ids: Option<Vec<String>>,
    #[cfg_attr(feature = "ssr", schema(max_items = 10000))]
    pub intents: Option<Vec<String>>,
    /// Each an object of at most 4 KiB of JSON, 32 keys, nested 4 deep.
    #[cfg_attr(feature = "ssr", schema(value_type = Option<Vec<Object>>, max_items = 10000))]
    pub scopes: Option<Vec<Value>>,
}

/// `POST /api/v1/admin/insights/experiments`, in the spec's camelCase. Every field is
/// optional here so that a missing one is reported with the others, not as a parse error.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ExperimentInput {
    /// Only a super_admin may name another tenant (or "system"); others get their own.
    #[cfg_attr(feature = "ssr", schema(min_length = 1, max_length = 200))]
    pub tenant_id: Option<String>,
    /// Required to create.
    #[cfg_attr(feature = "ssr", schema(min_length = 1, max_length = 200))]
    pub name: Option<String>,
    #[cfg_attr(feature = "ssr", schema(max_length = 10000))]
    pub description: Option<String>,
    #[cfg_attr(feature = "ssr", schema(max_length = 10000))]
    pub hypothesis: Option<String>,
    /// Required to create.
    #[cfg_attr(feature = "ssr", schema(value_type = Option<super::TargetType>))]
    pub target_type: Option<String>,
    /// Required to create.
    #[cfg_attr(feature = "ssr", schema(min_length = 1, max_length = 200))]
    pub target_id: Option<String>,
    /// Arm 0 of the spec's two-arm shape (with `treatment`; or give `variants`).
    pub control: Option<VariantInput>,
    /// Arm 1 of the spec's two-arm shape (with `control`; or give `variants`).
    pub treatment: Option<VariantInput>,
    /// Every arm, the control first: 2 to 8 (instead of `control` and `treatment`).
    #[cfg_attr(feature = "ssr", schema(min_items = 2, max_items = 8))]
    pub variants: Option<Vec<ArmInput>>,
    /// Whole percent of all traffic per arm key (1 to 100 each), together at most 100.
    #[cfg_attr(feature = "ssr", schema(value_type = Option<HashMap<String, u8>>))]
    pub allocation: Option<AllocationInput>,
    pub targeting: Option<TargetingInput>,
    /// Required to create.
    #[cfg_attr(feature = "ssr", schema(value_type = Option<super::Metric>))]
    pub primary_metric: Option<String>,
    pub success_criteria: Option<SuccessCriteriaInput>,
    #[cfg_attr(feature = "ssr", schema(value_type = Option<Vec<super::Metric>>))]
    pub secondary_metrics: Option<Vec<String>>,
    /// Days, required to create.
    #[cfg_attr(feature = "ssr", schema(minimum = 1, maximum = 365, multiple_of = 1))]
    pub min_duration: Option<f64>,
    /// Required to create.
    #[cfg_attr(
        feature = "ssr",
        schema(minimum = 1, maximum = 10000000, multiple_of = 1)
    )]
    pub min_samples_per_variant: Option<f64>,
    pub auto_pause_on_guardrail: Option<bool>,
    /// The named layer of the experiment's tenant to run in: 1 to 64 ASCII letters, digits,
    /// '_', '.' or '-'. Absent or null: the target's own layer. Experiments in one layer take
    /// disjoint slices of its traffic at start, so a user is in at most one of them.
    #[serde(default, deserialize_with = "nullable")]
    #[cfg_attr(feature = "ssr", schema(value_type = Option<String>, min_length = 1, max_length = 64, pattern = "^[A-Za-z0-9_.-]{1,64}$"))]
    pub layer: Option<Option<String>>,
    /// Whole percent of the layer's traffic to take at start (1 to 100). Absent or null: the
    /// largest free gap. The allocation then splits the users of that slice.
    #[serde(default, deserialize_with = "nullable")]
    #[cfg_attr(feature = "ssr", schema(value_type = Option<u8>, minimum = 1, maximum = 100, multiple_of = 1))]
    pub layer_share: Option<Option<f64>>,
}

/// A field that may be sent as null to clear it: absent is `None`, null `Some(None)`.
fn nullable<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(d).map(Some)
}

/// Collects violations while parsing.
#[derive(Default)]
struct Errors(Vec<FieldError>);

impl Errors {
    fn add(&mut self, field: impl Into<String>, message: impl Into<String>) {
        self.0.push(FieldError::new(field, message));
    }

    fn required<T>(&mut self, field: &str, value: Option<T>) -> Option<T> {
        if value.is_none() {
            self.add(field, "is required");
        }
        value
    }
}

impl ExperimentInput {
    /// The input of an existing experiment (to edit it with a patch).
    pub fn from_spec(spec: &ExperimentSpec) -> Self {
        let two_arm = spec.is_two_arm_shape();
        let variant = |v: &VariantConfig| VariantInput {
            name: Some(v.name.clone()),
            configuration: Some(Value::Object(v.configuration.clone())),
        };
        Self {
            tenant_id: None,
            name: Some(spec.name.clone()),
            description: Some(spec.description.clone()),
            hypothesis: Some(spec.hypothesis.clone()),
            target_type: Some(spec.target_type.as_str().to_owned()),
            target_id: Some(spec.target_id.clone()),
            control: two_arm
                .then(|| spec.control().map(|a| variant(&a.config())))
                .flatten(),
            treatment: two_arm
                .then(|| spec.treatment().map(|a| variant(&a.config())))
                .flatten(),
            variants: (!two_arm).then(|| {
                spec.variants
                    .iter()
                    .map(|a| ArmInput {
                        key: Some(a.key.as_str().to_owned()),
                        name: Some(a.name.clone()),
                        configuration: Some(Value::Object(a.configuration.clone())),
                    })
                    .collect()
            }),
            allocation: Some(
                spec.allocation
                    .iter()
                    .map(|(k, share)| (k.as_str().to_owned(), f64::from(share)))
                    .collect(),
            ),
            targeting: Some(TargetingInput {
                tenant_ids: Some(spec.targeting.tenant_ids.clone()),
                user_ids: Some(spec.targeting.user_ids.clone()),
                intents: Some(spec.targeting.intents.clone()),
                scopes: Some(
                    spec.targeting
                        .scopes
                        .iter()
                        .cloned()
                        .map(Value::Object)
                        .collect(),
                ),
            }),
            primary_metric: Some(spec.primary_metric.as_str().to_owned()),
            success_criteria: Some(SuccessCriteriaInput {
                metric: Some(spec.success_criteria.metric.as_str().to_owned()),
                operator: Some(spec.success_criteria.operator.symbol().to_owned()),
                threshold: Some(spec.success_criteria.threshold),
                confidence_level: Some(spec.success_criteria.confidence_level),
                minimum_detectable_effect: spec.success_criteria.minimum_detectable_effect,
            }),
            secondary_metrics: Some(
                spec.secondary_metrics
                    .iter()
                    .map(|m| m.as_str().to_owned())
                    .collect(),
            ),
            min_duration: Some(f64::from(spec.min_duration)),
            min_samples_per_variant: Some(f64::from(spec.min_samples_per_variant)),
            auto_pause_on_guardrail: Some(spec.auto_pause_on_guardrail),
            layer: Some(spec.layer.clone()),
            layer_share: Some(spec.layer_share.map(f64::from)),
        }
    }

    /// Overlays the fields `patch` sets onto `self` (nested objects field by field).
    pub fn overlay(mut self, patch: ExperimentInput) -> Self {
        fn pick<T>(base: &mut Option<T>, new: Option<T>) {
            if new.is_some() {
                *base = new;
            }
        }
        pick(&mut self.tenant_id, patch.tenant_id);
        pick(&mut self.name, patch.name);
        pick(&mut self.description, patch.description);
        pick(&mut self.hypothesis, patch.hypothesis);
        pick(&mut self.target_type, patch.target_type);
        pick(&mut self.target_id, patch.target_id);
        // New arms replace the arms and their allocation (the old shares name other keys).
        let new_arms = patch.variants.is_some();
        if let Some(arms) = patch.variants {
            self.variants = Some(arms);
            self.control = None;
            self.treatment = None;
            self.allocation = None;
        }
        for (i, new) in [(0, patch.control), (1, patch.treatment)] {
            let Some(new) = new else { continue };
            match (&mut self.variants, new_arms) {
                // The two-arm fields of a patch edit arms 0 and 1 of a general-form base.
                (Some(arms), false) => {
                    if let Some(b) = arms.get_mut(i) {
                        pick(&mut b.name, new.name);
                        pick(&mut b.configuration, new.configuration);
                    }
                }
                _ => {
                    let base = if i == 0 {
                        &mut self.control
                    } else {
                        &mut self.treatment
                    };
                    let b = base.get_or_insert_with(VariantInput::default);
                    pick(&mut b.name, new.name);
                    pick(&mut b.configuration, new.configuration);
                }
            }
        }
        if let Some(new) = patch.allocation {
            let b = self.allocation.get_or_insert_with(AllocationInput::default);
            b.extend(new);
        }
        pick(&mut self.targeting, patch.targeting);
        pick(&mut self.primary_metric, patch.primary_metric);
        if let Some(new) = patch.success_criteria {
            let b = self
                .success_criteria
                .get_or_insert_with(SuccessCriteriaInput::default);
            pick(&mut b.metric, new.metric);
            pick(&mut b.operator, new.operator);
            pick(&mut b.threshold, new.threshold);
            pick(&mut b.confidence_level, new.confidence_level);
            pick(
                &mut b.minimum_detectable_effect,
                new.minimum_detectable_effect,
            );
        }
        pick(&mut self.secondary_metrics, patch.secondary_metrics);
        pick(&mut self.min_duration, patch.min_duration);
        pick(
            &mut self.min_samples_per_variant,
            patch.min_samples_per_variant,
        );
        pick(
            &mut self.auto_pause_on_guardrail,
            patch.auto_pause_on_guardrail,
        );
        pick(&mut self.layer, patch.layer);
        pick(&mut self.layer_share, patch.layer_share);
        self
    }

    /// The names of the fields this input sets (top level), e.g. to tell which fields a
    /// patch touches.
    pub fn fields_set(&self) -> Vec<&'static str> {
        let mut out = Vec::new();
        let mut add = |set: bool, name: &'static str| {
            if set {
                out.push(name);
            }
        };
        add(self.tenant_id.is_some(), "tenantId");
        add(self.name.is_some(), "name");
        add(self.description.is_some(), "description");
        add(self.hypothesis.is_some(), "hypothesis");
        add(self.target_type.is_some(), "targetType");
        add(self.target_id.is_some(), "targetId");
        add(self.control.is_some(), "control");
        add(self.treatment.is_some(), "treatment");
        add(self.variants.is_some(), "variants");
        add(self.allocation.is_some(), "allocation");
        add(self.targeting.is_some(), "targeting");
        add(self.primary_metric.is_some(), "primaryMetric");
        add(self.success_criteria.is_some(), "successCriteria");
        add(self.secondary_metrics.is_some(), "secondaryMetrics");
        add(self.min_duration.is_some(), "minDuration");
        add(
            self.min_samples_per_variant.is_some(),
            "minSamplesPerVariant",
        );
        add(
            self.auto_pause_on_guardrail.is_some(),
            "autoPauseOnGuardrail",
        );
        add(self.layer.is_some(), "layer");
        add(self.layer_share.is_some(), "layerShare");
        out
    }

    /// Checks every rule; returns the spec or every violation with its field path.
    pub fn parse(&self) -> Result<ExperimentSpec, Vec<FieldError>> {
        let mut e = Errors::default();

        let name = e
            .required("name", self.name.as_deref())
            .and_then(|n| text(&mut e, "name", n, 1, MAX_NAME_CHARS));
        let description = text(
            &mut e,
            "description",
            self.description.as_deref().unwrap_or(""),
            0,
            MAX_TEXT_CHARS,
        );
        let hypothesis = text(
            &mut e,
            "hypothesis",
            self.hypothesis.as_deref().unwrap_or(""),
            0,
            MAX_TEXT_CHARS,
        );
        let target_type = e
            .required("targetType", self.target_type.as_deref())
            .and_then(|t| match t.parse::<TargetType>() {
                Ok(t) => Some(t),
                Err(msg) => {
                    e.add("targetType", msg);
                    None
                }
            });
        let target_id = e
            .required("targetId", self.target_id.as_deref())
            .and_then(|t| text(&mut e, "targetId", t, 1, MAX_NAME_CHARS));
        let arms = arms(&mut e, self);
        let allocation = match &arms {
            Some(arms) => allocation(&mut e, self.allocation.as_ref(), arms),
            // Without valid arms the shares cannot be judged, but a missing allocation is
            // still reported with the rest.
            None => e.required("allocation", self.allocation.as_ref()).and(None),
        };
        let targeting = targeting(&mut e, self.targeting.as_ref());
        let primary_metric = e
            .required("primaryMetric", self.primary_metric.as_deref())
            .and_then(|m| metric(&mut e, "primaryMetric", m));
        let success_criteria = criteria(&mut e, self.success_criteria.as_ref());
        let mut secondary_metrics = Vec::new();
        for (i, m) in self.secondary_metrics.iter().flatten().enumerate() {
            if let Some(m) = metric(&mut e, &format!("secondaryMetrics[{i}]"), m) {
                if secondary_metrics.contains(&m) {
                    e.add(format!("secondaryMetrics[{i}]"), "is listed twice");
                } else if Some(m) == primary_metric {
                    e.add(
                        format!("secondaryMetrics[{i}]"),
                        "is already the primary metric",
                    );
                } else {
                    secondary_metrics.push(m);
                }
            }
        }
        let min_duration = e
            .required("minDuration", self.min_duration)
            .and_then(|d| whole(&mut e, "minDuration", d, 1, 365, "days"));
        let min_samples = e
            .required("minSamplesPerVariant", self.min_samples_per_variant)
            .and_then(|n| whole(&mut e, "minSamplesPerVariant", n, 1, 10_000_000, "samples"));
        let layer = match self.layer.clone().flatten() {
            None => Some(None),
            Some(key) if super::is_layer_key(&key) => Some(Some(key)),
            Some(_) => {
                e.add(
                    "layer",
                    "must be 1 to 64 ASCII letters, digits, '_', '.' or '-' (or null: the \
                     target's own layer)",
                );
                None
            }
        };
        let layer_share = match self.layer_share.flatten() {
            None => Some(None),
            Some(p) => whole(&mut e, "layerShare", p, 1, 100, "percent").map(|p| Some(p as u8)),
        };

        match (
            name,
            description,
            hypothesis,
            target_type,
            target_id,
            arms,
            allocation,
            targeting,
            primary_metric,
            success_criteria,
            min_duration,
            min_samples,
        ) {
            (
                Some(name),
                Some(description),
                Some(hypothesis),
                Some(target_type),
                Some(target_id),
                Some(variants),
                Some(allocation),
                Some(targeting),
                Some(primary_metric),
                Some(success_criteria),
                Some(min_duration),
                Some(min_samples),
            ) if e.0.is_empty() => Ok(ExperimentSpec {
                name,
                description,
                hypothesis,
                target_type,
                target_id,
                variants,
                allocation,
                targeting,
                primary_metric,
                success_criteria,
                secondary_metrics,
                min_duration: u16::try_from(min_duration).unwrap_or(u16::MAX),
                min_samples_per_variant: u32::try_from(min_samples).unwrap_or(u32::MAX),
                auto_pause_on_guardrail: self.auto_pause_on_guardrail.unwrap_or(false),
                layer: layer.flatten(),
                layer_share: layer_share.flatten(),
            }),
            _ => Err(e.0),
        }
    }
}

fn text(e: &mut Errors, field: &str, value: &str, min: usize, max: usize) -> Option<String> {
    let trimmed = value.trim();
    let chars = trimmed.chars().count();
    if chars < min {
        e.add(field, "must not be empty");
        None
    } else if chars > max {
        e.add(
            field,
            format!("must have at most {max} characters (has {chars})"),
        );
        None
    } else if trimmed
        .chars()
        .any(|c| c.is_control() && c != '\n' && c != '\t' && c != '\r')
    {
        e.add(field, "must not contain control characters");
        None
    } else {
        Some(trimmed.to_owned())
    }
}

fn whole(e: &mut Errors, field: &str, value: f64, min: u64, max: u64, unit: &str) -> Option<u64> {
    if !value.is_finite() || value.fract() != 0.0 {
        e.add(field, "must be a whole number");
        return None;
    }
    if value < min as f64 || value > max as f64 {
        e.add(field, format!("must be between {min} and {max} {unit}"));
        return None;
    }
    Some(value as u64)
}

fn metric(e: &mut Errors, field: &str, name: &str) -> Option<Metric> {
    match name.parse::<Metric>() {
        Ok(m) => Some(m),
        Err(err) => {
            e.add(field, err.to_string());
            None
        }
    }
}

fn variant(e: &mut Errors, field: &str, input: Option<&VariantInput>) -> Option<VariantConfig> {
    let input = e.required(field, input)?;
    let name = e
        .required(&format!("{field}.name"), input.name.as_deref())
        .and_then(|n| text(e, &format!("{field}.name"), n, 1, MAX_NAME_CHARS));
    let configuration = match &input.configuration {
        None => Some(Map::new()),
        Some(Value::Object(map)) => {
            let size = serde_json::to_string(map)
                .map(|s| s.len())
                .unwrap_or(usize::MAX);
            if size > MAX_CONFIG_BYTES {
                e.add(
                    format!("{field}.configuration"),
                    format!("must be at most 64 KiB as JSON (is {size} bytes)"),
                );
                None
            } else if map.iter().any(|(k, v)| {
                crate::domain::limits::holds_nul(k) || crate::domain::limits::json_holds_nul(v)
            }) {
                e.add(
                    format!("{field}.configuration"),
                    crate::domain::limits::NUL_REFUSED,
                );
                None
            } else {
                Some(map.clone())
            }
        }
        Some(_) => {
            e.add(format!("{field}.configuration"), "must be a JSON object");
            None
        }
    };
    Some(VariantConfig {
        name: name?,
        configuration: configuration?,
    })
}

/// The arms: the two-arm shape (`control`, `treatment`) or the general form (`variants`).
fn arms(e: &mut Errors, input: &ExperimentInput) -> Option<Vec<Arm>> {
    let Some(list) = &input.variants else {
        if input.control.is_none() && input.treatment.is_none() {
            for field in ["control", "treatment"] {
                e.add(
                    field,
                    "is required (the two-arm shape), or give every arm in variants",
                );
            }
            return None;
        }
        let control = variant(e, "control", input.control.as_ref());
        let treatment = variant(e, "treatment", input.treatment.as_ref());
        let arm = |key, v: VariantConfig| Arm {
            key,
            name: v.name,
            configuration: v.configuration,
        };
        return Some(vec![
            arm(Variant::Control, control?),
            arm(Variant::Treatment, treatment?),
        ]);
    };
    for field in ["control", "treatment"] {
        let given = if field == "control" {
            input.control.is_some()
        } else {
            input.treatment.is_some()
        };
        if given {
            e.add(
                field,
                "give either control and treatment (two arms) or variants (every arm), not both",
            );
        }
    }
    if !(2..=MAX_ARMS).contains(&list.len()) {
        e.add(
            "variants",
            format!(
                "must have 2 to {MAX_ARMS} arms, a control and 1 to {} treatments (has {})",
                MAX_ARMS - 1,
                list.len()
            ),
        );
        return None;
    }
    let mut out: Vec<Arm> = Vec::with_capacity(list.len());
    let mut ok = true;
    for (i, arm) in list.iter().enumerate() {
        let field = format!("variants[{i}]");
        let key = e
            .required(&format!("{field}.key"), arm.key.as_deref())
            .and_then(|k| match k.parse::<Variant>() {
                Ok(key) => Some(key),
                Err(err) => {
                    e.add(format!("{field}.key"), err.to_string());
                    None
                }
            });
        if let Some(key) = key
            && let Some(first) = out.iter().position(|a| a.key == key)
        {
            e.add(
                format!("{field}.key"),
                format!("repeats the key of variants[{first}] ({key})"),
            );
            ok = false;
        }
        let config = variant(
            e,
            &field,
            Some(&VariantInput {
                name: arm.name.clone(),
                configuration: arm.configuration.clone(),
            }),
        );
        match (key, config) {
            (Some(key), Some(v)) => out.push(Arm {
                key,
                name: v.name,
                configuration: v.configuration,
            }),
            _ => ok = false,
        }
    }
    (ok && input.control.is_none() && input.treatment.is_none()).then_some(out)
}

fn allocation(e: &mut Errors, input: Option<&AllocationInput>, arms: &[Arm]) -> Option<Allocation> {
    let input = e.required("allocation", input)?;
    let mut shares: Vec<(Variant, u8)> = Vec::with_capacity(arms.len());
    let mut ok = true;
    for arm in arms {
        let field = format!("allocation.{}", arm.key);
        match e
            .required(&field, input.get(arm.key.as_str()).copied())
            .and_then(|c| whole(e, &field, c, 1, 100, "percent"))
        {
            Some(share) => shares.push((arm.key, share as u8)),
            None => ok = false,
        }
    }
    let keys: Vec<&str> = arms.iter().map(|a| a.key.as_str()).collect();
    // (At most a few of them are named: a body may hold thousands of stray keys.)
    for key in input
        .keys()
        .filter(|k| !keys.contains(&k.as_str()))
        .take(MAX_ARMS)
    {
        let shown: String = key.chars().take(40).collect();
        e.add(
            format!("allocation.{shown}"),
            format!("names no arm; the arms are {}", keys.join(", ")),
        );
        ok = false;
    }
    if !ok {
        return None;
    }
    let sum: u32 = shares.iter().map(|(_, s)| u32::from(*s)).sum();
    if sum > 100 {
        let what = if arms.len() == 2
            && arms
                .iter()
                .map(|a| a.key)
                .eq([Variant::Control, Variant::Treatment])
        {
            "control and treatment together".to_owned()
        } else {
            format!("the {} arms together", arms.len())
        };
        e.add(
            "allocation",
            format!("{what} must be at most 100 percent (are {sum})"),
        );
        return None;
    }
    Allocation::from_arms(&shares)
}

fn targeting(e: &mut Errors, input: Option<&TargetingInput>) -> Option<Targeting> {
    let Some(input) = input else {
        return Some(Targeting::default());
    };
    let mut ok = true;
    let mut list = |name: &str, values: &Option<Vec<String>>| -> Vec<String> {
        let values = values.clone().unwrap_or_default();
        if values.len() > MAX_TARGETING_ENTRIES {
            e.add(
                format!("targeting.{name}"),
                format!(
                    "must have at most {MAX_TARGETING_ENTRIES} entries (has {})",
                    values.len()
                ),
            );
            ok = false;
        }
        let mut out: Vec<String> = Vec::with_capacity(values.len());
        let mut seen = std::collections::HashSet::with_capacity(values.len());
        for (i, v) in values.into_iter().enumerate() {
            let v = v.trim().to_owned();
            if crate::domain::limits::holds_nul(&v) {
                e.add(
                    format!("targeting.{name}[{i}]"),
                    crate::domain::limits::NUL_REFUSED,
                );
                ok = false;
            } else if v.is_empty() || v.chars().count() > MAX_NAME_CHARS {
                e.add(
                    format!("targeting.{name}[{i}]"),
                    format!("must have 1 to {MAX_NAME_CHARS} characters"),
                );
                ok = false;
            } else if seen.insert(v.clone()) {
                out.push(v);
            }
        }
        out
    };
    let tenant_ids = list("tenantIds", &input.tenant_ids);
    let user_ids = list("userIds", &input.user_ids);
    let intents = list("intents", &input.intents);
    let mut scopes = Vec::new();
    let raw_scopes = input.scopes.clone().unwrap_or_default();
    if raw_scopes.len() > MAX_TARGETING_ENTRIES {
        e.add(
            "targeting.scopes",
            format!("must have at most {MAX_TARGETING_ENTRIES} entries"),
        );
        ok = false;
    }
    for (i, s) in raw_scopes.into_iter().enumerate() {
        match s {
            Value::Object(map) => match crate::domain::limits::scope_problem(&map) {
                None => scopes.push(map),
                Some(problem) => {
                    e.add(format!("targeting.scopes[{i}]"), problem);
                    ok = false;
                }
            },
            _ => {
                e.add(format!("targeting.scopes[{i}]"), "must be a JSON object");
                ok = false;
            }
        }
    }
    ok.then_some(Targeting {
        tenant_ids,
        user_ids,
        intents,
        scopes,
    })
}

fn criteria(e: &mut Errors, input: Option<&SuccessCriteriaInput>) -> Option<SuccessCriteria> {
    let input = e.required("successCriteria", input)?;
    let metric_ = e
        .required("successCriteria.metric", input.metric.as_deref())
        .and_then(|m| metric(e, "successCriteria.metric", m));
    let operator = e
        .required("successCriteria.operator", input.operator.as_deref())
        .and_then(|o| {
            let op = Operator::from_symbol(o);
            if op.is_none() {
                e.add(
                    "successCriteria.operator",
                    format!("unknown operator {o:?}; expected one of >, >=, <, <="),
                );
            }
            op
        });
    let threshold = e
        .required("successCriteria.threshold", input.threshold)
        .and_then(|t| {
            if t.is_finite() && (0.0..=1000.0).contains(&t) {
                Some(t)
            } else {
                e.add(
                    "successCriteria.threshold",
                    "must be a percentage between 0 and 1000",
                );
                None
            }
        });
    let confidence_level = e
        .required("successCriteria.confidenceLevel", input.confidence_level)
        .and_then(|c| {
            if c.is_finite() && c > 0.5 && c < 1.0 {
                Some(c)
            } else {
                e.add(
                    "successCriteria.confidenceLevel",
                    "must be strictly between 0.5 and 1 (e.g. 0.90, 0.95, 0.99)",
                );
                None
            }
        });
    let mut mde_ok = true;
    if let Some(m) = input.minimum_detectable_effect
        && !(m.is_finite() && m > 0.0 && m <= 1000.0)
    {
        e.add(
            "successCriteria.minimumDetectableEffect",
            "must be a percentage above 0 and at most 1000",
        );
        mde_ok = false;
    }
    // The plan's alternative (threshold + MDE in the metric's better direction) must be a
    // change a metric can have: a lower-is-better metric cannot fall by 100 % or more.
    if let (Some(m), Some(o), Some(t)) = (metric_, operator, threshold)
        && mde_ok
        && m.direction() == super::Direction::LowerIsBetter
    {
        let sc = SuccessCriteria {
            metric: m,
            operator: o,
            threshold: t,
            confidence_level: 0.95,
            minimum_detectable_effect: input.minimum_detectable_effect,
        };
        let alternative =
            crate::domain::results::criterion_null(&sc) + crate::domain::results::mde(&sc);
        if alternative >= 1.0 {
            e.add(
                "successCriteria.threshold",
                format!(
                    "{} cannot fall by {:.0}% or more: lower the threshold or the minimum detectable effect",
                    m.as_str(),
                    alternative * 100.0
                ),
            );
            mde_ok = false;
        }
    }
    if !mde_ok {
        return None;
    }
    Some(SuccessCriteria {
        metric: metric_?,
        operator: operator?,
        threshold: threshold?,
        confidence_level: confidence_level?,
        minimum_detectable_effect: input.minimum_detectable_effect,
    })
}
