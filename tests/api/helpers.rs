use serde_json::{Value, json};
use sqlx::PgPool;
use verdict::domain::Role;
use verdict::server::{Application, Settings};
use verdict::service::tokens;

/// A running server on a free port, over its own database.
pub struct TestApp {
    pub address: String,
    pub pool: PgPool,
    pub client: reqwest::Client,
}

/// Builds the app exactly as `verdict serve` does, on port 0, and runs it in the background.
pub async fn spawn_app(pool: PgPool) -> TestApp {
    spawn_app_with(pool, false).await
}

/// Like [`spawn_app`], with `VERDICT_REQUIRE_APPROVAL` set as given.
pub async fn spawn_app_with(pool: PgPool, require_approval: bool) -> TestApp {
    spawn_app_and_runtime(pool, require_approval).await.0
}

/// Like [`spawn_app_with`], also handing over the server's runtime (to inject faults).
pub async fn spawn_app_and_runtime(
    pool: PgPool,
    require_approval: bool,
) -> (TestApp, std::sync::Arc<verdict::runtime::Runtime>) {
    let settings = Settings {
        database_url: String::new(),
        addr: "127.0.0.1:0".parse().unwrap(),
        require_approval,
        insecure_cookies: false,
    };
    let app = Application::build(&settings, pool.clone())
        .await
        .expect("the app builds");
    let runtime = app.runtime();
    let address = format!("http://127.0.0.1:{}", app.port());
    tokio::spawn(app.run_until_stopped());
    (
        TestApp {
            address,
            pool,
            client: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
        },
        runtime,
    )
}

/// The REST base path of experiments.
pub const EXPERIMENTS: &str = "/api/v1/admin/insights/experiments";

/// A valid create body, named `name`.
pub fn experiment_body(name: &str) -> Value {
    json!({
        "name": name,
        "description": "Testing a new context template that includes more historical data",
        "hypothesis": "Including historical project data will improve risk analysis quality by 15%",
        "targetType": "context_template",
        "targetId": format!("template-{name}"),
        "control": {"name": "Current", "configuration": {"templateId": "risk-v1"}},
        "treatment": {"name": "With history", "configuration": {"templateId": "risk-v2"}},
        "allocation": {"control": 50, "treatment": 50},
        "primaryMetric": "quality",
        "successCriteria": {"metric": "quality", "operator": ">", "threshold": 5, "confidenceLevel": 0.95},
        "secondaryMetrics": ["latency"],
        "minDuration": 7,
        "minSamplesPerVariant": 1000
    })
}

/// An answer: status and JSON body (Null when not JSON).
pub struct Reply {
    pub status: u16,
    pub body: Value,
    pub headers: reqwest::header::HeaderMap,
}

impl Reply {
    /// The field paths of a validation error.
    pub fn fields(&self) -> Vec<String> {
        self.body["error"]["fields"]
            .as_array()
            .map(|a| {
                a.iter()
                    .map(|f| f["field"].as_str().unwrap_or_default().to_owned())
                    .collect()
            })
            .unwrap_or_default()
    }
}

impl TestApp {
    /// Folds every event not folded into the per-user rollups yet (the background fold may
    /// hold the lock for a moment).
    pub async fn fold_everything(&self) {
        let mut conn = self.pool.acquire().await.unwrap();
        while verdict::store::fold::fold(&mut conn, i64::MAX)
            .await
            .unwrap()
            .map(|f| f.events)
            != Some(0)
        {
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    }

    /// A new token's secret.
    pub async fn token(&self, role: Role, tenant: Option<&str>) -> String {
        tokens::create(&self.pool, role, tenant.map(str::to_owned), "test")
            .await
            .expect("token created")
            .secret
    }

    /// A super_admin token.
    pub async fn root(&self) -> String {
        self.token(Role::SuperAdmin, None).await
    }

    /// Sends a request with an optional bearer token and JSON body.
    pub async fn send(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<&Value>,
    ) -> Reply {
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let mut request = self
            .client
            .request(method, format!("{}{path}", self.address));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(body);
        }
        Self::reply(request).await
    }

    /// Sends a request built on this app's client; returns its status, headers and JSON body.
    pub async fn reply(request: reqwest::RequestBuilder) -> Reply {
        let response = request.send().await.expect("request sent");
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let text = response.text().await.unwrap_or_default();
        Reply {
            status,
            body: serde_json::from_str(&text).unwrap_or(Value::Null),
            headers,
        }
    }

    pub async fn get_as(&self, path: &str, token: &str) -> Reply {
        self.send("GET", path, Some(token), None).await
    }

    pub async fn post_as(&self, path: &str, token: &str, body: &Value) -> Reply {
        self.send("POST", path, Some(token), Some(body)).await
    }

    /// POSTs JSON without credentials; returns the status and the JSON body.
    pub async fn post_json(&self, path: &str, body: &Value) -> (u16, Value) {
        let r = self.send("POST", path, None, Some(body)).await;
        (r.status, r.body)
    }

    /// GETs a path with an optional token; returns the status and the body text.
    pub async fn get_page(
        &self,
        path: &str,
        token: Option<&str>,
    ) -> (u16, String, reqwest::header::HeaderMap) {
        let mut request = self
            .client
            .get(format!("{}{path}", self.address))
            .header("accept", "text/html,application/xhtml+xml");
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.expect("request sent");
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        (status, response.text().await.unwrap_or_default(), headers)
    }

    /// Creates an experiment through the API; returns its id.
    pub async fn create(&self, token: &str, body: &Value) -> String {
        let r = self.post_as(EXPERIMENTS, token, body).await;
        assert_eq!(r.status, 201, "{}", r.body);
        r.body["experimentId"].as_str().unwrap().to_owned()
    }

    /// POSTs `…/{id}/{action}` with an empty object.
    pub async fn act(&self, token: &str, id: &str, action: &str) -> Reply {
        self.post_as(&format!("{EXPERIMENTS}/{id}/{action}"), token, &json!({}))
            .await
    }
}

impl TestApp {
    /// Waits until this server's runtime serves `n` active experiments (change
    /// notifications arrive within milliseconds; the deadline is generous).
    pub async fn wait_for_live(&self, n: u64) {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        let operator = self.root().await;
        loop {
            let (_, body, _) = self.get_page("/healthz", Some(&operator)).await;
            let health: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
            if health["runtime"]["experiments"].as_u64() == Some(n) {
                return;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "runtime never showed {n} live experiments: {health}"
            );
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    }

    /// Creates and starts an experiment from `body`; waits until it is live here.
    pub async fn live_experiment(&self, token: &str, body: &Value, live_after: u64) -> String {
        let id = self.create(token, body).await;
        let r = self.act(token, &id, "start").await;
        assert_eq!(r.status, 200, "{}", r.body);
        self.wait_for_live(live_after).await;
        id
    }

    /// Resolves for a user; returns the answer body.
    pub async fn resolve(&self, token: &str, tenant: &str, user: &str) -> Reply {
        self.post_as(
            "/api/v1/insights/resolve",
            token,
            &json!({"tenantId": tenant, "userId": user}),
        )
        .await
    }
}
