//! What one span pipeline has done: the accounting behind `/healthz`, the
//! shutdown report and the pipeline's counters.
//!
//! Every span that reaches the pipeline ends in exactly one of: exported,
//! dropped (counted with a reason), or still pending. `pending` is what a
//! shutdown that ran out of time reports as lost.

use std::{
    sync::{
        Mutex,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    time::{Duration, Instant, SystemTime},
};

use tta_primitives_obs::{pipeline_series, redact::Secrets};

/// Why spans are dropped: each a value of the `reason` label.
pub(crate) mod reason {
    /// The queue was full when the span ended.
    pub(crate) const QUEUE_FULL: &str = "queue_full";
    /// The span ended after the pipeline shut down.
    pub(crate) const SHUT_DOWN: &str = "shut_down";
    /// The collector refused the export or could not be reached.
    pub(crate) const EXPORT_FAILED: &str = "export_failed";
    /// The export took longer than the exporter's timeout.
    pub(crate) const TIMEOUT: &str = "timeout";
    /// The exporter could not be built or its thread could not start.
    pub(crate) const NO_EXPORTER: &str = "no_exporter";
    /// Still queued or in flight when shutdown's deadline passed.
    pub(crate) const SHUTDOWN_DEADLINE: &str = "shutdown_deadline";
    /// Every reason a span can be dropped for.
    pub(crate) const DROPPED: [&str; 6] = [
        QUEUE_FULL,
        SHUT_DOWN,
        EXPORT_FAILED,
        TIMEOUT,
        NO_EXPORTER,
        SHUTDOWN_DEADLINE,
    ];
    /// Every reason an export can fail for.
    pub(crate) const EXPORT_ERRORS: [&str; 2] = [EXPORT_FAILED, TIMEOUT];
    /// The collector asked the exporter to slow down (HTTP 429, gRPC
    /// `ResourceExhausted`).
    pub(crate) const THROTTLED: &str = "throttled";
    /// The collector was briefly unavailable (HTTP 502, 503, 504, gRPC
    /// `Unavailable`).
    pub(crate) const UNAVAILABLE: &str = "unavailable";
    /// Every reason an export is retried for.
    pub(crate) const RETRIES: [&str; 2] = [THROTTLED, UNAVAILABLE];
}

/// An export that has waited this long for the collector makes the pipeline
/// unhealthy even before it times out.
pub(crate) const STALLED_AFTER: Duration = Duration::from_secs(10);

/// The accounting of one pipeline (the main exporter, or one destination).
#[derive(Debug)]
pub(crate) struct PipelineStats {
    exporter: &'static str,
    secrets: Secrets,
    accepted: AtomicU64,
    exported: AtomicU64,
    dropped: AtomicU64,
    /// Accepted spans that were dropped later (failed export, deadline).
    lost: AtomicU64,
    export_errors: AtomicU64,
    retries: AtomicU64,
    consecutive_failures: AtomicU64,
    no_exporter: AtomicBool,
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    last_success: Option<SystemTime>,
    last_error: Option<String>,
    export_started: Option<Instant>,
    /// Set when shutdown gave up waiting: the pending spans were counted as
    /// lost then, so a late result of the export in flight changes nothing.
    abandoned: bool,
}

/// Whether a pipeline delivers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Status {
    /// The last export succeeded (or none was needed yet).
    Ok,
    /// Exports are failing now, for this reason.
    Failing(String),
}

impl PipelineStats {
    /// Accounting for the pipeline named `exporter` (the `exporter` label);
    /// its counters exist at 0 from now on, so dashboards show 0, not "no
    /// data", on a healthy service. Error texts pass through `secrets`.
    pub(crate) fn new(exporter: &'static str, secrets: Secrets) -> Self {
        for reason in reason::DROPPED {
            pipeline_series()
                .spans_dropped
                .increment(&[exporter, reason], 0);
        }
        for reason in reason::EXPORT_ERRORS {
            pipeline_series()
                .export_errors
                .increment(&[exporter, reason], 0);
        }
        for reason in reason::RETRIES {
            pipeline_series()
                .export_retries
                .increment(&[exporter, reason], 0);
        }
        Self {
            exporter,
            secrets,
            accepted: AtomicU64::new(0),
            exported: AtomicU64::new(0),
            dropped: AtomicU64::new(0),
            lost: AtomicU64::new(0),
            export_errors: AtomicU64::new(0),
            retries: AtomicU64::new(0),
            consecutive_failures: AtomicU64::new(0),
            no_exporter: AtomicBool::new(false),
            state: Mutex::default(),
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The `exporter` label of this pipeline.
    pub(crate) fn exporter(&self) -> &'static str {
        self.exporter
    }

    /// A span entered the queue.
    pub(crate) fn accepted(&self) {
        self.accepted.fetch_add(1, Ordering::Relaxed);
    }

    /// `n` spans were dropped before entering the queue.
    pub(crate) fn rejected(&self, reason: &'static str, n: u64) {
        self.count_dropped(reason, n);
    }

    fn count_dropped(&self, reason: &'static str, n: u64) {
        self.dropped.fetch_add(n, Ordering::Relaxed);
        pipeline_series()
            .spans_dropped
            .increment(&[self.exporter, reason], n);
    }

    /// The export thread could not get an exporter: the pipeline is failing.
    pub(crate) fn no_exporter(&self, message: &str) {
        self.no_exporter.store(true, Ordering::Relaxed);
        self.state().last_error = Some(self.secrets.scrub(message));
    }

    /// Accepted spans that the export thread dropped without trying (it has
    /// no exporter).
    pub(crate) fn lost_unsent(&self, reason: &'static str, n: u64) {
        let state = self.state();
        if !state.abandoned {
            self.lost.fetch_add(n, Ordering::Relaxed);
            self.count_dropped(reason, n);
        }
    }

    /// An export of a batch starts.
    pub(crate) fn export_started(&self) {
        self.state().export_started = Some(Instant::now());
    }

    /// The batch of `n` spans was delivered.
    pub(crate) fn export_succeeded(&self, n: u64) {
        let mut state = self.state();
        state.export_started = None;
        if state.abandoned {
            return;
        }
        self.exported.fetch_add(n, Ordering::Relaxed);
        self.consecutive_failures.store(0, Ordering::Relaxed);
        state.last_success = Some(SystemTime::now());
    }

    /// One attempt failed and will be retried.
    pub(crate) fn export_retried(&self, reason: &'static str, message: &str) {
        self.retries.fetch_add(1, Ordering::Relaxed);
        pipeline_series()
            .export_retries
            .increment(&[self.exporter, reason], 1);
        self.state().last_error = Some(self.secrets.scrub(message));
    }

    /// The batch of `n` spans could not be delivered; returns the scrubbed
    /// message, for the rate-limited warning.
    pub(crate) fn export_failed(&self, reason: &'static str, n: u64, message: &str) -> String {
        let message = self.secrets.scrub(message);
        let mut state = self.state();
        state.export_started = None;
        if !state.abandoned {
            self.export_errors.fetch_add(1, Ordering::Relaxed);
            self.consecutive_failures.fetch_add(1, Ordering::Relaxed);
            pipeline_series()
                .export_errors
                .increment(&[self.exporter, reason], 1);
            self.lost.fetch_add(n, Ordering::Relaxed);
            self.count_dropped(reason, n);
            state.last_error = Some(message.clone());
        }
        message
    }

    /// Spans accepted and neither exported nor dropped yet.
    pub(crate) fn pending(&self) -> u64 {
        let accepted = self.accepted.load(Ordering::Relaxed);
        let done = self.exported.load(Ordering::Relaxed) + self.lost.load(Ordering::Relaxed);
        accepted.saturating_sub(done)
    }

    /// Shutdown ran out of time: what is still pending is counted as
    /// dropped now (once), and a late result changes nothing.
    pub(crate) fn abandon(&self) -> u64 {
        let mut state = self.state();
        if state.abandoned {
            return 0;
        }
        let pending = self.pending();
        state.abandoned = true;
        if pending > 0 {
            self.lost.fetch_add(pending, Ordering::Relaxed);
            self.count_dropped(reason::SHUTDOWN_DEADLINE, pending);
        }
        pending
    }

    /// Whether the last export failed (a cheap check, without the reason).
    pub(crate) fn last_export_failed(&self) -> bool {
        self.consecutive_failures.load(Ordering::Relaxed) > 0
    }

    /// Whether the pipeline delivers now.
    pub(crate) fn status(&self) -> Status {
        let state = self.state();
        if self.no_exporter.load(Ordering::Relaxed) {
            return Status::Failing(format!(
                "the exporter could not start: {}",
                state.last_error.as_deref().unwrap_or("unknown error")
            ));
        }
        if let Some(started) = state.export_started
            && started.elapsed() >= STALLED_AFTER
        {
            return Status::Failing(format!(
                "an export has waited {} s for the collector",
                started.elapsed().as_secs()
            ));
        }
        let failures = self.consecutive_failures.load(Ordering::Relaxed);
        if failures > 0 {
            return Status::Failing(format!(
                "the last {failures} export(s) failed: {}",
                state.last_error.as_deref().unwrap_or("unknown error")
            ));
        }
        Status::Ok
    }

    /// The figures `/healthz` shows.
    pub(crate) fn to_json(&self) -> serde_json::Value {
        let status = self.status();
        let state = self.state();
        let last_success = state
            .last_success
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map(|d| d.as_secs_f64());
        serde_json::json!({
            "exporter": self.exporter,
            "status": if status == Status::Ok { "ok" } else { "failing" },
            "reason": match &status { Status::Failing(reason) => Some(reason.as_str()), Status::Ok => None },
            "exported_spans": self.exported.load(Ordering::Relaxed),
            "dropped_spans": self.dropped.load(Ordering::Relaxed),
            "pending_spans": self.pending(),
            "export_errors": self.export_errors.load(Ordering::Relaxed),
            "export_retries": self.retries.load(Ordering::Relaxed),
            "last_successful_export_unix_seconds": last_success,
            "last_error": state.last_error,
        })
    }

    /// Spans delivered so far.
    pub(crate) fn exported(&self) -> u64 {
        self.exported.load(Ordering::Relaxed)
    }

    /// Spans dropped so far, for any reason.
    pub(crate) fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    /// The last error, scrubbed.
    pub(crate) fn last_error(&self) -> Option<String> {
        self.state().last_error.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_span_is_exported_dropped_or_pending() {
        let stats = PipelineStats::new("test", Secrets::default());
        for _ in 0..10 {
            stats.accepted();
        }
        stats.rejected(reason::QUEUE_FULL, 3);
        assert_eq!(stats.pending(), 10);
        stats.export_started();
        stats.export_succeeded(4);
        assert_eq!(stats.status(), Status::Ok);
        stats.export_failed(
            reason::EXPORT_FAILED,
            2,
            "HTTP export failed with status code: 500",
        );
        assert!(matches!(stats.status(), Status::Failing(r) if r.contains("500")));
        assert_eq!(stats.pending(), 4);
        assert_eq!(stats.abandon(), 4);
        assert_eq!(stats.abandon(), 0, "abandoned once");
        // A late result of the export in flight changes nothing.
        stats.export_succeeded(4);
        assert_eq!(stats.exported(), 4);
        assert_eq!(stats.dropped(), 3 + 2 + 4);
        assert_eq!(stats.pending(), 0);
    }

    #[test]
    fn a_success_after_failures_makes_the_pipeline_healthy_again() {
        let stats = PipelineStats::new("test", Secrets::default());
        stats.accepted();
        stats.accepted();
        stats.export_failed(reason::TIMEOUT, 1, "timed out");
        assert_ne!(stats.status(), Status::Ok);
        stats.export_succeeded(1);
        assert_eq!(stats.status(), Status::Ok);
    }

    #[test]
    fn errors_are_scrubbed_before_anyone_reads_them() {
        let mut secrets = Secrets::default();
        secrets.add("hunter2-secret");
        let stats = PipelineStats::new("test", secrets);
        stats.accepted();
        stats.export_failed(reason::EXPORT_FAILED, 1, "refused token hunter2-secret");
        let json = stats.to_json().to_string();
        assert!(!json.contains("hunter2"), "{json}");
        assert!(json.contains("refused token ***"), "{json}");
    }

    #[test]
    fn without_an_exporter_the_pipeline_fails_and_counts_what_it_drops_until_abandoned() {
        let stats = PipelineStats::new("none", Secrets::default());
        assert_eq!(stats.exporter(), "none");
        assert_eq!(stats.status(), Status::Ok);
        assert_eq!(stats.last_error(), None);
        stats.no_exporter("no such host");
        assert_eq!(
            stats.status(),
            Status::Failing("the exporter could not start: no such host".into())
        );
        assert_eq!(stats.last_error().as_deref(), Some("no such host"));
        for _ in 0..3 {
            stats.accepted();
        }
        stats.lost_unsent(reason::NO_EXPORTER, 2);
        assert_eq!((stats.dropped(), stats.pending()), (2, 1));
        assert_eq!(stats.abandon(), 1);
        // Counted once: after the deadline, nothing more is lost.
        stats.lost_unsent(reason::NO_EXPORTER, 1);
        stats.export_failed(reason::EXPORT_FAILED, 1, "late");
        assert_eq!((stats.dropped(), stats.pending()), (3, 0));
        assert_eq!(stats.to_json()["export_errors"], 0);
        assert_eq!(stats.last_error().as_deref(), Some("no such host"));
    }

    #[test]
    fn a_retry_is_counted_and_named_but_fails_nothing_until_the_export_fails() {
        let stats = PipelineStats::new("test", Secrets::default());
        stats.accepted();
        stats.export_started();
        stats.export_retried(reason::THROTTLED, "status code: 429");
        assert!(!stats.last_export_failed());
        assert_eq!(stats.status(), Status::Ok);
        assert_eq!(stats.last_error().as_deref(), Some("status code: 429"));
        let message = stats.export_failed(reason::THROTTLED, 1, "status code: 429 again");
        assert_eq!(message, "status code: 429 again");
        assert!(stats.last_export_failed());
        stats.accepted();
        stats.export_failed(reason::TIMEOUT, 1, "timed out");
        assert_eq!(
            stats.status(),
            Status::Failing("the last 2 export(s) failed: timed out".into())
        );
        let json = stats.to_json();
        assert_eq!(json["exporter"], "test");
        assert_eq!(json["status"], "failing");
        assert_eq!(json["reason"], "the last 2 export(s) failed: timed out");
        assert_eq!(json["export_retries"], 1);
        assert_eq!(json["export_errors"], 2);
        assert_eq!(json["dropped_spans"], 2);
        assert_eq!(json["last_error"], "timed out");
        assert!(json["last_successful_export_unix_seconds"].is_null());
        stats.accepted();
        stats.export_succeeded(1);
        assert!(!stats.last_export_failed());
        let json = stats.to_json();
        assert_eq!(
            (json["status"].as_str(), json["reason"].as_str()),
            (Some("ok"), None)
        );
        assert!(
            json["last_successful_export_unix_seconds"]
                .as_f64()
                .unwrap()
                > 1.7e9
        );
    }

    #[test]
    fn pending_counts_what_is_neither_exported_nor_lost() {
        let stats = PipelineStats::new("test", Secrets::default());
        for _ in 0..5 {
            stats.accepted();
        }
        stats.export_succeeded(2);
        stats.export_failed(reason::EXPORT_FAILED, 1, "refused");
        // Rejected spans never entered the queue: they are not pending.
        stats.rejected(reason::QUEUE_FULL, 4);
        assert_eq!(stats.pending(), 2);
        assert_eq!(stats.to_json()["pending_spans"], 2);
        assert_eq!((stats.exported(), stats.dropped()), (2, 5));
    }

    #[test]
    fn an_export_that_waits_too_long_fails_the_pipeline_before_it_times_out() {
        let stats = PipelineStats::new("test", Secrets::default());
        stats.export_started();
        assert_eq!(stats.status(), Status::Ok, "just started");
        // The export started STALLED_AFTER ago.
        {
            let mut state = stats.state();
            state.export_started = state
                .export_started
                .and_then(|t| t.checked_sub(STALLED_AFTER));
        }
        assert_eq!(
            stats.status(),
            Status::Failing(format!(
                "an export has waited {} s for the collector",
                STALLED_AFTER.as_secs()
            ))
        );
        stats.export_succeeded(0);
        assert_eq!(stats.status(), Status::Ok);
    }
}
