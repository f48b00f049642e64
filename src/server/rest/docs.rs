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

/// Adds OpenAPI links from the answers that hand out an experiment to every operation that
/// takes an experiment's id in its path: the create's 201 (`Created`, `experimentId`), and
/// reading or editing one (`Experiment`, `id`). A client can follow an experiment through its
/// lifecycle from the document alone, and schemathesis's stateful phase does: it creates an
/// experiment, then starts, reads, pauses, declares and deploys that one, instead of
/// guessing ids that name nothing. The lifecycle steps' own answers carry no links on
/// purpose: schemathesis takes every POST that links onward as an entry point, and would
/// spend its budget on `…/{random id}/start` and the like.
pub fn link_experiment_ids(doc: &mut serde_json::Value) {
    use serde_json::{Value, json};
    const METHODS: [&str; 5] = ["get", "post", "patch", "put", "delete"];
    const SOURCES: [(&str, &str); 2] = [
        (
            "#/components/schemas/Created",
            "$response.body#/experimentId",
        ),
        ("#/components/schemas/Experiment", "$response.body#/id"),
    ];
    let Some(paths) = doc.get_mut("paths").and_then(Value::as_object_mut) else {
        return;
    };
    let mut takes_id: Vec<String> = paths
        .iter()
        .filter(|(path, _)| path.contains("{id}"))
        .flat_map(|(_, item)| {
            METHODS
                .iter()
                .filter_map(|m| item[*m]["operationId"].as_str())
        })
        .map(str::to_owned)
        .collect();
    takes_id.sort();
    let links = |id: &str| -> serde_json::Map<String, Value> {
        takes_id
            .iter()
            .map(|target| {
                let link = json!({
                    "operationId": target,
                    "parameters": {"id": id},
                    "description": "The experiment this answer names",
                });
                (target.clone(), link)
            })
            .collect()
    };
    for item in paths.values_mut() {
        for method in METHODS {
            let Some(responses) = item
                .get_mut(method)
                .and_then(|op| op.get_mut("responses"))
                .and_then(Value::as_object_mut)
            else {
                continue;
            };
            for (status, response) in responses.iter_mut() {
                let schema = response["content"]["application/json"]["schema"]["$ref"].clone();
                let source = SOURCES.iter().find(|(name, _)| schema == *name);
                if let (true, Some((_, id))) = (status.starts_with('2'), source) {
                    response["links"] = Value::Object(links(id));
                }
            }
        }
    }
}

/// The create's schema (`NewExperiment`, `ExperimentInput`'s fields) as `parse` judges a
/// create: the fields it requires (`REQUIRED_TO_CREATE`) may not be null, the objects among
/// them are written out with the fields each requires (`REQUIRED_WITHIN`). A client reads
/// what a create must send from the document, and a fuzzer generates creates that succeed
/// and can follow their links. (The allocation's sum, at most 100, is in its description: a
/// schema cannot say it. Text that is blank or holds control characters is refused too; a
/// `pattern` saying so made schemathesis 4.32.5 crash inside CPython 3.11.7's parser.)
pub fn strict_create_schema(doc: &mut serde_json::Value) {
    use crate::domain::experiment::{REQUIRED_TO_CREATE, REQUIRED_WITHIN};
    use serde_json::{Value, json};
    let schemas = doc["components"]["schemas"].clone();
    let Some(create) = doc["components"]["schemas"].get_mut("NewExperiment") else {
        return;
    };
    create["required"] = json!(REQUIRED_TO_CREATE);
    let properties = &mut create["properties"];
    for field in REQUIRED_TO_CREATE {
        if let Some(p) = properties.get_mut(field) {
            *p = not_null(p, &schemas);
        }
    }
    for (object, fields) in REQUIRED_WITHIN {
        let Some(p) = properties.get_mut(object) else {
            continue;
        };
        p["required"] = json!(fields);
        for field in fields {
            if let Some(f) = p["properties"].get_mut(*field) {
                *f = not_null(f, &schemas);
            }
        }
    }
    if let Some(p) = properties.get_mut("allocation") {
        p["description"] = Value::from(
            "Percent of all traffic per arm; control and treatment together at most 100.",
        );
    }
}

/// `schema` without its `null`: `"type": [T, "null"]` becomes `T`, and a `oneOf` of `null`
/// and a reference becomes the referenced schema, written out (so it can be made stricter
/// here without changing the shared component).
fn not_null(schema: &serde_json::Value, schemas: &serde_json::Value) -> serde_json::Value {
    use serde_json::Value;
    let mut schema = schema.clone();
    if let Some(Value::Array(types)) = schema.get("type") {
        let kept: Vec<Value> = types.iter().filter(|t| *t != "null").cloned().collect();
        schema["type"] = match kept.as_slice() {
            [only] => only.clone(),
            _ => Value::Array(kept),
        };
    }
    if let Some(Value::Array(alternatives)) = schema.get("oneOf") {
        let kept: Vec<&Value> = alternatives
            .iter()
            .filter(|a| a["type"] != "null")
            .collect();
        if let [only] = kept.as_slice() {
            let name = only["$ref"]
                .as_str()
                .and_then(|r| r.strip_prefix("#/components/schemas/"));
            return match name.and_then(|n| schemas.get(n)) {
                Some(referenced) => referenced.clone(),
                None => (*only).clone(),
            };
        }
    }
    schema
}
