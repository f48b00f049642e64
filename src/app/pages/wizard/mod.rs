//! `/experiments/new`: the spec's 5-step creation wizard. The step is in the URL (`?step=N`,
//! so Back, Next and the browser's back button agree); what was typed lives in a signal and
//! in the browser's localStorage, so a reload keeps it. Each step validates with the
//! server's own rules (`ExperimentInput::parse`, shared with the browser) before Next; the
//! server validates again on Create and its messages land at the fields.
//!
//! One file per step (`step1_basic.rs` … `step5_review.rs`), the shared fields and widgets
//! (`fields.rs`), the draft and its checks (`draft.rs`); this file holds the controller: the
//! step in the URL, the draft kept in localStorage, Back, Next and Create.

mod draft;
mod fields;
mod step1_basic;
mod step2_variants;
mod step3_traffic;
mod step4_metrics;
mod step5_review;

use crate::api::{ApiError, change_status, create_experiment};
use crate::domain::experiment::Action as Lifecycle;
use crate::domain::{FieldError, Principal, Role};
use draft::{Draft, STEP_TITLES, STEPS, step_of};
use fields::*;
use leptos::prelude::*;
use leptos_router::hooks::{use_navigate, use_query_map};
use step1_basic::step_basic;
use step2_variants::step_variants;
use step3_traffic::step_traffic;
use step4_metrics::step_metrics;
use step5_review::step_review;
use uuid::Uuid;

#[cfg(feature = "hydrate")]
const STORAGE_KEY: &str = "verdict.wizard.draft";

#[cfg(feature = "hydrate")]
fn storage() -> Option<leptos::web_sys::Storage> {
    leptos::web_sys::window()?.local_storage().ok()?
}

fn load_draft() -> Option<Draft> {
    #[cfg(feature = "hydrate")]
    {
        let text = storage()?.get_item(STORAGE_KEY).ok()??;
        // Drafts stored before the wizard had arms load too.
        Draft::from_stored(&text)
    }
    #[cfg(not(feature = "hydrate"))]
    None
}

fn save_draft(_draft: Option<&Draft>) {
    #[cfg(feature = "hydrate")]
    if let Some(s) = storage() {
        let _ = match _draft {
            Some(d) => s.set_item(STORAGE_KEY, &serde_json::to_string(d).unwrap_or_default()),
            None => s.remove_item(STORAGE_KEY),
        };
    }
}

/// The wizard page.
#[component]
pub fn NewExperiment() -> impl IntoView {
    let who = use_context::<Principal>();
    let super_admin = who.as_ref().is_some_and(|w| w.role == Role::SuperAdmin);
    let can_manage = who.as_ref().is_some_and(|w| w.can_manage());
    let own_tenant = who.as_ref().and_then(|w| w.tenant_id.clone());
    let query = use_query_map();
    let step = Memo::new(move |_| {
        query
            .read()
            .get("step")
            .and_then(|s| s.parse::<u8>().ok())
            .filter(|s| (1..=STEPS).contains(s))
            .unwrap_or(1)
    });
    let draft = RwSignal::new(Draft::default());
    // Steps whose Next was pressed: their fields are checked as you type from then on.
    let attempted = RwSignal::new(0u8);
    let server_errors = RwSignal::new(Vec::<FieldError>::new());
    let errors = Memo::new(move |_| {
        let s = step.get();
        let mut out = if attempted.get() & (1 << s) != 0 {
            draft.with(|d| d.problems_of_step(s, super_admin))
        } else {
            vec![]
        };
        for e in server_errors.get() {
            if step_of(&e.field) == s && !out.iter().any(|x| x.field == e.field) {
                out.push(e);
            }
        }
        out
    });
    let form = Form { draft, errors };

    // Reload-safe: the draft is kept in localStorage (browser only).
    let loaded = RwSignal::new(false);
    Effect::new(move |_| {
        if let Some(d) = load_draft() {
            draft.set(d);
        }
        loaded.set(true);
    });
    Effect::new(move |_| {
        let d = draft.get();
        if loaded.get() {
            save_draft(Some(&d));
        }
    });

    // Every move goes through the URL, so the browser's back button agrees with Back.
    let goto = RwSignal::new(None::<String>);
    let navigate = use_navigate();
    Effect::new(move |_| {
        if let Some(url) = goto.get() {
            navigate(&url, Default::default());
        }
    });
    let go = move |s: u8| goto.set(Some(format!("/experiments/new?step={s}")));
    let next = move |_| {
        let s = step.get_untracked();
        attempted.update(|a| *a |= 1 << s);
        let problems = draft.with_untracked(|d| d.problems_of_step(s, super_admin));
        if problems.is_empty() && s < STEPS {
            go(s + 1);
        }
    };
    let back = move |_| {
        let s = step.get_untracked();
        if s > 1 {
            go(s - 1);
        }
    };

    let notice = RwSignal::new(None::<String>);
    let created = RwSignal::new(None::<Uuid>);
    let create = Action::new(move |start: &bool| {
        let start = *start;
        let input = draft.with_untracked(|d| d.to_input(super_admin).0);
        async move {
            notice.set(None);
            match create_experiment(input).await {
                Ok(e) => {
                    if start && let Err(err) = change_status(e.id, Lifecycle::Start).await {
                        notice.set(Some(format!(
                            "The experiment was saved as a draft, but it did not start: {err}"
                        )));
                        save_draft(None);
                        created.set(Some(e.id));
                        return;
                    }
                    save_draft(None);
                    created.set(Some(e.id));
                }
                Err(ApiError::Invalid { fields }) => {
                    let first = fields.iter().map(|f| step_of(&f.field)).min().unwrap_or(1);
                    attempted.update(|a| *a |= 0b11_1110);
                    server_errors.set(fields);
                    notice.set(Some(
                        "Some fields need a change: they are marked on their step.".into(),
                    ));
                    if first != step.get_untracked() {
                        go(first);
                    }
                }
                Err(err) => notice.set(Some(err.to_string())),
            }
        }
    });
    Effect::new(move |_| {
        if let Some(id) = created.get()
            && notice.get_untracked().is_none()
        {
            goto.set(Some(format!("/experiments/{id}")));
        }
    });
    let submit = move |start: bool| {
        // Every step is checked before anything is sent.
        let problems = draft.with_untracked(|d| d.problems(super_admin));
        if let Some(first) = problems.iter().map(|f| step_of(&f.field)).min() {
            attempted.update(|a| *a |= 0b11_1110);
            notice.set(Some(
                "Some fields need a change: they are marked on their step.".into(),
            ));
            if first != step.get_untracked() {
                go(first);
            }
            return;
        }
        create.dispatch(start);
    };
    let reset = move |_| {
        save_draft(None);
        draft.set(Draft::default());
        attempted.set(0);
        server_errors.set(vec![]);
        notice.set(None);
    };

    // Set once this page is hydrated (its code may arrive as a lazily loaded chunk after the
    // rest of the app): end-to-end tests wait for it before they type.
    let ready = RwSignal::new(false);
    Effect::new(move |_| ready.set(true));

    view! {
        <section class="wizard" data-ready=move || ready.get().to_string()>
            <div class="page-header">
                <div class="title-row">
                    <a class="back" href="/" aria-label="Back to the experiments">"←"</a>
                    <h1>"Create A/B Test"</h1>
                </div>
                <button type="button" class="button small secondary" on:click=reset>"Start over"</button>
            </div>
            {(!can_manage).then(|| view! {
                <p class="notice error" role="alert">"Your role can read experiments but not create them."</p>
            })}
            <ol class="steps" aria-label="Steps">
                {STEP_TITLES.iter().enumerate().map(|(i, title)| {
                    let n = i as u8 + 1;
                    view! {
                        <li
                            class=move || {
                                if step.get() == n { "step current" } else if step.get() > n { "step done" } else { "step" }
                            }
                            aria-current=move || (step.get() == n).then_some("step")
                        >
                            <span class="step-number">{n}</span>
                            <span class="step-title">{*title}</span>
                        </li>
                    }
                }).collect_view()}
            </ol>
            <p class="step-indicator" data-testid="step-indicator">
                {move || format!("Step {} of {STEPS}: {}", step.get(), STEP_TITLES[usize::from(step.get() - 1)])}
            </p>
            <form class="panel wizard-form" on:submit=|ev| ev.prevent_default() novalidate>
                {move || match step.get() {
                    1 => step_basic(form, super_admin, own_tenant.clone()),
                    2 => step_variants(form),
                    3 => step_traffic(form),
                    4 => step_metrics(form),
                    _ => step_review(form, super_admin),
                }}
                {move || notice.get().map(|n| view! { <p class="notice error" role="alert">{n}</p> })}
                {move || created.get().filter(|_| notice.get().is_some()).map(|id| view! {
                    <p><a href=format!("/experiments/{id}")>"Open the draft"</a></p>
                })}
                <div class="wizard-buttons">
                    {move || (step.get() > 1).then(|| view! {
                        <button type="button" class="button secondary" on:click=back>"Back"</button>
                    })}
                    <span class="spacer"></span>
                    {move || { if step.get() < STEPS {
                        view! { <button type="button" class="button" on:click=next>"Next"</button> }.into_any()
                    } else {
                        view! {
                            <button type="button" class="button secondary" disabled=move || !can_manage || create.pending().get()
                                on:click=move |_| submit(false)>"Create Experiment"</button>
                            <button type="button" class="button" disabled=move || !can_manage || create.pending().get()
                                on:click=move |_| submit(true)>"Create and Start"</button>
                        }.into_any()
                    } }}
                </div>
            </form>
        </section>
    }
}
