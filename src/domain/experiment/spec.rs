//! What an experiment tests and how it is judged: the validated form of a request.

use super::Metric;
use crate::domain::assignment::{Allocation, Targeting};
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

/// Everything that defines an experiment, validated (see [`super::ExperimentInput::parse`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct ExperimentSpec {
    pub name: String,
    pub description: String,
    pub hypothesis: String,
    pub target_type: TargetType,
    pub target_id: String,
    pub control: VariantConfig,
    pub treatment: VariantConfig,
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
}
