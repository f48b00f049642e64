use crate::api::sign_in;
use crate::app::url::safe_next;
use leptos::prelude::*;
use leptos_router::hooks::use_query_map;

/// `/login`: sign in with an API token (made with `verdict token create`), then go on to
/// `?next=` when it is a path of this site (`url::safe_next`), else to the dashboard.
#[component]
pub fn Login() -> impl IntoView {
    let query = use_query_map();
    // Read in the browser only, once signed in.
    #[cfg_attr(not(feature = "hydrate"), allow(unused_variables))]
    let next =
        StoredValue::new(safe_next(query.read_untracked().get("next").as_deref()).to_owned());
    let token = RwSignal::new(String::new());
    let submit = Action::new(|token: &String| {
        let token = token.clone();
        async move { sign_in(token).await }
    });
    Effect::new(move |_| {
        if let Some(Ok(_)) = submit.value().get() {
            #[cfg(feature = "hydrate")]
            if let Some(window) = leptos::web_sys::window() {
                let _ = window.location().set_href(&next.get_value());
            }
        }
    });
    let error = move || match submit.value().get() {
        Some(Err(err)) => Some(match err {
            crate::api::ApiError::Unauthorized => {
                "That token is not valid (or has been revoked).".to_owned()
            }
            crate::api::ApiError::Forbidden => {
                "Service tokens are for the runtime API and cannot sign in.".to_owned()
            }
            other => other.to_string(),
        }),
        _ => None,
    };
    view! {
        <header class="topbar">
            <span class="brand">"Verdict"</span>
            <span class="brand-sub">"A/B testing for AI features"</span>
        </header>
        <main class="content narrow">
            <form
                class="panel login"
                on:submit=move |ev| {
                    ev.prevent_default();
                    submit.dispatch(token.get_untracked());
                }
            >
                <h1>"Sign in"</h1>
                <p class="muted">
                    "Paste an API token. Make one with " <code>"verdict token create --role admin --tenant ID"</code>
                    "."
                </p>
                <label for="token">"API token"</label>
                <input
                    id="token"
                    name="token"
                    type="password"
                    autocomplete="off"
                    required
                    prop:value=move || token.get()
                    on:input=move |ev| token.set(event_target_value(&ev))
                />
                {move || error().map(|e| view! { <p class="error" role="alert">{e}</p> })}
                <button class="button" type="submit" disabled=move || submit.pending().get()>
                    "Sign in"
                </button>
            </form>
        </main>
    }
}
