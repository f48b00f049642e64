use super::ExperimentSpec;
use crate::domain::ExperimentStatus;
use crate::domain::assignment::Variant;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use uuid::Uuid;

/// The tenant of system-wide experiments.
pub const SYSTEM_TENANT: &str = "system";

/// What a stored experiment is: an experiment, or a holdout (two arms, `holdout` and
/// `exposed`, over every user of its tenant: the held-out users get no experiment and no
/// deployed winner). Shown on the wire only for a holdout.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum ExperimentKind {
    #[default]
    Experiment,
    Holdout,
}

impl ExperimentKind {
    /// The name in the database.
    pub fn as_str(self) -> &'static str {
        match self {
            ExperimentKind::Experiment => "experiment",
            ExperimentKind::Holdout => "holdout",
        }
    }

    /// Whether it is an ordinary experiment (the wire leaves `kind` out then).
    pub fn is_experiment(&self) -> bool {
        *self == ExperimentKind::Experiment
    }
}

/// The arm of a holdout whose users receive nothing (its control).
pub const HOLDOUT_ARM: crate::domain::assignment::Variant =
    crate::domain::assignment::Variant::from_static("holdout");
/// The arm of a holdout whose users are served as usual.
pub const EXPOSED_ARM: crate::domain::assignment::Variant =
    crate::domain::assignment::Variant::from_static("exposed");

/// A stored experiment (spec: the Experiment document), as the API returns it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct Experiment {
    pub id: Uuid,
    /// The owning tenant, or "system" for a system-wide experiment.
    pub tenant_id: String,
    #[serde(flatten)]
    pub spec: ExperimentSpec,
    pub status: ExperimentStatus,
    pub start_date: Option<DateTime<Utc>>,
    pub end_date: Option<DateTime<Utc>>,
    /// The slice of its layer's buckets it was given at start (read-only): a user is in the
    /// experiment only when their layer bucket is in it. Held while it is live; `None` before
    /// it starts.
    #[serde(default)]
    pub layer_slice: Option<super::LayerSlice>,
    /// Stored when the experiment completes (statistics issue); `None` before.
    pub results: Option<Value>,
    pub winner: Option<Variant>,
    pub created_by: String,
    pub approved_by: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// Bumped by every change.
    pub version: i64,
    /// `holdout` for a holdout (absent for an experiment).
    #[serde(default, skip_serializing_if = "ExperimentKind::is_experiment")]
    pub kind: ExperimentKind,
}

impl Experiment {
    /// The earliest date the minimum duration allows it to end, once started.
    pub fn estimated_end_date(&self) -> Option<DateTime<Utc>> {
        self.start_date
            .map(|s| s + chrono::Duration::days(i64::from(self.spec.min_duration)))
    }

    /// The configuration of one arm (`None` when it has no arm of that key).
    pub fn configuration(&self, variant: Variant) -> Option<&Map<String, Value>> {
        self.spec.arm(variant).map(|a| &a.configuration)
    }
}

/// A rollout of a winner (deploy-winner).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct Deployment {
    pub id: Uuid,
    pub experiment_id: Uuid,
    pub tenant_id: String,
    pub target_type: String,
    pub target_id: String,
    pub winner: Variant,
    pub configuration: Map<String, Value>,
    pub rollout_percentage: u8,
    pub notes: String,
    pub deployed_by: String,
    pub deployed_at: DateTime<Utc>,
}

/// What an audit row records: how the experiment changed, and who (or what) changed it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuditAction {
    Create,
    /// An edit of the draft's definition.
    Update,
    Approve,
    /// A lifecycle action asked for by a caller (start, pause, …, declare or deploy the
    /// winner).
    Lifecycle(super::Action),
    /// A pause made by Verdict's guardrail circuit breaker, with the breaches that made it.
    AutoPause {
        reasons: String,
    },
}

impl AuditAction {
    /// The text the audit log stores (and the API shows) as the row's action.
    pub fn text(&self) -> std::borrow::Cow<'static, str> {
        match self {
            AuditAction::Create => "create".into(),
            AuditAction::Update => "update".into(),
            AuditAction::Approve => "approve".into(),
            AuditAction::Lifecycle(action) => action.as_str().into(),
            AuditAction::AutoPause { reasons } => format!("auto_pause: {reasons}").into(),
        }
    }
}

/// One line of an experiment's audit log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct AuditEntry {
    pub id: i64,
    pub experiment_id: Option<Uuid>,
    pub actor: String,
    pub action: String,
    pub before: Option<Value>,
    pub after: Option<Value>,
    pub at: DateTime<Utc>,
}

/// One page of a listing of experiments, newest first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct ExperimentPage {
    pub experiments: Vec<ExperimentListItem>,
    /// The cursor of the next page (the last experiment's id); `None` on the last page.
    pub next_cursor: Option<Uuid>,
}

/// What a dashboard card shows of an experiment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct ExperimentListItem {
    pub id: Uuid,
    pub tenant_id: String,
    pub name: String,
    pub description: String,
    pub target_type: String,
    pub status: ExperimentStatus,
    pub start_date: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub primary_metric: String,
    pub min_samples_per_variant: u32,
    pub min_duration: u16,
    /// From the latest results snapshot, when there is one.
    pub control_samples: Option<u64>,
    pub treatment_samples: Option<u64>,
    /// Relative change of the primary metric (a fraction).
    pub primary_lift: Option<f64>,
    pub significance: Option<f64>,
    pub recommendation: Option<String>,
    /// The declared winner, once there is one.
    pub winner: Option<Variant>,
}

/// `POST …/deploy-winner`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DeployRequest {
    pub winner: Variant,
    /// 1 to 100; default 100.
    #[cfg_attr(feature = "ssr", schema(minimum = 1, maximum = 100, multiple_of = 1))]
    pub rollout_percentage: Option<f64>,
    #[cfg_attr(feature = "ssr", schema(max_length = 10000))]
    pub notes: Option<String>,
}
