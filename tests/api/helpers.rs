use serde_json::Value;
use sqlx::PgPool;
use verdict::server::{Application, Settings};

/// A running server on a free port, over its own database.
pub struct TestApp {
    pub address: String,
    pub pool: PgPool,
    pub client: reqwest::Client,
}

/// Builds the app exactly as `verdict serve` does, on port 0, and runs it in the background.
pub async fn spawn_app(pool: PgPool) -> TestApp {
    let settings = Settings {
        database_url: String::new(),
        addr: "127.0.0.1:0".parse().unwrap(),
    };
    let app = Application::build(&settings, pool.clone())
        .await
        .expect("the app builds");
    let address = format!("http://127.0.0.1:{}", app.port());
    tokio::spawn(app.run_until_stopped());
    TestApp {
        address,
        pool,
        client: reqwest::Client::new(),
    }
}

impl TestApp {
    /// POSTs JSON to a path; returns the status and the JSON body (Null when not JSON).
    pub async fn post_json(&self, path: &str, body: &Value) -> (u16, Value) {
        let response = self
            .client
            .post(format!("{}{path}", self.address))
            .json(body)
            .send()
            .await
            .expect("request sent");
        let status = response.status().as_u16();
        let text = response.text().await.unwrap_or_default();
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    /// GETs a path; returns the status and the body text.
    pub async fn get(&self, path: &str) -> (u16, String) {
        let response = self
            .client
            .get(format!("{}{path}", self.address))
            .send()
            .await
            .expect("request sent");
        let status = response.status().as_u16();
        (status, response.text().await.unwrap_or_default())
    }

    /// Inserts a minimal experiment in `status` directly (the API to create them comes later).
    pub async fn insert_experiment(&self, name: &str, status: &str) {
        sqlx::query(
            "insert into experiments (tenant_id, id, name, target_type, target_id, control_name,
                 treatment_name, alloc_control, alloc_treatment, primary_metric, success_metric,
                 success_operator, success_threshold, confidence_level, status, start_date,
                 min_duration_days, min_samples_per_variant, created_by, salt)
             values ('system', $1, $2, 'prompt', 'p1', 'A', 'B', 50, 50, 'quality', 'quality',
                 '>', 5, 0.95, $3, case when $3 = 'draft' then null else now() end, 7, 100,
                 'test', 'salt')",
        )
        .bind(uuid::Uuid::now_v7())
        .bind(name)
        .bind(status)
        .execute(&self.pool)
        .await
        .expect("experiment inserted");
    }
}
