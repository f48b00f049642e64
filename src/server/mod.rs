//! The HTTP server: configuration, state, start-up, routes.

pub mod auth;
mod config;
pub mod db;
pub mod guard;
mod health;
pub mod rest;
mod server_fn_status;
mod state;
pub mod telemetry;

pub use config::Settings;
pub use state::AppState;

use crate::app::{App, shell};
use anyhow::Context;
use axum::Router;
use leptos::prelude::*;
use leptos_axum::{LeptosRoutes, generate_route_list};
use sqlx::PgPool;
use tokio::net::TcpListener;
use tower_http::trace::{DefaultOnResponse, TraceLayer};
use tracing::Level;

/// A bound, ready-to-run server. `main` and the tests build it the same way.
pub struct Application {
    listener: TcpListener,
    router: Router,
    runtime: std::sync::Arc<crate::runtime::Runtime>,
}

impl Application {
    /// Binds the listener (port 0 picks a free port) and builds the router.
    pub async fn build(settings: &Settings, pool: PgPool) -> anyhow::Result<Self> {
        let mut leptos_options = get_configuration(None)
            .context("Failed to read the Leptos configuration")?
            .leptos_options;
        leptos_options.site_addr = settings.addr;
        if leptos_options.output_name.is_empty() {
            // Built by plain `cargo build` rather than cargo-leptos: the bundle's name is
            // the one in Cargo.toml's [package.metadata.leptos].
            leptos_options.output_name = "verdict".into();
        }
        let listener = TcpListener::bind(settings.addr)
            .await
            .with_context(|| format!("Failed to listen on {}", settings.addr))?;
        let runtime = crate::runtime::Runtime::start(pool.clone()).await;
        {
            let (p, sup) = (pool.clone(), runtime.supervisor.clone());
            let s = sup.clone();
            sup.spawn(crate::service::jobs::REFRESH_TASK, move || {
                crate::service::jobs::refresh_loop(p.clone(), s.clone())
            });
            let (p, s) = (pool.clone(), sup.clone());
            sup.spawn(crate::service::jobs::PURGE_TASK, move || {
                crate::service::jobs::purge_loop(p.clone(), s.clone())
            });
        }
        let state = AppState {
            leptos_options,
            pool,
            runtime: runtime.clone(),
            require_approval: settings.require_approval,
            secure_cookies: !settings.insecure_cookies,
        };
        Ok(Self {
            listener,
            router: router(state),
            runtime,
        })
    }

    /// The server's runtime (its supervisor, for fault-injection tests).
    pub fn runtime(&self) -> std::sync::Arc<crate::runtime::Runtime> {
        self.runtime.clone()
    }

    /// The port the server listens on.
    pub fn port(&self) -> u16 {
        self.listener
            .local_addr()
            .map(|addr| addr.port())
            .unwrap_or(0)
    }

    /// Serves until SIGINT or SIGTERM, then finishes the requests under way.
    pub async fn run_until_stopped(self) -> anyhow::Result<()> {
        axum::serve(self.listener, self.router)
            .with_graceful_shutdown(shutdown_signal())
            .await
            .context("The HTTP server stopped with an error")
    }
}

/// All routes: health, the server functions, the pages and the static files.
pub fn router(state: AppState) -> Router {
    let routes = generate_route_list(App);
    let options = state.leptos_options.clone();
    Router::new()
        .merge(rest::router())
        .leptos_routes_with_context(
            &state,
            routes,
            || leptos_router::components::provide_server_redirect(see_other),
            move || shell(options.clone()),
        )
        .fallback(leptos_axum::file_and_error_handler::<AppState, _>(shell))
        .layer(axum::middleware::from_fn_with_state(state.clone(), guard::guard))
        .layer(axum::middleware::from_fn(server_fn_status::from_error_body))
        .layer(
            // One line per request, with its status and latency.
            TraceLayer::new_for_http()
                .make_span_with(|req: &axum::http::Request<_>| {
                    tracing::info_span!("http", method = %req.method(), path = %req.uri().path())
                })
                .on_request(())
                .on_response(
                    DefaultOnResponse::new()
                        .level(Level::INFO)
                        .latency_unit(tower_http::LatencyUnit::Micros),
                )
                .on_failure(()),
        )
        .with_state(state)
}

/// A redirect from a page's server render (`<Redirect>`: a signed-out visitor sent to sign
/// in) answers `303 See Other` with its `Location`, whatever the request accepts. (Leptos'
/// own answers 302 only to requests that accept HTML, and 200 to the rest.)
fn see_other(path: &str) {
    if let (Some(response), Ok(location)) = (
        use_context::<leptos_axum::ResponseOptions>(),
        axum::http::HeaderValue::from_str(path),
    ) {
        response.set_status(axum::http::StatusCode::SEE_OTHER);
        response.insert_header(axum::http::header::LOCATION, location);
    }
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = terminate => {},
    }
    tracing::info!("shutting down");
}
