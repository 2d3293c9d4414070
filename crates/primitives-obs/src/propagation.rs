//! Context propagation across services: W3C `traceparent` and `baggage`.
//!
//! * [`ExtractLayer`] (server side) reads `traceparent`/`tracestate` and
//!   `baggage` from incoming `http::Request` headers and makes the extracted
//!   context current while the request is handled, so server spans and the
//!   workflows handlers run join the caller's trace.
//! * [`InjectLayer`] (client side) writes the current span (or, without one,
//!   the span of the [`WorkflowContext`] found in the request's extensions)
//!   and the baggage into outgoing headers. The workflow's correlation id
//!   travels in baggage as [`CORRELATION_ID_KEY`], with the workflow's own
//!   baggage entries.
//! * [`workflow_context`] starts a handler's workflow context from the
//!   current baggage, so both sides share the correlation id.

use std::{
    sync::OnceLock,
    task::{Context as TaskContext, Poll},
};

use opentelemetry::{
    Context, KeyValue,
    baggage::BaggageExt,
    context::{FutureExt as _, WithContext},
    propagation::{TextMapCompositePropagator, TextMapPropagator},
    trace::TraceContextExt,
};
use opentelemetry_http::{HeaderExtractor, HeaderInjector};
use opentelemetry_sdk::propagation::{BaggagePropagator, TraceContextPropagator};
use tower::{Layer, Service};
use tta_primitives_core::{Name, WorkflowContext, WorkflowContextBuilder};

use crate::telemetry::node_context;

/// The baggage key carrying the workflow correlation id.
pub const CORRELATION_ID_KEY: &str = "tta.correlation_id";

fn propagator() -> &'static TextMapCompositePropagator {
    static PROPAGATOR: OnceLock<TextMapCompositePropagator> = OnceLock::new();
    PROPAGATOR.get_or_init(|| {
        TextMapCompositePropagator::new(vec![
            Box::new(TraceContextPropagator::new()),
            Box::new(BaggagePropagator::new()),
        ])
    })
}

/// The current context, continued with the W3C trace context and baggage
/// that `headers` carry (unchanged when they carry none).
pub(crate) fn extract(headers: &HeaderExtractor<'_>) -> Context {
    propagator().extract_with_context(&Context::current(), headers)
}

/// The OpenTelemetry context of a workflow step: its node's span (when the
/// workflow is traced) and its baggage, with the correlation id. Attach it
/// to run code (a client call, a `tracing` span) inside the step's span.
pub fn context_of(ctx: &WorkflowContext) -> Context {
    let base = node_context(ctx).unwrap_or_else(Context::current);
    with_workflow_baggage(&base, ctx)
}

fn with_workflow_baggage(cx: &Context, ctx: &WorkflowContext) -> Context {
    let mut entries: Vec<KeyValue> = cx
        .baggage()
        .iter()
        .map(|(k, (v, _))| KeyValue::new(k.clone(), v.clone()))
        .collect();
    entries.extend(
        ctx.baggage()
            .iter()
            .map(|(k, v)| KeyValue::new(k.clone(), v.clone())),
    );
    entries.push(KeyValue::new(
        CORRELATION_ID_KEY,
        opentelemetry::StringValue::from(std::sync::Arc::clone(ctx.correlation_id_shared())),
    ));
    cx.with_baggage(entries)
}

/// A builder for a workflow context that continues the current context's
/// baggage: its correlation id (when a caller sent one) and its other
/// entries become the workflow's.
pub fn workflow_context(name: impl Into<Name>) -> WorkflowContextBuilder {
    let current = Context::current();
    let mut builder = WorkflowContext::builder(name);
    for (key, (value, _)) in current.baggage().iter() {
        if key.as_str() == CORRELATION_ID_KEY {
            builder = builder.correlation_id(value.as_str().to_owned());
        } else {
            builder = builder.baggage(key.as_str(), value.as_str().to_owned());
        }
    }
    builder
}

/// Server side: extracts the caller's context from request headers.
#[derive(Debug, Clone, Copy, Default)]
pub struct ExtractLayer;

impl<S> Layer<S> for ExtractLayer {
    type Service = Extract<S>;
    fn layer(&self, inner: S) -> Self::Service {
        Extract { inner }
    }
}

/// The service of [`ExtractLayer`].
#[derive(Debug, Clone)]
pub struct Extract<S> {
    inner: S,
}

impl<S, B> Service<http::Request<B>> for Extract<S>
where
    S: Service<http::Request<B>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = WithContext<S::Future>;

    fn poll_ready(&mut self, cx: &mut TaskContext<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: http::Request<B>) -> Self::Future {
        let parent = extract(&HeaderExtractor(req.headers()));
        let future = {
            let _attached = parent.clone().attach();
            self.inner.call(req)
        };
        future.with_context(parent)
    }
}

/// Client side: injects the current context into request headers.
#[derive(Debug, Clone, Copy, Default)]
pub struct InjectLayer;

impl<S> Layer<S> for InjectLayer {
    type Service = Inject<S>;
    fn layer(&self, inner: S) -> Self::Service {
        Inject { inner }
    }
}

/// The service of [`InjectLayer`].
#[derive(Debug, Clone)]
pub struct Inject<S> {
    inner: S,
}

impl<S, B> Service<http::Request<B>> for Inject<S>
where
    S: Service<http::Request<B>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(&mut self, cx: &mut TaskContext<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: http::Request<B>) -> Self::Future {
        let current = Context::current();
        let workflow = req.extensions().get::<WorkflowContext>();
        let cx = match workflow {
            // A client span (or any active span) is the remote parent.
            Some(ctx) if current.span().span_context().is_valid() => {
                with_workflow_baggage(&current, ctx)
            }
            Some(ctx) => context_of(ctx),
            None => current,
        };
        propagator().inject_context(&cx, &mut HeaderInjector(req.headers_mut()));
        self.inner.call(req)
    }
}
