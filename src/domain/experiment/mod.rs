//! Experiments: what they test, how they are judged, and their lifecycle.

mod input;
mod lifecycle;
mod metric;
mod model;
mod overlap;
mod spec;

pub use input::{
    AllocationInput, ArmInput, ExperimentInput, MAX_CONFIG_BYTES, MAX_NAME_CHARS,
    MAX_TARGETING_ENTRIES, REQUIRED_TO_CREATE, REQUIRED_WITHIN, SuccessCriteriaInput,
    TargetingInput, VariantInput,
};
pub use lifecycle::{Action, TransitionError};
pub use metric::{Direction, Metric, UnknownMetric};
pub use model::{
    AuditAction, AuditEntry, DeployRequest, Deployment, Experiment, ExperimentListItem,
    ExperimentPage, SYSTEM_TENANT,
};
pub use overlap::may_overlap;
pub use spec::{
    Arm, ExperimentSpec, ExperimentSpecWire, Operator, SuccessCriteria, TargetType, VariantConfig,
};

#[cfg(test)]
mod tests;
