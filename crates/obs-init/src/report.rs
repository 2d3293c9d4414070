//! What the telemetry pipelines delivered: the truth told at shutdown.

use std::{fmt, sync::Arc, time::Duration};

use crate::pipeline::PipelineStats;

/// What [`ObservabilityGuard::shutdown`](crate::ObservabilityGuard::shutdown)
/// achieved: how many spans were exported and dropped over the process's
/// life (every trace pipeline together), and whether the final flush
/// finished within its deadline. Its `Display` form is the line to print:
/// `flushed: 1204 spans exported, none dropped` or
/// `dropped 312 spans (collector unreachable: ...); 892 exported`, never
/// "flushed" when something was lost.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ShutdownReport {
    /// Whether every pipeline finished its final flush within the deadline.
    pub completed: bool,
    /// Spans delivered.
    pub exported: u64,
    /// Spans dropped, for any reason (full queue, failed export, deadline).
    pub dropped: u64,
    /// The last export error, scrubbed of secrets, when spans were dropped.
    pub last_error: Option<String>,
    /// How long the shutdown took (zero for a snapshot).
    pub took: Duration,
}

impl ShutdownReport {
    /// The report after a shutdown: what is still pending counts as dropped
    /// when the deadline passed.
    pub(crate) fn settle(
        pipelines: &[Arc<PipelineStats>],
        completed: bool,
        took: Duration,
    ) -> Self {
        if !completed {
            for pipeline in pipelines {
                pipeline.abandon();
            }
        }
        Self {
            completed,
            took,
            ..Self::snapshot(pipelines)
        }
    }

    /// The figures now, without shutting anything down.
    pub(crate) fn snapshot(pipelines: &[Arc<PipelineStats>]) -> Self {
        Self {
            completed: true,
            exported: pipelines.iter().map(|p| p.exported()).sum(),
            dropped: pipelines.iter().map(|p| p.dropped()).sum(),
            // The error of a pipeline that lost spans (another's retried
            // error explains nothing that was lost).
            last_error: pipelines
                .iter()
                .filter(|p| p.dropped() > 0)
                .find_map(|p| p.last_error()),
            took: Duration::ZERO,
        }
    }

    /// Whether everything was delivered in time.
    pub fn is_clean(&self) -> bool {
        self.completed && self.dropped == 0
    }
}

impl fmt::Display for ShutdownReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.dropped == 0 {
            if self.completed {
                return write!(f, "flushed: {} spans exported, none dropped", self.exported);
            }
            return write!(
                f,
                "flush timed out after {:.1} s; {} spans exported",
                self.took.as_secs_f64(),
                self.exported
            );
        }
        write!(f, "dropped {} spans", self.dropped)?;
        match &self.last_error {
            Some(error) => write!(f, " (collector unreachable: {error})")?,
            None => write!(f, " (queue full or shut down)")?,
        }
        write!(f, "; {} exported", self.exported)?;
        if !self.completed {
            write!(
                f,
                "; the final flush gave up after {:.1} s",
                self.took.as_secs_f64()
            )?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(completed: bool, exported: u64, dropped: u64, error: Option<&str>) -> String {
        ShutdownReport {
            completed,
            exported,
            dropped,
            last_error: error.map(str::to_owned),
            took: Duration::from_millis(1500),
        }
        .to_string()
    }

    #[test]
    fn settling_sums_the_pipelines_and_counts_what_is_pending_at_the_deadline_as_dropped() {
        use tta_primitives_obs::redact::Secrets;
        let delivering = Arc::new(PipelineStats::new("a", Secrets::default()));
        let stuck = Arc::new(PipelineStats::new("b", Secrets::default()));
        for _ in 0..3 {
            delivering.accepted();
        }
        // A retried export leaves an error behind, though nothing was lost.
        delivering.export_retried("throttled", "HTTP export failed with status code: 429");
        delivering.export_succeeded(3);
        stuck.accepted();
        stuck.accepted();

        let now = ShutdownReport::snapshot(&[delivering.clone(), stuck.clone()]);
        assert_eq!((now.exported, now.dropped, now.completed), (3, 0, true));
        assert_eq!(
            now.last_error, None,
            "no error is shown while nothing was lost"
        );
        assert!(now.is_clean());

        // The deadline passed with 2 spans pending: they are dropped.
        let late = ShutdownReport::settle(
            &[delivering.clone(), stuck.clone()],
            false,
            Duration::from_secs(5),
        );
        assert_eq!((late.exported, late.dropped), (3, 2));
        assert_eq!((late.completed, late.took), (false, Duration::from_secs(5)));
        assert!(!late.is_clean());

        // In time but with a loss: not clean either, and the error shows.
        let failing = Arc::new(PipelineStats::new("c", Secrets::default()));
        failing.accepted();
        failing.export_failed("export_failed", 1, "HTTP export failed: network error");
        let lossy = ShutdownReport::settle(&[delivering, failing], true, Duration::from_millis(7));
        assert!(lossy.completed && !lossy.is_clean());
        assert_eq!(lossy.took, Duration::from_millis(7));
        assert_eq!(
            lossy.last_error.as_deref(),
            Some("HTTP export failed: network error")
        );
        let clean = ShutdownReport {
            completed: false,
            ..now
        };
        assert!(!clean.is_clean(), "a flush that timed out is not clean");
    }

    #[test]
    fn the_report_never_says_flushed_when_spans_were_lost() {
        assert_eq!(
            report(true, 10, 0, None),
            "flushed: 10 spans exported, none dropped"
        );
        let lost = report(false, 0, 7, Some("HTTP export failed: network error"));
        assert!(!lost.contains("flushed"), "{lost}");
        assert!(
            lost.starts_with("dropped 7 spans (collector unreachable: HTTP export failed"),
            "{lost}"
        );
        assert!(lost.ends_with("gave up after 1.5 s"), "{lost}");
        assert!(!report(false, 3, 0, None).contains("flushed:"));
    }
}
