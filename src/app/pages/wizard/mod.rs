//! `/experiments/new`: the spec's 5-step creation wizard. The step is in the URL (`?step=N`,
//! so Back, Next and the browser's back button agree); what was typed lives in a signal and
//! in the browser's localStorage, so a reload keeps it. Each step validates with the
//! server's own rules (`ExperimentInput::parse`, shared with the browser) before Next; the
//! server validates again on Create and its messages land at the fields.

mod draft;

use crate::api::{ApiError, change_status, create_experiment, estimate_completion};
use crate::domain::experiment::{Action as Lifecycle, Metric, Operator, TargetType};
use crate::domain::{FieldError, Principal, Role};
use draft::{
    ArmDraft, CONFIDENCE_LEVELS, Draft, FieldKind, ListDraft, PRIMARY_METRICS, STEP_TITLES, STEPS,
    config_fields, messages_for, step_of,
};
use leptos::prelude::*;
use leptos_router::hooks::{use_navigate, use_query_map};
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
        serde_json::from_str(&text).ok()
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

/// Which arm an editor edits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Arm {
    Control,
    Treatment,
}

impl Arm {
    fn of(self, d: &Draft) -> &ArmDraft {
        match self {
            Arm::Control => &d.control,
            Arm::Treatment => &d.treatment,
        }
    }

    fn of_mut(self, d: &mut Draft) -> &mut ArmDraft {
        match self {
            Arm::Control => &mut d.control,
            Arm::Treatment => &mut d.treatment,
        }
    }

    fn key(self) -> &'static str {
        match self {
            Arm::Control => "control",
            Arm::Treatment => "treatment",
        }
    }
}

/// Which targeting list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum List {
    Tenants,
    Users,
    Intents,
}

impl List {
    fn of(self, d: &Draft) -> &ListDraft {
        match self {
            List::Tenants => &d.tenants,
            List::Users => &d.users,
            List::Intents => &d.intents,
        }
    }

    fn of_mut(self, d: &mut Draft) -> &mut ListDraft {
        match self {
            List::Tenants => &mut d.tenants,
            List::Users => &mut d.users,
            List::Intents => &mut d.intents,
        }
    }

    fn key(self) -> &'static str {
        match self {
            List::Tenants => "tenantIds",
            List::Users => "userIds",
            List::Intents => "intents",
        }
    }

    fn label(self) -> &'static str {
        match self {
            List::Tenants => "Target specific tenants",
            List::Users => "Target specific users",
            List::Intents => "Target specific intents",
        }
    }

    fn entry_label(self) -> &'static str {
        match self {
            List::Tenants => "Tenant IDs",
            List::Users => "User IDs",
            List::Intents => "Intents",
        }
    }

    fn placeholder(self) -> &'static str {
        match self {
            List::Tenants => "acme — press Enter to add",
            List::Users => "user-42 — press Enter to add",
            List::Intents => "risk_analysis — press Enter to add",
        }
    }
}

/// The form's shared state.
#[derive(Clone, Copy)]
struct Form {
    draft: RwSignal<Draft>,
    /// The messages shown at the fields of the current step.
    errors: Memo<Vec<FieldError>>,
}

impl Form {
    fn message(self, field: &'static str) -> impl Fn() -> Option<String> + Copy {
        move || self.errors.with(|e| messages_for(e, field))
    }
}

fn field_message(form: Form, field: &'static str, id: String) -> impl IntoView {
    let msg = form.message(field);
    move || msg().map(|m| view! { <p class="field-error" id=id.clone() role="alert">{m}</p> })
}

/// A labelled text input (or textarea) bound to one field of the draft.
#[allow(clippy::too_many_arguments)]
fn text_field(
    form: Form,
    id: &'static str,
    label: &'static str,
    field: &'static str,
    placeholder: &'static str,
    get: fn(&Draft) -> String,
    set: fn(&mut Draft, String),
    long: bool,
) -> AnyView {
    let draft = form.draft;
    let msg = form.message(field);
    let err_id = format!("{id}-error");
    let input = if long {
        view! {
            <textarea
                id=id
                name=id
                rows="3"
                placeholder=placeholder
                aria-invalid=move || msg().is_some().to_string()
                aria-describedby=err_id.clone()
                prop:value=move || draft.with(get)
                on:input=move |ev| {
                    let v = event_target_value(&ev);
                    draft.update(|d| set(d, v));
                }
            ></textarea>
        }
        .into_any()
    } else {
        view! {
            <input
                type="text"
                id=id
                name=id
                placeholder=placeholder
                aria-invalid=move || msg().is_some().to_string()
                aria-describedby=err_id.clone()
                prop:value=move || draft.with(get)
                on:input=move |ev| {
                    let v = event_target_value(&ev);
                    draft.update(|d| set(d, v));
                }
            />
        }
        .into_any()
    };
    view! {
        <div class="field">
            <label for=id>{label}</label>
            {input}
            {field_message(form, field, err_id.clone())}
        </div>
    }
    .into_any()
}

/// A labelled whole-number input.
fn number_field(
    form: Form,
    id: &'static str,
    label: &'static str,
    field: &'static str,
    help: &'static str,
    get: fn(&Draft) -> String,
    set: fn(&mut Draft, String),
) -> AnyView {
    let draft = form.draft;
    let msg = form.message(field);
    let err_id = format!("{id}-error");
    view! {
        <div class="field">
            <label for=id>{label}</label>
            <input
                type="number"
                id=id
                name=id
                min="1"
                step="1"
                inputmode="numeric"
                aria-invalid=move || msg().is_some().to_string()
                aria-describedby=format!("{id}-help {err_id}")
                prop:value=move || draft.with(get)
                on:input=move |ev| {
                    let v = event_target_value(&ev);
                    draft.update(|d| set(d, v));
                }
            />
            <p class="help" id=format!("{id}-help")>{help}</p>
            {field_message(form, field, err_id.clone())}
        </div>
    }
    .into_any()
}

fn step_basic(form: Form, super_admin: bool, own_tenant: Option<String>) -> AnyView {
    let draft = form.draft;
    let msg = form.message("targetType");
    view! {
        <div class="wizard-step" data-testid="step-1">
            {text_field(form, "name", "Experiment Name", "name",
                "Improve context template for risk analysis",
                |d| d.name.clone(), |d, v| d.name = v, false)}
            {text_field(form, "description", "Description", "description",
                "Testing a new context template that includes more historical data...",
                |d| d.description.clone(), |d, v| d.description = v, true)}
            {text_field(form, "hypothesis", "Hypothesis", "hypothesis",
                "Including historical project data will improve risk analysis quality by 15%",
                |d| d.hypothesis.clone(), |d, v| d.hypothesis = v, true)}
            <div class="field-row">
                <div class="field">
                    <label for="target-type">"What are you testing?"</label>
                    <select
                        id="target-type"
                        aria-invalid=move || msg().is_some().to_string()
                        on:change=move |ev| {
                            let v = event_target_value(&ev);
                            draft.update(|d| d.target_type = v);
                        }
                    >
                        {TargetType::ALL
                            .into_iter()
                            .map(|t| {
                                view! {
                                    <option
                                        value=t.as_str()
                                        selected=move || draft.with(|d| d.target_type == t.as_str())
                                    >
                                        {t.label()}
                                    </option>
                                }
                            })
                            .collect_view()}
                    </select>
                    {field_message(form, "targetType", "target-type-error".into())}
                </div>
                {text_field(form, "target-id", "Target ID", "targetId",
                    "risk-analysis-template",
                    |d| d.target_id.clone(), |d, v| d.target_id = v, false)}
            </div>
            {if super_admin {
                text_field(form, "tenant", "Tenant", "tenantId",
                    "system (every tenant's users) or a tenant ID",
                    |d| d.tenant_id.clone(), |d, v| d.tenant_id = v, false)
            } else {
                view! {
                    <p class="muted">"Tenant: " <strong>{own_tenant.unwrap_or_default()}</strong></p>
                }
                .into_any()
            }}
        </div>
    }
    .into_any()
}

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

fn step_variants(form: Form) -> AnyView {
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

fn step_traffic(form: Form) -> AnyView {
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

fn step_metrics(form: Form) -> AnyView {
    let draft = form.draft;
    let primary = Memo::new(move |_| draft.with(|d| d.primary_metric.clone()));
    let threshold_msg = form.message("successCriteria.threshold");
    let mde_msg = form.message("successCriteria.minimumDetectableEffect");
    view! {
        <div class="wizard-step" data-testid="step-4">
            <div class="field">
                <label for="primary-metric">"Primary Success Metric"</label>
                <select id="primary-metric" on:change=move |ev| {
                    let v = event_target_value(&ev);
                    draft.update(|d| d.set_primary(&v));
                }>
                    {PRIMARY_METRICS.into_iter().map(|m| view! {
                        <option value=m.as_str() selected=move || primary.get() == m.as_str()>{m.label()}</option>
                    }).collect_view()}
                </select>
                {field_message(form, "primaryMetric", "primary-metric-error".into())}
            </div>
            <fieldset class="criteria">
                <legend>"Success Criteria"</legend>
                <div class="criteria-row">
                    <span>"Treatment is successful if"</span>
                    <select aria-label="Criterion metric" on:change=move |ev| {
                        let v = event_target_value(&ev);
                        draft.update(|d| d.criteria_metric = v);
                    }>
                        {Metric::ALL.into_iter().map(|m| view! {
                            <option value=m.as_str() selected=move || draft.with(|d| d.criteria_metric == m.as_str())>{m.as_str()}</option>
                        }).collect_view()}
                    </select>
                    <select aria-label="Criterion comparison" on:change=move |ev| {
                        let v = event_target_value(&ev);
                        draft.update(|d| d.operator = v);
                    }>
                        {Operator::ALL.into_iter().map(|o| view! {
                            <option value=o.symbol() selected=move || draft.with(|d| d.operator == o.symbol())>{o.words()}</option>
                        }).collect_view()}
                    </select>
                    <span class="suffixed">
                        <input
                            type="number"
                            id="threshold"
                            min="0"
                            max="1000"
                            step="0.1"
                            aria-label="Threshold (%)"
                            aria-invalid=move || threshold_msg().is_some().to_string()
                            prop:value=move || draft.with(|d| d.threshold.clone())
                            on:input=move |ev| {
                                let v = event_target_value(&ev);
                                draft.update(|d| d.threshold = v);
                            }
                        />
                        "%"
                    </span>
                </div>
                <div class="criteria-row">
                    <label for="mde">"sized to detect"</label>
                    <span class="suffixed">
                        <input
                            type="number"
                            id="mde"
                            min="0.1"
                            max="1000"
                            step="0.1"
                            placeholder="5"
                            aria-label="Minimum detectable effect (%)"
                            aria-invalid=move || mde_msg().is_some().to_string()
                            prop:value=move || draft.with(|d| d.mde.clone())
                            on:input=move |ev| {
                                let v = event_target_value(&ev);
                                draft.update(|d| d.mde = v);
                            }
                        />
                        "%"
                    </span>
                    <span class="help">"beyond the threshold, with 80% power"</span>
                </div>
                <div class="criteria-row">
                    <span>"with"</span>
                    <select aria-label="Confidence level" on:change=move |ev| {
                        let v = event_target_value(&ev);
                        draft.update(|d| d.confidence = v);
                    }>
                        {CONFIDENCE_LEVELS.into_iter().map(|(v, label)| view! {
                            <option value=v selected=move || draft.with(|d| d.confidence == v)>{label}</option>
                        }).collect_view()}
                    </select>
                </div>
                {field_message(form, "successCriteria", "criteria-error".into())}
            </fieldset>
            <fieldset>
                <legend>"Secondary Metrics (optional)"</legend>
                <p class="help">"Watched as guardrails: a significant harm keeps the control."</p>
                <div class="checks">
                    {move || {
                        let primary = primary.get();
                        Metric::ALL
                            .into_iter()
                            .filter(|m| m.as_str() != primary)
                            .map(|m| {
                                let id = format!("secondary-{}", m.as_str());
                                view! {
                                    <label class="inline" for=id.clone()>
                                        <input
                                            type="checkbox"
                                            id=id.clone()
                                            prop:checked=move || draft.with(|d| d.secondary.iter().any(|s| s == m.as_str()))
                                            on:change=move |ev| {
                                                let on = event_target_checked(&ev);
                                                draft.update(|d| {
                                                    d.secondary.retain(|s| s != m.as_str());
                                                    if on { d.secondary.push(m.as_str().to_owned()); }
                                                });
                                            }
                                        />
                                        " " {m.label()}
                                    </label>
                                }
                            })
                            .collect_view()
                    }}
                </div>
                {field_message(form, "secondaryMetrics", "secondary-error".into())}
            </fieldset>
        </div>
    }
    .into_any()
}

fn summary_item(label: &'static str, value: String) -> impl IntoView {
    view! {
        <div class="summary-item">
            <dt>{label}</dt>
            <dd>{value}</dd>
        </div>
    }
}

fn step_review(form: Form, super_admin: bool) -> AnyView {
    let draft = form.draft;
    let estimate = LocalResource::new(move || {
        let (input, problems) =
            draft.with(|d| (d.to_input(super_admin).0, d.problems(super_admin)));
        async move {
            if problems.is_empty() {
                estimate_completion(input).await.map(Some)
            } else {
                Ok(None)
            }
        }
    });
    let summary = move || {
        let d = draft.get();
        let target = d
            .target()
            .map(|t| t.label().to_owned())
            .unwrap_or_else(|| d.target_type.clone());
        let operator = Operator::from_symbol(&d.operator)
            .map(|o| o.words())
            .unwrap_or("?");
        let confidence = d
            .confidence
            .parse::<f64>()
            .map(|c| format!("{:.0}%", c * 100.0))
            .unwrap_or_else(|_| d.confidence.clone());
        let lists = [List::Tenants, List::Users, List::Intents]
            .into_iter()
            .filter(|l| l.of(&d).on && !l.of(&d).values.is_empty())
            .map(|l| format!("{}: {}", l.entry_label(), l.of(&d).values.join(", ")))
            .collect::<Vec<_>>();
        view! {
            <div class="summary" data-testid="summary">
                <section class="summary-section">
                    <h3>"Basic Info"</h3>
                    <dl>
                        {summary_item("Name", d.name.clone())}
                        {summary_item("Hypothesis", if d.hypothesis.trim().is_empty() { "—".into() } else { d.hypothesis.clone() })}
                        {summary_item("Target", format!("{target} · {}", d.target_id))}
                        {super_admin.then(|| summary_item("Tenant", if d.tenant_id.trim().is_empty() { "system".into() } else { d.tenant_id.trim().to_owned() }))}
                    </dl>
                </section>
                <section class="summary-section">
                    <h3>"Variants"</h3>
                    <dl>
                        {summary_item("Control", d.control.name.clone())}
                        {summary_item("Treatment", d.treatment.name.clone())}
                        {summary_item("Traffic Split", format!("{}% / {}%", d.control_pct, d.treatment_pct))}
                        {summary_item("Targeting", if lists.is_empty() { "everyone".into() } else { lists.join("; ") })}
                    </dl>
                </section>
                <section class="summary-section">
                    <h3>"Success Criteria"</h3>
                    <dl>
                        {summary_item("Primary Metric", d.primary_metric.clone())}
                        {summary_item("Threshold", format!("{} {} {}%", d.criteria_metric, operator, d.threshold))}
                        {summary_item("Sized to detect", format!("{}% beyond the threshold", if d.mde.trim().is_empty() { "5" } else { d.mde.trim() }))}
                        {summary_item("Confidence", confidence)}
                        {summary_item("Secondary", if d.secondary.is_empty() { "none".into() } else { d.secondary.join(", ") })}
                    </dl>
                </section>
                <section class="summary-section">
                    <h3>"Duration"</h3>
                    <dl>
                        {summary_item("Minimum Duration", format!("{} {}", d.min_duration, if d.min_duration.trim() == "1" { "day" } else { "days" }))}
                        {summary_item("Min Samples", format!("{} per variant", d.min_samples))}
                    <div class="summary-item">
                        <dt>"Est. Completion"</dt>
                        <dd data-testid="estimate">
                            // Read as a signal, not under Suspense: the estimate exists only in
                            // the browser, and a page opened at this step hydrates into it.
                            {move || match estimate.get() {
                                None => view! { <span class="muted">"estimating…"</span> }.into_any(),
                                Some(Ok(Some(e))) => view! {
                                    <strong>{crate::app::format::date(e.estimated_end_date)}</strong>
                                    {format!(" — {:.0} days after the start; {} users per variant", e.days.ceil(), e.required_per_variant)}
                                    <p class="help">{e.basis.clone()}</p>
                                }.into_any(),
                                Some(Ok(None)) => view! { <span class="muted">"fix the steps above to see an estimate"</span> }.into_any(),
                                Some(Err(err)) => view! { <span class="muted">{format!("no estimate: {err}")}</span> }.into_any(),
                            }}
                        </dd>
                    </div>
                    </dl>
                </section>
            </div>
        }
    };
    view! {
        <div class="wizard-step" data-testid="step-5">
            <div class="field-row">
                {number_field(form, "min-duration", "Minimum Duration (days)", "minDuration",
                    "Experiment must run for at least this many days",
                    |d| d.min_duration.clone(), |d, v| d.min_duration = v)}
                {number_field(form, "min-samples", "Minimum Samples Per Variant", "minSamplesPerVariant",
                    "Each variant must have at least this many samples",
                    |d| d.min_samples.clone(), |d, v| d.min_samples = v)}
            </div>
            {summary}
        </div>
    }
    .into_any()
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
