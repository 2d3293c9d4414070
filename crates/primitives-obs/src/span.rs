//! Starting a span and running work inside its context: the one place the
//! toolkit's instrumentation does either (the workflow observer,
//! `TelemetryLayer` and langfuse-client's `LlmLayer` all go through here).

use opentelemetry::{
    Context,
    trace::{SpanBuilder, TraceContextExt, Tracer},
};

/// Starts the span `builder` describes (name, kind, attributes, start time)
/// as a child of `parent`, or of the current context when `parent` is
/// `None`, and returns a context that holds it, ready to parent children.
///
/// ```
/// use opentelemetry::trace::{SpanKind, TraceContextExt, Tracer, TracerProvider};
/// use opentelemetry_sdk::trace::SdkTracerProvider;
///
/// let provider = SdkTracerProvider::builder().build();
/// let tracer = provider.tracer("example");
/// let builder = tracer.span_builder("charge").with_kind(SpanKind::Client);
/// let cx = tta_primitives_obs::span::start(&tracer, builder, None);
/// assert!(cx.span().span_context().is_valid());
/// ```
pub fn start<T>(tracer: &T, builder: SpanBuilder, parent: Option<&Context>) -> Context
where
    T: Tracer,
    T::Span: Send + Sync + 'static,
{
    let start = |parent: &Context| parent.with_span(builder.start_with_context(tracer, parent));
    match parent {
        Some(parent) => start(parent),
        // Borrow the current context rather than cloning it.
        None => Context::map_current(start),
    }
}

/// Runs `work` (a service's `call`, or a poll of its future) with `cx` as
/// the current context, so spans started inside nest under it; without a
/// context, runs it as it is.
///
/// ```
/// use opentelemetry::{Context, KeyValue};
///
/// let cx = Context::new().with_value(KeyValue::new("k", "v"));
/// let seen = tta_primitives_obs::span::in_context(Some(&cx), || {
///     Context::current().get::<KeyValue>().cloned()
/// });
/// assert_eq!(seen, Some(KeyValue::new("k", "v")));
/// ```
pub fn in_context<R>(cx: Option<&Context>, work: impl FnOnce() -> R) -> R {
    match cx {
        Some(cx) => {
            let _attached = cx.clone().attach();
            work()
        }
        None => work(),
    }
}
