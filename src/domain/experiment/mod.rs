//! Experiments: what they test, how they are judged, and their lifecycle.

mod holdout;
mod input;
mod layer;
mod lifecycle;
mod metric;
mod model;
mod overlap;
mod spec;

pub use holdout::{HOLDOUT_TARGET_ID, HoldoutInput};
pub use input::{
    AllocationInput, ArmInput, ExperimentInput, MAX_CONFIG_BYTES, MAX_NAME_CHARS,
    MAX_TARGETING_ENTRIES, REQUIRED_TO_CREATE, REQUIRED_WITHIN, SuccessCriteriaInput,
    TargetingInput, VariantInput,
};
pub use layer::{
    LAYER_SALT_PREFIX, LayerFree, LayerSlice, MAX_LAYER_KEY, NoFreeSlice, OccupiedSlice,
    free_buckets, free_gaps, in_slice, is_layer_key, layer_bucket, layer_id, layer_label,
    layer_salt, percent, place_slice,
};
pub use lifecycle::{Action, TransitionError};
pub use metric::{Direction, Metric, UnknownMetric};
pub use model::{
    AuditAction, AuditEntry, DeployRequest, Deployment, EXPOSED_ARM, Experiment, ExperimentKind,
    ExperimentListItem, ExperimentPage, HOLDOUT_ARM, SYSTEM_TENANT,
};
pub use overlap::may_overlap;
pub use spec::{
    Arm, ExperimentSpec, ExperimentSpecWire, Operator, SuccessCriteria, TargetType, VariantConfig,
};

#[cfg(test)]
mod tests;
