//! What an experiment tests and how it is judged: the validated form of a request.

use super::Metric;
use crate::domain::assignment::{Allocation, Targeting, Variant};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::fmt;
use std::str::FromStr;

/// What is being tested (spec: Experiment.targetType).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum TargetType {
    ContextTemplate,
    Prompt,
    ModelSelection,
    IntentClassification,
    GroundingThreshold,
}

impl TargetType {
    pub const ALL: [TargetType; 5] = [
        TargetType::ContextTemplate,
        TargetType::Prompt,
        TargetType::ModelSelection,
        TargetType::IntentClassification,
        TargetType::GroundingThreshold,
    ];

    /// The name on the wire and in the database.
    pub fn as_str(self) -> &'static str {
        match self {
            TargetType::ContextTemplate => "context_template",
            TargetType::Prompt => "prompt",
            TargetType::ModelSelection => "model_selection",
            TargetType::IntentClassification => "intent_classification",
            TargetType::GroundingThreshold => "grounding_threshold",
        }
    }

    /// A label for people (as the wizard words it).
    pub fn label(self) -> &'static str {
        match self {
            TargetType::ContextTemplate => "Context Template",
            TargetType::Prompt => "System Prompt",
            TargetType::ModelSelection => "Model Selection",
            TargetType::IntentClassification => "Intent Classification",
            TargetType::GroundingThreshold => "Grounding Threshold",
        }
    }
}

impl fmt::Display for TargetType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for TargetType {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        TargetType::ALL
            .into_iter()
            .find(|t| t.as_str() == s)
            .ok_or_else(|| {
                format!(
                    "unknown target type {s:?}; expected one of context_template, prompt, \
                     model_selection, intent_classification, grounding_threshold"
                )
            })
    }
}

/// The comparison of the success criteria, as the wizard words it, always relative to
/// "better" in the metric's own direction (for latency, better is lower): `>` "improves by
/// more than", `>=` "improves by at least" (superiority), `<` "gets worse by less than",
/// `<=` "gets worse by at most" (non-inferiority, for guardrail-like metrics such as
/// latency and cost). The truth table is in docs/STATISTICS.md.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub enum Operator {
    #[serde(rename = ">")]
    Greater,
    #[serde(rename = ">=")]
    GreaterOrEqual,
    #[serde(rename = "<")]
    Less,
    #[serde(rename = "<=")]
    LessOrEqual,
}

impl Operator {
    pub const ALL: [Operator; 4] = [
        Operator::Greater,
        Operator::GreaterOrEqual,
        Operator::Less,
        Operator::LessOrEqual,
    ];

    /// `>`, `>=`, `<` or `<=`.
    pub fn symbol(self) -> &'static str {
        match self {
            Operator::Greater => ">",
            Operator::GreaterOrEqual => ">=",
            Operator::Less => "<",
            Operator::LessOrEqual => "<=",
        }
    }

    /// The wizard's words for it.
    pub fn words(self) -> &'static str {
        match self {
            Operator::Greater => "improves by more than",
            Operator::GreaterOrEqual => "improves by at least",
            Operator::Less => "gets worse by less than",
            Operator::LessOrEqual => "gets worse by at most",
        }
    }

    /// Parses `>`, `>=`, `<` or `<=`.
    pub fn from_symbol(s: &str) -> Option<Self> {
        Operator::ALL.into_iter().find(|o| o.symbol() == s)
    }
}

/// How the treatment is judged (spec: successCriteria).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct SuccessCriteria {
    pub metric: Metric,
    pub operator: Operator,
    /// A relative change in percent (5 means 5 %), 0 to 1000.
    pub threshold: f64,
    /// Strictly between 0.5 and 1, e.g. 0.95.
    pub confidence_level: f64,
    /// The effect beyond the threshold the plan is sized to detect with 80 % power, in
    /// percent (0 to 1000; 5 when not set). See docs/STATISTICS.md, "Power".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub minimum_detectable_effect: Option<f64>,
}

/// One arm: a name and the configuration it serves (a JSON object, at most 64 KiB).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct VariantConfig {
    pub name: String,
    pub configuration: Map<String, Value>,
}

/// One arm of the general form: its key, name and configuration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct Arm {
    pub key: Variant,
    pub name: String,
    pub configuration: Map<String, Value>,
}

impl Arm {
    /// The name and configuration, as the two-arm shape shows an arm.
    pub fn config(&self) -> VariantConfig {
        VariantConfig {
            name: self.name.clone(),
            configuration: self.configuration.clone(),
        }
    }
}

/// Everything that defines an experiment, validated (see [`super::ExperimentInput::parse`]).
///
/// `variants` holds every arm, the control first, and `allocation` their shares in the same
/// order. On the wire the spec's two-arm shape (`control`, `treatment`: arms 0 and 1) is
/// shown beside the general form (`variants`), so clients of either read what they expect.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(into = "ExperimentSpecWire", from = "ExperimentSpecWire")]
pub struct ExperimentSpec {
    pub name: String,
    pub description: String,
    pub hypothesis: String,
    pub target_type: TargetType,
    pub target_id: String,
    /// Every arm, the control first (2 to 8).
    pub variants: Vec<Arm>,
    pub allocation: Allocation,
    pub targeting: Targeting,
    pub primary_metric: Metric,
    pub success_criteria: SuccessCriteria,
    pub secondary_metrics: Vec<Metric>,
    /// Minimum days to run, 1 to 365 (spec: minDuration).
    pub min_duration: u16,
    pub min_samples_per_variant: u32,
    /// Pause by itself when a secondary metric is significantly worse.
    pub auto_pause_on_guardrail: bool,
    /// The named layer of its tenant it runs in (`None`: its target's own layer).
    pub layer: Option<String>,
    /// Whole percent (1 to 100) of the layer's traffic it takes at start (`None`: the
    /// largest free gap).
    pub layer_share: Option<u8>,
}

impl ExperimentSpec {
    /// The id of the layer it runs in (see [`super::layer_id`]).
    pub fn layer_id(&self, tenant: &str) -> String {
        super::layer_id(
            tenant,
            self.layer.as_deref(),
            self.target_type,
            &self.target_id,
        )
    }

    /// The control (arm 0).
    pub fn control(&self) -> Option<&Arm> {
        self.variants.first()
    }

    /// The first treatment (arm 1).
    pub fn treatment(&self) -> Option<&Arm> {
        self.variants.get(1)
    }

    /// The arm with key `key`.
    pub fn arm(&self, key: Variant) -> Option<&Arm> {
        self.variants.iter().find(|a| a.key == key)
    }

    /// The arms' keys, in order.
    pub fn keys(&self) -> impl Iterator<Item = Variant> + '_ {
        self.variants.iter().map(|a| a.key)
    }

    /// Whether this is the spec's two-arm shape: arms `control` and `treatment`.
    pub fn is_two_arm_shape(&self) -> bool {
        self.variants.len() == 2
            && self
                .variants
                .first()
                .is_some_and(|a| a.key == Variant::Control)
            && self
                .variants
                .get(1)
                .is_some_and(|a| a.key == Variant::Treatment)
    }
}

/// The experiment's definition as the API shows it: the spec's two-arm shape (`control`,
/// `treatment`) and the general form (`variants`, every arm), with `allocation` by arm key.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "ssr", schema(as = ExperimentSpec))]
#[serde(rename_all = "camelCase")]
pub struct ExperimentSpecWire {
    pub name: String,
    pub description: String,
    pub hypothesis: String,
    pub target_type: TargetType,
    pub target_id: String,
    /// Arm 0, the control.
    pub control: VariantConfig,
    /// Arm 1, the first treatment.
    pub treatment: VariantConfig,
    /// Every arm, the control first.
    #[serde(default)]
    pub variants: Vec<Arm>,
    pub allocation: Allocation,
    pub targeting: Targeting,
    pub primary_metric: Metric,
    pub success_criteria: SuccessCriteria,
    pub secondary_metrics: Vec<Metric>,
    pub min_duration: u16,
    pub min_samples_per_variant: u32,
    pub auto_pause_on_guardrail: bool,
    /// The named layer of its tenant it runs in; absent: its target's own layer
    /// (`target:<targetType>/<targetId>`). Experiments in one layer take disjoint slices of
    /// its traffic, so a user is in at most one of them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub layer: Option<String>,
    /// Whole percent of the layer's traffic it takes at start; absent: the largest free gap.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub layer_share: Option<u8>,
}

impl From<ExperimentSpec> for ExperimentSpecWire {
    fn from(s: ExperimentSpec) -> Self {
        let empty = || VariantConfig {
            name: String::new(),
            configuration: Map::new(),
        };
        Self {
            control: s.control().map_or_else(empty, Arm::config),
            treatment: s.treatment().map_or_else(empty, Arm::config),
            name: s.name,
            description: s.description,
            hypothesis: s.hypothesis,
            target_type: s.target_type,
            target_id: s.target_id,
            variants: s.variants,
            allocation: s.allocation,
            targeting: s.targeting,
            primary_metric: s.primary_metric,
            success_criteria: s.success_criteria,
            secondary_metrics: s.secondary_metrics,
            min_duration: s.min_duration,
            min_samples_per_variant: s.min_samples_per_variant,
            auto_pause_on_guardrail: s.auto_pause_on_guardrail,
            layer: s.layer,
            layer_share: s.layer_share,
        }
    }
}

impl From<ExperimentSpecWire> for ExperimentSpec {
    fn from(w: ExperimentSpecWire) -> Self {
        let variants = if w.variants.is_empty() {
            let arm = |key, v: VariantConfig| Arm {
                key,
                name: v.name,
                configuration: v.configuration,
            };
            vec![
                arm(Variant::Control, w.control),
                arm(Variant::Treatment, w.treatment),
            ]
        } else {
            w.variants
        };
        Self {
            name: w.name,
            description: w.description,
            hypothesis: w.hypothesis,
            target_type: w.target_type,
            target_id: w.target_id,
            variants,
            allocation: w.allocation,
            targeting: w.targeting,
            primary_metric: w.primary_metric,
            success_criteria: w.success_criteria,
            secondary_metrics: w.secondary_metrics,
            min_duration: w.min_duration,
            min_samples_per_variant: w.min_samples_per_variant,
            auto_pause_on_guardrail: w.auto_pause_on_guardrail,
            layer: w.layer,
            layer_share: w.layer_share,
        }
    }
}

#[cfg(feature = "ssr")]
impl utoipa::PartialSchema for ExperimentSpec {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        <ExperimentSpecWire as utoipa::PartialSchema>::schema()
    }
}

#[cfg(feature = "ssr")]
impl utoipa::ToSchema for ExperimentSpec {
    fn name() -> std::borrow::Cow<'static, str> {
        "ExperimentSpec".into()
    }

    fn schemas(
        schemas: &mut Vec<(
            String,
            utoipa::openapi::RefOr<utoipa::openapi::schema::Schema>,
        )>,
    ) {
        <ExperimentSpecWire as utoipa::ToSchema>::schemas(schemas);
    }
}
