use leptos::prelude::*;

/// Any path without a page. Answers 404 when rendered on the server.
#[component]
pub fn NotFound() -> impl IntoView {
    #[cfg(feature = "ssr")]
    if let Some(options) = use_context::<leptos_axum::ResponseOptions>() {
        options.set_status(axum::http::StatusCode::NOT_FOUND);
    }
    view! {
        <section class="empty">
            <h1>"Page not found"</h1>
            <p>
                <a href="/">"Back to the experiments"</a>
            </p>
        </section>
    }
}
