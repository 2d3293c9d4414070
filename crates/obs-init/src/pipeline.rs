//! The span pipeline: a bounded queue and an export thread that count what
//! they drop and every failed export.
//!
//! Written by hand rather than using the SDK's `BatchSpanProcessor` because
//! that processor keeps its drop count private, and spans dropped by the
//! telemetry pipeline must be counted in `tta_telemetry_spans_dropped_total`
//! (and failed exports in `tta_telemetry_export_errors_total`). The
//! application never waits on it: ending a span is a `try_send` into the
//! queue; a full queue drops the span and counts it.

use std::{
    sync::{
        Arc, Mutex,
        atomic::{AtomicU64, Ordering},
        mpsc::{Receiver, RecvTimeoutError, SyncSender, TrySendError, sync_channel},
    },
    thread::JoinHandle,
    time::{Duration, Instant, SystemTime},
};

use opentelemetry::Context;
use opentelemetry_sdk::{
    Resource,
    error::{OTelSdkError, OTelSdkResult},
    trace::{Span, SpanData, SpanExporter, SpanProcessor},
};
use tta_primitives_obs::catalogue::{EXPORT_ERRORS, SPANS_DROPPED};

/// How the pipeline is doing, for `/healthz`.
#[derive(Debug, Default)]
pub(crate) struct PipelineStats {
    pub(crate) exported: AtomicU64,
    pub(crate) dropped: AtomicU64,
    pub(crate) export_errors: AtomicU64,
    pub(crate) last_success: Mutex<Option<SystemTime>>,
    pub(crate) last_error: Mutex<Option<String>>,
}

enum Message {
    Span(Box<SpanData>),
    Flush(SyncSender<()>),
    Shutdown(SyncSender<()>),
}

/// Settings of the queue and the export thread.
#[derive(Debug, Clone, Copy)]
pub(crate) struct QueueSettings {
    pub(crate) capacity: usize,
    pub(crate) max_batch: usize,
    pub(crate) delay: Duration,
    /// The exporter's own timeout, if it has one: a failure that took at
    /// least this long is counted as a timeout (HTTP clients report a timed
    /// out request as a plain network error).
    pub(crate) export_timeout: Option<Duration>,
}

/// A span processor with a bounded queue and its own export thread.
pub(crate) struct QueueProcessor {
    queue: SyncSender<Message>,
    worker: Mutex<Option<JoinHandle<()>>>,
    exporter_name: &'static str,
    stats: Arc<PipelineStats>,
}

impl std::fmt::Debug for QueueProcessor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("QueueProcessor")
            .field("exporter", &self.exporter_name)
            .finish_non_exhaustive()
    }
}

fn count_dropped(stats: &PipelineStats, exporter: &'static str, reason: &'static str, n: u64) {
    stats.dropped.fetch_add(n, Ordering::Relaxed);
    metrics::counter!(SPANS_DROPPED.name, "exporter" => exporter, "reason" => reason).increment(n);
}

impl QueueProcessor {
    /// Starts the export thread for `exporter`.
    pub(crate) fn start<E: SpanExporter + Send + 'static>(
        exporter: E,
        exporter_name: &'static str,
        resource: &Resource,
        settings: QueueSettings,
        stats: Arc<PipelineStats>,
    ) -> Self {
        Self::spawn(
            move || Ok((exporter, Exec::Plain)),
            exporter_name,
            resource,
            settings,
            stats,
        )
    }

    /// Starts the export thread for an exporter that needs a Tokio runtime
    /// (gRPC): the thread owns a current-thread runtime, builds the exporter
    /// inside it with `make`, and runs every export on it, so the
    /// application's runtime (of whatever flavour) is never involved.
    pub(crate) fn start_in_runtime<E, M>(
        make: M,
        exporter_name: &'static str,
        resource: &Resource,
        settings: QueueSettings,
        stats: Arc<PipelineStats>,
    ) -> Self
    where
        E: SpanExporter + 'static,
        M: FnOnce() -> Result<E, String> + Send + 'static,
    {
        let make = move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| e.to_string())?;
            let exporter = {
                let _entered = runtime.enter();
                make()?
            };
            Ok((exporter, Exec::Tokio(runtime)))
        };
        Self::spawn(make, exporter_name, resource, settings, stats)
    }

    fn spawn<E, M>(
        make: M,
        exporter_name: &'static str,
        resource: &Resource,
        settings: QueueSettings,
        stats: Arc<PipelineStats>,
    ) -> Self
    where
        E: SpanExporter + 'static,
        M: FnOnce() -> Result<(E, Exec), String> + Send + 'static,
    {
        let resource = resource.clone();
        let (queue, receiver) = sync_channel(settings.capacity);
        let worker_stats = Arc::clone(&stats);
        let worker = std::thread::Builder::new()
            .name("tta-span-export".into())
            .spawn(move || match make() {
                Ok((mut exporter, exec)) => {
                    exporter.set_resource(&resource);
                    export_loop(exporter, &exec, exporter_name, &receiver, settings, &worker_stats);
                }
                Err(error) => {
                    eprintln!("tta-obs-init: the {exporter_name} span exporter could not start ({error}); spans are dropped and counted");
                    drain_as_dropped(&receiver, exporter_name, &worker_stats);
                }
            })
            // Fail soft: without its thread the queue's receiver is gone, so
            // every span is dropped and counted rather than the application
            // being taken down.
            .map_err(|error| eprintln!("tta-obs-init: the {exporter_name} span export thread could not start ({error}); spans are dropped and counted"))
            .ok();
        Self {
            queue,
            worker: Mutex::new(worker),
            exporter_name,
            stats,
        }
    }

    /// Sends a control message and waits for its acknowledgement.
    fn control(
        &self,
        make: impl FnOnce(SyncSender<()>) -> Message,
        timeout: Duration,
    ) -> OTelSdkResult {
        let (ack, acked) = sync_channel(1);
        self.queue
            .send(make(ack))
            .map_err(|_| OTelSdkError::AlreadyShutdown)?;
        acked
            .recv_timeout(timeout)
            .map_err(|_| OTelSdkError::Timeout(timeout))
    }
}

impl SpanProcessor for QueueProcessor {
    fn on_start(&self, _span: &mut Span, _cx: &Context) {}

    fn on_end(&self, span: SpanData) {
        match self.queue.try_send(Message::Span(Box::new(span))) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) => {
                count_dropped(&self.stats, self.exporter_name, "queue_full", 1)
            }
            Err(TrySendError::Disconnected(_)) => {
                count_dropped(&self.stats, self.exporter_name, "shut_down", 1)
            }
        }
    }

    fn force_flush(&self) -> OTelSdkResult {
        self.control(Message::Flush, Duration::from_secs(30))
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        let result = self.control(Message::Shutdown, timeout);
        if result.is_ok()
            && let Some(worker) = self.worker.lock().unwrap_or_else(|p| p.into_inner()).take()
        {
            let _ = worker.join();
        }
        result
    }

    fn set_resource(&mut self, _resource: &Resource) {
        // The exporter received the resource before its thread started.
    }
}

/// Warnings about failed exports are printed at most once per this period.
const WARNING_PERIOD: Duration = Duration::from_secs(60);

/// How the export thread runs an exporter's futures.
enum Exec {
    /// A plain executor: the exporter needs no runtime (HTTP with the
    /// blocking client, stdout).
    Plain,
    /// A runtime owned by the export thread (gRPC).
    Tokio(tokio::runtime::Runtime),
}

impl Exec {
    fn run<F: std::future::Future>(&self, future: F) -> F::Output {
        match self {
            Self::Plain => futures_executor::block_on(future),
            Self::Tokio(runtime) => runtime.block_on(future),
        }
    }
}

/// Without an exporter, queued spans are dropped (and counted) until shutdown.
fn drain_as_dropped(receiver: &Receiver<Message>, name: &'static str, stats: &PipelineStats) {
    while let Ok(message) = receiver.recv() {
        match message {
            Message::Span(_) => count_dropped(stats, name, "no_exporter", 1),
            Message::Flush(ack) => {
                let _ = ack.send(());
            }
            Message::Shutdown(ack) => {
                let _ = ack.send(());
                return;
            }
        }
    }
}

fn export_loop<E: SpanExporter>(
    mut exporter: E,
    exec: &Exec,
    name: &'static str,
    receiver: &Receiver<Message>,
    settings: QueueSettings,
    stats: &PipelineStats,
) {
    let mut batch: Vec<SpanData> = Vec::with_capacity(settings.max_batch);
    let mut deadline = Instant::now() + settings.delay;
    let mut last_warning: Option<Instant> = None;
    let mut export = |batch: &mut Vec<SpanData>, exporter: &mut E| {
        if batch.is_empty() {
            return;
        }
        let spans = std::mem::take(batch);
        let n = spans.len() as u64;
        let started = Instant::now();
        match exec.run(exporter.export(spans)) {
            Ok(()) => {
                stats.exported.fetch_add(n, Ordering::Relaxed);
                *stats.last_success.lock().unwrap_or_else(|p| p.into_inner()) =
                    Some(SystemTime::now());
            }
            Err(error) => {
                let message = error.to_string();
                let timed_out = matches!(error, OTelSdkError::Timeout(_))
                    || settings
                        .export_timeout
                        .is_some_and(|limit| started.elapsed() >= limit.mul_f64(0.9));
                let reason = if timed_out {
                    "timeout"
                } else {
                    "export_failed"
                };
                stats.export_errors.fetch_add(1, Ordering::Relaxed);
                metrics::counter!(EXPORT_ERRORS.name, "exporter" => name, "reason" => reason)
                    .increment(1);
                count_dropped(stats, name, reason, n);
                *stats.last_error.lock().unwrap_or_else(|p| p.into_inner()) =
                    Some(error.to_string());
                if last_warning.is_none_or(|at| at.elapsed() >= WARNING_PERIOD) {
                    last_warning = Some(Instant::now());
                    eprintln!(
                        "tta-obs-init: exporting {n} span(s) over {name} failed ({message}); spans are dropped and \
                         counted in tta_telemetry_spans_dropped_total; this warning repeats at most once a minute"
                    );
                }
            }
        }
    };
    loop {
        let timeout = deadline.saturating_duration_since(Instant::now());
        match receiver.recv_timeout(timeout) {
            Ok(Message::Span(span)) => {
                batch.push(*span);
                if batch.len() >= settings.max_batch {
                    export(&mut batch, &mut exporter);
                    deadline = Instant::now() + settings.delay;
                }
            }
            Ok(Message::Flush(ack)) => {
                export(&mut batch, &mut exporter);
                let _ = ack.send(());
            }
            Ok(Message::Shutdown(ack)) => {
                // Spans still queued behind the shutdown request.
                while let Ok(Message::Span(span)) = receiver.try_recv() {
                    batch.push(*span);
                }
                export(&mut batch, &mut exporter);
                let _ = exporter.shutdown();
                let _ = ack.send(());
                return;
            }
            Err(RecvTimeoutError::Timeout) => {
                export(&mut batch, &mut exporter);
                deadline = Instant::now() + settings.delay;
            }
            Err(RecvTimeoutError::Disconnected) => {
                export(&mut batch, &mut exporter);
                return;
            }
        }
    }
}
