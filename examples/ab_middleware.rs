//! A tiny "AI product" service that mounts Verdict's `AbTestLayer`: every request is
//! resolved in memory against the experiments in Verdict's database, and the handler uses
//! the context template its user was assigned.
//!
//! ```sh
//! DATABASE_URL=postgres://…/verdict cargo run --example ab_middleware --features ssr
//! curl -H 'x-tenant-id: acme' -H 'x-user-id: u1' http://127.0.0.1:4000/insights
//! ```

use axum::extract::Extension;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{Value, json};
use verdict::domain::experiment::TargetType;
use verdict::middleware::{AbTestLayer, AbTestVariants, Subject};

fn header(req: &axum::http::Request<axum::body::Body>, name: &str) -> Option<String> {
    req.headers().get(name)?.to_str().ok().map(str::to_owned)
}

async fn insights(Extension(variants): Extension<AbTestVariants>) -> Json<Value> {
    // The spec's ContextAssemblyService: the variant's template, or the product's default.
    let template = variants
        .configuration(TargetType::ContextTemplate)
        .and_then(|c| c.get("templateId"))
        .cloned()
        .unwrap_or_else(|| json!("default-template"));
    Json(json!({"templateId": template, "variants": variants.resolved}))
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let url = std::env::var("DATABASE_URL")?;
    let pool = verdict::server::db::connect(&url).await?;
    let runtime = verdict::runtime::Runtime::start(pool).await;
    let app = Router::new()
        .route("/insights", get(insights))
        .layer(AbTestLayer::new(runtime, |req| {
            let subject = Subject::new(header(req, "x-tenant-id")?, header(req, "x-user-id")?);
            Some(match header(req, "x-intent") {
                Some(intent) => subject.with_intent(intent),
                None => subject,
            })
        }));
    let addr = std::env::var("EXAMPLE_ADDR").unwrap_or_else(|_| "127.0.0.1:4000".into());
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    println!("example service on http://{addr}/insights");
    axum::serve(listener, app).await?;
    Ok(())
}
