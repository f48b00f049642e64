//! Pure domain types and rules, shared by the server and the browser. No IO here.

pub mod assignment;
pub mod auth;
mod errors;
pub mod event;
pub mod experiment;
pub mod limits;
pub mod ofrep;
pub mod resolve;
pub mod results;
pub mod splitmix;
pub mod stats;
mod status;

pub use auth::{Principal, Role};
pub use errors::FieldError;
pub use experiment::ExperimentListItem;
pub use status::{ExperimentStatus, StatusCounts, UnknownStatus};
