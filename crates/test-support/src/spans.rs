//! Span helpers: a processor for benchmarks that counts the spans that end
//! and drops them (so what is measured is recording, not export), the
//! check that finished spans nest in time, and the span tree as text.

use std::{
    collections::HashMap,
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use opentelemetry::{Context, Value};
use opentelemetry_sdk::{
    error::OTelSdkResult,
    trace::{InMemorySpanExporter, SdkTracerProvider, Span, SpanData, SpanProcessor},
};

/// A tracer provider that exports each span as it ends into memory, and the
/// exporter to read the finished spans from.
///
/// ```
/// use opentelemetry::trace::{Tracer, TracerProvider};
///
/// let (exporter, provider) = tta_test_support::spans::in_memory();
/// provider.tracer("t").in_span("s", |_| {});
/// assert_eq!(exporter.get_finished_spans().unwrap()[0].name, "s");
/// ```
pub fn in_memory() -> (InMemorySpanExporter, SdkTracerProvider) {
    let exporter = InMemorySpanExporter::default();
    let provider = SdkTracerProvider::builder()
        .with_simple_exporter(exporter.clone())
        .build();
    (exporter, provider)
}

/// The value of `span`'s attribute `key`, if it has one.
pub fn attribute<'a>(span: &'a SpanData, key: &str) -> Option<&'a Value> {
    span.attributes
        .iter()
        .find(|kv| kv.key.as_str() == key)
        .map(|kv| &kv.value)
}

/// Counts finished spans and drops them.
///
/// ```
/// use opentelemetry::trace::{Tracer, TracerProvider};
/// use opentelemetry_sdk::trace::SdkTracerProvider;
/// use tta_test_support::spans::DiscardSpans;
///
/// let discard = DiscardSpans::default();
/// let provider = SdkTracerProvider::builder().with_span_processor(discard.clone()).build();
/// provider.tracer("t").in_span("s", |_| {});
/// assert_eq!(discard.ended(), 1);
/// ```
#[derive(Debug, Clone, Default)]
pub struct DiscardSpans(Arc<AtomicU64>);

impl DiscardSpans {
    /// Spans ended so far.
    pub fn ended(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

impl SpanProcessor for DiscardSpans {
    fn on_start(&self, _span: &mut Span, _cx: &Context) {}
    fn on_end(&self, span: SpanData) {
        self.0.fetch_add(1, Ordering::Relaxed);
        drop(std::hint::black_box(span));
    }
    fn force_flush(&self) -> OTelSdkResult {
        Ok(())
    }
    fn shutdown_with_timeout(&self, _timeout: Duration) -> OTelSdkResult {
        Ok(())
    }
}

/// The spans of `spans` that do not nest in time under their parent (when
/// the parent is among `spans`): each that starts before its parent, ends
/// after it, or ends before it starts, described in one line.
///
/// ```
/// use opentelemetry::trace::{Span, Tracer, TracerProvider};
/// use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracerProvider};
/// use tta_test_support::spans::not_nested_in_time;
///
/// let exporter = InMemorySpanExporter::default();
/// let provider = SdkTracerProvider::builder().with_simple_exporter(exporter.clone()).build();
/// let tracer = provider.tracer("t");
/// tracer.in_span("parent", |_| tracer.in_span("child", |_| {}));
/// assert_eq!(not_nested_in_time(&exporter.get_finished_spans().unwrap()), Vec::<String>::new());
/// ```
pub fn not_nested_in_time(spans: &[SpanData]) -> Vec<String> {
    let by_id: HashMap<_, _> = spans
        .iter()
        .map(|s| (s.span_context.span_id(), s))
        .collect();
    let mut faults = Vec::new();
    for span in spans {
        if span.start_time > span.end_time {
            faults.push(format!("{} ends before it starts", span.name));
        }
        let Some(parent) = by_id.get(&span.parent_span_id) else {
            continue;
        };
        if let Ok(early) = parent.start_time.duration_since(span.start_time)
            && !early.is_zero()
        {
            faults.push(format!(
                "{} starts {early:?} before its parent {}",
                span.name, parent.name
            ));
        }
        if let Ok(late) = span.end_time.duration_since(parent.end_time)
            && !late.is_zero()
        {
            faults.push(format!(
                "{} ends {late:?} after its parent {}",
                span.name, parent.name
            ));
        }
    }
    faults
}

/// The span trees of `spans` as text: one line per span, made by `line`,
/// indented two spaces per level; children in start order (ties by
/// `tta.step.index`), roots (spans whose parent is not among `spans`) in
/// start order.
///
/// ```
/// use opentelemetry::trace::{Tracer, TracerProvider};
///
/// let (exporter, provider) = tta_test_support::spans::in_memory();
/// provider.tracer("t").in_span("parent", |_| {
///     provider.tracer("t").in_span("child", |_| {});
/// });
/// let tree = tta_test_support::spans::render_tree(&exporter.get_finished_spans().unwrap(), |s| {
///     s.name.to_string()
/// });
/// assert_eq!(tree, "parent\n  child\n");
/// ```
pub fn render_tree(spans: &[SpanData], line: impl Fn(&SpanData) -> String) -> String {
    let ids: std::collections::HashSet<_> =
        spans.iter().map(|s| s.span_context.span_id()).collect();
    let mut children: HashMap<_, Vec<&SpanData>> = HashMap::new();
    let mut roots = Vec::new();
    for span in spans {
        if ids.contains(&span.parent_span_id) {
            children.entry(span.parent_span_id).or_default().push(span);
        } else {
            roots.push(span);
        }
    }
    let order = |s: &&SpanData| {
        (
            s.start_time,
            attribute(s, "tta.step.index").map(Value::to_string),
        )
    };
    roots.sort_by_key(order);
    let mut out = String::new();
    let mut stack: Vec<(&SpanData, usize)> = roots.into_iter().rev().map(|s| (s, 0)).collect();
    while let Some((span, depth)) = stack.pop() {
        out.push_str(&"  ".repeat(depth));
        out.push_str(&line(span));
        out.push('\n');
        let mut kids = children
            .get(&span.span_context.span_id())
            .cloned()
            .unwrap_or_default();
        kids.sort_by_key(order);
        stack.extend(kids.into_iter().rev().map(|k| (k, depth + 1)));
    }
    out
}
