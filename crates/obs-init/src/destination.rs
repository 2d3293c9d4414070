//! Extra span destinations beside the main exporter (Langfuse's OTLP
//! endpoint, its ingestion API, a second backend), each with its own
//! bounded queue and export thread, and an optional selection of traces.

use std::{
    collections::{HashMap, VecDeque},
    fmt,
    sync::{Arc, Mutex},
    time::Duration,
};

use opentelemetry::trace::{SpanId, TraceId};
use opentelemetry_sdk::{
    Resource,
    error::OTelSdkResult,
    logs::{LogExporter, LoggerProviderBuilder},
    trace::{SpanData, SpanExporter},
};

use tta_primitives_obs::redact::Secrets;

use crate::pipeline::{PipelineStats, QueueProcessor, QueueSettings};

/// Which spans a destination receives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SpanSelection {
    /// Every span.
    All,
    /// Whole traces that contain at least one GenAI span (a span with
    /// `gen_ai.operation.name`): the spans of a trace are held until its
    /// local root span ends, then sent together or discarded. At most
    /// [`MAX_HELD_SPANS`] spans are held; past that, the oldest trace is
    /// released early (sent if it has a GenAI span, else discarded).
    LlmTraces,
}

/// The cap on spans held by [`SpanSelection::LlmTraces`].
pub const MAX_HELD_SPANS: usize = 8192;

type Start = Box<dyn FnOnce(&Resource, QueueSettings, Arc<PipelineStats>) -> QueueProcessor + Send>;

/// Adds a destination's log exporter to the bridge's logger provider.
pub(crate) type LogStart = Box<dyn FnOnce(LoggerProviderBuilder) -> LoggerProviderBuilder + Send>;

/// A span destination: a name (the `exporter` label of the pipeline's
/// metrics), an exporter and a selection. The exporter runs on the
/// destination's own thread without a Tokio runtime: use an HTTP exporter
/// with a blocking client (like `tta_langfuse`'s) or one that only queues.
///
/// ```
/// use opentelemetry_sdk::trace::InMemorySpanExporter;
/// use tta_obs_init::{ObservabilityConfig, SpanDestination, SpanSelection};
///
/// let exporter = InMemorySpanExporter::default();
/// let config = ObservabilityConfig::builder("svc")
///     .without_metrics_endpoint()
///     .span_destination(SpanDestination::new("audit", exporter, SpanSelection::LlmTraces))
///     .build()
///     .unwrap();
/// # drop(config);
/// ```
#[derive(Clone)]
pub struct SpanDestination {
    name: &'static str,
    selection: SpanSelection,
    start: Arc<Mutex<Option<Start>>>,
    logs: Arc<Mutex<Option<LogStart>>>,
}

impl fmt::Debug for SpanDestination {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SpanDestination")
            .field("name", &self.name)
            .field("selection", &self.selection)
            .finish_non_exhaustive()
    }
}

impl SpanDestination {
    /// A destination named `name` sending `selection` through `exporter`.
    pub fn new<E>(name: &'static str, exporter: E, selection: SpanSelection) -> Self
    where
        E: SpanExporter + Send + 'static,
    {
        let start: Start = Box::new(move |resource, queue, stats| match selection {
            SpanSelection::All => QueueProcessor::start(exporter, resource, queue, stats),
            SpanSelection::LlmTraces => {
                QueueProcessor::start(LlmTraces::new(exporter), resource, queue, stats)
            }
        });
        Self {
            name,
            selection,
            start: Arc::new(Mutex::new(Some(start))),
            logs: Arc::default(),
        }
    }

    /// Also sends the `tracing` bridge's events, as OTLP log records with
    /// their trace and span ids, to `exporter` (when the bridge is on; see
    /// [`ObservabilityConfigBuilder::tracing_bridge`](crate::ObservabilityConfigBuilder::tracing_bridge)).
    /// The records go through the SDK's batch log processor: a thread of
    /// its own behind a bounded queue of 2,048 records, whose overflow is
    /// dropped, so the application never waits for the destination.
    #[must_use]
    pub fn with_logs<L>(self, exporter: L) -> Self
    where
        L: LogExporter + 'static,
    {
        *self.logs.lock().unwrap_or_else(|p| p.into_inner()) = Some(Box::new(move |builder| {
            builder.with_batch_exporter(exporter)
        }));
        self
    }

    /// The destination's log exporter, once (`None` without one).
    pub(crate) fn take_logs(&self) -> Option<LogStart> {
        self.logs.lock().unwrap_or_else(|p| p.into_inner()).take()
    }

    /// The destination's name.
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// Starts the destination's thread; `None` when it was already started
    /// (a destination serves one initialization). Returns the processor and
    /// the destination's accounting; its error texts pass through `secrets`.
    pub(crate) fn start(
        &self,
        resource: &Resource,
        queue: QueueSettings,
        secrets: &Secrets,
    ) -> Option<(QueueProcessor, Arc<PipelineStats>)> {
        let start = self
            .start
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()?;
        let stats = Arc::new(PipelineStats::new(self.name, secrets.clone()));
        Some((start(resource, queue, Arc::clone(&stats)), stats))
    }
}

/// Holds each trace's spans until its local root ends; passes on the
/// traces with a GenAI span.
struct LlmTraces<E> {
    inner: E,
    held: Mutex<Held>,
}

#[derive(Default)]
struct Held {
    traces: HashMap<TraceId, (Vec<SpanData>, bool)>,
    order: VecDeque<TraceId>,
    spans: usize,
}

impl<E> fmt::Debug for LlmTraces<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LlmTraces").finish_non_exhaustive()
    }
}

fn is_llm(span: &SpanData) -> bool {
    span.attributes
        .iter()
        .any(|kv| kv.key.as_str() == "gen_ai.operation.name")
}

impl<E> LlmTraces<E> {
    fn new(inner: E) -> Self {
        Self {
            inner,
            held: Mutex::default(),
        }
    }

    /// The spans ready to send after `batch` arrived.
    fn select(&self, batch: Vec<SpanData>) -> Vec<SpanData> {
        let mut out = Vec::new();
        let mut held = self.held.lock().unwrap_or_else(|p| p.into_inner());
        for span in batch {
            let trace_id = span.span_context.trace_id();
            let root = span.parent_span_id == SpanId::INVALID || span.parent_span_is_remote;
            let llm = is_llm(&span);
            if !held.traces.contains_key(&trace_id) {
                held.order.push_back(trace_id);
            }
            let entry = held.traces.entry(trace_id).or_default();
            entry.0.push(span);
            entry.1 |= llm;
            held.spans += 1;
            if root {
                release(&mut held, trace_id, &mut out);
            }
            while held.spans > MAX_HELD_SPANS {
                let Some(oldest) = held.order.front().copied() else {
                    break;
                };
                release(&mut held, oldest, &mut out);
            }
        }
        out
    }

    /// Everything still held that has a GenAI span.
    fn release_all(&self) -> Vec<SpanData> {
        let mut out = Vec::new();
        let mut held = self.held.lock().unwrap_or_else(|p| p.into_inner());
        while let Some(oldest) = held.order.front().copied() {
            release(&mut held, oldest, &mut out);
        }
        out
    }
}

fn release(held: &mut Held, trace_id: TraceId, out: &mut Vec<SpanData>) {
    held.order.retain(|t| *t != trace_id);
    if let Some((spans, llm)) = held.traces.remove(&trace_id) {
        held.spans -= spans.len();
        if llm {
            out.extend(spans);
        }
    }
}

impl<E: SpanExporter> SpanExporter for LlmTraces<E> {
    async fn export(&self, batch: Vec<SpanData>) -> OTelSdkResult {
        let selected = self.select(batch);
        if selected.is_empty() {
            return Ok(());
        }
        self.inner.export(selected).await
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        let rest = self.release_all();
        if !rest.is_empty() {
            let _ = futures_executor::block_on(self.inner.export(rest));
        }
        self.inner.shutdown_with_timeout(timeout)
    }

    fn force_flush(&self) -> OTelSdkResult {
        self.inner.force_flush()
    }

    fn set_resource(&mut self, resource: &Resource) {
        self.inner.set_resource(resource);
    }
}
