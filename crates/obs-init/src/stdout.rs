//! The development exporters: finished traces printed on stdout, as one
//! line per trace ([`SummaryExporter`]) or as an indented tree of every span
//! ([`TreeExporter`]), so a developer sees the workflow, its retries and its
//! errors in the terminal without a backend.

use std::{
    collections::{HashMap, VecDeque},
    fmt::Write as _,
    io::Write as _,
    sync::Mutex,
    time::{Duration, SystemTime},
};

use opentelemetry::{
    Value,
    trace::{SpanId, SpanKind, Status, TraceId},
};
use opentelemetry_sdk::{
    error::OTelSdkResult,
    trace::{SpanData, SpanExporter},
};
use tta_primitives_obs::attr;

/// Writes to stdout, never failing the pipeline because stdout is closed.
fn print(out: &str) {
    if !out.is_empty() {
        let _ = std::io::stdout().lock().write_all(out.as_bytes());
    }
}

/// A local root: a span without a parent, or whose parent is in another
/// process (an incoming `traceparent`).
fn is_local_root(span: &SpanData) -> bool {
    span.parent_span_id == SpanId::INVALID || span.parent_span_is_remote
}

fn millis(start: SystemTime, end: SystemTime) -> f64 {
    end.duration_since(start)
        .unwrap_or(Duration::ZERO)
        .as_secs_f64()
        * 1000.0
}

fn kind(kind: &SpanKind) -> &'static str {
    match kind {
        SpanKind::Server => "server",
        SpanKind::Client => "client",
        SpanKind::Producer => "producer",
        SpanKind::Consumer => "consumer",
        SpanKind::Internal => "internal",
    }
}

/// Prints one line per local root span: the trace id, kind, name, duration
/// and status.
#[derive(Debug)]
pub(crate) struct SummaryExporter;

impl SpanExporter for SummaryExporter {
    fn export(
        &self,
        batch: Vec<SpanData>,
    ) -> impl std::future::Future<Output = OTelSdkResult> + Send {
        let mut out = String::new();
        for span in batch.iter().filter(|s| is_local_root(s)) {
            let status = match &span.status {
                Status::Error { description } => format!("error: {description}"),
                _ => "ok".to_owned(),
            };
            let _ = writeln!(
                out,
                "trace {} {} {} {:.1} ms {status}",
                span.span_context.trace_id(),
                kind(&span.span_kind),
                span.name,
                millis(span.start_time, span.end_time),
            );
        }
        print(&out);
        std::future::ready(Ok(()))
    }
}

/// At most this many spans wait for their trace's root; past it, the
/// oldest trace is printed as it is, marked incomplete (nothing is dropped
/// unseen).
const MAX_PENDING_SPANS: usize = 4096;

/// Spans waiting for the local root of their trace.
#[derive(Default)]
struct Pending {
    traces: HashMap<TraceId, Vec<SpanData>>,
    /// Trace ids in the order their first span arrived.
    order: VecDeque<TraceId>,
    spans: usize,
}

impl Pending {
    fn add(&mut self, span: SpanData) {
        let id = span.span_context.trace_id();
        let spans = self.traces.entry(id).or_insert_with(|| {
            self.order.push_back(id);
            Vec::new()
        });
        spans.push(span);
        self.spans += 1;
    }

    fn take(&mut self, id: TraceId) -> Vec<SpanData> {
        let spans = self.traces.remove(&id).unwrap_or_default();
        self.spans -= spans.len();
        self.order.retain(|t| *t != id);
        spans
    }

    /// The oldest trace, when more spans wait than the cap allows (or all
    /// of them, when `all`).
    fn overflow(&mut self, all: bool) -> Option<Vec<SpanData>> {
        if !all && self.spans <= MAX_PENDING_SPANS {
            return None;
        }
        let id = *self.order.front()?;
        Some(self.take(id))
    }

    /// Renders the traces [`overflow`](Self::overflow) gives, marked
    /// incomplete, until it gives none.
    fn render_overflow(&mut self, all: bool, out: &mut String) {
        while let Some(spans) = self.overflow(all) {
            render_tree(&spans, true, out);
        }
    }
}

/// Prints each trace as an indented tree once its local root has ended
/// (every span of a trace ends no later than its parent, so the rest of
/// the trace is in by then): one line per span with its name, primitive
/// type, duration, outcome with `error.type`, and the facts the toolkit
/// records (retry attempt, route, cache hit, fallback leg, saga phase).
///
/// ```text
/// trace 5b8e… server GET /orders/{id} 12.4 ms ok
///   orders [workflow] 12.1 ms ok
///     fetch [retry] 11.8 ms ok
///       fetch_user [lambda] 1.0 ms error upstream_unavailable attempt=1
///       fetch_user [lambda] 0.9 ms ok attempt=2
/// ```
#[derive(Default)]
pub(crate) struct TreeExporter {
    pending: Mutex<Pending>,
}

impl std::fmt::Debug for TreeExporter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TreeExporter").finish_non_exhaustive()
    }
}

impl TreeExporter {
    /// Prints every trace still waiting for its root, marked incomplete.
    fn flush_all(&self) {
        let mut out = String::new();
        self.pending
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .render_overflow(true, &mut out);
        print(&out);
    }
}

impl SpanExporter for TreeExporter {
    fn export(
        &self,
        batch: Vec<SpanData>,
    ) -> impl std::future::Future<Output = OTelSdkResult> + Send {
        let mut out = String::new();
        {
            let mut pending = self.pending.lock().unwrap_or_else(|p| p.into_inner());
            let mut complete = Vec::new();
            for span in batch {
                if is_local_root(&span) {
                    complete.push(span.span_context.trace_id());
                }
                pending.add(span);
            }
            for id in complete {
                render_tree(&pending.take(id), false, &mut out);
            }
            pending.render_overflow(false, &mut out);
        }
        print(&out);
        std::future::ready(Ok(()))
    }

    fn force_flush(&self) -> OTelSdkResult {
        self.flush_all();
        Ok(())
    }

    fn shutdown(&self) -> OTelSdkResult {
        self.flush_all();
        Ok(())
    }
}

fn attribute<'a>(span: &'a SpanData, key: &str) -> Option<&'a Value> {
    span.attributes
        .iter()
        .find(|kv| kv.key.as_str() == key)
        .map(|kv| &kv.value)
}

/// Appends the trees of `spans` (one trace, or what has arrived of it) to
/// `out`: each root's line starts with its trace id, children follow in
/// start order, two spaces deeper. A span whose parent is not among
/// `spans` is printed as a root; `incomplete` marks the trace as printed
/// before its root ended.
pub(crate) fn render_tree(spans: &[SpanData], incomplete: bool, out: &mut String) {
    let ids: std::collections::HashSet<SpanId> =
        spans.iter().map(|s| s.span_context.span_id()).collect();
    let mut children: HashMap<SpanId, Vec<&SpanData>> = HashMap::new();
    let mut roots = Vec::new();
    for span in spans {
        if is_local_root(span) || !ids.contains(&span.parent_span_id) {
            roots.push(span);
        } else {
            children.entry(span.parent_span_id).or_default().push(span);
        }
    }
    roots.sort_by_key(|s| s.start_time);
    for kids in children.values_mut() {
        kids.sort_by_key(|s| s.start_time);
    }
    for root in roots {
        let _ = write!(out, "trace {} ", root.span_context.trace_id());
        if root.span_kind != SpanKind::Internal {
            let _ = write!(out, "{} ", kind(&root.span_kind));
        }
        line(root, out);
        if incomplete {
            out.push_str(" (incomplete)");
        }
        out.push('\n');
        walk(root, 1, &children, out);
    }
}

fn walk(
    span: &SpanData,
    depth: usize,
    children: &HashMap<SpanId, Vec<&SpanData>>,
    out: &mut String,
) {
    for kid in children
        .get(&span.span_context.span_id())
        .into_iter()
        .flatten()
    {
        for _ in 0..depth {
            out.push_str("  ");
        }
        line(kid, out);
        out.push('\n');
        walk(kid, depth + 1, children, out);
    }
}

/// One span: `name [type] 1.2 ms outcome error_type key=value...`.
fn line(span: &SpanData, out: &mut String) {
    out.push_str(&span.name);
    if let Some(kind) = attribute(span, attr::PRIMITIVE_TYPE) {
        let _ = write!(out, " [{kind}]");
    } else if span.span_kind != SpanKind::Internal {
        let _ = write!(out, " [{}]", kind(&span.span_kind));
    }
    let _ = write!(out, " {:.1} ms", millis(span.start_time, span.end_time));
    let cancelled = matches!(attribute(span, attr::CANCELLED), Some(Value::Bool(true)));
    match (&span.status, cancelled) {
        (_, true) => out.push_str(" cancelled"),
        (Status::Error { .. }, _) => {
            out.push_str(" error");
            if let Some(kind) = attribute(span, attr::ERROR_TYPE) {
                let _ = write!(out, " {kind}");
            }
        }
        // An expected error (a not-found): an answer, not a failure.
        _ => match attribute(span, attr::ERROR_TYPE) {
            Some(kind) => {
                let _ = write!(out, " expected {kind}");
            }
            None => out.push_str(" ok"),
        },
    }
    for (key, label) in [
        (attr::RETRY_ATTEMPT, "attempt"),
        (attr::ROUTER_ROUTE, "route"),
        (attr::CACHE_HIT, "cache_hit"),
        (attr::FALLBACK_LEG, "leg"),
        (attr::SAGA_PHASE, "phase"),
        (attr::HTTP_RESPONSE_STATUS_CODE, "status"),
    ] {
        if let Some(value) = attribute(span, key) {
            let _ = write!(out, " {label}={value}");
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use opentelemetry::trace::TracerProvider as _;
    use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracerProvider};
    use tower::ServiceExt;
    use tta_primitives_core::{Request, WorkflowContext, WorkflowError, prelude::*};
    use tta_primitives_obs::{InstrumentExt, Telemetry};

    use super::*;

    /// The spans of one real workflow execution: a retried fetch that fails
    /// once with a kind, then succeeds, beside a render step.
    async fn workflow_spans() -> Vec<SpanData> {
        let exporter = InMemorySpanExporter::default();
        let provider = SdkTracerProvider::builder()
            .with_simple_exporter(exporter.clone())
            .build();
        let fetch = MockPrimitive::<u32, u32>::new()
            .then_fail(WorkflowError::with_kind("upstream_unavailable", "503"))
            .otherwise_return(2)
            .named("fetch_user");
        let policy = RetryPolicy::builder()
            .max_attempts(2)
            .initial_backoff(Duration::from_millis(5))
            .jitter(Jitter::None)
            .build()
            .unwrap();
        let render = lambda(|x: u32| async move { Ok::<_, WorkflowError>(x * 10) }).named("render");
        let wf = (fetch.retry(policy).named("fetch") >> render)
            .named("orders")
            .instrumented_with(Arc::new(Telemetry::with_tracer(provider.tracer("t"))));
        let out = wf
            .oneshot(Request::new(WorkflowContext::new("orders"), 1))
            .await
            .unwrap();
        assert_eq!(out, 20);
        exporter.get_finished_spans().unwrap()
    }

    /// The tree without its durations and trace id, which vary.
    fn shape(text: &str) -> Vec<String> {
        text.lines()
            .map(|line| {
                let line = match line.strip_prefix("trace ") {
                    Some(rest) => rest.split_once(' ').unwrap().1,
                    None => line,
                };
                let (head, tail) = line.split_once(" ms").unwrap();
                let head = head.rsplit_once(' ').unwrap().0;
                format!("{head}{tail}")
            })
            .collect()
    }

    #[tokio::test(start_paused = true)]
    async fn a_trace_prints_as_a_tree_with_attempts_and_error_types() {
        let spans = workflow_spans().await;
        let mut out = String::new();
        render_tree(&spans, false, &mut out);
        assert_eq!(
            shape(&out),
            [
                "orders [workflow] ok",
                "  orders [sequence] ok",
                "    fetch [retry] ok",
                "      fetch_user [mock] error upstream_unavailable attempt=1",
                "      fetch_user [mock] ok attempt=2",
                "    render [lambda] ok",
            ],
            "{out}"
        );
    }

    #[tokio::test]
    async fn an_expected_error_prints_as_expected_not_as_a_failure() {
        let exporter = InMemorySpanExporter::default();
        let provider = SdkTracerProvider::builder()
            .with_simple_exporter(exporter.clone())
            .build();
        let wf = lambda(|_: u32| async move {
            Err::<u32, _>(WorkflowError::expected("not_found", "no user"))
        })
        .named("lookup")
        .instrumented_with(Arc::new(Telemetry::with_tracer(provider.tracer("t"))));
        let err = wf
            .oneshot(Request::new(WorkflowContext::new("users"), 1))
            .await
            .unwrap_err();
        assert_eq!(err.kind(), "not_found");
        let mut out = String::new();
        render_tree(&exporter.get_finished_spans().unwrap(), false, &mut out);
        assert_eq!(
            shape(&out),
            [
                "users [workflow] expected not_found",
                "  lookup [lambda] expected not_found"
            ],
            "{out}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn the_exporter_waits_for_the_root_and_prints_the_rest_at_shutdown() {
        let mut spans = workflow_spans().await;
        let root = spans.pop().unwrap();
        assert!(is_local_root(&root), "the root ends last");
        let exporter = TreeExporter::default();
        // Children first: nothing is printed until the root arrives.
        exporter.export(spans.clone()).await.unwrap();
        assert_eq!(exporter.pending.lock().unwrap().spans, spans.len());
        exporter.export(vec![root]).await.unwrap();
        assert_eq!(exporter.pending.lock().unwrap().spans, 0);
        // A trace whose root never ends is printed, incomplete, at shutdown.
        exporter.export(spans.clone()).await.unwrap();
        let mut out = String::new();
        exporter
            .pending
            .lock()
            .unwrap()
            .render_overflow(true, &mut out);
        assert!(
            out.lines().next().unwrap().ends_with("(incomplete)"),
            "{out}"
        );
        exporter.shutdown().unwrap();
    }

    #[tokio::test(start_paused = true)]
    async fn pending_spans_are_capped_by_printing_the_oldest_trace() {
        let template = workflow_spans().await.remove(0);
        let span = |trace: u128, id: u64| {
            let mut s = template.clone();
            s.span_context = opentelemetry::trace::SpanContext::new(
                TraceId::from(trace),
                SpanId::from(id),
                template.span_context.trace_flags(),
                false,
                template.span_context.trace_state().clone(),
            );
            s
        };
        let mut pending = Pending::default();
        pending.add(span(1, 1));
        for id in 0..MAX_PENDING_SPANS as u64 {
            assert!(pending.overflow(false).is_none(), "within the cap");
            pending.add(span(2, id + 2));
        }
        let printed = pending.overflow(false).expect("one span over the cap");
        assert_eq!(printed.len(), 1);
        assert_eq!(printed[0].span_context.trace_id(), TraceId::from(1u128));
        assert!(pending.overflow(false).is_none(), "back within the cap");
        assert_eq!(pending.overflow(true).unwrap().len(), MAX_PENDING_SPANS);
        assert!(pending.overflow(true).is_none());
    }
}
