use crate::api::{ApiError, current_user, sign_out};
use crate::app::url::login_url;
use crate::domain::Principal;
use leptos::prelude::*;
use leptos_router::components::Redirect;
use leptos_router::hooks::use_location;

/// Renders `children` for a signed-in user (provided as context, with the top bar), and
/// sends everyone else to the sign-in page, which brings them back here afterwards. Pages
/// render whole on the server (`SsrMode::Async`, see `app::App`), so a signed-out request
/// is answered `303 See Other` to `/login?next=…` (`server::see_other`); in the browser it
/// is a client-side navigation.
#[component]
pub fn RequireAuth(children: ChildrenFn) -> impl IntoView {
    let user = Resource::new_blocking(|| (), |_| current_user());
    let children = StoredValue::new(children);
    let location = use_location();
    let login = move || {
        let (path, query) = (
            location.pathname.get_untracked(),
            location.search.get_untracked(),
        );
        if query.is_empty() {
            login_url(&path)
        } else {
            login_url(&format!("{path}?{query}"))
        }
    };
    view! {
        <Suspense fallback=|| view! { <p class="loading">"Loading…"</p> }>
            {move || Suspend::new(async move {
                match user.await {
                    Ok(who) => {
                        provide_context(who.clone());
                        view! {
                            <TopBar who />
                            <main class="content">{children.with_value(|c| c())}</main>
                        }
                            .into_any()
                    }
                    Err(ApiError::Unauthorized) => {
                        let to = login();
                        view! {
                            <Redirect path=to.clone() />
                            <main class="content">
                                <p><a href=to>"Sign in to continue"</a></p>
                            </main>
                        }
                            .into_any()
                    }
                    Err(err) => {
                        view! {
                            <main class="content">
                                <p class="error" role="alert">{err.to_string()}</p>
                            </main>
                        }
                            .into_any()
                    }
                }
            })}
        </Suspense>
    }
}

#[component]
fn TopBar(who: Principal) -> impl IntoView {
    let signing_out = Action::new(|_: &()| async move {
        let _ = sign_out().await;
        #[cfg(feature = "hydrate")]
        if let Some(window) = web_sys_window() {
            let _ = window.location().set_href("/login");
        }
    });
    let tenant = who
        .tenant_id
        .clone()
        .unwrap_or_else(|| "all tenants".into());
    view! {
        <header class="topbar">
            <a class="brand" href="/">
                "Verdict"
            </a>
            <span class="brand-sub">"A/B testing for AI features"</span>
            <span class="spacer"></span>
            <span class="who" data-testid="who">
                {who.actor} " · " {who.role.as_str()} " · " {tenant}
            </span>
            <button class="button small secondary" on:click=move |_| { signing_out.dispatch(()); }>
                "Sign out"
            </button>
        </header>
    }
}

#[cfg(feature = "hydrate")]
fn web_sys_window() -> Option<leptos::web_sys::Window> {
    leptos::web_sys::window()
}
