//! Verdict: self-hosted A/B testing for AI features.
//!
//! One crate, two targets (see README, "Architecture"): the server binary (`ssr`) and the
//! browser bundle (`hydrate`). `domain`, `app` and `api` compile for both; the modules that
//! do IO are gated here, whole, behind `ssr`.

// Leptos view types nest deeply; release builds (which do not erase them) need room.
#![recursion_limit = "512"]

pub mod api;
pub mod app;
pub mod domain;

#[cfg(feature = "ssr")]
pub mod charts;
#[cfg(feature = "ssr")]
pub mod demo;
#[cfg(feature = "ssr")]
pub mod middleware;
#[cfg(feature = "ssr")]
pub mod runtime;
#[cfg(feature = "ssr")]
pub mod server;
#[cfg(feature = "ssr")]
pub mod service;
#[cfg(feature = "ssr")]
pub mod store;

/// Browser entry point: hydrates the server-rendered page.
#[cfg(feature = "hydrate")]
#[wasm_bindgen::prelude::wasm_bindgen]
pub fn hydrate() {
    console_error_panic_hook::set_once();
    // hydrate_lazy: the wizard is a lazily loaded route (its own WASM chunk).
    leptos::mount::hydrate_lazy(app::App);
}
