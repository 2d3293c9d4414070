//! The span pipeline: a bounded queue and an export thread that count what
//! they drop and every failed export.
//!
//! Written by hand rather than using the SDK's `BatchSpanProcessor` because
//! that processor keeps its drop count private, and spans dropped by the
//! telemetry pipeline must be counted in `tta_telemetry_spans_dropped_total`
//! (and failed exports in `tta_telemetry_export_errors_total`). The
//! application never waits on it: ending a span is a `try_send` into the
//! queue; a full queue drops the span and counts it.
//!
//! Flush and shutdown requests travel on a control channel of their own, so
//! they are never stuck behind a full span queue, and every wait for the
//! export thread is bounded by the caller's timeout: an export thread stuck
//! on a black-holing collector delays nobody.

mod export;
pub(crate) mod stats;

use std::{
    sync::{Arc, Mutex},
    thread::JoinHandle,
    time::Duration,
};

use crossbeam_channel::{Receiver, Sender, TrySendError, bounded, unbounded};
use opentelemetry::Context;
use opentelemetry_sdk::{
    Resource,
    error::{OTelSdkError, OTelSdkResult},
    trace::{Span, SpanData, SpanExporter, SpanProcessor},
};

pub(crate) use stats::{PipelineStats, Status};

use stats::reason;

/// A request to the export thread, acknowledged on its channel when done.
enum Control {
    Flush(Sender<()>),
    Shutdown(Sender<()>),
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

/// How long a flush requested by the SDK (`force_flush`) may wait.
const FLUSH_TIMEOUT: Duration = Duration::from_secs(30);

/// A span processor with a bounded queue and its own export thread.
pub(crate) struct QueueProcessor {
    spans: Sender<Box<SpanData>>,
    control: Sender<Control>,
    worker: Mutex<Option<JoinHandle<()>>>,
    stats: Arc<PipelineStats>,
}

impl std::fmt::Debug for QueueProcessor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("QueueProcessor")
            .field("exporter", &self.stats.exporter())
            .finish_non_exhaustive()
    }
}

/// The receiving ends, owned by the export thread.
struct Inbox {
    spans: Receiver<Box<SpanData>>,
    control: Receiver<Control>,
}

impl QueueProcessor {
    /// Starts the export thread for `exporter`.
    pub(crate) fn start<E: SpanExporter + Send + 'static>(
        exporter: E,
        resource: &Resource,
        settings: QueueSettings,
        stats: Arc<PipelineStats>,
    ) -> Self {
        Self::spawn(
            move || Ok((exporter, export::Exec::Plain)),
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
            Ok((exporter, export::Exec::Tokio(runtime)))
        };
        Self::spawn(make, resource, settings, stats)
    }

    fn spawn<E, M>(
        make: M,
        resource: &Resource,
        settings: QueueSettings,
        stats: Arc<PipelineStats>,
    ) -> Self
    where
        E: SpanExporter + 'static,
        M: FnOnce() -> Result<(E, export::Exec), String> + Send + 'static,
    {
        let resource = resource.clone();
        let (spans, span_inbox) = bounded(settings.capacity);
        let (control, control_inbox) = unbounded();
        let inbox = Inbox {
            spans: span_inbox,
            control: control_inbox,
        };
        let worker_stats = Arc::clone(&stats);
        let name = stats.exporter();
        let worker = std::thread::Builder::new()
            .name("tta-span-export".into())
            .spawn(move || match make() {
                Ok((mut exporter, exec)) => {
                    exporter.set_resource(&resource);
                    export::run(exporter, &exec, &inbox, settings, &worker_stats);
                }
                Err(error) => {
                    eprintln!("tta-obs-init: the {name} span exporter could not start ({error}); spans are dropped and counted");
                    worker_stats.no_exporter(&error);
                    drain_as_dropped(&inbox, &worker_stats);
                }
            })
            // Fail soft: without its thread the queue's receivers are gone,
            // so every span is dropped and counted rather than the
            // application being taken down.
            .map_err(|error| {
                eprintln!("tta-obs-init: the {name} span export thread could not start ({error}); spans are dropped and counted");
                stats.no_exporter(&error.to_string());
            })
            .ok();
        Self {
            spans,
            control,
            worker: Mutex::new(worker),
            stats,
        }
    }

    /// Sends a control request and waits at most `timeout` for its
    /// acknowledgement.
    fn request(
        &self,
        make: impl FnOnce(Sender<()>) -> Control,
        timeout: Duration,
    ) -> OTelSdkResult {
        let (ack, acked) = bounded(1);
        self.control
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
        match self.spans.try_send(Box::new(span)) {
            Ok(()) => self.stats.accepted(),
            Err(TrySendError::Full(_)) => self.stats.rejected(reason::QUEUE_FULL, 1),
            Err(TrySendError::Disconnected(_)) => self.stats.rejected(reason::SHUT_DOWN, 1),
        }
    }

    fn force_flush(&self) -> OTelSdkResult {
        self.request(Control::Flush, FLUSH_TIMEOUT)
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        let result = self.request(Control::Shutdown, timeout);
        match &result {
            Ok(()) => {
                if let Some(worker) = self.worker.lock().unwrap_or_else(|p| p.into_inner()).take() {
                    let _ = worker.join();
                }
            }
            // The export thread is stuck on the collector: what it still
            // holds is lost, and said so. The thread is left to finish or
            // to end with the process; it holds nothing the process waits on.
            Err(_) => {
                self.stats.abandon();
            }
        }
        result
    }

    fn set_resource(&mut self, _resource: &Resource) {
        // The exporter received the resource before its thread started.
    }
}

/// Without an exporter, queued spans are dropped (and counted) until shutdown.
fn drain_as_dropped(inbox: &Inbox, stats: &PipelineStats) {
    loop {
        crossbeam_channel::select! {
            recv(inbox.spans) -> span => match span {
                Ok(_) => stats.lost_unsent(reason::NO_EXPORTER, 1),
                Err(_) => return,
            },
            // `select!` picks among ready channels at random: a request is
            // answered only once the spans queued before it are counted.
            recv(inbox.control) -> request => match request {
                Ok(Control::Flush(ack)) => {
                    drop_queued(inbox, stats);
                    let _ = ack.send(());
                }
                Ok(Control::Shutdown(ack)) => {
                    drop_queued(inbox, stats);
                    let _ = ack.send(());
                    return;
                }
                Err(_) => return,
            },
        }
    }
}

/// Drops (and counts) the spans queued now.
fn drop_queued(inbox: &Inbox, stats: &PipelineStats) {
    while inbox.spans.try_recv().is_ok() {
        stats.lost_unsent(reason::NO_EXPORTER, 1);
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use opentelemetry::trace::{Tracer as _, TracerProvider as _};
    use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracerProvider};
    use tta_primitives_obs::redact::Secrets;

    use super::*;

    /// `n` finished spans, as the SDK hands them to a processor.
    pub(crate) fn spans(n: usize) -> Vec<SpanData> {
        let memory = InMemorySpanExporter::default();
        let provider = SdkTracerProvider::builder()
            .with_simple_exporter(memory.clone())
            .build();
        for _ in 0..n {
            provider.tracer("t").in_span("s", |_| {});
        }
        memory.get_finished_spans().unwrap()
    }

    fn settings() -> QueueSettings {
        QueueSettings {
            capacity: 8,
            max_batch: 8,
            delay: Duration::from_secs(60),
            export_timeout: None,
        }
    }

    #[test]
    fn an_exporter_that_cannot_start_drops_and_counts_every_span_and_still_shuts_down() {
        let stats = Arc::new(PipelineStats::new("broken", Secrets::default()));
        let processor = QueueProcessor::spawn::<InMemorySpanExporter, _>(
            || Err("no such host".into()),
            &Resource::builder_empty().build(),
            settings(),
            Arc::clone(&stats),
        );
        assert_eq!(
            format!("{processor:?}"),
            r#"QueueProcessor { exporter: "broken", .. }"#
        );
        for span in spans(3) {
            processor.on_end(span);
        }
        // A flush is answered; the spans it passed are dropped, not kept.
        processor.force_flush().unwrap();
        assert_eq!((stats.dropped(), stats.pending()), (3, 0));
        assert!(matches!(stats.status(), Status::Failing(r) if r.contains("no such host")));
        processor
            .shutdown_with_timeout(Duration::from_secs(5))
            .unwrap();
        // After shutdown, a span is dropped as too late.
        processor.on_end(spans(1).remove(0));
        assert_eq!(stats.dropped(), 4);
        assert_eq!(stats.exported(), 0);
    }

    #[test]
    fn spans_queued_when_shutdown_arrives_are_dropped_by_a_pipeline_without_exporter() {
        let stats = Arc::new(PipelineStats::new("broken", Secrets::default()));
        // The exporter fails to start only once the spans are queued.
        let (go, wait) = bounded::<()>(0);
        let processor = QueueProcessor::spawn::<InMemorySpanExporter, _>(
            move || {
                let _ = wait.recv();
                Err("refused".into())
            },
            &Resource::builder_empty().build(),
            settings(),
            Arc::clone(&stats),
        );
        for span in spans(2) {
            processor.on_end(span);
        }
        let (ack, acked) = bounded(1);
        processor.control.send(Control::Shutdown(ack)).unwrap();
        go.send(()).unwrap();
        acked.recv_timeout(Duration::from_secs(5)).unwrap();
        assert_eq!((stats.dropped(), stats.pending()), (2, 0));
    }

    #[test]
    fn a_working_exporter_delivers_on_flush() {
        let memory = InMemorySpanExporter::default();
        let stats = Arc::new(PipelineStats::new("memory", Secrets::default()));
        let processor = QueueProcessor::start(
            memory.clone(),
            &Resource::builder_empty().build(),
            settings(),
            Arc::clone(&stats),
        );
        for span in spans(2) {
            processor.on_end(span);
        }
        processor.force_flush().unwrap();
        assert_eq!(memory.get_finished_spans().unwrap().len(), 2);
        assert_eq!((stats.exported(), stats.pending()), (2, 0));
        processor
            .shutdown_with_timeout(Duration::from_secs(5))
            .unwrap();
        assert!(matches!(
            processor.shutdown_with_timeout(Duration::from_secs(1)),
            Err(OTelSdkError::AlreadyShutdown)
        ));
    }
}
