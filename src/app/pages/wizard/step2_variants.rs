//! Step 2, "Variants": each arm's name and its configuration editor (fields that fit the
//! target type, or raw JSON).

use super::draft::{FieldKind, config_fields};
use super::fields::*;
use leptos::prelude::*;

/// The configuration editor of one arm: fields that fit the target type, or raw JSON.
fn config_editor(form: Form, arm: Arm) -> AnyView {
    let draft = form.draft;
    let target = Memo::new(move |_| draft.with(|d| d.target()));
    let raw_open = Memo::new(move |_| draft.with(|d| arm.of(d).raw.is_some()));
    let field = match arm {
        Arm::Control => "control.configuration",
        Arm::Treatment => "treatment.configuration",
    };
    let raw_id = format!("{}-raw", arm.key());
    let toggle_id = format!("{}-raw-toggle", arm.key());
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
                                if on { arm.of_mut(d).open_raw() } else { arm.of_mut(d).close_raw() }
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
                            {format!("{} configuration JSON", if arm == Arm::Control { "Control" } else { "Treatment" })}
                        </label>
                        <textarea
                            id=raw_id.clone()
                            class="code"
                            rows="8"
                            spellcheck="false"
                            aria-invalid=move || live_error.get().is_some().to_string()
                            prop:value=move || draft.with_untracked(|d| arm.of(d).raw.clone().unwrap_or_default())
                            on:input=move |ev| {
                                let v = event_target_value(&ev);
                                draft.update(|d| { arm.of_mut(d).set_raw(&v); });
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
                            let id = format!("{}-{key}", arm.key());
                            let aria = format!(
                                "{} {}",
                                if arm == Arm::Control { "Control" } else { "Treatment" },
                                label.to_lowercase()
                            );
                            let value = move || draft.with(|d| arm.of(d).field_text(key));
                            let on_input = move |ev: leptos::ev::Event| {
                                let v = event_target_value(&ev);
                                draft.update(|d| arm.of_mut(d).set_field(key, kind, &v));
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
            {field_message(form, field, format!("{}-config-error", arm.key()))}
        </div>
    }
    .into_any()
}

fn variant_card(form: Form, arm: Arm) -> AnyView {
    let draft = form.draft;
    let name_field = match arm {
        Arm::Control => "control.name",
        Arm::Treatment => "treatment.name",
    };
    let id = format!("{}-name", arm.key());
    let msg = form.message(name_field);
    let (badge, class) = match arm {
        Arm::Control => ("Control (Current)", "badge badge-control"),
        Arm::Treatment => ("Treatment (New)", "badge badge-treatment"),
    };
    view! {
        <section class=format!("variant-card {}", arm.key()) data-testid=format!("variant-{}", arm.key())>
            <header>
                <span class=class>{badge}</span>
            </header>
            <div class="field">
                <label for=id.clone()>
                    {if arm == Arm::Control { "Control variant name" } else { "Treatment variant name" }}
                </label>
                <input
                    type="text"
                    id=id.clone()
                    aria-invalid=move || msg().is_some().to_string()
                    prop:value=move || draft.with(|d| arm.of(d).name.clone())
                    on:input=move |ev| {
                        let v = event_target_value(&ev);
                        draft.update(|d| arm.of_mut(d).name = v);
                    }
                />
                {field_message(form, name_field, format!("{id}-error"))}
            </div>
            {config_editor(form, arm)}
        </section>
    }
    .into_any()
}

pub(super) fn step_variants(form: Form) -> AnyView {
    view! {
        <div class="wizard-step" data-testid="step-2">
            <p class="muted">
                "The control is what users get today; the treatment is the change under test. "
                "Each configuration is what resolve hands to your service for this target."
            </p>
            <div class="variants-grid">
                {variant_card(form, Arm::Control)}
                {variant_card(form, Arm::Treatment)}
            </div>
        </div>
    }
    .into_any()
}
