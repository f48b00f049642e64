//! Leptos server functions: the app's own API, also callable by other clients with JSON at
//! stable endpoints (`POST /api/fn/<name>`, listed in docs/API.md). Bodies run on the
//! server and stay thin: they call `service`. They accept the session cookie or a
//! `Authorization: Bearer` header.

mod auth;
mod dashboard;
mod error;
mod experiments;
mod resolve;
#[cfg(feature = "ssr")]
mod ssr;

pub use auth::*;
pub use dashboard::*;
pub use error::ApiError;
pub use experiments::*;
pub use resolve::*;
