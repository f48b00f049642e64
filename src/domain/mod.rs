//! Pure domain types and rules, shared by the server and the browser. No IO here.

mod errors;
mod experiment;
mod status;

pub use errors::FieldError;
pub use experiment::ExperimentListItem;
pub use status::{ExperimentStatus, StatusCounts, UnknownStatus};
