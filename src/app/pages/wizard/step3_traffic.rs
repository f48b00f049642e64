//! Step 3, "Traffic": the targeting lists and the traffic allocation (a share per arm).

use super::draft::Draft;
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
    let id = format!("alloc-{}", arm.id());
    let label = format!("{} traffic (%)", arm.label());
    let name = move || {
        draft.with(|d| {
            let a = arm.of(d);
            format!("{} · {}", a.key.trim(), a.name.trim())
        })
    };
    let get = move || draft.with(|d| arm.of(d).pct);
    let set = move |v: u8| draft.update(|d| arm.edit(d, |a| a.pct = v));
    let field = move |d: &Draft| d.share_field(arm.0);
    view! {
        <div class="slider" style=format!("--arm: var(--arm-{})", arm.0)>
            <label for=id.clone()>
                <span class="swatch" aria-hidden="true"></span>
                {label.clone()}
                <span class="muted small arm-of-slider">{name}</span>
            </label>
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
            {field_message_at(form, field, format!("{id}-error"))}
        </div>
    }
    .into_any()
}

pub(super) fn step_traffic(form: Form) -> AnyView {
    let draft = form.draft;
    // How much of the target's layer other live experiments leave free (asked once the
    // target is named; nothing is shown when it cannot be told).
    let layer = LocalResource::new(move || {
        let (target_type, target_id, tenant) = draft.with(|d| {
            (
                d.target_type.clone(),
                d.target_id.trim().to_owned(),
                d.tenant_id.trim().to_owned(),
            )
        });
        async move {
            if target_id.is_empty() {
                return None;
            }
            let tenant = (!tenant.is_empty()).then_some(tenant);
            crate::api::layer_free(target_type, target_id, None, tenant)
                .await
                .ok()
        }
    });
    let count = Memo::new(move |_| draft.with(|d| d.arms.len()));
    let split = move || {
        draft.with(|d| {
            d.arms
                .iter()
                .map(|a| (a.key.trim().to_owned(), a.pct))
                .collect::<Vec<_>>()
        })
    };
    view! {
        <div class="wizard-step" data-testid="step-3">
            <fieldset>
                <legend>"Traffic Allocation"</legend>
                {move || (0..count.get()).map(|i| allocation_slider(form, Arm(i))).collect_view()}
                <button type="button" class="button small secondary" on:click=move |_| draft.update(Draft::split_evenly)>
                    "Split evenly"
                </button>
                <div class="allocation big" aria-hidden="true">
                    {move || {
                        let shares = split();
                        let rest = 100i16 - shares.iter().map(|(_, p)| i16::from(*p)).sum::<i16>();
                        view! {
                            {shares.into_iter().enumerate().map(|(i, (_, p))| {
                                let class = match i { 0 => "control".to_owned(), 1 => "treatment".to_owned(), i => format!("arm-{i}") };
                                view! { <span class=class style=format!("width: {}%", p.min(100))>{p}"%"</span> }
                            }).collect_view()}
                            {(rest > 0).then(|| view! { <span class="excluded" style=format!("width: {rest}%")>{rest}"%"</span> })}
                        }
                    }}
                </div>
                <p class="help" data-testid="allocation-summary">
                    {move || {
                        let shares = split();
                        let total: i16 = shares.iter().map(|(_, p)| i16::from(*p)).sum();
                        let rest = 100 - total;
                        if let [(_, c), (_, t)] = shares.as_slice() && draft.with(Draft::is_two_arm_shape) {
                            if rest >= 0 {
                                format!("{c}% of users get the control, {t}% the treatment, {rest}% are not in the experiment (they keep the current configuration).")
                            } else {
                                format!("{c}% + {t}% is more than 100%.")
                            }
                        } else {
                            let each = shares.iter().map(|(k, p)| format!("{p}% {k}")).collect::<Vec<_>>().join(", ");
                            if rest >= 0 {
                                format!("{each}; {rest}% are not in the experiment (they keep the current configuration).")
                            } else {
                                format!("{each}: {total}% in all, more than 100%.")
                            }
                        }
                    }}
                </p>
                // The total's message here; each share's (allocation.<key>) at its slider.
                {move || form.errors.with(|e| {
                    let list: Vec<String> = e.iter().filter(|x| x.field == "allocation").map(|x| x.message.clone()).collect();
                    (!list.is_empty()).then(|| view! { <p class="field-error" id="allocation-error" role="alert">{list.join("; ")}</p> })
                })}
                // The layer's free share: how much of the target's traffic other live
                // experiments leave free. The new experiment takes a slice of it at start (the
                // largest free one); with none free, its start is refused.
                {move || layer.get().flatten().map(|l| {
                    let text = if l.occupied.is_empty() {
                        "No other experiment runs on this target: the experiment can have all of its traffic.".to_owned()
                    } else if l.largest_free_share <= 0.0 {
                        format!("Other experiments hold all of this target's traffic ({} live): starting this one will be refused until one ends.", l.occupied.len())
                    } else {
                        format!(
                            "Layer's free share: {:.0}% of this target's traffic is free (largest free slice {:.0}%); {} other experiment(s) hold the rest, and users are in at most one of them.",
                            l.free_share, l.largest_free_share, l.occupied.len()
                        )
                    };
                    view! { <p class="help layer-free-share" data-testid="layer-free-share">{text}</p> }
                })}
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
