//! `verdict demo` fills a database with experiments in every state and real traffic.

use sqlx::PgPool;

#[sqlx::test]
async fn the_demo_makes_experiments_in_every_state_with_traffic(pool: PgPool) {
    let made = verdict::demo::run(&pool).await.unwrap();
    assert_eq!(made.len(), 8);
    let statuses: Vec<String> =
        sqlx::query_scalar("select distinct status from experiments order by status")
            .fetch_all(&pool)
            .await
            .unwrap();
    assert_eq!(
        statuses,
        [
            "active",
            "cancelled",
            "completed",
            "draft",
            "paused",
            "winner_deployed"
        ]
    );
    let events: i64 = sqlx::query_scalar("select count(*) from events")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert!(events > 10_000, "{events}");
    let recommendations: Vec<(String, String)> = sqlx::query_as(
        "select e.name, s.body -> 'comparison' ->> 'recommendation'
         from result_snapshots s join experiments e on e.id = s.experiment_id",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    let of = |name: &str| {
        recommendations
            .iter()
            .find(|(n, _)| n.starts_with(name))
            .map(|(_, r)| r.clone())
    };
    assert_eq!(
        of("Risk analysis").as_deref(),
        Some("deploy_treatment"),
        "a clear win"
    );
    assert_eq!(
        of("Larger model").as_deref(),
        Some("keep_control"),
        "a latency regression"
    );
    assert_eq!(
        of("Prompt wording A/A").as_deref(),
        Some("keep_control"),
        "an A/A rules out +5%"
    );
}
