use sqlx::PgPool;
use verdict::domain::Role;
use verdict::domain::auth::hash_secret as hash_token;
use verdict::service::ServiceError;
use verdict::service::tokens;

#[sqlx::test]
async fn a_created_token_is_stored_only_as_its_hash(pool: PgPool) {
    let token = tokens::create(&pool, Role::Admin, Some("acme".into()), "ci")
        .await
        .unwrap();
    assert!(token.secret.starts_with("vdt_"));
    let (stored, role, tenant): (Vec<u8>, String, Option<String>) =
        sqlx::query_as("select token_hash, role, tenant_id from api_tokens where id = $1")
            .bind(token.id)
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(stored, hash_token(&token.secret));
    assert_eq!(role, "admin");
    assert_eq!(tenant.as_deref(), Some("acme"));
}

#[sqlx::test]
async fn a_tenant_role_without_a_tenant_is_refused(pool: PgPool) {
    let err = tokens::create(&pool, Role::Viewer, None, "")
        .await
        .unwrap_err();
    assert!(matches!(err, ServiceError::Invalid(ref f) if f[0].field == "tenant"));
}

#[sqlx::test]
async fn a_token_can_be_revoked_once(pool: PgPool) {
    let token = tokens::create(&pool, Role::SuperAdmin, None, "")
        .await
        .unwrap();
    assert_eq!(tokens::revoke(&pool, &token.secret).await.unwrap(), 1);
    assert!(matches!(
        tokens::revoke(&pool, &token.secret).await,
        Err(ServiceError::NotFound)
    ));
}
