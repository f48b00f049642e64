//! What every step shares: the form's state, which arm or targeting list an editor edits,
//! and the labelled field widgets bound to the draft.

use super::draft::{ArmDraft, Draft, ListDraft, messages_for};
use crate::domain::FieldError;
use leptos::prelude::*;

/// Which arm an editor edits: its position, the control first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Arm(pub(super) usize);

impl Arm {
    /// The arm (an empty one when it was just removed: views may still read it once).
    pub(super) fn of(self, d: &Draft) -> ArmDraft {
        d.arms.get(self.0).cloned().unwrap_or_default()
    }

    /// Changes the arm, if it is still there.
    pub(super) fn edit(self, d: &mut Draft, f: impl FnOnce(&mut ArmDraft)) {
        if let Some(a) = d.arms.get_mut(self.0) {
            f(a);
        }
    }

    /// Control, Treatment, Treatment 2, …
    pub(super) fn label(self) -> String {
        Draft::arm_label(self.0)
    }

    /// The prefix of its elements' ids and test ids: control, treatment, treatment-2, …
    pub(super) fn id(self) -> String {
        self.label().to_lowercase().replace(' ', "-")
    }
}

/// Which targeting list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum List {
    Tenants,
    Users,
    Intents,
}

impl List {
    pub(super) fn of(self, d: &Draft) -> &ListDraft {
        match self {
            List::Tenants => &d.tenants,
            List::Users => &d.users,
            List::Intents => &d.intents,
        }
    }

    pub(super) fn of_mut(self, d: &mut Draft) -> &mut ListDraft {
        match self {
            List::Tenants => &mut d.tenants,
            List::Users => &mut d.users,
            List::Intents => &mut d.intents,
        }
    }

    pub(super) fn key(self) -> &'static str {
        match self {
            List::Tenants => "tenantIds",
            List::Users => "userIds",
            List::Intents => "intents",
        }
    }

    pub(super) fn label(self) -> &'static str {
        match self {
            List::Tenants => "Target specific tenants",
            List::Users => "Target specific users",
            List::Intents => "Target specific intents",
        }
    }

    pub(super) fn entry_label(self) -> &'static str {
        match self {
            List::Tenants => "Tenant IDs",
            List::Users => "User IDs",
            List::Intents => "Intents",
        }
    }

    pub(super) fn placeholder(self) -> &'static str {
        match self {
            List::Tenants => "acme — press Enter to add",
            List::Users => "user-42 — press Enter to add",
            List::Intents => "risk_analysis — press Enter to add",
        }
    }
}

/// The form's shared state.
#[derive(Clone, Copy)]
pub(super) struct Form {
    pub(super) draft: RwSignal<Draft>,
    /// The messages shown at the fields of the current step.
    pub(super) errors: Memo<Vec<FieldError>>,
}

impl Form {
    pub(super) fn message(self, field: &'static str) -> impl Fn() -> Option<String> + Copy {
        move || self.errors.with(|e| messages_for(e, field))
    }

    /// The messages of a field whose path depends on the draft (an arm's, by position).
    pub(super) fn message_at(
        self,
        field: impl Fn(&Draft) -> String + Copy + Send + Sync + 'static,
    ) -> impl Fn() -> Option<String> + Copy {
        move || {
            let path = self.draft.with(field);
            self.errors.with(|e| messages_for(e, &path))
        }
    }
}

/// The message of a field whose path depends on the draft.
pub(super) fn field_message_at(
    form: Form,
    field: impl Fn(&Draft) -> String + Copy + Send + Sync + 'static,
    id: String,
) -> impl IntoView {
    let msg = form.message_at(field);
    move || msg().map(|m| view! { <p class="field-error" id=id.clone() role="alert">{m}</p> })
}

pub(super) fn field_message(form: Form, field: &'static str, id: String) -> impl IntoView {
    let msg = form.message(field);
    move || msg().map(|m| view! { <p class="field-error" id=id.clone() role="alert">{m}</p> })
}

/// A labelled text input (or textarea) bound to one field of the draft.
#[allow(clippy::too_many_arguments)]
pub(super) fn text_field(
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
pub(super) fn number_field(
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
