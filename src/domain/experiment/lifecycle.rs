//! The lifecycle as an explicit state machine (spec: Experiment.status):
//! draft → active (start) ⇄ paused (pause/resume) → completed (stop or declare winner)
//! → winner_deployed (deploy); cancelled from draft, active or paused.

use crate::domain::ExperimentStatus;
use serde::{Deserialize, Serialize};
use std::fmt;

/// Something done to an experiment that may change its status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    Start,
    Pause,
    Resume,
    Stop,
    Cancel,
    DeclareWinner,
    /// Deploying the winner; allowed again after the first deployment, to widen the rollout.
    DeployWinner,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Start => "start",
            Action::Pause => "pause",
            Action::Resume => "resume",
            Action::Stop => "stop",
            Action::Cancel => "cancel",
            Action::DeclareWinner => "declare_winner",
            Action::DeployWinner => "deploy_winner",
        }
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An action that the current status does not allow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("cannot {action} an experiment that is {from}")]
pub struct TransitionError {
    pub from: ExperimentStatus,
    pub action: Action,
}

impl ExperimentStatus {
    /// The status after `action`, or why it is not allowed.
    pub fn apply(self, action: Action) -> Result<ExperimentStatus, TransitionError> {
        use Action as A;
        use ExperimentStatus as S;
        let next = match (self, action) {
            (S::Draft, A::Start) => S::Active,
            (S::Active, A::Pause) => S::Paused,
            (S::Paused, A::Resume) => S::Active,
            (S::Active | S::Paused, A::Stop | A::DeclareWinner) => S::Completed,
            (S::Draft | S::Active | S::Paused, A::Cancel) => S::Cancelled,
            (S::Completed | S::WinnerDeployed, A::DeployWinner) => S::WinnerDeployed,
            (from, action) => return Err(TransitionError { from, action }),
        };
        Ok(next)
    }

    /// Whether users are being assigned and events counted.
    pub fn is_live(self) -> bool {
        matches!(self, ExperimentStatus::Active | ExperimentStatus::Paused)
    }

    /// Whether the variants and split may still change.
    pub fn is_editable(self) -> bool {
        self == ExperimentStatus::Draft
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ExperimentStatus as S;

    const ACTIONS: [Action; 7] = [
        Action::Start,
        Action::Pause,
        Action::Resume,
        Action::Stop,
        Action::Cancel,
        Action::DeclareWinner,
        Action::DeployWinner,
    ];

    #[test]
    fn the_allowed_transitions_are_exactly_those_of_the_spec() {
        let allowed: Vec<(S, Action, S)> = S::ALL
            .into_iter()
            .flat_map(|from| ACTIONS.into_iter().map(move |a| (from, a)))
            .filter_map(|(from, a)| from.apply(a).ok().map(|to| (from, a, to)))
            .collect();
        assert_eq!(
            allowed,
            vec![
                (S::Draft, Action::Start, S::Active),
                (S::Draft, Action::Cancel, S::Cancelled),
                (S::Active, Action::Pause, S::Paused),
                (S::Active, Action::Stop, S::Completed),
                (S::Active, Action::Cancel, S::Cancelled),
                (S::Active, Action::DeclareWinner, S::Completed),
                (S::Paused, Action::Resume, S::Active),
                (S::Paused, Action::Stop, S::Completed),
                (S::Paused, Action::Cancel, S::Cancelled),
                (S::Paused, Action::DeclareWinner, S::Completed),
                (S::Completed, Action::DeployWinner, S::WinnerDeployed),
                (S::WinnerDeployed, Action::DeployWinner, S::WinnerDeployed),
            ]
        );
    }

    #[test]
    fn a_refused_transition_names_the_status_and_the_action() {
        let err = S::Cancelled.apply(Action::Start).unwrap_err();
        assert_eq!(
            err.to_string(),
            "cannot start an experiment that is cancelled"
        );
    }
}
