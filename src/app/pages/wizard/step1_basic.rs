//! Step 1, "Basic Info": name, description, target type and id, tenant.

use super::fields::*;
use crate::domain::experiment::TargetType;
use leptos::prelude::*;

pub(super) fn step_basic(form: Form, super_admin: bool, own_tenant: Option<String>) -> AnyView {
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
