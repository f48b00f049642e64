//! Use cases, shared by the server functions, the REST routes, the CLI and background jobs.
//! Each takes its dependencies explicitly (`&PgPool`, …) so tests can call it directly, and
//! the caller (`&Principal`) whose rights it enforces.

pub mod access;
pub mod auth;
pub mod events;
pub mod experiments;
pub mod jobs;
pub mod ofrep;
pub mod resolve;
pub mod results;
pub mod tokens;

mod error;

pub use error::ServiceError;
