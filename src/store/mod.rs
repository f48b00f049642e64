//! The only place SQL lives: one module per aggregate, rows mapped into domain types.

pub mod experiments;
pub mod tokens;
