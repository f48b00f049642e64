use crate::api::{experiment_counts, list_experiments};
use crate::app::components::StatusBadge;
use crate::domain::{ExperimentListItem, ExperimentStatus, StatusCounts};
use leptos::prelude::*;
use leptos_router::components::A;
use leptos_router::hooks::use_query_map;

/// A tab of the dashboard: which statuses it lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tab {
    Active,
    Completed,
    Drafts,
}

impl Tab {
    const ALL: [Tab; 3] = [Tab::Active, Tab::Completed, Tab::Drafts];

    fn from_query(value: Option<&str>) -> Tab {
        match value {
            Some("completed") => Tab::Completed,
            Some("drafts") => Tab::Drafts,
            _ => Tab::Active,
        }
    }

    fn key(self) -> &'static str {
        match self {
            Tab::Active => "active",
            Tab::Completed => "completed",
            Tab::Drafts => "drafts",
        }
    }

    fn label(self) -> &'static str {
        match self {
            Tab::Active => "Active",
            Tab::Completed => "Completed",
            Tab::Drafts => "Drafts",
        }
    }

    fn statuses(self) -> Vec<ExperimentStatus> {
        match self {
            Tab::Active => vec![ExperimentStatus::Active, ExperimentStatus::Paused],
            Tab::Completed => vec![
                ExperimentStatus::Completed,
                ExperimentStatus::WinnerDeployed,
            ],
            Tab::Drafts => vec![ExperimentStatus::Draft],
        }
    }

    fn count(self, counts: &StatusCounts) -> u64 {
        self.statuses().into_iter().map(|s| counts.get(s)).sum()
    }

    fn empty_text(self) -> &'static str {
        match self {
            Tab::Active => "No experiment is running. Start a draft to see it here.",
            Tab::Completed => "No experiment has completed yet.",
            Tab::Drafts => "No drafts. Create an experiment to start one.",
        }
    }
}

/// The dashboard at `/`: experiments by tab, with counts per tab.
#[component]
pub fn Dashboard() -> impl IntoView {
    let query = use_query_map();
    let tab = Memo::new(move |_| Tab::from_query(query.read().get("tab").as_deref()));
    let refresh = RwSignal::new(0u32);
    let counts = Resource::new(move || refresh.get(), |_| experiment_counts());
    let items = Resource::new(
        move || (tab.get().statuses(), refresh.get()),
        |(statuses, _)| list_experiments(statuses),
    );

    view! {
        <section class="dashboard">
            <div class="page-header">
                <h1>"A/B Tests"</h1>
                <button
                    class="button secondary"
                    on:click=move |_| refresh.update(|n| *n += 1)
                >
                    "Refresh"
                </button>
            </div>
            <nav class="tabs" role="tablist" aria-label="Experiments by status">
                {Tab::ALL
                    .into_iter()
                    .map(|t| {
                        view! {
                            <A
                                href=format!("/?tab={}", t.key())
                                attr:role="tab"
                                attr:class="tab"
                                attr:aria-selected=move || (tab.get() == t).to_string()
                            >
                                {t.label()}
                                " "
                                <span class="tab-count" data-testid=format!("count-{}", t.key())>
                                    <Suspense fallback=|| "…">
                                        {move || Suspend::new(async move {
                                            match counts.await {
                                                Ok(c) => t.count(&c).to_string(),
                                                Err(_) => "?".to_owned(),
                                            }
                                        })}
                                    </Suspense>
                                </span>
                            </A>
                        }
                    })
                    .collect_view()}
            </nav>
            <div class="experiment-list" role="tabpanel" data-testid="experiment-list">
                <Transition fallback=|| view! { <p class="loading">"Loading…"</p> }>
                    {move || Suspend::new(async move {
                        match items.await {
                            Ok(list) if list.is_empty() => {
                                view! { <p class="empty">{tab.get_untracked().empty_text()}</p> }
                                    .into_any()
                            }
                            Ok(list) => {
                                list.into_iter()
                                    .map(|item| view! { <ExperimentCard item /> })
                                    .collect_view()
                                    .into_any()
                            }
                            Err(err) => {
                                view! { <p class="error" role="alert">{err.to_string()}</p> }
                                    .into_any()
                            }
                        }
                    })}
                </Transition>
            </div>
        </section>
    }
}

#[component]
fn ExperimentCard(item: ExperimentListItem) -> impl IntoView {
    view! {
        <article class="card" data-testid="experiment-card">
            <div class="card-head">
                <h2>
                    <a href=format!("/experiments/{}", item.id)>{item.name}</a>
                </h2>
                <StatusBadge status=item.status />
            </div>
            <p class="card-desc">{item.description}</p>
            <p class="card-meta">
                {item.target_type} " · tenant " {item.tenant_id} " · created "
                {item.created_at.format("%Y-%m-%d").to_string()}
            </p>
        </article>
    }
}
