//! The OpenAPI 3.1 document of the REST API (`GET /api/openapi.json`), generated from the
//! handlers' `#[utoipa::path]` annotations and the Rust types they take and answer (utoipa),
//! collected by the same router that serves them (utoipa-axum), so a route cannot be served
//! without being described, nor described without being served.

use super::error::ErrorBody;
use super::ofrep::{OfrepFailure, OfrepServerError};
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Verdict",
        description = "Self-hosted A/B testing for AI features: experiments, assignment, events, \
                       results. Authenticate with `Authorization: Bearer <token>` \
                       (`verdict token create`).",
        license(name = "MIT")
    ),
    modifiers(&BearerAuth),
    security(("bearer" = [])),
    components(schemas(ErrorBody, OfrepFailure, OfrepServerError)),
    tags(
        (name = "experiments", description = "Managing experiments (admin)"),
        (name = "runtime", description = "The AI product's hot path: resolve and events"),
        (name = "openfeature", description = "OpenFeature Remote Evaluation Protocol (OFREP 0.3): \
                                              flags are targets, keyed `targetType:targetId` (docs/OPENFEATURE.md)"),
        (name = "health", description = "Health of the server"),
    )
)]
pub struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("vdt_ and 64 hex digits")
                    .build(),
            ),
        );
        // OFREP's other scheme: the same token in `X-API-Key` (the OFREP routes only).
        components.add_security_scheme(
            "api_key",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::new("X-API-Key"))),
        );
    }
}
