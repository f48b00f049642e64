//! Step 2, "Variants": the arms (a control and 1 to 7 treatments, added and removed here),
//! each with its key, name and configuration editor (fields that fit the target type, or
//! raw JSON).

use super::draft::{Draft, FieldKind, config_fields};
use super::fields::*;
use crate::domain::assignment::MAX_ARMS;
use leptos::prelude::*;

/// The configuration editor of one arm: fields that fit the target type, or raw JSON.
fn config_editor(form: Form, arm: Arm) -> AnyView {
    let draft = form.draft;
    let target = Memo::new(move |_| draft.with(|d| d.target()));
    let raw_open = Memo::new(move |_| draft.with(|d| arm.of(d).raw.is_some()));
    let field = move |d: &Draft| d.arm_field(arm.0, "configuration");
    let raw_id = format!("{}-raw", arm.id());
    let toggle_id = format!("{}-raw-toggle", arm.id());
    let live_error = Memo::new(move |_| draft.with(|d| arm.of(d).raw_error()));
    view! {
        <div class="config-editor">
            <div class="config-head">
                <span class="label">"Configuration"</span>
                <label class="inline" for=toggle_id.clone()>
                    <input
                        type="checkbox"
                        id=toggle_id.clone()
                        prop:checked=move || raw_open.get()
                        on:change=move |ev| {
                            let on = event_target_checked(&ev);
                            draft.update(|d| {
                                arm.edit(d, |a| if on { a.open_raw() } else { a.close_raw() })
                            });
                        }
                    />
                    " Edit as JSON"
                </label>
            </div>
            {move || {
                if raw_open.get() {
                    let raw_id = raw_id.clone();
                    view! {
                        <label for=raw_id.clone() class="sr-only">
                            {format!("{} configuration JSON", arm.label())}
                        </label>
                        <textarea
                            id=raw_id.clone()
                            class="code"
                            rows="8"
                            spellcheck="false"
                            aria-invalid=move || live_error.get().is_some().to_string()
                            prop:value=move || draft.with_untracked(|d| arm.of(d).raw.unwrap_or_default())
                            on:input=move |ev| {
                                let v = event_target_value(&ev);
                                draft.update(|d| arm.edit(d, |a| { a.set_raw(&v); }));
                            }
                        ></textarea>
                        {move || match live_error.get() {
                            Some(e) => view! { <p class="field-error" role="alert">"JSON " {e}</p> }.into_any(),
                            None => view! { <p class="help good">"Valid JSON object"</p> }.into_any(),
                        }}
                    }
                    .into_any()
                } else {
                    let fields = config_fields(target.get());
                    fields
                        .iter()
                        .map(|&(key, label, kind)| {
                            let id = format!("{}-{key}", arm.id());
                            let aria = format!("{} {}", arm.label(), label.to_lowercase());
                            let value = move || draft.with(|d| arm.of(d).field_text(key));
                            let on_input = move |ev: leptos::ev::Event| {
                                let v = event_target_value(&ev);
                                draft.update(|d| arm.edit(d, |a| a.set_field(key, kind, &v)));
                            };
                            let input = match kind {
                                FieldKind::LongText => view! {
                                    <textarea id=id.clone() rows="5" aria-label=aria.clone()
                                        prop:value=value on:input=on_input></textarea>
                                }.into_any(),
                                FieldKind::Number => view! {
                                    <input type="number" step="any" id=id.clone() aria-label=aria.clone()
                                        prop:value=value on:input=on_input />
                                }.into_any(),
                                FieldKind::Text => view! {
                                    <input type="text" id=id.clone() aria-label=aria.clone()
                                        prop:value=value on:input=on_input />
                                }.into_any(),
                            };
                            view! {
                                <div class="field">
                                    <label for=id.clone()>{label}</label>
                                    {input}
                                </div>
                            }
                        })
                        .collect_view()
                        .into_any()
                }
            }}
            {field_message_at(form, field, format!("{}-config-error", arm.id()))}
        </div>
    }
    .into_any()
}

fn variant_card(form: Form, arm: Arm) -> AnyView {
    let draft = form.draft;
    let name_field = move |d: &Draft| d.arm_field(arm.0, "name");
    let key_field = move |d: &Draft| d.arm_field(arm.0, "key");
    let id = format!("{}-name", arm.id());
    let key_id = format!("{}-key", arm.id());
    let msg = form.message_at(name_field);
    let key_msg = form.message_at(key_field);
    let label = arm.label();
    let (badge, class) = match arm.0 {
        0 => ("Control (Current)".to_owned(), "badge badge-control"),
        1 => ("Treatment (New)".to_owned(), "badge badge-treatment"),
        _ => (label.clone(), "badge badge-treatment"),
    };
    let removable = arm.0 >= 2 || draft.with_untracked(|d| d.arms.len() > 2 && arm.0 >= 1);
    view! {
        <section
            class=format!("variant-card arm-{}", arm.0)
            style=format!("--arm: var(--arm-{})", arm.0)
            data-testid=format!("variant-{}", arm.id())
        >
            <header>
                <span class=class>{badge}</span>
                {removable.then(|| view! {
                    <button
                        type="button"
                        class="button small secondary danger"
                        aria-label=format!("Remove {label}")
                        on:click=move |_| draft.update(|d| d.remove_arm(arm.0))
                    >"Remove"</button>
                })}
            </header>
            <div class="field-row arm-ident">
                <div class="field">
                    <label for=id.clone()>{format!("{} variant name", arm.label())}</label>
                    <input
                        type="text"
                        id=id.clone()
                        aria-invalid=move || msg().is_some().to_string()
                        prop:value=move || draft.with(|d| arm.of(d).name)
                        on:input=move |ev| {
                            let v = event_target_value(&ev);
                            draft.update(|d| arm.edit(d, |a| a.name = v));
                        }
                    />
                    {field_message_at(form, name_field, format!("{id}-error"))}
                </div>
                <div class="field key-field">
                    <label for=key_id.clone()>{format!("{} key", arm.label())}</label>
                    <input
                        type="text"
                        id=key_id.clone()
                        class="code"
                        spellcheck="false"
                        autocomplete="off"
                        maxlength="31"
                        aria-invalid=move || key_msg().is_some().to_string()
                        aria-describedby=format!("{key_id}-help")
                        prop:value=move || draft.with(|d| arm.of(d).key)
                        on:input=move |ev| {
                            let v = event_target_value(&ev);
                            draft.update(|d| arm.edit(d, |a| a.key = v));
                        }
                    />
                    <p class="help" id=format!("{key_id}-help")>"What resolve returns for this arm"</p>
                    {field_message_at(form, key_field, format!("{key_id}-error"))}
                </div>
            </div>
            {config_editor(form, arm)}
        </section>
    }
    .into_any()
}

pub(super) fn step_variants(form: Form) -> AnyView {
    let draft = form.draft;
    let count = Memo::new(move |_| draft.with(|d| d.arms.len()));
    view! {
        <div class="wizard-step" data-testid="step-2">
            <p class="muted">
                "The control is what users get today; each treatment is a change under test (up to "
                {MAX_ARMS - 1}
                " of them). Each configuration is what resolve hands to your service for this target."
            </p>
            {field_message(form, "variants", "variants-error".into())}
            <div class="variants-grid">
                // Re-drawn when an arm is added or removed (each card reads its arm by position).
                {move || (0..count.get()).map(|i| variant_card(form, Arm(i))).collect_view()}
            </div>
            <div class="arm-buttons">
                <button
                    type="button"
                    class="button secondary"
                    disabled=move || !draft.with(Draft::can_add_arm)
                    on:click=move |_| draft.update(Draft::add_arm)
                >"+ Add a treatment"</button>
                <span class="help" data-testid="arm-count">
                    {move || format!("{} arms of at most {MAX_ARMS}", count.get())}
                </span>
            </div>
        </div>
    }
    .into_any()
}
