//! The metric catalogue: one definition per metric, read by everything else.
//!
//! Every metric this toolkit emits is a [`MetricDef`]: name, type, unit, help
//! text, label names and (for histograms) bucket bounds. The built-in
//! definitions are constants in this module; other crates and applications
//! add theirs to the process-wide [`Catalogue`] with [`Catalogue::register`].
//! Metric handles are only ever created from a definition (see
//! [`crate::series`]), so nothing can emit a metric the catalogue does not
//! describe, and dashboards, rules and docs generated from the catalogue can
//! only query metrics that exist.
//!
//! ```
//! use tta_primitives_obs::catalogue::{Catalogue, MetricDef, MetricKind, Unit};
//!
//! static ORDERS: MetricDef = MetricDef::counter("shop_orders_total", "Orders placed.", &["status"]);
//!
//! let catalogue = Catalogue::global();
//! catalogue.register(&ORDERS).unwrap();
//! catalogue.register(&ORDERS).unwrap(); // registering the same definition again is a no-op
//! assert!(catalogue.get("shop_orders_total").is_some());
//! assert_eq!(catalogue.get("tta_primitive_duration_seconds").unwrap().kind, MetricKind::Histogram);
//! assert_eq!(ORDERS.unit, Unit::Count);
//! ```

use std::{
    fmt::Write as _,
    sync::{OnceLock, RwLock},
};

/// The Prometheus type of a metric.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MetricKind {
    /// A monotonically increasing count (`_total`).
    Counter,
    /// A value that goes up and down.
    Gauge,
    /// A distribution in buckets.
    Histogram,
}

impl MetricKind {
    /// The Prometheus `# TYPE` word.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Counter => "counter",
            Self::Gauge => "gauge",
            Self::Histogram => "histogram",
        }
    }
}

/// The unit of a metric's values; dashboards map it to a display unit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Unit {
    /// Seconds (`_seconds`).
    Seconds,
    /// Bytes (`_bytes`).
    Bytes,
    /// US dollars (`_usd`).
    Usd,
    /// A plain count of things.
    Count,
    /// A ratio in `[0, 1]`.
    Ratio,
    /// A state or info gauge whose value is 0 or 1.
    Info,
}

impl Unit {
    /// The unit's name as written in the catalogue table.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Seconds => "seconds",
            Self::Bytes => "bytes",
            Self::Usd => "usd",
            Self::Count => "count",
            Self::Ratio => "ratio",
            Self::Info => "info",
        }
    }
}

/// Bucket bounds for latencies of workflow steps, in seconds (1 ms to 60 s).
pub const LATENCY_BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
];

/// Bucket bounds for CPU time per call, in seconds (10 µs to 10 s).
pub const CPU_BUCKETS: &[f64] = &[0.00001, 0.0001, 0.001, 0.01, 0.1, 1.0, 10.0];

/// Bucket bounds for retry backoffs, in seconds.
pub const BACKOFF_BUCKETS: &[f64] = &[0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0];

/// Bucket bounds for attempts per retried call.
pub const ATTEMPT_BUCKETS: &[f64] = &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 8.0, 10.0];

/// The definition of one metric.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MetricDef {
    /// The full Prometheus name (`_total` for counters, base unit suffixes).
    pub name: &'static str,
    /// Counter, gauge or histogram.
    pub kind: MetricKind,
    /// What the values measure.
    pub unit: Unit,
    /// The `# HELP` text.
    pub help: &'static str,
    /// The label names, in the order label values are given.
    pub labels: &'static [&'static str],
    /// Histogram bucket upper bounds (empty for counters and gauges).
    pub buckets: &'static [f64],
}

impl MetricDef {
    /// A counter of things (unit [`Unit::Count`]).
    pub const fn counter(
        name: &'static str,
        help: &'static str,
        labels: &'static [&'static str],
    ) -> Self {
        Self {
            name,
            kind: MetricKind::Counter,
            unit: Unit::Count,
            help,
            labels,
            buckets: &[],
        }
    }

    /// A gauge (unit [`Unit::Count`]).
    pub const fn gauge(
        name: &'static str,
        help: &'static str,
        labels: &'static [&'static str],
    ) -> Self {
        Self {
            name,
            kind: MetricKind::Gauge,
            unit: Unit::Count,
            help,
            labels,
            buckets: &[],
        }
    }

    /// A histogram with `buckets` (unit [`Unit::Seconds`]).
    pub const fn histogram(
        name: &'static str,
        help: &'static str,
        labels: &'static [&'static str],
        buckets: &'static [f64],
    ) -> Self {
        Self {
            name,
            kind: MetricKind::Histogram,
            unit: Unit::Seconds,
            help,
            labels,
            buckets,
        }
    }

    /// The same definition with another unit.
    pub const fn with_unit(mut self, unit: Unit) -> Self {
        self.unit = unit;
        self
    }

    /// Checks the definition: a valid Prometheus metric name with the suffix
    /// its type and unit call for, valid and distinct label names, and
    /// buckets (strictly increasing, finite) exactly for histograms.
    ///
    /// # Errors
    /// A [`CatalogueError::Invalid`] naming the metric and the problem.
    pub fn validate(&self) -> Result<(), CatalogueError> {
        let invalid = |reason: String| CatalogueError::Invalid {
            metric: self.name.to_owned(),
            reason,
        };
        if !is_valid_name(self.name, true) {
            return Err(invalid(
                "the name must match [a-zA-Z_:][a-zA-Z0-9_:]*".into(),
            ));
        }
        if self.kind == MetricKind::Counter && !self.name.ends_with("_total") {
            return Err(invalid("a counter's name must end in `_total`".into()));
        }
        let suffix = match self.unit {
            Unit::Seconds => Some("_seconds"),
            Unit::Bytes => Some("_bytes"),
            Unit::Usd => Some("_usd"),
            _ => None,
        };
        if let Some(suffix) = suffix {
            let base = self.name.strip_suffix("_total").unwrap_or(self.name);
            if !base.ends_with(suffix) {
                return Err(invalid(format!(
                    "a metric in {} must have `{suffix}` in its name",
                    self.unit.as_str()
                )));
            }
        }
        for (i, label) in self.labels.iter().enumerate() {
            if !is_valid_name(label, false) || label.starts_with("__") {
                return Err(invalid(format!(
                    "label `{label}` must match [a-zA-Z_][a-zA-Z0-9_]* and not start with `__`"
                )));
            }
            if matches!(*label, "le" | "quantile") {
                return Err(invalid(format!(
                    "label `{label}` is reserved by Prometheus"
                )));
            }
            if self.labels[..i].contains(label) {
                return Err(invalid(format!("label `{label}` is listed twice")));
            }
        }
        match self.kind {
            MetricKind::Histogram => {
                let increasing = self.buckets.windows(2).all(|w| w[0] < w[1]);
                if self.buckets.is_empty()
                    || !increasing
                    || !self.buckets.iter().all(|b| b.is_finite())
                {
                    return Err(invalid(
                        "a histogram needs finite, strictly increasing buckets".into(),
                    ));
                }
            }
            _ if !self.buckets.is_empty() => {
                return Err(invalid("only histograms have buckets".into()));
            }
            _ => {}
        }
        Ok(())
    }
}

fn is_valid_name(name: &str, allow_colon: bool) -> bool {
    let ok = |c: char, first: bool| {
        c == '_'
            || c.is_ascii_alphabetic()
            || (!first && c.is_ascii_digit())
            || (allow_colon && c == ':')
    };
    let mut chars = name.chars();
    chars.next().is_some_and(|c| ok(c, true)) && chars.all(|c| ok(c, false))
}

/// Why a definition was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CatalogueError {
    /// The definition itself is wrong.
    #[error("invalid metric definition `{metric}`: {reason}")]
    Invalid {
        /// The metric's name.
        metric: String,
        /// What is wrong.
        reason: String,
    },
    /// A different definition with the same name is already registered.
    #[error(
        "metric `{metric}` is already registered as a {existing} with labels {existing_labels:?}; it cannot be registered again as a {new} with labels {new_labels:?}"
    )]
    Conflict {
        /// The metric's name.
        metric: String,
        /// The registered type.
        existing: &'static str,
        /// The registered labels.
        existing_labels: &'static [&'static str],
        /// The refused type.
        new: &'static str,
        /// The refused labels.
        new_labels: &'static [&'static str],
    },
}

// ---------------------------------------------------------------------------
// Built-in definitions.

/// Executions of workflow nodes (and instrumented services).
pub static PRIMITIVE_EXECUTIONS: MetricDef = MetricDef::counter(
    "tta_primitive_executions_total",
    "Executions of workflow primitives and instrumented services, by outcome and error type.",
    &[
        "workflow",
        "primitive",
        "primitive_type",
        "outcome",
        "error_type",
    ],
);
/// Duration of workflow node executions.
pub static PRIMITIVE_DURATION: MetricDef = MetricDef::histogram(
    "tta_primitive_duration_seconds",
    "Duration of workflow primitive and instrumented service executions.",
    &["workflow", "primitive", "primitive_type", "outcome"],
    LATENCY_BUCKETS,
);
/// Workflow node executions in progress.
pub static PRIMITIVE_IN_FLIGHT: MetricDef = MetricDef::gauge(
    "tta_primitive_in_flight",
    "Workflow primitive and instrumented service executions in progress.",
    &["workflow", "primitive", "primitive_type"],
);
/// Cache lookups.
pub static CACHE_REQUESTS: MetricDef = MetricDef::counter(
    "tta_cache_requests_total",
    "Cache lookups, by result (hit, miss).",
    &["primitive", "result"],
);
/// Cache evictions.
pub static CACHE_EVICTIONS: MetricDef = MetricDef::counter(
    "tta_cache_evictions_total",
    "Entries removed from a cache, by reason (expired, capacity, invalidated).",
    &["primitive", "reason"],
);
/// Cache entries held.
pub static CACHE_ENTRIES: MetricDef = MetricDef::gauge(
    "tta_cache_entries",
    "Entries held by a cache.",
    &["primitive"],
);
/// Estimated cache memory.
pub static CACHE_MEMORY: MetricDef = MetricDef::gauge(
    "tta_cache_memory_bytes",
    "Estimated bytes held by a cache's entries.",
    &["primitive"],
)
.with_unit(Unit::Bytes);
/// Attempts per retried call.
pub static RETRY_ATTEMPTS: MetricDef = MetricDef::histogram(
    "tta_retry_attempts",
    "Attempts made per call of a retry primitive.",
    &["primitive"],
    ATTEMPT_BUCKETS,
)
.with_unit(Unit::Count);
/// Backoff delays before retries.
pub static RETRY_BACKOFF: MetricDef = MetricDef::histogram(
    "tta_retry_backoff_seconds",
    "Backoff delays waited before retries, jitter included.",
    &["primitive"],
    BACKOFF_BUCKETS,
);
/// Retried calls by how they ended.
pub static RETRY_CALLS: MetricDef = MetricDef::counter(
    "tta_retry_calls_total",
    "Calls of a retry primitive, by result (success_first_attempt, success_after_retry, exhausted, not_retryable).",
    &["primitive", "result"],
);
/// Circuit-breaker state (1 for the current state, 0 for the others).
pub static BREAKER_STATE: MetricDef = MetricDef::gauge(
    "tta_circuit_breaker_state",
    "Circuit breaker state: 1 for the current state (closed, half_open, open), 0 for the others.",
    &["primitive", "state"],
)
.with_unit(Unit::Info);
/// Circuit-breaker transitions.
pub static BREAKER_TRANSITIONS: MetricDef = MetricDef::counter(
    "tta_circuit_breaker_transitions_total",
    "Circuit breaker state transitions.",
    &["primitive", "from", "to"],
);
/// Calls rejected by a circuit breaker.
pub static BREAKER_REJECTED: MetricDef = MetricDef::counter(
    "tta_circuit_breaker_rejected_total",
    "Calls rejected by an open or half-open circuit breaker.",
    &["primitive"],
);
/// Timeouts.
pub static TIMEOUTS: MetricDef = MetricDef::counter(
    "tta_timeouts_total",
    "Calls cancelled by a timeout primitive at its deadline.",
    &["primitive"],
);
/// Fallback outcomes.
pub static FALLBACK: MetricDef = MetricDef::counter(
    "tta_fallback_total",
    "Calls of a fallback primitive, by result (primary, fallback, exhausted).",
    &["primitive", "result"],
);
/// Router decisions.
pub static ROUTER_DECISIONS: MetricDef = MetricDef::counter(
    "tta_router_decisions_total",
    "Routes chosen by a router primitive.",
    &["primitive", "route"],
);
/// Saga compensations.
pub static SAGA_COMPENSATIONS: MetricDef = MetricDef::counter(
    "tta_saga_compensations_total",
    "Compensations run by a saga, by result (success, failure).",
    &["primitive", "result"],
);
/// CPU time of instrumented expensive steps.
///
/// Named `tta_primitive_cpu_seconds` (a histogram) rather than the design
/// brief's `tta_primitive_cpu_seconds_total` counter: `metrics` counters only
/// take whole numbers, and CPU seconds are fractional. The histogram's
/// `_sum` is the total CPU seconds (`rate()` of it is cores used), `_count`
/// the measured calls, and the buckets the CPU cost per call.
pub static PRIMITIVE_CPU: MetricDef = MetricDef::histogram(
    "tta_primitive_cpu_seconds",
    "Thread CPU time spent polling a step measured with `measure_resources`, per call (waiting is not counted).",
    &["primitive"],
    CPU_BUCKETS,
);
/// Bytes allocated by instrumented expensive steps.
pub static PRIMITIVE_ALLOCATED: MetricDef = MetricDef::counter(
    "tta_primitive_allocated_bytes_total",
    "Bytes allocated while polling a step measured with `measure_resources` (needs the counting allocator).",
    &["primitive"],
)
.with_unit(Unit::Bytes);
/// Spans dropped by the telemetry pipeline.
pub static SPANS_DROPPED: MetricDef = MetricDef::counter(
    "tta_telemetry_spans_dropped_total",
    "Spans dropped by the telemetry pipeline instead of being exported.",
    &["exporter", "reason"],
);
/// Export errors of the telemetry pipeline.
pub static EXPORT_ERRORS: MetricDef = MetricDef::counter(
    "tta_telemetry_export_errors_total",
    "Failed exports of the telemetry pipeline.",
    &["exporter", "reason"],
);
/// Export attempts of the telemetry pipeline that failed and were retried
/// (the collector throttled or was briefly unavailable).
pub static EXPORT_RETRIES: MetricDef = MetricDef::counter(
    "tta_telemetry_export_retries_total",
    "Export attempts of the telemetry pipeline retried after the collector throttled (429) or was briefly unavailable (502, 503, 504).",
    &["exporter", "reason"],
);
/// Label sets folded into the overflow series by the cardinality guard.
pub static SERIES_OVERFLOW: MetricDef = MetricDef::counter(
    "tta_metric_series_overflow_total",
    "Updates folded into a metric's `__overflow__` series because its label-set cap was reached.",
    &["metric"],
);
/// Build information.
pub static BUILD_INFO: MetricDef = MetricDef::gauge(
    "tta_build_info",
    "Build information of the service: always 1.",
    &["version", "service"],
)
.with_unit(Unit::Info);

/// Every built-in definition, in catalogue order.
pub static BUILTIN: &[&MetricDef] = &[
    &PRIMITIVE_EXECUTIONS,
    &PRIMITIVE_DURATION,
    &PRIMITIVE_IN_FLIGHT,
    &CACHE_REQUESTS,
    &CACHE_EVICTIONS,
    &CACHE_ENTRIES,
    &CACHE_MEMORY,
    &RETRY_ATTEMPTS,
    &RETRY_BACKOFF,
    &RETRY_CALLS,
    &BREAKER_STATE,
    &BREAKER_TRANSITIONS,
    &BREAKER_REJECTED,
    &TIMEOUTS,
    &FALLBACK,
    &ROUTER_DECISIONS,
    &SAGA_COMPENSATIONS,
    &PRIMITIVE_CPU,
    &PRIMITIVE_ALLOCATED,
    &SPANS_DROPPED,
    &EXPORT_ERRORS,
    &EXPORT_RETRIES,
    &SERIES_OVERFLOW,
    &BUILD_INFO,
];

/// The process-wide set of metric definitions: the built-ins plus whatever
/// crates and applications register.
#[derive(Debug)]
pub struct Catalogue {
    defs: RwLock<Vec<&'static MetricDef>>,
}

impl Catalogue {
    /// The process-wide catalogue, holding the built-in definitions.
    pub fn global() -> &'static Catalogue {
        static GLOBAL: OnceLock<Catalogue> = OnceLock::new();
        GLOBAL.get_or_init(|| Catalogue {
            defs: RwLock::new(BUILTIN.to_vec()),
        })
    }

    /// Adds `def`. Registering an identical definition again is a no-op.
    ///
    /// # Errors
    /// [`CatalogueError::Invalid`] for a malformed definition,
    /// [`CatalogueError::Conflict`] when another definition has the name.
    pub fn register(&self, def: &'static MetricDef) -> Result<(), CatalogueError> {
        def.validate()?;
        let mut defs = self.defs.write().unwrap_or_else(|p| p.into_inner());
        if let Some(existing) = defs.iter().find(|d| d.name == def.name) {
            if **existing == *def {
                return Ok(());
            }
            return Err(CatalogueError::Conflict {
                metric: def.name.to_owned(),
                existing: existing.kind.as_str(),
                existing_labels: existing.labels,
                new: def.kind.as_str(),
                new_labels: def.labels,
            });
        }
        defs.push(def);
        drop(defs);
        crate::series::describe(def);
        Ok(())
    }

    /// The definition named `name`.
    pub fn get(&self, name: &str) -> Option<&'static MetricDef> {
        self.defs
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .copied()
            .find(|d| d.name == name)
    }

    /// Every definition, in registration order (built-ins first).
    pub fn all(&self) -> Vec<&'static MetricDef> {
        self.defs.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// The bucket bounds of every histogram, for the exporter's
    /// configuration (`metrics-exporter-prometheus` renders histograms
    /// without configured buckets as summaries).
    pub fn histogram_buckets(&self) -> Vec<(&'static str, &'static [f64])> {
        self.all()
            .into_iter()
            .filter(|d| d.kind == MetricKind::Histogram)
            .map(|d| (d.name, d.buckets))
            .collect()
    }

    /// Describes every definition to the installed `metrics` recorder, so
    /// `/metrics` shows `# HELP` and `# TYPE` for each. Call it after
    /// installing the recorder (obs-init does).
    pub fn describe_all(&self) {
        for def in self.all() {
            crate::series::describe(def);
        }
    }
}

/// The catalogue as a Markdown table (the crate README embeds it).
pub fn markdown_table(defs: &[&MetricDef]) -> String {
    let mut out = String::from("| metric | type | unit | labels | help |\n|---|---|---|---|---|\n");
    for def in defs {
        let labels = def.labels.join(", ");
        let _ = writeln!(
            out,
            "| `{}` | {} | {} | {} | {} |",
            def.name,
            def.kind.as_str(),
            def.unit.as_str(),
            labels,
            def.help.replace('|', "\\|")
        );
    }
    out
}
