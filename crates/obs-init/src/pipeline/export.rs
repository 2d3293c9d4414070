//! The export thread's loop: batches spans, exports them, retries what the
//! collector asked to retry (counted), and answers flush and shutdown.

use std::time::{Duration, Instant};

use opentelemetry_sdk::{
    error::OTelSdkError,
    trace::{SpanData, SpanExporter},
};

use super::{Control, Inbox, QueueSettings, stats::PipelineStats, stats::reason};

/// Warnings about failed exports are printed at most once per this period.
const WARNING_PERIOD: Duration = Duration::from_secs(60);

/// How many times a throttled or unavailable export is retried.
const MAX_RETRIES: u32 = 2;

/// The wait before the first retry; it doubles for the next.
const FIRST_BACKOFF: Duration = Duration::from_millis(200);

/// How the export thread runs an exporter's futures.
pub(super) enum Exec {
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

/// The wait before retry number `retry` (1-based): [`FIRST_BACKOFF`],
/// doubled for each retry after the first.
fn backoff(retry: u32) -> Duration {
    FIRST_BACKOFF * 2u32.pow(retry.saturating_sub(1))
}

/// Whether a failed export is worth retrying, and why: the collector
/// throttled (HTTP 429, gRPC `ResourceExhausted`) or was briefly unavailable
/// (HTTP 502, 503, 504, gRPC `Unavailable`). The exporters report these only
/// in their messages.
fn retry_reason(message: &str) -> Option<&'static str> {
    let status = message
        .rsplit_once("status code: ")
        .and_then(|(_, code)| code.get(..3))
        .and_then(|code| code.parse::<u16>().ok());
    match status {
        Some(429) => Some(reason::THROTTLED),
        Some(502..=504) => Some(reason::UNAVAILABLE),
        Some(_) => None,
        None if message.contains("ResourceExhausted") => Some(reason::THROTTLED),
        None if message.contains("Unavailable") => Some(reason::UNAVAILABLE),
        None => None,
    }
}

struct Exporting<'a, E> {
    exporter: E,
    exec: &'a Exec,
    inbox: &'a Inbox,
    settings: QueueSettings,
    stats: &'a PipelineStats,
    last_warning: Option<Instant>,
}

impl<E: SpanExporter> Exporting<'_, E> {
    /// Exports `batch` (emptying it), retrying a throttled or unavailable
    /// collector a bounded number of times unless a flush or shutdown is
    /// waiting.
    ///
    /// NOTE: the exporter takes the batch by value, so a retry needs a copy
    /// made before the attempt. A pipeline that is delivering makes none
    /// (the copy would cost every batch); once an export has failed, batches
    /// are copied, and so retried, until one is delivered again.
    fn export(&mut self, batch: &mut Vec<SpanData>) {
        if batch.is_empty() {
            return;
        }
        let n = batch.len() as u64;
        let keep_copy = self.stats.last_export_failed();
        let mut attempt = 0;
        loop {
            let spans = if keep_copy && attempt < MAX_RETRIES {
                batch.clone()
            } else {
                std::mem::take(batch)
            };
            self.stats.export_started();
            let started = Instant::now();
            let error = match self.exec.run(self.exporter.export(spans)) {
                Ok(()) => {
                    batch.clear();
                    self.stats.export_succeeded(n);
                    return;
                }
                Err(error) => error,
            };
            let message = error.to_string();
            let retry = retry_reason(&message);
            // A copy is left in `batch` only while retries remain.
            if let Some(retry) = retry
                && !batch.is_empty()
                && self.inbox.control.is_empty()
            {
                attempt += 1;
                self.stats.export_retried(retry, &message);
                std::thread::sleep(backoff(attempt));
                continue;
            }
            batch.clear();
            let timed_out = matches!(error, OTelSdkError::Timeout(_))
                || self
                    .settings
                    .export_timeout
                    .is_some_and(|limit| started.elapsed() >= limit.mul_f64(0.9));
            let why = if timed_out {
                reason::TIMEOUT
            } else {
                reason::EXPORT_FAILED
            };
            let message = self.stats.export_failed(why, n, &message);
            if self
                .last_warning
                .is_none_or(|at| at.elapsed() >= WARNING_PERIOD)
            {
                self.last_warning = Some(Instant::now());
                eprintln!(
                    "tta-obs-init: exporting {n} span(s) over {} failed ({message}); spans are dropped and \
                     counted in tta_telemetry_spans_dropped_total; this warning repeats at most once a minute",
                    self.stats.exporter()
                );
            }
            return;
        }
    }

    /// Moves every span waiting in the queue into batches and exports them.
    fn drain(&mut self, batch: &mut Vec<SpanData>) {
        while let Ok(span) = self.inbox.spans.try_recv() {
            batch.push(*span);
            if batch.len() >= self.settings.max_batch {
                self.export(batch);
            }
        }
        self.export(batch);
    }
}

/// Runs until shutdown is requested or the processor is gone.
pub(super) fn run<E: SpanExporter>(
    exporter: E,
    exec: &Exec,
    inbox: &Inbox,
    settings: QueueSettings,
    stats: &PipelineStats,
) {
    let mut this = Exporting {
        exporter,
        exec,
        inbox,
        settings,
        stats,
        last_warning: None,
    };
    let mut batch: Vec<SpanData> = Vec::with_capacity(settings.max_batch);
    let mut deadline = Instant::now() + settings.delay;
    loop {
        let timeout = deadline.saturating_duration_since(Instant::now());
        crossbeam_channel::select! {
            recv(inbox.control) -> request => match request {
                Ok(Control::Flush(ack)) => {
                    this.drain(&mut batch);
                    let _ = ack.send(());
                }
                Ok(Control::Shutdown(ack)) => {
                    this.drain(&mut batch);
                    let _ = this.exporter.shutdown();
                    let _ = ack.send(());
                    return;
                }
                Err(_) => {
                    this.drain(&mut batch);
                    return;
                }
            },
            recv(inbox.spans) -> span => match span {
                Ok(span) => {
                    batch.push(*span);
                    if batch.len() >= settings.max_batch {
                        this.export(&mut batch);
                        deadline = Instant::now() + settings.delay;
                    }
                }
                Err(_) => {
                    this.export(&mut batch);
                    return;
                }
            },
            default(timeout) => {
                this.export(&mut batch);
                deadline = Instant::now() + settings.delay;
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use std::{
        collections::VecDeque,
        sync::{Arc, Mutex},
    };

    use crossbeam_channel::unbounded;
    use opentelemetry_sdk::error::OTelSdkResult;
    use tta_primitives_obs::redact::Secrets;

    use super::*;
    use crate::pipeline::tests::spans;

    /// An exporter that answers each attempt from a script (an `Err` is the
    /// message of an internal failure; past the script, success) and
    /// records how many spans each attempt carried.
    #[derive(Debug, Clone, Default)]
    struct Scripted {
        answers: Arc<Mutex<VecDeque<Option<&'static str>>>>,
        attempts: Arc<Mutex<Vec<usize>>>,
    }

    impl SpanExporter for Scripted {
        async fn export(&self, batch: Vec<SpanData>) -> OTelSdkResult {
            self.attempts.lock().unwrap().push(batch.len());
            match self.answers.lock().unwrap().pop_front().flatten() {
                None => Ok(()),
                Some(message) => Err(OTelSdkError::InternalFailure(message.to_owned())),
            }
        }
    }

    #[test]
    fn a_throttled_export_is_retried_with_copies_only_once_one_failed_and_never_when_a_flush_waits()
    {
        const UNAVAILABLE: &str = "HTTP export failed with status code: 503";
        let exporter = Scripted::default();
        exporter.answers.lock().unwrap().extend([
            // Batch 1: nothing failed before, so no copy is kept: dropped.
            Some(UNAVAILABLE),
            // Batch 2: copies are kept; two retries, then delivered.
            Some(UNAVAILABLE),
            Some(UNAVAILABLE),
            None,
            // Batch 3: a failure that retrying cannot cure.
            Some("HTTP export failed with status code: 500"),
            // Batch 4: retryable, but a flush is waiting.
            Some(UNAVAILABLE),
        ]);
        let (_span_tx, span_rx) = unbounded();
        let (control_tx, control_rx) = unbounded();
        let inbox = Inbox {
            spans: span_rx,
            control: control_rx,
        };
        let stats = PipelineStats::new("scripted", Secrets::default());
        let settings = QueueSettings {
            capacity: 16,
            max_batch: 16,
            delay: Duration::from_secs(1),
            export_timeout: None,
        };
        let mut this = Exporting {
            exporter: exporter.clone(),
            exec: &Exec::Plain,
            inbox: &inbox,
            settings,
            stats: &stats,
            last_warning: None,
        };
        let figures = |stats: &PipelineStats| {
            let json = stats.to_json();
            [
                "exported_spans",
                "dropped_spans",
                "export_errors",
                "export_retries",
            ]
            .map(|k| json[k].as_u64().unwrap())
        };

        let mut batch = spans(3);
        this.export(&mut batch);
        assert!(batch.is_empty());
        assert_eq!(*exporter.attempts.lock().unwrap(), [3]);
        assert_eq!(figures(&stats), [0, 3, 1, 0]);

        let mut batch = spans(2);
        let started = Instant::now();
        this.export(&mut batch);
        assert!(
            started.elapsed() >= backoff(1) + backoff(2),
            "the backoffs were waited"
        );
        assert_eq!(*exporter.attempts.lock().unwrap(), [3, 2, 2, 2]);
        assert_eq!(figures(&stats), [2, 3, 1, 2]);

        let warned = this.last_warning;
        assert!(warned.is_some(), "the first failure warned");
        let mut batch = spans(1);
        this.export(&mut batch);
        assert_eq!(
            exporter.attempts.lock().unwrap().len(),
            5,
            "a 500 is not retried"
        );
        assert_eq!(this.last_warning, warned, "one warning a minute");
        assert_eq!(figures(&stats), [2, 4, 2, 2]);

        let (ack, _acked) = crossbeam_channel::bounded(1);
        control_tx.send(Control::Flush(ack)).unwrap();
        let mut batch = spans(4);
        this.export(&mut batch);
        assert_eq!(
            exporter.attempts.lock().unwrap().len(),
            6,
            "no retry while a flush waits"
        );
        assert_eq!(figures(&stats), [2, 8, 3, 2]);

        // An empty batch is no export at all.
        this.export(&mut Vec::new());
        assert_eq!(exporter.attempts.lock().unwrap().len(), 6);
    }

    #[test]
    fn a_drain_exports_what_is_queued_in_batches_of_the_largest_size() {
        let exporter = Scripted::default();
        let (span_tx, span_rx) = unbounded();
        let (_control_tx, control_rx) = unbounded();
        let inbox = Inbox {
            spans: span_rx,
            control: control_rx,
        };
        for span in spans(5) {
            span_tx.send(Box::new(span)).unwrap();
        }
        let stats = PipelineStats::new("scripted", Secrets::default());
        let mut this = Exporting {
            exporter: exporter.clone(),
            exec: &Exec::Plain,
            inbox: &inbox,
            settings: QueueSettings {
                capacity: 16,
                max_batch: 2,
                delay: Duration::from_secs(1),
                export_timeout: None,
            },
            stats: &stats,
            last_warning: None,
        };
        this.drain(&mut Vec::new());
        assert_eq!(*exporter.attempts.lock().unwrap(), [2, 2, 1]);
        assert_eq!(stats.exported(), 5);
    }

    #[test]
    fn each_retry_waits_twice_as_long_as_the_one_before() {
        let waits: Vec<_> = (1..=MAX_RETRIES).map(backoff).collect();
        assert_eq!(
            waits,
            [Duration::from_millis(200), Duration::from_millis(400)]
        );
    }

    #[test]
    fn only_throttling_and_brief_unavailability_are_retried() {
        for (message, expected) in [
            (
                "HTTP export failed with status code: 429",
                Some("throttled"),
            ),
            (
                "HTTP export failed with status code: 503",
                Some("unavailable"),
            ),
            ("HTTP export failed with status code: 500", None),
            ("HTTP export failed with status code: 400", None),
            ("HTTP export failed: network error", None),
            (
                "status: ResourceExhausted, message: slow down",
                Some("throttled"),
            ),
            (
                "status: Unavailable, message: connection refused",
                Some("unavailable"),
            ),
        ] {
            assert_eq!(retry_reason(message), expected, "{message}");
        }
    }
}
