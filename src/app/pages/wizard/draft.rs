//! The creation wizard's form state, and how it becomes the create request. Pure (no view,
//! no IO), so its rules are unit-tested; the validation itself is the server's own
//! [`ExperimentInput::parse`], run in the browser step by step and on the server at create.

use crate::domain::FieldError;
use crate::domain::experiment::{
    AllocationInput, ExperimentInput, Metric, SuccessCriteriaInput, TargetType, TargetingInput,
    VariantInput,
};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// The number of steps.
pub const STEPS: u8 = 5;

/// The steps' titles, in order.
pub const STEP_TITLES: [&str; 5] = [
    "Basic Info",
    "Variants",
    "Traffic",
    "Success Metrics",
    "Duration & Review",
];

/// The primary metrics the wizard offers (the spec's list).
pub const PRIMARY_METRICS: [Metric; 4] = [
    Metric::Quality,
    Metric::Latency,
    Metric::Satisfaction,
    Metric::CitationQuality,
];

/// The confidence levels offered.
pub const CONFIDENCE_LEVELS: [(&str, &str); 3] = [
    ("0.9", "90% confidence"),
    ("0.95", "95% confidence"),
    ("0.99", "99% confidence"),
];

/// What kind of value a configuration field holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldKind {
    Text,
    LongText,
    Number,
}

/// One field of the configuration editor of a target type: (key, label, kind).
pub type ConfigField = (&'static str, &'static str, FieldKind);

/// The structured editor's fields for each target type (anything else: raw JSON mode).
pub fn config_fields(target: Option<TargetType>) -> &'static [ConfigField] {
    use FieldKind::*;
    match target {
        Some(TargetType::ContextTemplate) => &[
            ("templateId", "Template ID", Text),
            ("template", "Template text", LongText),
        ],
        Some(TargetType::Prompt) => &[
            ("promptId", "Prompt ID", Text),
            ("text", "Prompt text", LongText),
        ],
        Some(TargetType::ModelSelection) => &[
            ("model", "Model name", Text),
            ("temperature", "Temperature", Number),
        ],
        Some(TargetType::IntentClassification) => &[
            ("classifier", "Classifier", Text),
            ("confidenceThreshold", "Confidence threshold", Number),
        ],
        Some(TargetType::GroundingThreshold) => &[("threshold", "Grounding threshold", Number)],
        None => &[],
    }
}

/// One arm as the form holds it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ArmDraft {
    pub name: String,
    pub configuration: Map<String, Value>,
    /// The text of the raw-JSON editor while it is open (it may not parse yet).
    pub raw: Option<String>,
}

impl ArmDraft {
    fn named(name: &str) -> Self {
        Self {
            name: name.to_owned(),
            configuration: Map::new(),
            raw: None,
        }
    }

    /// The text a structured field shows.
    pub fn field_text(&self, key: &str) -> String {
        match self.configuration.get(key) {
            None | Some(Value::Null) => String::new(),
            Some(Value::String(s)) => s.clone(),
            Some(other) => other.to_string(),
        }
    }

    /// Sets a structured field from its text: numbers stay numbers, empty text removes it.
    pub fn set_field(&mut self, key: &str, kind: FieldKind, text: &str) {
        if text.trim().is_empty() {
            self.configuration.remove(key);
            return;
        }
        let value = match kind {
            FieldKind::Number => match text.trim().parse::<f64>() {
                Ok(n) => serde_json::Number::from_f64(n)
                    .map(Value::Number)
                    .unwrap_or_else(|| Value::String(text.to_owned())),
                Err(_) => Value::String(text.to_owned()),
            },
            FieldKind::Text | FieldKind::LongText => Value::String(text.to_owned()),
        };
        self.configuration.insert(key.to_owned(), value);
    }

    /// Opens the raw-JSON editor on the current configuration.
    pub fn open_raw(&mut self) {
        self.raw = Some(
            serde_json::to_string_pretty(&Value::Object(self.configuration.clone()))
                .unwrap_or_else(|_| "{}".into()),
        );
    }

    /// Takes the raw editor's text; a JSON object becomes the configuration at once.
    /// Returns the reason when it is not one.
    pub fn set_raw(&mut self, text: &str) -> Option<String> {
        self.raw = Some(text.to_owned());
        self.raw_error()
    }

    /// Why the raw editor's text is not a configuration (`None`: it is, or it is closed).
    pub fn raw_error(&self) -> Option<String> {
        let text = self.raw.as_deref()?;
        match serde_json::from_str::<Value>(text) {
            Ok(Value::Object(_)) => None,
            Ok(_) => Some("must be a JSON object, e.g. {\"templateId\": \"v2\"}".into()),
            Err(e) => Some(format!("is not valid JSON: {e}")),
        }
    }

    /// The configuration to send: the raw editor's when open and valid.
    pub fn effective_configuration(&self) -> Map<String, Value> {
        match self.raw.as_deref().map(serde_json::from_str::<Value>) {
            Some(Ok(Value::Object(map))) => map,
            _ => self.configuration.clone(),
        }
    }

    /// Closes the raw editor, keeping its configuration when it is valid.
    pub fn close_raw(&mut self) {
        self.configuration = self.effective_configuration();
        self.raw = None;
    }
}

/// A targeting list with its on/off checkbox.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ListDraft {
    pub on: bool,
    pub values: Vec<String>,
}

impl ListDraft {
    /// Adds typed entries (comma-separated allowed); blanks and repeats are skipped.
    pub fn add(&mut self, text: &str) {
        for v in text.split(',').map(str::trim).filter(|v| !v.is_empty()) {
            if !self.values.iter().any(|x| x == v) {
                self.values.push(v.to_owned());
            }
        }
    }

    pub fn remove(&mut self, value: &str) {
        self.values.retain(|v| v != value);
    }

    fn to_input(&self) -> Option<Vec<String>> {
        (self.on && !self.values.is_empty()).then(|| self.values.clone())
    }
}

/// Everything typed into the wizard. Numbers are kept as typed and checked when sent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Draft {
    /// super_admin only: the tenant ("system": every tenant's users).
    pub tenant_id: String,
    pub name: String,
    pub description: String,
    pub hypothesis: String,
    pub target_type: String,
    pub target_id: String,
    pub control: ArmDraft,
    pub treatment: ArmDraft,
    pub control_pct: u8,
    pub treatment_pct: u8,
    pub tenants: ListDraft,
    pub users: ListDraft,
    pub intents: ListDraft,
    pub primary_metric: String,
    pub criteria_metric: String,
    pub operator: String,
    pub threshold: String,
    /// The effect beyond the threshold to size the experiment for (percent; empty: 5).
    pub mde: String,
    pub confidence: String,
    pub secondary: Vec<String>,
    pub min_duration: String,
    pub min_samples: String,
}

impl Default for Draft {
    fn default() -> Self {
        Self {
            tenant_id: String::new(),
            name: String::new(),
            description: String::new(),
            hypothesis: String::new(),
            target_type: TargetType::ContextTemplate.as_str().to_owned(),
            target_id: String::new(),
            control: ArmDraft::named("Current"),
            treatment: ArmDraft::named("New"),
            control_pct: 50,
            treatment_pct: 50,
            tenants: ListDraft::default(),
            users: ListDraft::default(),
            intents: ListDraft::default(),
            primary_metric: Metric::Quality.as_str().to_owned(),
            criteria_metric: Metric::Quality.as_str().to_owned(),
            operator: ">".to_owned(),
            threshold: "5".to_owned(),
            mde: String::new(),
            confidence: "0.95".to_owned(),
            secondary: vec![Metric::Latency.as_str().to_owned()],
            min_duration: "7".to_owned(),
            min_samples: "1000".to_owned(),
        }
    }
}

/// The step (1–5) whose form holds `field` (a field path of the create request).
pub fn step_of(field: &str) -> u8 {
    let head = field.split(['.', '[']).next().unwrap_or(field);
    match head {
        "tenantId" | "name" | "description" | "hypothesis" | "targetType" | "targetId" => 1,
        "control" | "treatment" => 2,
        "allocation" | "targeting" => 3,
        "primaryMetric" | "successCriteria" | "secondaryMetrics" => 4,
        _ => 5,
    }
}

/// A number as typed: `Ok(None)` when empty, the reason when it is not a number.
fn number(field: &str, text: &str, errors: &mut Vec<FieldError>) -> Option<f64> {
    let t = text.trim();
    if t.is_empty() {
        return None;
    }
    match t.parse::<f64>() {
        Ok(n) if n.is_finite() => Some(n),
        _ => {
            errors.push(FieldError::new(field, "must be a number"));
            None
        }
    }
}

fn opt(text: &str) -> Option<String> {
    let t = text.trim();
    (!t.is_empty()).then(|| t.to_owned())
}

impl Draft {
    pub fn target(&self) -> Option<TargetType> {
        self.target_type.parse().ok()
    }

    /// Sets the primary metric; the success criterion follows it while it was the same.
    pub fn set_primary(&mut self, metric: &str) {
        if self.criteria_metric == self.primary_metric {
            self.criteria_metric = metric.to_owned();
        }
        self.secondary.retain(|m| m != metric);
        self.primary_metric = metric.to_owned();
    }

    /// The create request, and what the form itself finds wrong (numbers that are not
    /// numbers, raw JSON that does not parse). `super_admin`: whether to send the tenant.
    pub fn to_input(&self, super_admin: bool) -> (ExperimentInput, Vec<FieldError>) {
        let mut errors = Vec::new();
        for (field, arm) in [("control", &self.control), ("treatment", &self.treatment)] {
            if let Some(why) = arm.raw_error() {
                errors.push(FieldError::new(format!("{field}.configuration"), why));
            }
        }
        let arm = |a: &ArmDraft| VariantInput {
            name: Some(a.name.clone()),
            configuration: Some(Value::Object(a.effective_configuration())),
        };
        let threshold = number("successCriteria.threshold", &self.threshold, &mut errors);
        let mde = number(
            "successCriteria.minimumDetectableEffect",
            &self.mde,
            &mut errors,
        );
        let confidence = number(
            "successCriteria.confidenceLevel",
            &self.confidence,
            &mut errors,
        );
        let min_duration = number("minDuration", &self.min_duration, &mut errors);
        let min_samples = number("minSamplesPerVariant", &self.min_samples, &mut errors);
        let targeting = TargetingInput {
            tenant_ids: self.tenants.to_input(),
            user_ids: self.users.to_input(),
            intents: self.intents.to_input(),
            scopes: None,
        };
        let input = ExperimentInput {
            tenant_id: if super_admin {
                opt(&self.tenant_id)
            } else {
                None
            },
            name: Some(self.name.clone()),
            description: Some(self.description.clone()),
            hypothesis: Some(self.hypothesis.clone()),
            target_type: opt(&self.target_type),
            target_id: opt(&self.target_id),
            control: Some(arm(&self.control)),
            treatment: Some(arm(&self.treatment)),
            variants: None,
            allocation: Some(AllocationInput::from([
                ("control".to_owned(), f64::from(self.control_pct)),
                ("treatment".to_owned(), f64::from(self.treatment_pct)),
            ])),
            targeting: Some(targeting),
            primary_metric: opt(&self.primary_metric),
            success_criteria: Some(SuccessCriteriaInput {
                metric: opt(&self.criteria_metric),
                operator: opt(&self.operator),
                threshold,
                confidence_level: confidence,
                minimum_detectable_effect: mde,
            }),
            secondary_metrics: Some(self.secondary.clone()),
            min_duration,
            min_samples_per_variant: min_samples,
            auto_pause_on_guardrail: None,
            // The target's own layer, the largest free slice (the lead wires the display).
            layer: None,
            layer_share: None,
        };
        (input, errors)
    }

    /// Every problem of the whole form: the form's own, then the server's rules.
    pub fn problems(&self, super_admin: bool) -> Vec<FieldError> {
        let (input, mut errors) = self.to_input(super_admin);
        if let Err(rules) = input.parse() {
            for e in rules {
                // A number that did not parse is reported once, as not a number.
                if !errors.iter().any(|x| x.field == e.field) {
                    errors.push(e);
                }
            }
        }
        errors
    }

    /// The problems of one step (1–5): what must be fixed before Next.
    pub fn problems_of_step(&self, step: u8, super_admin: bool) -> Vec<FieldError> {
        self.problems(super_admin)
            .into_iter()
            .filter(|e| step_of(&e.field) == step)
            .collect()
    }
}

/// The messages of `field` and of the fields under it (`targeting.tenantIds[3]` is under
/// `targeting.tenantIds`), joined for display.
pub fn messages_for(errors: &[FieldError], field: &str) -> Option<String> {
    let under = |f: &str| {
        f == field
            || f.strip_prefix(field)
                .is_some_and(|rest| rest.starts_with('.') || rest.starts_with('['))
    };
    let list: Vec<&str> = errors
        .iter()
        .filter(|e| under(&e.field))
        .map(|e| e.message.as_str())
        .collect();
    (!list.is_empty()).then(|| list.join("; "))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn filled() -> Draft {
        let mut d = Draft {
            name: "Risk template with history".into(),
            hypothesis: "History improves quality".into(),
            target_id: "risk-analysis".into(),
            ..Draft::default()
        };
        d.control.set_field("templateId", FieldKind::Text, "v1");
        d.treatment.set_field("templateId", FieldKind::Text, "v2");
        d
    }

    #[test]
    fn a_filled_form_is_a_valid_create_request() {
        let d = filled();
        assert_eq!(d.problems(false), vec![]);
        let spec = d.to_input(false).0.parse().unwrap();
        assert_eq!(spec.treatment().unwrap().configuration["templateId"], "v2");
        assert_eq!(spec.allocation.control(), 50);
        assert_eq!(spec.success_criteria.threshold, 5.0);
        assert_eq!(spec.secondary_metrics, vec![Metric::Latency]);
        assert!(spec.targeting.tenant_ids.is_empty());
    }

    #[test]
    fn each_step_reports_only_its_own_fields_with_the_servers_messages() {
        let mut d = filled();
        d.name = "  ".into();
        d.control_pct = 70;
        d.min_duration = "0".into();
        assert_eq!(
            d.problems_of_step(1, false),
            vec![FieldError::new("name", "must not be empty")]
        );
        assert_eq!(d.problems_of_step(2, false), vec![]);
        let traffic = d.problems_of_step(3, false);
        assert_eq!(traffic.len(), 1);
        assert_eq!(traffic[0].field, "allocation");
        assert!(traffic[0].message.contains("at most 100 percent"));
        assert_eq!(
            d.problems_of_step(5, false),
            vec![FieldError::new(
                "minDuration",
                "must be between 1 and 365 days"
            )]
        );
    }

    #[test]
    fn the_minimum_detectable_effect_is_sent_when_typed_and_checked_on_step_4() {
        let mut d = filled();
        assert_eq!(
            d.to_input(false)
                .0
                .parse()
                .unwrap()
                .success_criteria
                .minimum_detectable_effect,
            None
        );
        d.mde = "12.5".into();
        let spec = d.to_input(false).0.parse().unwrap();
        assert_eq!(spec.success_criteria.minimum_detectable_effect, Some(12.5));
        d.mde = "0".into();
        let step = d.problems_of_step(4, false);
        assert_eq!(step.len(), 1, "{step:?}");
        assert_eq!(step[0].field, "successCriteria.minimumDetectableEffect");
        d.mde = "lots".into();
        assert_eq!(
            messages_for(
                &d.problems(false),
                "successCriteria.minimumDetectableEffect"
            )
            .as_deref(),
            Some("must be a number")
        );
    }

    #[test]
    fn numbers_that_are_not_numbers_are_said_once() {
        let mut d = filled();
        d.threshold = "five".into();
        d.min_samples = "".into();
        let p = d.problems(false);
        assert_eq!(
            messages_for(&p, "successCriteria.threshold").as_deref(),
            Some("must be a number")
        );
        assert_eq!(
            messages_for(&p, "minSamplesPerVariant").as_deref(),
            Some("is required")
        );
    }

    #[test]
    fn raw_json_validates_as_you_type_and_wins_when_valid() {
        let mut d = filled();
        d.treatment.open_raw();
        assert_eq!(d.treatment.raw_error(), None);
        assert!(
            d.treatment
                .set_raw("{\"templateId\": ")
                .unwrap()
                .starts_with("is not valid JSON")
        );
        assert_eq!(
            messages_for(&d.problems(false), "treatment.configuration").map(|m| m.len() > 10),
            Some(true)
        );
        assert_eq!(
            d.treatment.set_raw("[1]").as_deref(),
            Some("must be a JSON object, e.g. {\"templateId\": \"v2\"}")
        );
        assert_eq!(
            d.treatment
                .set_raw("{\"templateId\": \"v3\", \"maxDocs\": 5}"),
            None
        );
        let spec = d.to_input(false).0.parse().unwrap();
        assert_eq!(spec.treatment().unwrap().configuration["maxDocs"], 5);
        d.treatment.close_raw();
        assert_eq!(d.treatment.field_text("templateId"), "v3");
    }

    #[test]
    fn structured_fields_keep_numbers_as_numbers() {
        let mut arm = ArmDraft::named("A");
        arm.set_field("temperature", FieldKind::Number, "0.4");
        assert_eq!(arm.configuration["temperature"], 0.4);
        assert_eq!(arm.field_text("temperature"), "0.4");
        arm.set_field("temperature", FieldKind::Number, "");
        assert!(arm.configuration.is_empty());
    }

    #[test]
    fn targeting_lists_take_typed_entries_and_count_only_when_on() {
        let mut d = filled();
        d.tenants.add("acme, globex ,acme");
        d.tenants.add("");
        assert_eq!(d.tenants.values, vec!["acme", "globex"]);
        assert_eq!(d.to_input(false).0.targeting.unwrap().tenant_ids, None);
        d.tenants.on = true;
        d.tenants.remove("globex");
        let spec = d.to_input(false).0.parse().unwrap();
        assert_eq!(spec.targeting.tenant_ids, vec!["acme"]);
    }

    #[test]
    fn the_criterion_follows_the_primary_metric_until_changed_apart() {
        let mut d = filled();
        d.set_primary("latency");
        assert_eq!(d.criteria_metric, "latency");
        assert!(d.secondary.is_empty(), "the primary is not also secondary");
        d.criteria_metric = "quality".into();
        d.set_primary("satisfaction");
        assert_eq!(d.criteria_metric, "quality");
    }

    #[test]
    fn fields_map_to_their_steps() {
        assert_eq!(step_of("targetId"), 1);
        assert_eq!(step_of("treatment.configuration"), 2);
        assert_eq!(step_of("targeting.tenantIds[2]"), 3);
        assert_eq!(step_of("secondaryMetrics[0]"), 4);
        assert_eq!(step_of("minSamplesPerVariant"), 5);
        let errors = vec![FieldError::new("targeting.tenantIds[2]", "bad")];
        assert_eq!(
            messages_for(&errors, "targeting.tenantIds").as_deref(),
            Some("bad")
        );
        assert_eq!(messages_for(&errors, "targeting.tenant"), None);
    }

    #[test]
    fn the_tenant_is_sent_only_for_a_super_admin() {
        let mut d = filled();
        d.tenant_id = " acme ".into();
        assert_eq!(d.to_input(true).0.tenant_id.as_deref(), Some("acme"));
        assert_eq!(d.to_input(false).0.tenant_id, None);
    }
}
