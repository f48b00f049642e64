//! The creation wizard's form state, and how it becomes the create request. Pure (no view,
//! no IO), so its rules are unit-tested; the validation itself is the server's own
//! [`ExperimentInput::parse`], run in the browser step by step and on the server at create.

use crate::domain::FieldError;
use crate::domain::assignment::MAX_ARMS;
use crate::domain::experiment::{
    AllocationInput, ArmInput, ExperimentInput, Metric, SuccessCriteriaInput, TargetType,
    TargetingInput, VariantInput,
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
    /// The arm's key as typed (checked by the server's rules when sent).
    pub key: String,
    pub name: String,
    pub configuration: Map<String, Value>,
    /// The text of the raw-JSON editor while it is open (it may not parse yet).
    pub raw: Option<String>,
    /// Whole percent of all traffic.
    pub pct: u8,
}

impl ArmDraft {
    #[cfg(test)]
    fn named(name: &str) -> Self {
        Self {
            name: name.to_owned(),
            ..Self::default()
        }
    }

    fn new(key: &str, name: &str, pct: u8) -> Self {
        Self {
            key: key.to_owned(),
            name: name.to_owned(),
            configuration: Map::new(),
            raw: None,
            pct,
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
    /// Every arm, the control first (2 to 8), each with its key and share.
    pub arms: Vec<ArmDraft>,
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
            arms: vec![
                ArmDraft::new("control", "Current", 50),
                ArmDraft::new("treatment", "New", 50),
            ],
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
        "control" | "treatment" | "variants" => 2,
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

    /// Whether the arms are the spec's two-arm shape (keys `control` and `treatment`), which
    /// is sent as `control` and `treatment`; any other arms go as `variants`.
    pub fn is_two_arm_shape(&self) -> bool {
        let key = |i: usize| self.arms.get(i).map(|a| a.key.trim());
        self.arms.len() == 2 && key(0) == Some("control") && key(1) == Some("treatment")
    }

    /// The field path of arm `i` as it is sent (`control`, `treatment` or `variants[i]`),
    /// with `sub` (`name`, `configuration`, `key`) after a dot when given.
    pub fn arm_field(&self, i: usize, sub: &str) -> String {
        let head = match (self.is_two_arm_shape(), i) {
            (true, 0) => "control".to_owned(),
            (true, _) => "treatment".to_owned(),
            (false, i) => format!("variants[{i}]"),
        };
        if sub.is_empty() {
            head
        } else {
            format!("{head}.{sub}")
        }
    }

    /// The field path of arm `i`'s share: `allocation.<its key>`.
    pub fn share_field(&self, i: usize) -> String {
        format!(
            "allocation.{}",
            self.arms.get(i).map(|a| a.key.trim()).unwrap_or_default()
        )
    }

    /// Whether another arm may be added (at most 8 in all).
    pub fn can_add_arm(&self) -> bool {
        self.arms.len() < MAX_ARMS
    }

    /// Adds a treatment: its key is the first free letter from the arm's position on (`c`
    /// for the third arm), and the shares are split evenly again when they were even.
    // Only a click calls it (browser code).
    #[cfg_attr(not(feature = "hydrate"), allow(dead_code))]
    pub fn add_arm(&mut self) {
        if !self.can_add_arm() {
            return;
        }
        let taken = |k: &str| self.arms.iter().any(|a| a.key.trim() == k);
        let key = (b'a'..=b'z')
            .cycle()
            .skip(self.arms.len().min(25))
            .take(26)
            .map(|c| char::from(c).to_string())
            .find(|k| !taken(k))
            .unwrap_or_else(|| format!("arm{}", self.arms.len()));
        let name = format!("Variant {}", key.to_uppercase());
        let even = self.shares_even();
        self.arms.push(ArmDraft::new(&key, &name, 1));
        if even {
            self.split_evenly();
        } else {
            let used: u16 = self.arms.iter().map(|a| u16::from(a.pct)).sum::<u16>() - 1;
            let rest = 100u16.saturating_sub(used);
            let fair = (100 / self.arms.len()) as u16;
            if let Some(last) = self.arms.last_mut() {
                last.pct = rest.clamp(1, fair.max(1)) as u8;
            }
        }
    }

    /// Removes treatment `i` (never the control, never below two arms); even shares stay even.
    pub fn remove_arm(&mut self, i: usize) {
        if i == 0 || i >= self.arms.len() || self.arms.len() <= 2 {
            return;
        }
        let even = self.shares_even();
        self.arms.remove(i);
        if even {
            self.split_evenly();
        }
    }

    /// Whether every arm has the same share.
    fn shares_even(&self) -> bool {
        self.arms.windows(2).all(|w| w[0].pct == w[1].pct)
    }

    /// The same whole share for every arm, as much as fits in 100 %.
    pub fn split_evenly(&mut self) {
        let each = (100 / self.arms.len().max(1)) as u8;
        for a in &mut self.arms {
            a.pct = each;
        }
    }

    /// The shares together, in percent.
    pub fn total_pct(&self) -> u16 {
        self.arms.iter().map(|a| u16::from(a.pct)).sum()
    }

    /// How an arm is called in the form: Control, Treatment, Treatment 2, …
    pub fn arm_label(i: usize) -> String {
        match i {
            0 => "Control".into(),
            1 => "Treatment".into(),
            i => format!("Treatment {i}"),
        }
    }

    /// A draft from the JSON stored in the browser, also from before the wizard had arms
    /// (`control`, `treatment`, `control_pct`, `treatment_pct`): those become arms 0 and 1.
    #[cfg_attr(not(feature = "hydrate"), allow(dead_code))]
    pub fn from_stored(text: &str) -> Option<Draft> {
        let mut value: Value = serde_json::from_str(text).ok()?;
        if let Value::Object(map) = &mut value
            && !map.contains_key("arms")
            && (map.contains_key("control") || map.contains_key("treatment"))
        {
            let mut arms = Vec::new();
            for (key, pct, default_name) in [
                ("control", "control_pct", "Current"),
                ("treatment", "treatment_pct", "New"),
            ] {
                let mut arm = match map.remove(key) {
                    Some(Value::Object(arm)) => arm,
                    _ => {
                        let mut arm = Map::new();
                        arm.insert("name".into(), Value::String(default_name.into()));
                        arm
                    }
                };
                arm.insert("key".into(), Value::String(key.into()));
                arm.insert(
                    "pct".into(),
                    map.remove(pct).unwrap_or_else(|| Value::from(50)),
                );
                arms.push(Value::Object(arm));
            }
            map.insert("arms".into(), Value::Array(arms));
        }
        let mut draft: Draft = serde_json::from_value(value).ok()?;
        if draft.arms.len() < 2 || draft.arms.len() > MAX_ARMS {
            draft.arms = Draft::default().arms;
        }
        Some(draft)
    }

    /// The create request, and what the form itself finds wrong (numbers that are not
    /// numbers, raw JSON that does not parse). `super_admin`: whether to send the tenant.
    pub fn to_input(&self, super_admin: bool) -> (ExperimentInput, Vec<FieldError>) {
        let mut errors = Vec::new();
        for (i, arm) in self.arms.iter().enumerate() {
            if let Some(why) = arm.raw_error() {
                errors.push(FieldError::new(self.arm_field(i, "configuration"), why));
            }
        }
        let two_arm = self.is_two_arm_shape();
        let variant = |a: &ArmDraft| VariantInput {
            name: Some(a.name.clone()),
            configuration: Some(Value::Object(a.effective_configuration())),
        };
        let (control, treatment, variants) = if two_arm {
            (
                self.arms.first().map(variant),
                self.arms.get(1).map(variant),
                None,
            )
        } else {
            let arms = self
                .arms
                .iter()
                .map(|a| ArmInput {
                    key: opt(&a.key),
                    name: Some(a.name.clone()),
                    configuration: Some(Value::Object(a.effective_configuration())),
                })
                .collect();
            (None, None, Some(arms))
        };
        let allocation: AllocationInput = self
            .arms
            .iter()
            .map(|a| (a.key.trim().to_owned(), f64::from(a.pct)))
            .collect();
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
            control,
            treatment,
            variants,
            allocation: Some(allocation),
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
        d.arms[0].set_field("templateId", FieldKind::Text, "v1");
        d.arms[1].set_field("templateId", FieldKind::Text, "v2");
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
        d.arms[0].pct = 70;
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
        d.arms[1].open_raw();
        assert_eq!(d.arms[1].raw_error(), None);
        assert!(
            d.arms[1]
                .set_raw("{\"templateId\": ")
                .unwrap()
                .starts_with("is not valid JSON")
        );
        assert_eq!(
            messages_for(&d.problems(false), "treatment.configuration").map(|m| m.len() > 10),
            Some(true)
        );
        assert_eq!(
            d.arms[1].set_raw("[1]").as_deref(),
            Some("must be a JSON object, e.g. {\"templateId\": \"v2\"}")
        );
        assert_eq!(
            d.arms[1].set_raw("{\"templateId\": \"v3\", \"maxDocs\": 5}"),
            None
        );
        let spec = d.to_input(false).0.parse().unwrap();
        assert_eq!(spec.treatment().unwrap().configuration["maxDocs"], 5);
        d.arms[1].close_raw();
        assert_eq!(d.arms[1].field_text("templateId"), "v3");
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

    #[test]
    fn three_arms_go_as_variants_with_a_share_per_key_and_two_default_arms_as_the_two_arm_shape() {
        let d = filled();
        let (input, _) = d.to_input(false);
        assert!(input.variants.is_none() && input.control.is_some());
        let mut d = filled();
        d.add_arm();
        assert_eq!(d.arms[2].key, "c");
        assert_eq!(
            d.arms.iter().map(|a| a.pct).collect::<Vec<_>>(),
            vec![33, 33, 33],
            "even shares stay even"
        );
        d.arms[2].set_field("templateId", FieldKind::Text, "v3");
        let (input, errors) = d.to_input(false);
        assert!(errors.is_empty());
        assert!(input.control.is_none() && input.treatment.is_none());
        assert_eq!(input.variants.as_ref().map(Vec::len), Some(3));
        let spec = input.parse().unwrap();
        assert_eq!(spec.variants[2].key.as_str(), "c");
        assert_eq!(spec.allocation.shares(), &[33, 33, 33]);
        // Two arms with other keys are the general form too.
        d.remove_arm(1);
        assert_eq!(d.arms.len(), 2);
        assert_eq!(d.arms[1].key, "c");
        assert!(!d.is_two_arm_shape());
        assert_eq!(d.arm_field(1, "name"), "variants[1].name");
        assert_eq!(
            d.arms.iter().map(|a| a.pct).collect::<Vec<_>>(),
            vec![50, 50]
        );
        d.remove_arm(0);
        d.remove_arm(1);
        assert_eq!(d.arms.len(), 2, "never fewer than two, never the control");
        for _ in 0..10 {
            d.add_arm();
        }
        assert_eq!(d.arms.len(), MAX_ARMS);
        let keys: std::collections::BTreeSet<&str> =
            d.arms.iter().map(|a| a.key.as_str()).collect();
        assert_eq!(keys.len(), MAX_ARMS, "distinct default keys");
        assert_eq!(d.problems(false), vec![]);
    }

    #[test]
    fn arm_errors_carry_the_paths_the_server_uses() {
        let mut d = filled();
        d.add_arm();
        d.arms[2].name = " ".into();
        d.arms[2].key = "c d".into();
        d.arms[1].pct = 60;
        let p = d.problems(false);
        assert!(messages_for(&p, &d.arm_field(2, "name")).is_some(), "{p:?}");
        assert!(
            messages_for(&p, &d.arm_field(2, "key")).is_some_and(|m| m.contains("not an arm key")),
            "{p:?}"
        );
        assert!(p.iter().all(|e| step_of(&e.field) == 2), "{p:?}");
        d.arms[2].key = "b".into();
        d.arms[1].key = "b".into();
        let p = d.problems(false);
        assert!(
            messages_for(&p, "variants[2].key").is_some_and(|m| m.contains("repeats")),
            "{p:?}"
        );
        d.arms[2].key = "c".into();
        d.arms[2].name = "C".into();
        let p = d.problems_of_step(3, false);
        assert_eq!(p.len(), 1, "{p:?}");
        assert!(p[0].message.contains("the 3 arms together"), "{p:?}");
        assert_eq!(d.share_field(2), "allocation.c");
    }

    #[test]
    fn a_draft_stored_before_arms_loads_with_its_two_arms() {
        let old = r#"{"name":"Old","target_id":"x","control":{"name":"Cur","configuration":{"templateId":"v1"},"raw":null},
            "treatment":{"name":"Nu","configuration":{},"raw":"{}"},"control_pct":30,"treatment_pct":40}"#;
        let d = Draft::from_stored(old).unwrap();
        assert_eq!(d.name, "Old");
        assert_eq!(d.arms.len(), 2);
        assert_eq!(
            (
                d.arms[0].key.as_str(),
                d.arms[0].name.as_str(),
                d.arms[0].pct
            ),
            ("control", "Cur", 30)
        );
        assert_eq!(d.arms[0].configuration["templateId"], "v1");
        assert_eq!(
            (
                d.arms[1].key.as_str(),
                d.arms[1].pct,
                d.arms[1].raw.as_deref()
            ),
            ("treatment", 40, Some("{}"))
        );
        assert!(d.is_two_arm_shape());
        // A new draft round-trips; one without arms gets the default two.
        let mut now = filled();
        now.add_arm();
        let text = serde_json::to_string(&now).unwrap();
        assert_eq!(Draft::from_stored(&text), Some(now));
        assert_eq!(
            Draft::from_stored(r#"{"name":"x"}"#).unwrap().arms,
            Draft::default().arms
        );
        assert_eq!(Draft::from_stored("not json"), None);
    }
}
