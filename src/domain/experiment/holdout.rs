//! Holdouts: a stable share of a tenant's users (or of every tenant's) who get no experiment
//! and no deployed winner. A holdout is an experiment of kind `holdout` with two arms,
//! `holdout` (the control: the held-out share) and `exposed` (the rest), so assignments,
//! events, rollups and results work for it unchanged.

use super::input::{AllocationInput, ArmInput, ExperimentInput, SuccessCriteriaInput};
use super::{EXPOSED_ARM, HOLDOUT_ARM};
use crate::domain::FieldError;
use serde::{Deserialize, Serialize};
use serde_json::json;

/// The placeholder target a holdout's row holds (it tests no target; nothing reads it).
pub const HOLDOUT_TARGET_ID: &str = "verdict-holdout";

/// `POST /api/v1/admin/insights/holdouts`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct HoldoutInput {
    /// Required, 1 to 200 characters.
    #[cfg_attr(feature = "ssr", schema(min_length = 1, max_length = 200))]
    pub name: Option<String>,
    #[cfg_attr(feature = "ssr", schema(max_length = 10000))]
    pub description: Option<String>,
    /// Required: the whole percent of users held out, 1 to 50.
    #[cfg_attr(feature = "ssr", schema(minimum = 1, maximum = 50, multiple_of = 1))]
    pub holdout_percent: Option<f64>,
    /// A super_admin may name any tenant, or `system` for a system-wide holdout (default: their
    /// own, else `system`); others get their own.
    #[cfg_attr(feature = "ssr", schema(min_length = 1, max_length = 200))]
    pub tenant_id: Option<String>,
    /// The metric the results compare first (default `quality`).
    #[cfg_attr(feature = "ssr", schema(value_type = Option<super::Metric>))]
    pub primary_metric: Option<String>,
    #[cfg_attr(feature = "ssr", schema(value_type = Option<Vec<super::Metric>>))]
    pub secondary_metrics: Option<Vec<String>>,
    /// Days (default 30).
    #[cfg_attr(feature = "ssr", schema(minimum = 1, maximum = 365, multiple_of = 1))]
    pub min_duration: Option<f64>,
    /// Default 1000.
    #[cfg_attr(
        feature = "ssr",
        schema(minimum = 1, maximum = 10000000, multiple_of = 1)
    )]
    pub min_samples_per_variant: Option<f64>,
}

impl HoldoutInput {
    /// The experiment a holdout is: arms `holdout` (p %) and `exposed` (100 − p %), judged
    /// on its primary metric with threshold 0 at 95 % confidence; or every refused field.
    pub fn to_experiment(&self) -> Result<ExperimentInput, Vec<FieldError>> {
        let percent = match self.holdout_percent {
            None => return Err(vec![FieldError::new("holdoutPercent", "is required")]),
            Some(p) if p.is_finite() && p.fract() == 0.0 && (1.0..=50.0).contains(&p) => p,
            Some(_) => {
                return Err(vec![FieldError::new(
                    "holdoutPercent",
                    "must be a whole percent from 1 to 50",
                )]);
            }
        };
        let metric = self
            .primary_metric
            .clone()
            .unwrap_or_else(|| "quality".to_owned());
        let arm = |key: super::super::assignment::Variant, name: &str| ArmInput {
            key: Some(key.as_str().to_owned()),
            name: Some(name.to_owned()),
            configuration: Some(json!({})),
        };
        Ok(ExperimentInput {
            tenant_id: self.tenant_id.clone(),
            name: self.name.clone(),
            description: self.description.clone(),
            hypothesis: Some(
                "Everything shipped to the exposed users, together, changes their outcomes"
                    .to_owned(),
            ),
            target_type: Some("prompt".to_owned()),
            target_id: Some(HOLDOUT_TARGET_ID.to_owned()),
            variants: Some(vec![
                arm(HOLDOUT_ARM, "Held out"),
                arm(EXPOSED_ARM, "Exposed"),
            ]),
            allocation: Some(AllocationInput::from([
                (HOLDOUT_ARM.as_str().to_owned(), percent),
                (EXPOSED_ARM.as_str().to_owned(), 100.0 - percent),
            ])),
            success_criteria: Some(SuccessCriteriaInput {
                metric: Some(metric.clone()),
                operator: Some(">".to_owned()),
                threshold: Some(0.0),
                confidence_level: Some(0.95),
                minimum_detectable_effect: None,
            }),
            primary_metric: Some(metric),
            secondary_metrics: self.secondary_metrics.clone(),
            min_duration: Some(self.min_duration.unwrap_or(30.0)),
            min_samples_per_variant: Some(self.min_samples_per_variant.unwrap_or(1000.0)),
            ..ExperimentInput::default()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_holdout_is_a_two_arm_experiment_over_all_traffic() {
        let input = HoldoutInput {
            name: Some("Q1 holdout".into()),
            holdout_percent: Some(10.0),
            ..HoldoutInput::default()
        };
        let spec = input.to_experiment().unwrap().parse().unwrap();
        assert_eq!(
            spec.allocation.iter().collect::<Vec<_>>(),
            vec![(HOLDOUT_ARM, 10), (EXPOSED_ARM, 90)]
        );
        assert_eq!(spec.allocation.total(), 100);
        for bad in [0.0, 51.0, 12.5, f64::NAN] {
            let input = HoldoutInput {
                holdout_percent: Some(bad),
                ..input.clone()
            };
            assert_eq!(
                input.to_experiment().unwrap_err()[0].field,
                "holdoutPercent"
            );
        }
    }
}
