//! `/experiments/:id`: the spec's Experiment Results View — header, comparison grid,
//! charts, the recommendation with its reasons, actions with confirmation, the audit log.

use crate::api::{
    ApiError, ExperimentPageData, PageArm, PageResults, change_status, declare_winner,
    deploy_winner, experiment_page,
};
use crate::app::components::StatusBadge;
use crate::app::format::{date, date_time};
use crate::domain::ExperimentStatus;
use crate::domain::assignment::Variant;
use crate::domain::experiment::{Action as Lifecycle, DeployRequest};
use crate::domain::results::Recommendation;
use leptos::prelude::*;
use leptos_router::hooks::{use_params_map, use_query_map};
use uuid::Uuid;

/// What a confirmation dialog is about to do.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Pending {
    Status(Lifecycle),
    DeclareWinner,
    Deploy,
}

impl Pending {
    fn title(self) -> &'static str {
        match self {
            Pending::Status(Lifecycle::Start) => "Start the experiment?",
            Pending::Status(Lifecycle::Pause) => "Pause the experiment?",
            Pending::Status(Lifecycle::Resume) => "Resume the experiment?",
            Pending::Status(Lifecycle::Stop) => "Stop the experiment?",
            Pending::Status(Lifecycle::Cancel) => "Cancel the experiment?",
            Pending::Status(_) => "Change the status?",
            Pending::DeclareWinner => "Declare a winner",
            Pending::Deploy => "Deploy the winner",
        }
    }

    fn explanation(self) -> &'static str {
        match self {
            Pending::Status(Lifecycle::Start) => "Users start getting variants right away.",
            Pending::Status(Lifecycle::Pause) => {
                "Users get the current configuration and events are refused until you resume."
            }
            Pending::Status(Lifecycle::Resume) => "Users get their variants again.",
            Pending::Status(Lifecycle::Stop) => {
                "The experiment ends without a winner; its results are stored."
            }
            Pending::Status(Lifecycle::Cancel) => "The experiment ends and cannot be restarted.",
            Pending::Status(_) => "",
            Pending::DeclareWinner => {
                "The experiment ends with this winner; its results are stored."
            }
            Pending::Deploy => {
                "The winner's configuration goes to this share of users; you can widen it later."
            }
        }
    }
}

fn pct(x: Option<f64>) -> String {
    x.map(|v| format!("{:.1}%", v * 100.0))
        .unwrap_or_else(|| "—".into())
}

fn ms(x: Option<f64>) -> String {
    x.map(|v| format!("{v:.0} ms"))
        .unwrap_or_else(|| "—".into())
}

fn change_row(label: &'static str, change: Option<f64>, lower_is_better: bool) -> impl IntoView {
    let (text, class, arrow) = match change {
        None => ("—".to_owned(), "neutral", "•"),
        Some(c) => {
            let good = if lower_is_better { c < 0.0 } else { c > 0.0 };
            (
                format!("{:.1}%", c.abs()),
                if c == 0.0 {
                    "neutral"
                } else if good {
                    "good"
                } else {
                    "bad"
                },
                if c > 0.0 {
                    "▲"
                } else if c < 0.0 {
                    "▼"
                } else {
                    "•"
                },
            )
        }
    };
    view! {
        <li class=format!("change {class}") data-testid=format!("change-{label}")>
            <span class="arrow" aria-hidden="true">{arrow}</span>
            <span class="value">{text}</span>
            <span class="label">{label}</span>
        </li>
    }
}

#[component]
fn VariantColumn(report: PageResults, variant: Variant, name: String) -> impl IntoView {
    let arm = if variant == Variant::Control {
        report.control.clone()
    } else {
        report.treatment.clone()
    };
    let feedback = arm.metrics.satisfaction;
    let sat = (feedback.positive + feedback.negative + feedback.neutral > 0).then(|| {
        feedback.positive as f64 / (feedback.positive + feedback.negative + feedback.neutral) as f64
    });
    let request_p95 = report.request_p95[usize::from(variant == Variant::Treatment)];
    let testid = format!("column-{}", variant.as_str());
    view! {
        <section class=format!("variant-column {}", variant.as_str()) data-testid=testid>
            <header>
                <span class=format!("badge badge-{}", variant.as_str())>
                    {if variant == Variant::Control { "Control" } else { "Treatment" }}
                </span>
                <h3>{name}</h3>
            </header>
            <dl class="metrics">
                <dt>"Samples"</dt>
                <dd data-testid="samples">{arm.samples}</dd>
                <dt>"Quality (avg)"</dt>
                <dd>{pct(arm.metrics.quality.mean)}</dd>
                <dt title="The 95th percentile of the users' mean latencies (the analysis unit is the user)">
                    "Latency (P95 of users' means)"
                </dt>
                <dd>{ms(arm.metrics.latency.p95)}</dd>
                <dt title="The 95th percentile of every request's latency (what an SLO states), within 1 %">
                    "Request latency (P95)"
                </dt>
                <dd data-testid="request-p95">{ms(request_p95)}</dd>
                <dt>"Satisfaction"</dt>
                <dd>{pct(sat)}</dd>
            </dl>
        </section>
    }
}

#[component]
fn Comparison(report: PageResults) -> impl IntoView {
    let c = report.comparison.clone();
    let significance = c.statistical_significance;
    let level = c.confidence_level;
    let width = significance
        .map(|s| (s * 100.0).clamp(0.0, 100.0))
        .unwrap_or(0.0);
    let significant = significance.is_some_and(|s| s >= level);
    view! {
        <section class="comparison-column" aria-label="Comparison">
            <div class="scale" aria-hidden="true">"⚖"</div>
            <ul class="changes">
                {change_row("quality", c.quality_improvement, false)}
                {change_row("latency", c.latency_improvement, true)}
                {change_row("satisfaction", c.satisfaction_improvement, false)}
            </ul>
            <div class="significance">
                <span class="label">"Statistical significance"</span>
                <div
                    class="bar"
                    role="progressbar"
                    aria-valuemin="0"
                    aria-valuemax="100"
                    aria-valuenow=format!("{width:.1}")
                    aria-label="Statistical significance"
                >
                    <div
                        class=if significant { "fill good" } else { "fill warn" }
                        style=format!("width: {width:.1}%")
                    ></div>
                </div>
                <span data-testid="significance">
                    {significance.map(|s| format!("{:.1}%", s * 100.0)).unwrap_or_else(|| "not enough data".into())}
                    {significant.then_some(" ✓ Significant")}
                </span>
                <span class="muted small" title=report.decided_by.clone() data-testid="decided-by">
                    "Decided by the always-valid (sequential) test: valid at every look"
                </span>
                {report.request_p95_difference.map(|(d, lo, hi)| view! {
                    <span class="muted small" data-testid="request-p95-difference">
                        {format!(
                            "Request p95 latency, treatment − control: {d:+.0} ms ({lo:+.0} to {hi:+.0} ms; requests, descriptive)"
                        )}
                    </span>
                })}
            </div>
        </section>
    }
}

/// Beyond two arms: one column per arm (control first) with its headline metrics, then each
/// treatment against the control: its changes, significance, criterion and verdict.
#[component]
fn ArmsTable(
    arms: Vec<PageArm>,
    recommended: Option<Variant>,
    winner: Option<Variant>,
) -> impl IntoView {
    let k = arms.len();
    let cell = |arm: &PageArm, metric: &'static str, content: AnyView| {
        view! {
            <td data-arm=arm.key.as_str().to_owned() data-metric=metric>{content}</td>
        }
    };
    let row = |label: &'static str, title: Option<&'static str>, cells: Vec<AnyView>| {
        view! {
            <tr>
                <th scope="row" title=title>{label}</th>
                {cells}
            </tr>
        }
    };
    let metrics = |f: &dyn Fn(&PageArm) -> AnyView, metric: &'static str| -> Vec<AnyView> {
        arms.iter()
            .map(|a| cell(a, metric, f(a)).into_any())
            .collect()
    };
    let versus =
        |f: &dyn Fn(&crate::api::PageVersus) -> AnyView, metric: &'static str| -> Vec<AnyView> {
            arms.iter()
                .map(|a| {
                    let content = match &a.versus {
                        Some(v) => f(v),
                        None => view! { <span class="muted">"baseline"</span> }.into_any(),
                    };
                    cell(a, metric, content).into_any()
                })
                .collect()
        };
    let change = |x: Option<f64>, lower_is_better: bool| -> AnyView {
        match x {
            None => view! { <span class="muted">"—"</span> }.into_any(),
            Some(c) => {
                let good = if lower_is_better { c < 0.0 } else { c > 0.0 };
                let class = if c == 0.0 {
                    "neutral"
                } else if good {
                    "good"
                } else {
                    "bad"
                };
                let arrow = if c > 0.0 {
                    "▲"
                } else if c < 0.0 {
                    "▼"
                } else {
                    "•"
                };
                view! { <span class=format!("change {class}")><span aria-hidden="true">{arrow}" "</span>{format!("{c:+.1}%")}</span> }.into_any()
            }
        }
    };
    let heads = arms
        .iter()
        .enumerate()
        .map(|(i, a)| {
            let is_rec = recommended == Some(a.key);
            let is_winner = winner == Some(a.key);
            view! {
                <th scope="col" class=format!("arm-head{}", if is_rec { " recommended" } else { "" })
                    style=format!("--arm: var(--arm-{})", i.min(7)) data-testid=format!("column-{}", a.key.as_str())>
                    <span class="arm-key"><span class="swatch" aria-hidden="true"></span>{a.key.as_str().to_owned()}</span>
                    <span class="arm-name" title=a.name.clone()>{a.name.clone()}</span>
                    <span class="arm-share muted">{if a.control { format!("control · {}%", a.share) } else { format!("{}% of traffic", a.share) }}</span>
                    {is_rec.then(|| view! { <span class="tag good" data-testid="recommended-arm">"Recommended"</span> })}
                    {is_winner.then(|| view! { <span class="tag winner-tag"><Trophy />"Winner"</span> })}
                </th>
            }
        })
        .collect_view();
    view! {
        <div class="arms-scroll">
            <table class=format!("arms-table arms-{k}") data-testid="arms-table">
                <caption class="sr-only">"Every arm, and each treatment against the control"</caption>
                <thead><tr><th scope="col" class="corner">"Arm"</th>{heads}</tr></thead>
                <tbody>
                    {row("Samples (users)", None, metrics(&|a| view! { {a.results.samples} }.into_any(), "samples"))}
                    {row("Quality (avg)", None, metrics(&|a| view! { {pct(a.results.metrics.quality.mean)} }.into_any(), "quality"))}
                    {row("Latency (P95 of users' means)", Some("The 95th percentile of the users' mean latencies (the analysis unit is the user)"),
                        metrics(&|a| view! { {ms(a.results.metrics.latency.p95)} }.into_any(), "latency"))}
                    {row("Request latency (P95)", Some("The 95th percentile of every request's latency (what an SLO states), within 1 %"),
                        metrics(&|a| view! { {ms(a.request_p95)} }.into_any(), "request-p95"))}
                    {row("Satisfaction", None, metrics(&|a| view! { {pct(a.results.metrics.satisfaction.rate())} }.into_any(), "satisfaction"))}
                </tbody>
                <tbody class="versus">
                    <tr class="group"><th scope="rowgroup" colspan=k + 1>"Against the control"</th></tr>
                    {row("Quality change", None, versus(&|v| change(v.comparison.quality_improvement, false), "quality-change"))}
                    {row("Latency change", None, versus(&|v| change(v.comparison.latency_improvement, true), "latency-change"))}
                    {row("Satisfaction change", None, versus(&|v| change(v.comparison.satisfaction_improvement, false), "satisfaction-change"))}
                    {row("Significance", Some("1 − p of the criterion metric's always-valid test, against the level each comparison needs (Bonferroni over the treatments)"),
                        versus(&|v| {
                            let s = v.comparison.statistical_significance;
                            let level = v.comparison.confidence_level;
                            let width = s.map(|s| (s * 100.0).clamp(0.0, 100.0)).unwrap_or(0.0);
                            let significant = s.is_some_and(|s| s >= level);
                            view! {
                                <div class="bar small-bar" role="progressbar" aria-valuemin="0" aria-valuemax="100" aria-valuenow=format!("{width:.1}") aria-label="Statistical significance">
                                    <div class=if significant { "fill good" } else { "fill warn" } style=format!("width: {width:.1}%")></div>
                                </div>
                                <span>{s.map(|s| format!("{:.1}%", s * 100.0)).unwrap_or_else(|| "no data".into())}{significant.then_some(" ✓")}</span>
                                <span class="muted small">{format!("needs {:.1}%", level * 100.0)}</span>
                            }.into_any()
                        }, "significance"))}
                    {row("Criterion", None, versus(&|v| {
                        let (text, class) = match v.criterion_met {
                            Some(true) => ("met", "good"),
                            Some(false) => ("not met", "bad"),
                            None => ("undecided", "neutral"),
                        };
                        view! { <span class=format!("change {class}") title=v.criterion_text.clone()>{text}</span> }.into_any()
                    }, "criterion"))}
                    {row("Verdict", None, versus(&|v| {
                        let (text, class) = match v.comparison.recommendation {
                            Recommendation::DeployTreatment => ("beats the control", "good"),
                            Recommendation::KeepControl => ("keep the control", "bad"),
                            Recommendation::Inconclusive => ("inconclusive", "neutral"),
                        };
                        view! { <span class=format!("change {class}")>{text}</span> }.into_any()
                    }, "verdict"))}
                </tbody>
            </table>
        </div>
    }
}

/// A trophy drawn in SVG (an emoji would need an emoji font, which many systems lack).
#[component]
fn Trophy() -> impl IntoView {
    view! {
        <svg
            class="icon"
            viewBox="0 0 16 16"
            aria-hidden="true"
            fill="none"
            stroke="currentColor"
            stroke-width="1.5"
            stroke-linecap="round"
            stroke-linejoin="round"
        >
            <path d="M4.5 2.5h7v3a3.5 3.5 0 0 1-7 0z" />
            <path d="M4.5 3.5h-2v1a2.5 2.5 0 0 0 2.3 2.5" />
            <path d="M11.5 3.5h2v1a2.5 2.5 0 0 1-2.3 2.5" />
            <path d="M8 9v3.5M5.5 13.5h5" />
        </svg>
    }
}

/// The experiment page.
#[component]
pub fn ExperimentView() -> impl IntoView {
    let params = use_params_map();
    let id = Memo::new(move |_| {
        params
            .read()
            .get("id")
            .and_then(|s| Uuid::parse_str(&s).ok())
    });
    let refresh = RwSignal::new(0u32);
    let page = Resource::new(
        move || (id.get(), refresh.get()),
        |(id, _)| async move {
            match id {
                Some(id) => experiment_page(id).await,
                None => Err(ApiError::NotFound),
            }
        },
    );
    // Live: while the page is open, figures refresh without a reload.
    #[cfg(feature = "hydrate")]
    {
        use leptos::leptos_dom::helpers::set_interval_with_handle;
        if let Ok(handle) = set_interval_with_handle(
            move || refresh.update(|n| *n += 1),
            std::time::Duration::from_secs(10),
        ) {
            on_cleanup(move || handle.clear());
        }
    }
    let pending = RwSignal::new(None::<Pending>);
    // `?action=declare` or `?action=deploy` (the dashboard's card buttons) opens that dialog
    // once, when the experiment allows it.
    let query = use_query_map();
    let asked = StoredValue::new(query.with_untracked(|q| match q.get("action").as_deref() {
        Some("declare") => Some(Pending::DeclareWinner),
        Some("deploy") => Some(Pending::Deploy),
        _ => None,
    }));
    let message = RwSignal::new(None::<(bool, String)>);
    let act = Action::new(move |input: &(Uuid, Pending, Variant, u8, String)| {
        let (id, what, winner, pct, notes) = input.clone();
        async move {
            let done: Result<String, ApiError> = match what {
                Pending::Status(a) => change_status(id, a)
                    .await
                    .map(|e| format!("Now {}.", e.status.label())),
                Pending::DeclareWinner => declare_winner(id, winner)
                    .await
                    .map(|_| format!("{} declared the winner.", winner)),
                Pending::Deploy => deploy_winner(
                    id,
                    DeployRequest {
                        winner,
                        rollout_percentage: Some(f64::from(pct)),
                        notes: Some(notes),
                    },
                )
                .await
                .map(|d| {
                    format!(
                        "Deployed {} to {}% of users.",
                        d.winner, d.rollout_percentage
                    )
                }),
            };
            match done {
                Ok(text) => {
                    message.set(Some((true, text)));
                    pending.set(None);
                    refresh.update(|n| *n += 1);
                }
                Err(err) => message.set(Some((false, err.to_string()))),
            }
        }
    });
    view! {
        <Transition fallback=|| view! { <p class="loading">"Loading…"</p> }>
            {move || Suspend::new(async move {
                match page.await {
                    Ok(p) => {
                        if let Some(what) = asked.get_value() {
                            asked.set_value(None);
                            let allowed = p.can_manage
                                && match what {
                                    Pending::DeclareWinner => p.experiment.status.is_live(),
                                    Pending::Deploy => p.experiment.winner.is_some(),
                                    Pending::Status(_) => false,
                                };
                            if allowed {
                                pending.set(Some(what));
                            }
                        }
                        view! { <PageBody page=p pending message act /> }.into_any()
                    }
                    Err(ApiError::NotFound) => {
                        view! {
                            <section class="empty">
                                <h1>"Experiment not found"</h1>
                                <p><a href="/">"Back to the experiments"</a></p>
                            </section>
                        }
                            .into_any()
                    }
                    Err(err) => view! { <p class="error" role="alert">{err.to_string()}</p> }.into_any(),
                }
            })}
        </Transition>
    }
}

#[component]
fn PageBody(
    page: ExperimentPageData,
    pending: RwSignal<Option<Pending>>,
    message: RwSignal<Option<(bool, String)>>,
    act: Action<(Uuid, Pending, Variant, u8, String), ()>,
) -> impl IntoView {
    let e = page.experiment.clone();
    let r = page.results.clone();
    let id = e.id;
    let status = e.status;
    let manage = page.can_manage;
    let winner = r.winner;
    let duration = match (e.start_date, e.end_date) {
        (Some(s), Some(end)) => format!("{} – {}", date(s), date(end)),
        (Some(s), None) => format!("{} – Ongoing", date(s)),
        _ => "Not started".into(),
    };
    let alloc = e.allocation;
    let recommendation = r.comparison.recommendation;
    let k_arms = !r.arms.is_empty();
    let arm_title = |key: Variant| {
        e.arms
            .iter()
            .find(|(k, _)| *k == key)
            .map(|(k, n)| format!("{n} ({k})"))
            .unwrap_or_else(|| key.to_string())
    };
    let rec_text = if k_arms {
        match (recommendation, r.recommended_arm) {
            (Recommendation::DeployTreatment, Some(key)) => {
                let v = r.arms.iter().find(|a| a.key == key).and_then(|a| a.versus.as_ref());
                format!(
                    "Deploy {} — the best of the treatments that meet the criterion: a {:.1}% quality change against the control, at {:.1}% confidence for each of the {} comparisons.",
                    arm_title(key),
                    v.and_then(|v| v.comparison.quality_improvement).unwrap_or(0.0),
                    v.map_or(0.0, |v| v.comparison.confidence_level * 100.0),
                    r.arms.len() - 1
                )
            }
            (Recommendation::KeepControl, _) => {
                "Keep the control — no treatment showed the improvement it needs.".to_owned()
            }
            _ => "Results are inconclusive — no treatment meets the criterion yet; consider running the experiment longer.".to_owned(),
        }
    } else {
        match recommendation {
            Recommendation::DeployTreatment => format!(
                "Deploy treatment variant — it shows a {:.1}% quality change with {:.0}% confidence.",
                r.comparison.quality_improvement.unwrap_or(0.0),
                r.comparison.confidence_level * 100.0
            ),
            Recommendation::KeepControl => {
                "Keep control variant — treatment did not show the improvement it needs.".to_owned()
            }
            Recommendation::Inconclusive => {
                "Results are inconclusive — consider running the experiment longer.".to_owned()
            }
        }
    };
    let button = move |label: &'static str, what: Pending, class: &'static str| {
        view! {
            <button class=format!("button {class}") on:click=move |_| { message.set(None); pending.set(Some(what)); }>
                {label}
            </button>
        }
    };
    let declared = e.winner;
    let rollout = RwSignal::new(25u8);
    let notes = RwSignal::new(String::new());
    // The declared winner, else the recommended arm, else the first treatment.
    let chosen = RwSignal::new(
        declared
            .or(r.recommended_arm)
            .or_else(|| e.arms.get(1).map(|(k, _)| *k))
            .unwrap_or(Variant::Treatment),
    );
    let arm_options = e.arms.clone();
    view! {
        <article class="experiment-page">
            <div class="page-header">
                <div class="title-row">
                    <a class="back" href="/" aria-label="Back to the experiments">"←"</a>
                    <h1>{e.name.clone()}</h1>
                    <StatusBadge status />
                    {winner.map(|w| view! { <span class="winner" data-testid="winner"><Trophy />{w.as_str()} " wins"</span> })}
                </div>
            </div>
            <section class="info">
                <div>
                    <span class="label">"Hypothesis"</span>
                    <p>{e.hypothesis.clone()}</p>
                </div>
                <div>
                    <span class="label">"Duration"</span>
                    <p>{duration}</p>
                </div>
                <div>
                    <span class="label">"Traffic Allocation"</span>
                    {if k_arms {
                        let label = alloc.iter().map(|(k, p)| format!("{p}% {k}")).collect::<Vec<_>>().join(", ");
                        view! {
                            <div class="allocation" aria-label=label>
                                {alloc.iter().enumerate().map(|(i, (k, p))| view! {
                                    <span class=format!("arm-{}", i.min(7)) style=format!("width: {p}%") title=format!("{k}: {p}%")>{p}"%"</span>
                                }).collect_view()}
                            </div>
                        }.into_any()
                    } else {
                        view! {
                            <div class="allocation" aria-label=format!("{}% control, {}% treatment", alloc.control(), alloc.treatment())>
                                <span class="control" style=format!("width: {}%", alloc.control())>{alloc.control()}"%"</span>
                                <span class="treatment" style=format!("width: {}%", alloc.treatment())>{alloc.treatment()}"%"</span>
                            </div>
                        }.into_any()
                    }}
                </div>
            </section>
            <h2>"Results Comparison"</h2>
            {if k_arms {
                view! { <ArmsTable arms=r.arms.clone() recommended=r.recommended_arm winner=declared /> }.into_any()
            } else {
                let name = |i: usize| e.arms.get(i).map(|(_, n)| n.clone()).unwrap_or_default();
                view! {
                <div class="comparison-grid">
                    <VariantColumn report=r.clone() variant=Variant::Control name=name(0) />
                    <Comparison report=r.clone() />
                    <VariantColumn report=r.clone() variant=Variant::Treatment name=name(1) />
                </div>
                }.into_any()
            }}
            {view! {
            <section class="charts">
                <figure class="chart" data-testid="chart-quality">
                    <figcaption>"Quality Over Time"</figcaption>
                    <div inner_html=page.quality_chart.clone()></div>
                </figure>
                <figure class="chart" data-testid="chart-latency">
                    <figcaption>"Latency Distribution"</figcaption>
                    <div inner_html=page.latency_chart.clone()></div>
                </figure>
                <figure class="chart" data-testid="chart-satisfaction">
                    <figcaption>"User Satisfaction"</figcaption>
                    <div inner_html=page.satisfaction_chart.clone()></div>
                </figure>
            </section>
            }.into_any()}
            <section class=format!("panel recommendation {}", match recommendation { Recommendation::DeployTreatment => "good", Recommendation::KeepControl => "bad", Recommendation::Inconclusive => "neutral" }) data-testid="recommendation">
                <h2>"Recommendation"</h2>
                <p>{rec_text}</p>
                <ul class="reasons">
                    {r.reasons.iter().map(|x| view! { <li>{x.clone()}</li> }).collect_view()}
                </ul>
            </section>
            {move || message.get().map(|(ok, text)| view! {
                <p class=if ok { "notice good" } else { "notice error" } role=if ok { "status" } else { "alert" }>{text}</p>
            })}
            {view! {
            <section class="actions" aria-label="Actions">
                {manage.then(|| view! {
                    {(status == ExperimentStatus::Draft).then(|| button("Start Experiment", Pending::Status(Lifecycle::Start), ""))}
                    {(status == ExperimentStatus::Active).then(|| button("Pause Experiment", Pending::Status(Lifecycle::Pause), "secondary"))}
                    {(status == ExperimentStatus::Paused).then(|| button("Resume Experiment", Pending::Status(Lifecycle::Resume), ""))}
                    {status.is_live().then(|| button("Declare Winner", Pending::DeclareWinner, ""))}
                    {status.is_live().then(|| button("Stop Experiment", Pending::Status(Lifecycle::Stop), "danger"))}
                    {matches!(status, ExperimentStatus::Completed | ExperimentStatus::WinnerDeployed).then(|| button(
                        if recommendation == Recommendation::DeployTreatment && !k_arms { "Deploy Treatment" } else { "Deploy Winner" },
                        Pending::Deploy, ""))}
                    {matches!(status, ExperimentStatus::Draft | ExperimentStatus::Active | ExperimentStatus::Paused)
                        .then(|| button("Cancel Experiment", Pending::Status(Lifecycle::Cancel), "danger secondary"))}
                })}
            </section>
            }.into_any()}
            {move || pending.get().map(|what| view! {
                <div class="dialog-backdrop">
                    <div class="dialog" role="dialog" aria-modal="true" aria-labelledby="dialog-title">
                        <h2 id="dialog-title">{what.title()}</h2>
                        <p>{what.explanation()}</p>
                        {matches!(what, Pending::DeclareWinner | Pending::Deploy).then(|| view! {
                            <label for="winner">"Winner"</label>
                            <select id="winner" disabled=declared.is_some() on:change=move |ev| {
                                if let Ok(key) = event_target_value(&ev).parse::<Variant>() {
                                    chosen.set(key);
                                }
                            }>
                                {if k_arms {
                                    arm_options.iter().enumerate().map(|(i, (key, name))| {
                                        let key = *key;
                                        let label = if i == 0 { format!("{name} ({key}, control)") } else { format!("{name} ({key})") };
                                        view! { <option value=key.as_str().to_owned() selected=move || chosen.get() == key>{label}</option> }
                                    }).collect_view().into_any()
                                } else {
                                    view! {
                                        <option value="treatment" selected=move || chosen.get() == Variant::Treatment>"Treatment"</option>
                                        <option value="control" selected=move || chosen.get() == Variant::Control>"Control"</option>
                                    }.into_any()
                                }}
                            </select>
                        })}
                        {(what == Pending::Deploy).then(|| view! {
                            <label for="rollout">"Rollout percentage"</label>
                            <input id="rollout" type="number" min="1" max="100"
                                prop:value=move || rollout.get().to_string()
                                on:input=move |ev| rollout.set(event_target_value(&ev).parse().unwrap_or(0)) />
                            <label for="notes">"Notes"</label>
                            <textarea id="notes" prop:value=move || notes.get() on:input=move |ev| notes.set(event_target_value(&ev))></textarea>
                        })}
                        {move || message.get().filter(|(ok, _)| !ok).map(|(_, text)| view! { <p class="error" role="alert">{text}</p> })}
                        <div class="dialog-buttons">
                            <button class="button secondary" on:click=move |_| pending.set(None)>"Back"</button>
                            <button class="button" disabled=move || act.pending().get() on:click=move |_| {
                                act.dispatch((id, what, chosen.get_untracked(), rollout.get_untracked(), notes.get_untracked()));
                            }>"Confirm"</button>
                        </div>
                    </div>
                </div>
            })}
            {view! {
            <section class="panel audit">
                <h2>"Audit Log"</h2>
                <ol class="audit-list" data-testid="audit">
                    {page.audit.iter().rev().map(|a| view! {
                        <li>
                            <time>{date_time(a.at)}</time>
                            " · " <strong>{a.action.clone()}</strong> " · " <span class="muted">{a.actor.clone()}</span>
                        </li>
                    }).collect_view()}
                </ol>
            </section>
            }.into_any()}
        </article>
    }
}
