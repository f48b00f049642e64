use super::ExperimentStatus;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// What a dashboard card shows of an experiment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
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
}
