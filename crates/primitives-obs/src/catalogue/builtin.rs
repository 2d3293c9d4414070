//! The built-in definitions: every metric the toolkit itself emits, and
//! the bucket bounds its histograms use.

use super::{MetricDef, Unit};

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
/// HTTP server requests per route (the route template, never the path).
pub static HTTP_SERVER_DURATION: MetricDef = MetricDef::histogram(
    "tta_http_server_request_duration_seconds",
    "Duration of HTTP server requests, by method, route template and status class (1xx to 5xx; 4xx are client errors, 5xx server failures).",
    &["server", "method", "route", "status_class"],
    LATENCY_BUCKETS,
);
/// gRPC server calls per method.
pub static RPC_SERVER_DURATION: MetricDef = MetricDef::histogram(
    "tta_rpc_server_duration_seconds",
    "Duration of gRPC server calls, by service, method and gRPC status code.",
    &["server", "rpc_service", "rpc_method", "grpc_status"],
    LATENCY_BUCKETS,
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
/// Calls that a timeout cut off.
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
    &HTTP_SERVER_DURATION,
    &RPC_SERVER_DURATION,
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
