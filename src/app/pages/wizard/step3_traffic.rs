//! Step 3, "Traffic": the targeting lists and the traffic allocation.

use super::fields::*;
use leptos::prelude::*;

/// A targeting list: a checkbox, then typed entries as removable chips.
fn targeting_list(form: Form, list: List) -> AnyView {
    let draft = form.draft;
    let on = Memo::new(move |_| draft.with(|d| list.of(d).on));
    let values = Memo::new(move |_| draft.with(|d| list.of(d).values.clone()));
    let pending = RwSignal::new(String::new());
    let check_id = format!("target-{}", list.key());
    let input_id = format!("target-{}-input", list.key());
    let field = match list {
        List::Tenants => "targeting.tenantIds",
        List::Users => "targeting.userIds",
        List::Intents => "targeting.intents",
    };
    let commit = move || {
        let text = pending.get_untracked();
        if !text.trim().is_empty() {
            draft.update(|d| list.of_mut(d).add(&text));
        }
        pending.set(String::new());
    };
    view! {
        <div class="targeting-list">
            <label class="inline" for=check_id.clone()>
                <input
                    type="checkbox"
                    id=check_id.clone()
                    prop:checked=move || on.get()
                    on:change=move |ev| {
                        let v = event_target_checked(&ev);
                        draft.update(|d| list.of_mut(d).on = v);
                    }
                />
                " " {list.label()}
            </label>
            {move || on.get().then(|| {
                let input_id = input_id.clone();
                view! {
                    <div class="tags">
                        <ul class="chips" aria-label=list.entry_label()>
                            {move || values.get().into_iter().map(|v| {
                                let remove = v.clone();
                                view! {
                                    <li class="chip">
                                        <span>{v.clone()}</span>
                                        <button
                                            type="button"
                                            class="chip-remove"
                                            aria-label=format!("Remove {v}")
                                            on:click=move |_| draft.update(|d| list.of_mut(d).remove(&remove))
                                        >"×"</button>
                                    </li>
                                }
                            }).collect_view()}
                        </ul>
                        <label for=input_id.clone() class="sr-only">{list.entry_label()}</label>
                        <input
                            type="text"
                            id=input_id.clone()
                            placeholder=list.placeholder()
                            aria-label=list.entry_label()
                            prop:value=move || pending.get()
                            on:input=move |ev| pending.set(event_target_value(&ev))
                            on:change=move |_| commit()
                            on:keydown=move |ev| {
                                if ev.key() == "Enter" || ev.key() == "," {
                                    ev.prevent_default();
                                    commit();
                                }
                            }
                        />
                    </div>
                }
            })}
            {field_message(form, field, format!("{}-error", list.key()))}
        </div>
    }
    .into_any()
}

fn allocation_slider(form: Form, arm: Arm) -> AnyView {
    let draft = form.draft;
    let id = format!("alloc-{}", arm.key());
    let label = match arm {
        Arm::Control => "Control traffic (%)",
        Arm::Treatment => "Treatment traffic (%)",
    };
    let get = move || {
        draft.with(|d| match arm {
            Arm::Control => d.control_pct,
            Arm::Treatment => d.treatment_pct,
        })
    };
    let set = move |v: u8| {
        draft.update(|d| match arm {
            Arm::Control => d.control_pct = v,
            Arm::Treatment => d.treatment_pct = v,
        })
    };
    view! {
        <div class="slider">
            <label for=id.clone()>{label}</label>
            <input
                type="range"
                id=id.clone()
                min="1"
                max="100"
                step="1"
                prop:value=move || get().to_string()
                on:input=move |ev| set(event_target_value(&ev).parse().unwrap_or(1))
            />
            <input
                type="number"
                class="slider-value"
                min="1"
                max="100"
                aria-label=format!("{label} value")
                prop:value=move || get().to_string()
                on:input=move |ev| {
                    if let Ok(v) = event_target_value(&ev).parse::<u8>() {
                        set(v.clamp(1, 100));
                    }
                }
            />
        </div>
    }
    .into_any()
}

pub(super) fn step_traffic(form: Form) -> AnyView {
    let draft = form.draft;
    let split = move || draft.with(|d| (d.control_pct, d.treatment_pct));
    view! {
        <div class="wizard-step" data-testid="step-3">
            <fieldset>
                <legend>"Traffic Allocation"</legend>
                {allocation_slider(form, Arm::Control)}
                {allocation_slider(form, Arm::Treatment)}
                <div class="allocation big" aria-hidden="true">
                    {move || {
                        let (c, t) = split();
                        let rest = 100i16 - i16::from(c) - i16::from(t);
                        view! {
                            <span class="control" style=format!("width: {}%", c.min(100))>{c}"%"</span>
                            <span class="treatment" style=format!("width: {}%", t.min(100))>{t}"%"</span>
                            {(rest > 0).then(|| view! { <span class="excluded" style=format!("width: {rest}%")>{rest}"%"</span> })}
                        }
                    }}
                </div>
                <p class="help" data-testid="allocation-summary">
                    {move || {
                        let (c, t) = split();
                        let rest = 100i16 - i16::from(c) - i16::from(t);
                        if rest >= 0 {
                            format!("{c}% of users get the control, {t}% the treatment, {rest}% are not in the experiment (they keep the current configuration).")
                        } else {
                            format!("{c}% + {t}% is more than 100%.")
                        }
                    }}
                </p>
                {field_message(form, "allocation", "allocation-error".into())}
            </fieldset>
            <fieldset>
                <legend>"Targeting"</legend>
                <p class="help">"Without targeting, every user of the tenant can be in the experiment."</p>
                {targeting_list(form, List::Tenants)}
                {targeting_list(form, List::Users)}
                {targeting_list(form, List::Intents)}
            </fieldset>
        </div>
    }
    .into_any()
}
