//! Starting a span and running work inside its context: the one place the
//! toolkit's instrumentation does either (the workflow observer,
//! `TelemetryLayer` and langfuse-client's `LlmLayer` all go through here).

use std::cell::RefCell;

use opentelemetry::{
    Context, ContextGuard,
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

thread_local! {
    /// The guards of the contexts made current by [`attach_in_poll`], in
    /// the order they were attached (polls of nested nodes nest).
    static IN_POLL: RefCell<Vec<ContextGuard>> = const { RefCell::new(Vec::new()) };
}

/// Makes `cx` current until the matching [`detach_in_poll`] on this thread:
/// the two halves of one poll of a node's future, which a workflow observer
/// gets as separate calls (`Observer::enter_poll` / `exit_poll`). The guard
/// stays on this thread, so the polled future stays `Send`.
pub(crate) fn attach_in_poll(cx: &Context) {
    let guard = cx.clone().attach();
    // A thread being torn down runs no workflow; the guard is dropped then.
    let _ = IN_POLL.try_with(|stack| stack.borrow_mut().push(guard));
}

/// Restores the context that was current before the latest
/// [`attach_in_poll`] on this thread.
pub(crate) fn detach_in_poll() {
    let guard = IN_POLL
        .try_with(|stack| stack.borrow_mut().pop())
        .ok()
        .flatten();
    drop(guard);
}
