use crate::api::{change_status, experiment_counts, list_experiments};
use crate::app::components::StatusBadge;
use crate::app::url::encode_component;
use crate::domain::experiment::Action as Lifecycle;
use crate::domain::{ExperimentListItem, ExperimentStatus, Principal, StatusCounts};
use leptos::prelude::*;
use leptos_router::NavigateOptions;
use leptos_router::components::A;
use leptos_router::hooks::{use_navigate, use_query_map};

/// Experiments on one page of the dashboard (search and sort apply within the page).
const PAGE_SIZE: u32 = 50;

/// How the list is ordered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Sort {
    Newest,
    Samples,
    Name,
}

impl Sort {
    const ALL: [Sort; 3] = [Sort::Newest, Sort::Samples, Sort::Name];

    fn from_query(value: Option<&str>) -> Sort {
        Sort::ALL
            .into_iter()
            .find(|s| Some(s.key()) == value)
            .unwrap_or(Sort::Newest)
    }

    fn key(self) -> &'static str {
        match self {
            Sort::Newest => "newest",
            Sort::Samples => "samples",
            Sort::Name => "name",
        }
    }

    fn label(self) -> &'static str {
        match self {
            Sort::Newest => "Newest first",
            Sort::Samples => "Most samples",
            Sort::Name => "Name (A–Z)",
        }
    }
}

fn samples(item: &ExperimentListItem) -> u64 {
    item.control_samples.unwrap_or(0) + item.treatment_samples.unwrap_or(0)
}

/// The experiments whose name or description contains `search` (any case), in `sort` order.
fn arrange(mut list: Vec<ExperimentListItem>, search: &str, sort: Sort) -> Vec<ExperimentListItem> {
    let needle = search.trim().to_lowercase();
    if !needle.is_empty() {
        list.retain(|e| {
            e.name.to_lowercase().contains(&needle)
                || e.description.to_lowercase().contains(&needle)
        });
    }
    match sort {
        // The server lists newest first already.
        Sort::Newest => {}
        Sort::Samples => list.sort_by_key(|e| std::cmp::Reverse(samples(e))),
        Sort::Name => list.sort_by_key(|e| e.name.to_lowercase()),
    }
    list
}

/// The dashboard URL for a tab, a search and an order (defaults left out).
fn dashboard_url(tab: Tab, search: &str, sort: Sort) -> String {
    let mut url = format!("/?tab={}", tab.key());
    if !search.trim().is_empty() {
        url.push_str("&q=");
        url.push_str(&encode_component(search.trim()));
    }
    if sort != Sort::Newest {
        url.push_str("&sort=");
        url.push_str(sort.key());
    }
    url
}

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
            Tab::Active => {
                "No experiment is running. Open a draft and start it, or create one with New Experiment."
            }
            Tab::Completed => {
                "No experiment has completed yet. Stop a running one or declare its winner to see it here."
            }
            Tab::Drafts => "No drafts. Create one with New Experiment.",
            Tab::Paused => "No paused experiment.",
            Tab::Cancelled => "No cancelled experiment.",
            Tab::All => {
                "No experiments yet. Create one with New Experiment, or run `verdict demo` for sample data."
            }
        }
    }
}

/// The dashboard at `/`: experiments by tab, with counts per tab, a search and an order
/// (all three in the URL, so links and the back button work).
#[component]
pub fn Dashboard() -> impl IntoView {
    let who = use_context::<Principal>();
    let can_manage = who.as_ref().is_some_and(|w| w.can_manage());
    let query = use_query_map();
    let tab = Memo::new(move |_| Tab::from_query(query.read().get("tab").as_deref()));
    let search = Memo::new(move |_| query.read().get("q").unwrap_or_default());
    let sort = Memo::new(move |_| Sort::from_query(query.read().get("sort").as_deref()));
    let refresh = RwSignal::new(0u32);
    let counts = Resource::new(move || refresh.get(), |_| experiment_counts());
    // The cursors of the pages before the one shown (empty: the first page).
    let pages = RwSignal::new(Vec::<uuid::Uuid>::new());
    Effect::new(move |_| {
        tab.track();
        pages.set(Vec::new());
    });
    let items = Resource::new(
        move || {
            (
                tab.get().statuses(),
                refresh.get(),
                pages.get().last().copied(),
            )
        },
        |(statuses, _, cursor)| list_experiments(statuses, cursor, Some(PAGE_SIZE)),
    );
    let goto = RwSignal::new(None::<String>);
    let navigate = use_navigate();
    Effect::new(move |_| {
        if let Some(url) = goto.get() {
            navigate(
                &url,
                NavigateOptions {
                    replace: true,
                    scroll: false,
                    ..Default::default()
                },
            );
        }
    });

    view! {
        <section class="dashboard">
            <div class="page-header">
                <h1>"A/B Tests"</h1>
                <span class="spacer"></span>
                <button
                    class="button secondary"
                    on:click=move |_| refresh.update(|n| *n += 1)
                >
                    "Refresh"
                </button>
                {can_manage.then(|| view! {
                    <a class="button" href="/experiments/new">"+ New Experiment"</a>
                })}
            </div>
            <nav class="tabs" role="tablist" aria-label="Experiments by status">
                {Tab::ALL
                    .into_iter()
                    .map(|t| {
                        view! {
                            <A
                                href=move || dashboard_url(t, &search.get(), sort.get())
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
            <div class="list-controls">
                <label for="search" class="sr-only">"Search experiments"</label>
                <input
                    type="search"
                    id="search"
                    placeholder="Search by name"
                    aria-label="Search experiments"
                    prop:value=move || search.get()
                    on:input=move |ev| {
                        let q = event_target_value(&ev);
                        goto.set(Some(dashboard_url(tab.get_untracked(), &q, sort.get_untracked())));
                    }
                />
                <label for="sort">"Sort"</label>
                <select id="sort" on:change=move |ev| {
                    let s = Sort::from_query(Some(&event_target_value(&ev)));
                    goto.set(Some(dashboard_url(tab.get_untracked(), &search.get_untracked(), s)));
                }>
                    {Sort::ALL.into_iter().map(|s| view! {
                        <option value=s.key() selected=move || sort.get() == s>{s.label()}</option>
                    }).collect_view()}
                </select>
            </div>
            <div class="experiment-list" role="tabpanel" data-testid="experiment-list">
                <Transition fallback=|| view! { <p class="loading">"Loading…"</p> }>
                    {move || Suspend::new(async move {
                        match items.await {
                            Ok(page) if page.experiments.is_empty() && pages.get_untracked().is_empty() => {
                                view! { <p class="empty">{tab.get_untracked().empty_text()}</p> }
                                    .into_any()
                            }
                            Ok(page) => {
                                let next = page.next_cursor;
                                let shown = arrange(page.experiments, &search.get(), sort.get());
                                let cards = if shown.is_empty() {
                                    view! { <p class="empty">"No experiment matches the search."</p> }.into_any()
                                } else {
                                    shown.into_iter()
                                        .map(|item| view! { <ExperimentCard item can_manage refresh /> })
                                        .collect_view()
                                        .into_any()
                                };
                                let first = pages.get_untracked().is_empty();
                                view! {
                                    {cards}
                                    {(next.is_some() || !first).then(|| view! {
                                        <nav class="pager" aria-label="Pages of experiments">
                                            <button class="button secondary" disabled=first
                                                on:click=move |_| pages.update(|p| { p.pop(); })>
                                                "← Newer"
                                            </button>
                                            <span class="pager-text">
                                                {format!("Page {}", pages.get_untracked().len() + 1)}
                                            </span>
                                            <button class="button secondary" disabled=next.is_none()
                                                on:click=move |_| if let Some(c) = next { pages.update(|p| p.push(c)) }>
                                                "Older →"
                                            </button>
                                        </nav>
                                    })}
                                }.into_any()
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
fn ExperimentCard(
    item: ExperimentListItem,
    can_manage: bool,
    refresh: RwSignal<u32>,
) -> impl IntoView {
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
    let id = item.id;
    let status = item.status;
    let message = RwSignal::new(None::<(bool, String)>);
    let toggle = Action::new(move |action: &Lifecycle| {
        let action = *action;
        async move {
            match change_status(id, action).await {
                Ok(e) => {
                    message.set(Some((true, format!("Now {}.", e.status.label()))));
                    refresh.update(|n| *n += 1);
                }
                Err(err) => message.set(Some((false, err.to_string()))),
            }
        }
    });
    // Declaring a winner needs results that decide; deploying needs a declared winner.
    let decisive = matches!(
        item.recommendation.as_deref(),
        Some("deploy_treatment" | "keep_control")
    );
    let actions = can_manage.then(|| {
        view! {
            {(status == ExperimentStatus::Active).then(|| view! {
                <button class="button small secondary" disabled=move || toggle.pending().get()
                    on:click=move |_| { toggle.dispatch(Lifecycle::Pause); }>"Pause"</button>
            })}
            {(status == ExperimentStatus::Paused).then(|| view! {
                <button class="button small secondary" disabled=move || toggle.pending().get()
                    on:click=move |_| { toggle.dispatch(Lifecycle::Resume); }>"Resume"</button>
            })}
            {(status.is_live() && decisive).then(|| view! {
                <a class="button small" href=format!("/experiments/{id}?action=declare")>"Declare Winner"</a>
            })}
            {(matches!(status, ExperimentStatus::Completed | ExperimentStatus::WinnerDeployed)).then(|| item.winner).flatten().map(|w| view! {
                <a class="button small" href=format!("/experiments/{id}?action=deploy")>{format!("Deploy {w}")}</a>
            })}
        }
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
                    {crate::app::format::date(item.created_at)}
                </p>
                <div class="card-actions">
                    <a class="button small secondary" href=format!("/experiments/{}", item.id)>"View Details"</a>
                    {actions}
                </div>
            </div>
            {move || message.get().map(|(ok, text)| view! {
                <p class=if ok { "notice good" } else { "notice error" } role=if ok { "status" } else { "alert" }>{text}</p>
            })}
        </article>
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use uuid::Uuid;

    fn item(name: &str, samples: u64, created_day: u32) -> ExperimentListItem {
        ExperimentListItem {
            id: Uuid::nil(),
            tenant_id: "acme".into(),
            name: name.into(),
            description: format!("about {name}"),
            target_type: "prompt".into(),
            status: ExperimentStatus::Active,
            start_date: None,
            created_at: format!("2026-11-{created_day:02}T00:00:00Z")
                .parse()
                .unwrap(),
            primary_metric: "quality".into(),
            min_samples_per_variant: 100,
            min_duration: 7,
            control_samples: Some(samples / 2),
            treatment_samples: Some(samples - samples / 2),
            primary_lift: None,
            significance: None,
            recommendation: None,
            winner: None,
        }
    }

    #[test]
    fn search_matches_name_or_description_in_any_case_and_sort_orders() {
        let list = vec![
            item("Risk prompt", 10, 3),
            item("summary model", 500, 2),
            item("Grounding", 90, 1),
        ];
        let names = |l: Vec<ExperimentListItem>| l.into_iter().map(|e| e.name).collect::<Vec<_>>();
        assert_eq!(
            names(arrange(list.clone(), "  RISK ", Sort::Newest)),
            vec!["Risk prompt"]
        );
        assert_eq!(
            names(arrange(list.clone(), "about s", Sort::Newest)),
            vec!["summary model"]
        );
        assert_eq!(
            names(arrange(list.clone(), "", Sort::Samples)),
            vec!["summary model", "Grounding", "Risk prompt"]
        );
        assert_eq!(
            names(arrange(list, "", Sort::Name)),
            vec!["Grounding", "Risk prompt", "summary model"]
        );
    }

    #[test]
    fn urls_keep_tab_search_and_order() {
        assert_eq!(dashboard_url(Tab::Active, "", Sort::Newest), "/?tab=active");
        assert_eq!(
            dashboard_url(Tab::Drafts, "risk & co", Sort::Samples),
            "/?tab=drafts&q=risk%20%26%20co&sort=samples"
        );
    }
}
