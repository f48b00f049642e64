//! Step 4, "Success Metrics": primary and secondary metrics, the success criterion,
//! minimums, the guardrail circuit breaker, and the estimate of the sample size and duration.

use super::draft::{CONFIDENCE_LEVELS, PRIMARY_METRICS};
use super::fields::*;
use crate::domain::experiment::{Metric, Operator};
use leptos::prelude::*;

pub(super) fn step_metrics(form: Form) -> AnyView {
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
