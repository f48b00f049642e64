//! `AbTestLayer`: the spec's `applyABTestVariant` middleware for other Rust services. Mount
//! it on an axum (or any tower) service; for each request it resolves the signed-in user
//! against Verdict's in-memory runtime — no network or database round trip — and puts the
//! variant configurations into the request's extensions as [`AbTestVariants`].
//!
//! ```ignore
//! let runtime = verdict::runtime::Runtime::start(pool).await;
//! let app = Router::new()
//!     .route("/insights", get(handler))
//!     .layer(AbTestLayer::new(runtime, |req: &http::Request<_>| {
//!         Some(Subject::new(header(req, "x-tenant-id")?, header(req, "x-user-id")?))
//!     }));
//! async fn handler(Extension(variants): Extension<AbTestVariants>) -> … {
//!     let template = variants.configuration(TargetType::ContextTemplate);
//! }
//! ```
//! `examples/ab_middleware.rs` is a runnable service that does this.

use crate::domain::assignment::RequestContext;
use crate::domain::experiment::TargetType;
use crate::domain::resolve::ResolvedConfig;
use crate::runtime::Runtime;
use serde_json::{Map, Value};
use std::sync::Arc;
use std::task::{Context, Poll};
use tower::{Layer, Service};

/// Who a request is for, as the service's own auth knows it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Subject {
    pub tenant_id: String,
    pub user_id: String,
    pub intent: Option<String>,
    pub scope: Option<Map<String, Value>>,
}

impl Subject {
    pub fn new(tenant_id: impl Into<String>, user_id: impl Into<String>) -> Self {
        Self {
            tenant_id: tenant_id.into(),
            user_id: user_id.into(),
            ..Self::default()
        }
    }

    pub fn with_intent(mut self, intent: impl Into<String>) -> Self {
        self.intent = Some(intent.into());
        self
    }
}

/// The configurations this request gets, per target type (spec: `req.abTestVariants`).
/// Empty for a request without a subject or outside every experiment.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AbTestVariants {
    pub resolved: Vec<ResolvedConfig>,
}

impl AbTestVariants {
    /// The configuration for `target_type`, when an experiment or deployment covers it.
    pub fn configuration(&self, target_type: TargetType) -> Option<&Value> {
        self.get(target_type).map(|r| &r.configuration)
    }

    /// The full answer for `target_type`.
    pub fn get(&self, target_type: TargetType) -> Option<&ResolvedConfig> {
        self.resolved.iter().find(|r| r.target_type == target_type)
    }
}

/// Finds the subject of a request.
pub type SubjectFn<B> = Arc<dyn Fn(&http::Request<B>) -> Option<Subject> + Send + Sync>;

/// The layer. Cheap to clone.
pub struct AbTestLayer<B> {
    runtime: Arc<Runtime>,
    subject: SubjectFn<B>,
}

impl<B> Clone for AbTestLayer<B> {
    fn clone(&self) -> Self {
        Self {
            runtime: self.runtime.clone(),
            subject: self.subject.clone(),
        }
    }
}

impl<B> AbTestLayer<B> {
    /// `subject` tells who a request is for (from the service's own session or headers).
    pub fn new(
        runtime: Arc<Runtime>,
        subject: impl Fn(&http::Request<B>) -> Option<Subject> + Send + Sync + 'static,
    ) -> Self {
        Self {
            runtime,
            subject: Arc::new(subject),
        }
    }
}

impl<S, B> Layer<S> for AbTestLayer<B> {
    type Service = AbTest<S, B>;

    fn layer(&self, inner: S) -> Self::Service {
        AbTest {
            inner,
            layer: self.clone(),
        }
    }
}

/// The service the layer wraps around yours.
pub struct AbTest<S, B> {
    inner: S,
    layer: AbTestLayer<B>,
}

impl<S: Clone, B> Clone for AbTest<S, B> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            layer: self.layer.clone(),
        }
    }
}

impl<S, B> Service<http::Request<B>> for AbTest<S, B>
where
    S: Service<http::Request<B>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: http::Request<B>) -> Self::Future {
        let variants = match (self.layer.subject)(&request) {
            Some(subject) => {
                let ctx = RequestContext {
                    tenant_id: &subject.tenant_id,
                    user_id: &subject.user_id,
                    intent: subject.intent.as_deref(),
                    scope: subject.scope.as_ref(),
                };
                AbTestVariants {
                    resolved: self
                        .layer
                        .runtime
                        .resolve_with(&ctx, |all| all.iter().map(|r| r.to_config()).collect()),
                }
            }
            None => AbTestVariants::default(),
        };
        request.extensions_mut().insert(variants);
        self.inner.call(request)
    }
}
