use crate::domain::ExperimentStatus;
use leptos::prelude::*;

/// A coloured label for an experiment's status.
#[component]
pub fn StatusBadge(status: ExperimentStatus) -> impl IntoView {
    view! { <span class=format!("badge badge-{}", status.as_str())>{status.label()}</span> }
}
