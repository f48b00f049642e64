//! Step 5, "Duration & Review": a summary of everything, then create (and start).

use super::fields::*;
use crate::api::estimate_completion;
use crate::domain::experiment::Operator;
use leptos::prelude::*;

fn summary_item(label: &'static str, value: String) -> impl IntoView {
    view! {
        <div class="summary-item">
            <dt>{label}</dt>
            <dd>{value}</dd>
        </div>
    }
}

pub(super) fn step_review(form: Form, super_admin: bool) -> AnyView {
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
                        {d.arms.iter().enumerate().map(|(i, a)| view! {
                            <div class="summary-item" data-testid="summary-arm">
                                <dt>{super::draft::Draft::arm_label(i)}</dt>
                                <dd>{format!("{} ({}) — {}%", a.name.trim(), a.key.trim(), a.pct)}</dd>
                            </div>
                        }).collect_view()}
                        {summary_item("Traffic Split", {
                            let shares: Vec<String> = d.arms.iter().map(|a| format!("{}%", a.pct)).collect();
                            let rest = 100 - i32::from(d.total_pct());
                            format!("{}{}", shares.join(" / "), if rest > 0 { format!(" ({rest}% not in the experiment)") } else { String::new() })
                        })}
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
