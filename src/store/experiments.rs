use crate::domain::{ExperimentListItem, ExperimentStatus, StatusCounts};
use chrono::{DateTime, Utc};
use sqlx::PgPool;
use uuid::Uuid;

/// How many experiments are in each status (all tenants).
pub async fn count_by_status(pool: &PgPool) -> sqlx::Result<StatusCounts> {
    let rows: Vec<(String, i64)> =
        sqlx::query_as("select status, count(*) from experiments group by status")
            .fetch_all(pool)
            .await?;
    let mut counts = StatusCounts::default();
    for (status, n) in rows {
        // The table's CHECK constraint admits only known statuses.
        let status = status
            .parse::<ExperimentStatus>()
            .map_err(|e| sqlx::Error::Decode(Box::new(e)))?;
        counts.add(status, u64::try_from(n).unwrap_or(0));
    }
    Ok(counts)
}

#[derive(sqlx::FromRow)]
struct ListRow {
    id: Uuid,
    tenant_id: String,
    name: String,
    description: String,
    target_type: String,
    status: String,
    start_date: Option<DateTime<Utc>>,
    created_at: DateTime<Utc>,
}

impl ListRow {
    fn into_domain(self) -> sqlx::Result<ExperimentListItem> {
        Ok(ExperimentListItem {
            id: self.id,
            tenant_id: self.tenant_id,
            name: self.name,
            description: self.description,
            target_type: self.target_type,
            status: self
                .status
                .parse()
                .map_err(|e| sqlx::Error::Decode(Box::new(e)))?,
            start_date: self.start_date,
            created_at: self.created_at,
        })
    }
}

/// The experiments in any of `statuses` (all when empty), newest first.
pub async fn list_by_status(
    pool: &PgPool,
    statuses: &[ExperimentStatus],
) -> sqlx::Result<Vec<ExperimentListItem>> {
    let names: Vec<&str> = statuses.iter().map(|s| s.as_str()).collect();
    sqlx::query_as::<_, ListRow>(
        "select id, tenant_id, name, description, target_type, status, start_date, created_at
         from experiments where cardinality($1::text[]) = 0 or status = any($1)
         order by created_at desc, id",
    )
    .bind(&names)
    .fetch_all(pool)
    .await?
    .into_iter()
    .map(ListRow::into_domain)
    .collect()
}
