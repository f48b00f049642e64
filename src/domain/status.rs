use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// Where an experiment is in its lifecycle (spec: Experiment.status).
///
/// draft → active ⇄ paused → completed → winner_deployed; cancelled from draft, active or
/// paused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum ExperimentStatus {
    Draft,
    Active,
    Paused,
    Completed,
    WinnerDeployed,
    Cancelled,
}

impl ExperimentStatus {
    /// Every status, in lifecycle order.
    pub const ALL: [ExperimentStatus; 6] = [
        Self::Draft,
        Self::Active,
        Self::Paused,
        Self::Completed,
        Self::WinnerDeployed,
        Self::Cancelled,
    ];

    /// The spelling used in the database and on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Draft => "draft",
            Self::Active => "active",
            Self::Paused => "paused",
            Self::Completed => "completed",
            Self::WinnerDeployed => "winner_deployed",
            Self::Cancelled => "cancelled",
        }
    }

    /// A label for people.
    pub fn label(self) -> &'static str {
        match self {
            Self::Draft => "Draft",
            Self::Active => "Active",
            Self::Paused => "Paused",
            Self::Completed => "Completed",
            Self::WinnerDeployed => "Winner deployed",
            Self::Cancelled => "Cancelled",
        }
    }
}

impl fmt::Display for ExperimentStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A status name that is none of [`ExperimentStatus::ALL`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown status {0:?}; expected one of draft, active, paused, completed, winner_deployed, cancelled"
)]
pub struct UnknownStatus(pub String);

impl FromStr for ExperimentStatus {
    type Err = UnknownStatus;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|status| status.as_str() == s)
            .ok_or_else(|| UnknownStatus(s.to_owned()))
    }
}

/// How many experiments are in each status.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct StatusCounts {
    pub draft: u64,
    pub active: u64,
    pub paused: u64,
    pub completed: u64,
    pub winner_deployed: u64,
    pub cancelled: u64,
}

impl StatusCounts {
    /// The count of one status.
    pub fn get(&self, status: ExperimentStatus) -> u64 {
        match status {
            ExperimentStatus::Draft => self.draft,
            ExperimentStatus::Active => self.active,
            ExperimentStatus::Paused => self.paused,
            ExperimentStatus::Completed => self.completed,
            ExperimentStatus::WinnerDeployed => self.winner_deployed,
            ExperimentStatus::Cancelled => self.cancelled,
        }
    }

    /// Adds `n` to the count of `status`.
    pub fn add(&mut self, status: ExperimentStatus, n: u64) {
        let slot = match status {
            ExperimentStatus::Draft => &mut self.draft,
            ExperimentStatus::Active => &mut self.active,
            ExperimentStatus::Paused => &mut self.paused,
            ExperimentStatus::Completed => &mut self.completed,
            ExperimentStatus::WinnerDeployed => &mut self.winner_deployed,
            ExperimentStatus::Cancelled => &mut self.cancelled,
        };
        *slot += n;
    }

    /// All experiments.
    pub fn total(&self) -> u64 {
        ExperimentStatus::ALL.into_iter().map(|s| self.get(s)).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_status_round_trips_through_its_name() {
        for status in ExperimentStatus::ALL {
            assert_eq!(status.as_str().parse::<ExperimentStatus>(), Ok(status));
            let json = serde_json::to_string(&status).unwrap();
            assert_eq!(json, format!("\"{}\"", status.as_str()));
        }
    }

    #[test]
    fn an_unknown_status_is_refused_with_its_name() {
        let err = "running".parse::<ExperimentStatus>().unwrap_err();
        assert_eq!(err, UnknownStatus("running".into()));
        assert!(err.to_string().contains("running"));
    }

    #[test]
    fn counts_add_up_per_status_and_in_total() {
        let mut counts = StatusCounts::default();
        counts.add(ExperimentStatus::Active, 2);
        counts.add(ExperimentStatus::Draft, 3);
        counts.add(ExperimentStatus::Active, 1);
        assert_eq!(counts.get(ExperimentStatus::Active), 3);
        assert_eq!(counts.get(ExperimentStatus::Draft), 3);
        assert_eq!(counts.get(ExperimentStatus::Completed), 0);
        assert_eq!(counts.total(), 6);
    }
}
