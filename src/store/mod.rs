//! The only place SQL lives: one module per aggregate, rows mapped into domain types.

pub mod audit;
pub mod deployments;
pub mod events;
pub mod experiments;
pub mod results;
pub mod runtime;
pub mod tokens;
