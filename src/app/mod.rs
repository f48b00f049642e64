//! The admin UI, rendered on the server and hydrated in the browser. No SQL and no
//! statistics here: data comes through the server functions in `crate::api`.

mod components;
mod format;
mod pages;
mod url;

use components::RequireAuth;
use leptos::prelude::*;
use leptos_meta::{MetaTags, Stylesheet, Title, provide_meta_context};
use leptos_router::components::{Route, Router, Routes};
use leptos_router::{Lazy, LazyRoute, SsrMode, lazy_route, path};

/// The HTML document around the app.
pub fn shell(options: LeptosOptions) -> impl IntoView {
    view! {
        <!DOCTYPE html>
        <html lang="en">
            <head>
                <meta charset="utf-8" />
                <meta name="viewport" content="width=device-width, initial-scale=1" />
                <link rel="icon" type="image/svg+xml" href="/favicon.svg" />
                <AutoReload options=options.clone() />
                <HydrationScripts options />
                <MetaTags />
            </head>
            <body>
                <App />
            </body>
        </html>
    }
}

/// The creation wizard, as a lazily loaded route: with `cargo leptos build --split` (as both
/// commands build) its code is a WASM chunk of its own, fetched when the wizard opens, so the
/// dashboard and the results view do not download it.
struct WizardPage;

#[lazy_route]
impl LazyRoute for WizardPage {
    fn data() -> Self {
        WizardPage
    }

    fn view(_this: Self) -> AnyView {
        view! { <RequireAuth>{|| view! { <pages::NewExperiment /> }}</RequireAuth> }.into_any()
    }
}

/// The app: layout and routes. Every page but the sign-in page needs a signed-in user.
///
/// Every page renders whole on the server (`SsrMode::Async`: its data is awaited before the
/// answer starts), so the HTML shows the page's content or its error, never a loading
/// placeholder (without JavaScript too), and a signed-out request can still be answered
/// with a redirect.
#[component]
pub fn App() -> impl IntoView {
    provide_meta_context();
    // Set only in the browser, once hydrated: end-to-end tests wait for it.
    let hydrated = RwSignal::new(false);
    Effect::new(move |_| hydrated.set(true));

    view! {
        <Stylesheet id="leptos" href="/pkg/verdict.css" />
        <Title text="Verdict" />
        <Router>
            <div class="layout" data-hydrated=move || hydrated.get().to_string()>
                <Routes fallback=pages::NotFound>
                    <Route path=path!("/login") view=pages::Login ssr=SsrMode::Async />
                    <Route
                        path=path!("/")
                        view=|| view! { <RequireAuth>{|| view! { <pages::Dashboard /> }}</RequireAuth> }
                        ssr=SsrMode::Async
                    />
                    <Route
                        path=path!("/experiments/new")
                        view={Lazy::<WizardPage>::new()}
                        ssr=SsrMode::Async
                    />
                    <Route
                        path=path!("/experiments/:id")
                        view=|| view! { <RequireAuth>{|| view! { <pages::ExperimentView /> }}</RequireAuth> }
                        ssr=SsrMode::Async
                    />
                </Routes>
            </div>
        </Router>
    }
}
