//! The UI's pages as a client without JavaScript gets them (curl, a crawler, a slow phone):
//! a signed-out visit is a real redirect to sign in, and a page's HTML holds its content or
//! its error, never a loading placeholder.

use crate::helpers::{TestApp, experiment_body, spawn_app};
use serde_json::json;
use sqlx::PgPool;

/// What the pages show while data loads in the browser; a server render never has it.
const PLACEHOLDER: &str = "Loading…";

/// GETs `path` as curl does by default (`Accept: */*`), without credentials.
async fn get_plain(app: &TestApp, path: &str) -> reqwest::Response {
    app.client
        .get(format!("{}{path}", app.address))
        .header("accept", "*/*")
        .send()
        .await
        .expect("request sent")
}

/// The text of the element whose opening tag holds `attribute`, up to its first child
/// element, without Leptos' hydration markers (`<!>`, `<!--…-->`).
fn text_of(html: &str, attribute: &str) -> String {
    let at = html.find(attribute).expect("attribute present");
    let mut rest = &html[at + html[at..].find('>').expect("tag closed") + 1..];
    let mut text = String::new();
    loop {
        if let Some(marker) = rest.strip_prefix("<!") {
            rest = &marker[marker.find('>').expect("marker closed") + 1..];
        } else if rest.starts_with('<') || rest.is_empty() {
            return text;
        } else {
            let end = rest.find('<').unwrap_or(rest.len());
            text.push_str(&rest[..end]);
            rest = &rest[end..];
        }
    }
}

#[sqlx::test]
async fn a_signed_out_visit_is_a_303_to_sign_in_that_names_the_page(pool: PgPool) {
    let app = spawn_app(pool).await;
    let root = app.root().await;
    let id = app.create(&root, &experiment_body("Private")).await;

    let (status, html, headers) = app.get_page("/", None).await;
    assert_eq!(status, 303);
    assert_eq!(headers["location"], "/login?next=%2F");
    assert!(!html.contains(PLACEHOLDER));

    // Any client, not only one that asks for HTML; the query string comes back too.
    let r = get_plain(&app, &format!("/experiments/{id}?action=deploy")).await;
    assert_eq!(r.status().as_u16(), 303);
    assert_eq!(
        r.headers()["location"],
        format!("/login?next=%2Fexperiments%2F{id}%3Faction%3Ddeploy").as_str()
    );
    let r = get_plain(&app, "/experiments/new").await;
    assert_eq!(r.status().as_u16(), 303);
    assert_eq!(r.headers()["location"], "/login?next=%2Fexperiments%2Fnew");
    assert!(
        !r.text().await.unwrap().contains("Private"),
        "nothing of the page leaks"
    );

    // The sign-in page itself renders for anyone, whatever `next` says.
    let (status, html, _) = app
        .get_page("/login?next=https%3A%2F%2Fevil.example%2F", None)
        .await;
    assert_eq!(status, 200);
    assert!(html.contains("API token") && !html.contains(PLACEHOLDER));
}

#[sqlx::test]
async fn every_page_renders_its_content_or_its_error_on_the_server(pool: PgPool) {
    let app = spawn_app(pool).await;
    let root = app.root().await;
    let id = app
        .live_experiment(&root, &experiment_body("Readable charts"), 1)
        .await;
    let events: Vec<_> = (0..40)
        .map(|i| {
            json!({"experimentId": id, "userId": format!("u{i}"), "tenantId": "acme",
                   "eventType": "feedback",
                   "metrics": {"quality": 0.5 + (i % 5) as f64 / 20.0, "latency": 600 + 20 * i,
                               "userSatisfaction": if i % 3 == 0 { "neutral" } else { "positive" }}})
        })
        .collect();
    let r = app
        .post_as(
            "/api/v1/insights/events/batch",
            &root,
            &json!({"events": events}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);

    let page = |path: String| {
        let (app, root) = (&app, &root);
        async move {
            let (status, html, _) = app.get_page(&path, Some(root)).await;
            assert!(!html.contains(PLACEHOLDER), "{path} shows a placeholder");
            (status, html)
        }
    };
    let (status, html) = page("/".into()).await;
    assert_eq!(status, 200);
    assert!(html.contains("A/B Tests") && html.contains("Readable charts"));
    assert_eq!(text_of(&html, r#"data-testid="count-active""#), "1");

    let (status, html) = page(format!("/experiments/{id}")).await;
    assert_eq!(status, 200);
    assert!(html.contains("Readable charts") && html.contains("Results Comparison"));
    for chart in [
        "Quality over time",
        "Latency distribution",
        "User satisfaction",
    ] {
        assert!(
            html.contains(&format!("<title>{chart}</title>")),
            "{chart} is drawn with its title"
        );
    }
    assert!(
        html.contains("<desc>Control: "),
        "charts are described in words"
    );

    let (status, html) = page("/experiments/018f0000-0000-7000-8000-00000000dead".into()).await;
    assert_eq!(status, 200);
    assert!(html.contains("Experiment not found"));

    let (status, html) = page("/experiments/new".into()).await;
    assert_eq!(status, 200);
    assert!(html.contains("Create A/B Test"));
}
