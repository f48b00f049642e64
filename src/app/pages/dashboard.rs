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
    Paused,
    Cancelled,
    All,
}

impl Tab {
    const ALL: [Tab; 6] = [
        Tab::Active,
        Tab::Completed,
        Tab::Drafts,
        Tab::Paused,
        Tab::Cancelled,
        Tab::All,
    ];

    fn from_query(value: Option<&str>) -> Tab {
        Tab::ALL
            .into_iter()
            .find(|t| Some(t.key()) == value)
            .unwrap_or(Tab::Active)
    }

    fn key(self) -> &'static str {
        match self {
            Tab::Active => "active",
            Tab::Completed => "completed",
            Tab::Drafts => "drafts",
            Tab::Paused => "paused",
            Tab::Cancelled => "cancelled",
            Tab::All => "all",
        }
    }

    fn label(self) -> &'static str {
        match self {
            Tab::Active => "Active",
            Tab::Completed => "Completed",
            Tab::Drafts => "Drafts",
            Tab::Paused => "Paused",
            Tab::Cancelled => "Cancelled",
            Tab::All => "All",
        }
    }

    fn statuses(self) -> Vec<ExperimentStatus> {
        match self {
            Tab::Active => vec![ExperimentStatus::Active],
            Tab::Completed => vec![
                ExperimentStatus::Completed,
                ExperimentStatus::WinnerDeployed,
            ],
            Tab::Drafts => vec![ExperimentStatus::Draft],
            Tab::Paused => vec![ExperimentStatus::Paused],
            Tab::Cancelled => vec![ExperimentStatus::Cancelled],
            Tab::All => vec![],
        }
    }

    fn count(self, counts: &StatusCounts) -> u64 {
        if self == Tab::All {
            return counts.total();
        }
        self.statuses().into_iter().map(|s| counts.get(s)).sum()
    }

    fn empty_text(self) -> &'static str {
        match self {
            Tab::Active => "No experiment is running. Start a draft to see it here.",
            Tab::Completed => "No experiment has completed yet.",
            Tab::Drafts => {
                "No drafts. Create an experiment with the API (docs/API.md) or `verdict demo`."
            }
            Tab::Paused => "No paused experiment.",
            Tab::Cancelled => "No cancelled experiment.",
            Tab::All => {
                "No experiments yet. Run `verdict demo` for sample data, or create one with the API."
            }
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

fn progress(label: &'static str, value: f64, text: String) -> impl IntoView {
    let width = (value * 100.0).clamp(0.0, 100.0);
    view! {
        <div class="progress">
            <span class="progress-label">{label}</span>
            <div class="progress-bar" role="progressbar" aria-label=label aria-valuemin="0" aria-valuemax="100" aria-valuenow=format!("{width:.0}")>
                <div class="progress-fill" style=format!("width: {width:.0}%")></div>
            </div>
            <span class="progress-text">{text}</span>
        </div>
    }
}

#[component]
fn ExperimentCard(item: ExperimentListItem) -> impl IntoView {
    let samples = item.control_samples.unwrap_or(0) + item.treatment_samples.unwrap_or(0);
    let needed = u64::from(item.min_samples_per_variant) * 2;
    let days = item
        .start_date
        .map(|s| (chrono::Utc::now() - s).num_hours() as f64 / 24.0)
        .unwrap_or(0.0);
    let started = item.start_date.is_some();
    let improvement = item.primary_lift.map(|l| {
        let good_if_up = !matches!(
            item.primary_metric.as_str(),
            "latency" | "tokens_used" | "cost" | "error_rate"
        );
        let good = (l > 0.0) == good_if_up;
        (
            format!(
                "{} {:.1}% {}{}",
                if l >= 0.0 { "▲" } else { "▼" },
                (l * 100.0).abs(),
                item.primary_metric,
                item.significance
                    .map(|s| format!(" · {:.0}% significance", s * 100.0))
                    .unwrap_or_default()
            ),
            if good { "good" } else { "bad" },
        )
    });
    view! {
        <article class="card" data-testid="experiment-card">
            <div class="card-head">
                <h2>
                    <a href=format!("/experiments/{}", item.id)>{item.name.clone()}</a>
                </h2>
                <StatusBadge status=item.status />
            </div>
            <p class="card-desc">{item.description.clone()}</p>
            {started.then(|| view! {
                <div class="card-progress">
                    {progress("Samples", if needed > 0 { samples as f64 / needed as f64 } else { 0.0 }, format!("{samples} / {needed}"))}
                    {progress("Duration", days / f64::from(item.min_duration.max(1)), format!("{:.0} / {} days", days.floor(), item.min_duration))}
                </div>
            })}
            {improvement.map(|(text, class)| view! { <p class=format!("card-change {class}")>{text}</p> })}
            <div class="card-foot">
                <p class="card-meta">
                    {item.target_type.clone()} " · tenant " {item.tenant_id.clone()} " · created "
                    {item.created_at.format("%Y-%m-%d").to_string()}
                </p>
                <a class="button small secondary" href=format!("/experiments/{}", item.id)>"View Details"</a>
            </div>
        </article>
    }
}
