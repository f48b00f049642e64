//! `verdict demo`: a few experiments in every state with simulated traffic sent through the
//! runtime (the same ingestion path as the API), so a first run shows a living dashboard.

use crate::domain::assignment::Variant;
use crate::domain::experiment::{Action, DeployRequest, ExperimentInput};
use crate::domain::{Principal, Role};
use crate::runtime::Runtime;
use crate::service::{ServiceError, events, experiments, results};
use anyhow::Context;
use chrono::{Duration, Utc};
use serde_json::{Value, json};
use sqlx::PgPool;
use uuid::Uuid;

/// Deterministic noise (splitmix64), so every demo looks the same.
struct Noise(crate::domain::splitmix::SplitMix64);
impl Noise {
    fn next(&mut self) -> f64 {
        self.0.unit()
    }
    fn normal(&mut self) -> f64 {
        let (u, v) = (self.next().max(1e-12), self.next());
        (-2.0 * u.ln()).sqrt() * (2.0 * std::f64::consts::PI * v).cos()
    }
}

struct Plan {
    name: &'static str,
    description: &'static str,
    hypothesis: &'static str,
    target_type: &'static str,
    metric: &'static str,
    operator: &'static str,
    /// (quality, latency ms, satisfaction probability) of control and treatment.
    control: (f64, f64, f64),
    treatment: (f64, f64, f64),
    users: usize,
    /// Lifecycle steps after creation.
    steps: &'static [&'static str],
}

const PLANS: &[Plan] = &[
    Plan {
        name: "Risk analysis context with project history",
        description: "Adds the last 12 months of project history to the context template.",
        hypothesis: "Historical data improves risk-analysis quality by 15%",
        target_type: "context_template",
        metric: "quality",
        operator: ">",
        control: (0.62, 1400.0, 0.55),
        treatment: (0.71, 1400.0, 0.68),
        users: 900,
        steps: &["start"],
    },
    Plan {
        name: "Prompt wording A/A check",
        description: "Two identical prompts: checks the pipeline end to end.",
        hypothesis: "No difference",
        target_type: "prompt",
        metric: "quality",
        operator: ">",
        control: (0.66, 1200.0, 0.6),
        treatment: (0.66, 1200.0, 0.6),
        users: 800,
        steps: &["start"],
    },
    Plan {
        name: "Larger model for summaries",
        description: "Routes summaries to the larger model.",
        hypothesis: "Quality rises, latency stays acceptable",
        target_type: "model_selection",
        metric: "quality",
        operator: ">",
        control: (0.64, 1100.0, 0.58),
        treatment: (0.67, 2300.0, 0.6),
        users: 800,
        steps: &["start"],
    },
    Plan {
        name: "Stricter grounding threshold",
        description: "Raises the grounding threshold from 0.6 to 0.75.",
        hypothesis: "Fewer unsupported claims improve satisfaction",
        target_type: "grounding_threshold",
        metric: "satisfaction",
        operator: ">",
        control: (0.6, 1000.0, 0.5),
        treatment: (0.63, 1050.0, 0.6),
        users: 600,
        steps: &["start", "pause"],
    },
    Plan {
        name: "Citation-first answer template",
        description: "Puts citations before the answer.",
        hypothesis: "Quality improves by 5%",
        target_type: "context_template",
        metric: "quality",
        operator: ">",
        control: (0.6, 1300.0, 0.55),
        treatment: (0.68, 1300.0, 0.66),
        users: 900,
        steps: &["start", "declare_winner", "deploy_25"],
    },
    Plan {
        name: "Intent classifier v3",
        description: "New intent classifier with finer risk intents.",
        hypothesis: "Better routing improves quality",
        target_type: "intent_classification",
        metric: "quality",
        operator: ">",
        control: (0.63, 900.0, 0.55),
        treatment: (0.62, 950.0, 0.54),
        users: 500,
        steps: &["start", "stop"],
    },
    Plan {
        name: "Shorter system prompt",
        description: "Cuts the system prompt by 40% to save tokens.",
        hypothesis: "Cost drops without losing quality",
        target_type: "prompt",
        metric: "quality",
        operator: "<=",
        control: (0.65, 1200.0, 0.6),
        treatment: (0.64, 1000.0, 0.6),
        users: 0,
        steps: &[],
    },
    Plan {
        name: "Experimental reranker (abandoned)",
        description: "Cancelled: the reranker service was retired.",
        hypothesis: "Reranking improves quality",
        target_type: "context_template",
        metric: "quality",
        operator: ">",
        control: (0.6, 1000.0, 0.5),
        treatment: (0.6, 1000.0, 0.5),
        users: 0,
        steps: &["cancel"],
    },
];

/// Fills the database with the demo experiments and their traffic.
pub async fn run(pool: &PgPool) -> anyhow::Result<Vec<(String, Uuid)>> {
    let root = Principal {
        token_id: Uuid::nil(),
        role: Role::SuperAdmin,
        tenant_id: None,
        actor: "verdict demo".into(),
    };
    let runtime = Runtime::start(pool.clone()).await;
    let mut noise = Noise(crate::domain::splitmix::SplitMix64(42));
    let mut made = Vec::new();
    for (k, plan) in PLANS.iter().enumerate() {
        let input: ExperimentInput = serde_json::from_value(json!({
            "tenantId": "acme",
            "name": plan.name, "description": plan.description, "hypothesis": plan.hypothesis,
            "targetType": plan.target_type, "targetId": format!("demo-{k}-{}", &Uuid::now_v7().to_string()[..8]),
            "control": {"name": "Current", "configuration": {"version": 1}},
            "treatment": {"name": "New", "configuration": {"version": 2}},
            "allocation": {"control": 50, "treatment": 50},
            "primaryMetric": plan.metric,
            "successCriteria": {"metric": plan.metric, "operator": plan.operator, "threshold": 5, "confidenceLevel": 0.95},
            "secondaryMetrics": if plan.metric == "quality" { json!(["latency", "satisfaction"]) } else { json!(["quality", "latency"]) },
            "minDuration": 7, "minSamplesPerVariant": 300
        }))?;
        let e = experiments::create(pool, &root, input)
            .await
            .map_err(ServiceError::into_anyhow)?;
        let mut steps = plan.steps.iter();
        if plan.steps.first() == Some(&"start") {
            steps.next();
            experiments::transition(pool, &root, e.id, Action::Start, false)
                .await
                .map_err(ServiceError::into_anyhow)?;
            // Started ten days ago, so the charts have days to show.
            sqlx::query!(
                "update experiments set start_date = now() - interval '10 days' where id = $1",
                e.id
            )
            .execute(pool)
            .await
            .context("Failed to backdate the demo experiment")?;
            runtime.refresh().await;
            send_traffic(&runtime, &root, e.id, plan, &mut noise).await?;
        }
        for step in steps {
            match *step {
                "pause" => {
                    experiments::transition(pool, &root, e.id, Action::Pause, false)
                        .await
                        .map_err(ServiceError::into_anyhow)?;
                }
                "stop" => {
                    experiments::transition(pool, &root, e.id, Action::Stop, false)
                        .await
                        .map_err(ServiceError::into_anyhow)?;
                }
                "cancel" => {
                    experiments::transition(pool, &root, e.id, Action::Cancel, false)
                        .await
                        .map_err(ServiceError::into_anyhow)?;
                }
                "declare_winner" => {
                    experiments::declare_winner(pool, &root, e.id, Variant::Treatment)
                        .await
                        .map_err(ServiceError::into_anyhow)?;
                }
                "deploy_25" => {
                    experiments::deploy_winner(
                        pool,
                        &root,
                        e.id,
                        DeployRequest {
                            winner: Variant::Treatment,
                            rollout_percentage: Some(25.0),
                            notes: Some("demo canary".into()),
                        },
                    )
                    .await
                    .map_err(ServiceError::into_anyhow)?;
                }
                _ => {}
            }
        }
        if let Ok(fresh) = experiments::get(pool, &root, e.id).await {
            let _ = results::recompute(pool, &fresh).await;
        }
        made.push((plan.name.to_owned(), e.id));
    }
    Ok(made)
}

async fn send_traffic(
    runtime: &Runtime,
    root: &Principal,
    id: Uuid,
    plan: &Plan,
    noise: &mut Noise,
) -> anyhow::Result<()> {
    let now = Utc::now();
    let mut events: Vec<Value> = Vec::new();
    for u in 0..plan.users {
        let user = format!("demo-user-{u}");
        // The variant decides the simulated behaviour: use the real assignment.
        let snapshot = runtime.snapshot();
        let ctx = crate::domain::assignment::RequestContext::new("acme", &user);
        let Some(variant) = crate::domain::resolve::assignment_in(&snapshot, id, &ctx) else {
            continue;
        };
        let (q, l, s) = if variant == Variant::Control {
            plan.control
        } else {
            plan.treatment
        };
        let day = (u % 10) as i64;
        for k in 0..3 {
            let ts = now - Duration::days(9 - day) + Duration::minutes(k * 7);
            let satisfaction = if noise.next() < s {
                "positive"
            } else if noise.next() < 0.5 {
                "neutral"
            } else {
                "negative"
            };
            events.push(json!({
                "experimentId": id, "userId": user, "tenantId": "acme", "eventType": "feedback",
                "timestamp": ts.to_rfc3339(),
                "metrics": {
                    "quality": (q + 0.08 * noise.normal()).clamp(0.0, 1.0),
                    "latency": (l * (0.6 + 0.8 * noise.next())).max(50.0),
                    "tokensUsed": 600 + (noise.next() * 900.0) as i64,
                    "cost": 0.002 + 0.004 * noise.next(),
                    "userSatisfaction": satisfaction
                }
            }));
        }
    }
    for chunk in events.chunks(5_000) {
        events::track_batch(runtime, root, chunk)
            .await
            .map_err(ServiceError::into_anyhow)?;
    }
    Ok(())
}
