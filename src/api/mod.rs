//! Leptos server functions: the app's own API, also callable by other clients with JSON at
//! stable endpoints (`POST /api/fn/<name>`, listed in docs/API.md). Bodies run on the
//! server and stay thin: they call `service`.

mod dashboard;
mod error;
#[cfg(feature = "ssr")]
mod ssr;

pub use dashboard::*;
pub use error::ApiError;
