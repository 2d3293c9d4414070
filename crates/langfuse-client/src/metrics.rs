//! The LLM metrics, defined once in the catalogue of `tta-primitives-obs`.
//!
//! Call [`register_metrics`] before `tta_obs_init::initialize_observability`
//! so the Prometheus endpoint knows the histograms' buckets (the layer
//! registers them too, but the exporter reads buckets once, at start).

use std::sync::OnceLock;

use tta_primitives_obs::{
    catalogue::{Catalogue, CatalogueError, MetricDef, Unit},
    series::{CounterSeries, HistogramSeries},
};

/// Bucket bounds for LLM latencies, in seconds (50 ms to 5 min).
pub const LLM_LATENCY_BUCKETS: &[f64] = &[
    0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 15.0, 30.0, 60.0, 120.0, 300.0,
];

/// Bucket bounds for the cost of one call, in US dollars.
pub const LLM_COST_BUCKETS: &[f64] = &[
    0.00001, 0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0,
];

/// LLM calls by outcome.
pub static LLM_REQUESTS: MetricDef = MetricDef::counter(
    "tta_llm_requests_total",
    "LLM calls, by provider, requested model and outcome (success, error, cancelled).",
    &["provider", "model", "outcome"],
);
/// Tokens by type.
pub static LLM_TOKENS: MetricDef = MetricDef::counter(
    "tta_llm_tokens_total",
    "LLM tokens, by type: input (all prompt tokens), output (all generated tokens), cached (prompt tokens read from cache), cache_creation, reasoning.",
    &["provider", "model", "token_type"],
);
/// Cost in US dollars.
///
/// A histogram rather than the design brief's `tta_llm_cost_usd_total`
/// counter: `metrics` counters only take whole numbers and a call costs
/// fractions of a cent. `tta_llm_cost_usd_sum` is the total cost (exact, a
/// float), `rate()` of it the spend per second, `_count` the priced calls
/// and the buckets the cost per call.
pub static LLM_COST: MetricDef = MetricDef::histogram(
    "tta_llm_cost_usd",
    "Cost of priced LLM calls in US dollars, per call (the _sum is the total spend).",
    &["provider", "model"],
    LLM_COST_BUCKETS,
)
.with_unit(Unit::Usd);
/// Calls that could not be priced.
pub static LLM_UNPRICED: MetricDef = MetricDef::counter(
    "tta_llm_unpriced_requests_total",
    "LLM calls whose model has no price in the price table (no cost recorded), or that reported no usage.",
    &["provider", "model"],
);
/// Call duration.
pub static LLM_DURATION: MetricDef = MetricDef::histogram(
    "tta_llm_request_duration_seconds",
    "Duration of LLM calls, to the last streamed chunk.",
    &["provider", "model"],
    LLM_LATENCY_BUCKETS,
);
/// Time to first token.
pub static LLM_TTFT: MetricDef = MetricDef::histogram(
    "tta_llm_time_to_first_token_seconds",
    "Time from the start of a streamed LLM call to its first generated content.",
    &["provider", "model"],
    LLM_LATENCY_BUCKETS,
);
/// Ingestion events delivered.
pub static INGESTION_SENT: MetricDef = MetricDef::counter(
    "tta_langfuse_events_sent_total",
    "Events accepted by the Langfuse ingestion API.",
    &[],
);
/// Ingestion events dropped.
pub static INGESTION_DROPPED: MetricDef = MetricDef::counter(
    "tta_langfuse_events_dropped_total",
    "Events the Langfuse batch client dropped, by reason (queue_full, too_large, rejected, retries_exhausted, shutdown).",
    &["reason"],
);

/// Every metric of this crate.
pub static LLM_METRICS: &[&MetricDef] = &[
    &LLM_REQUESTS,
    &LLM_TOKENS,
    &LLM_COST,
    &LLM_UNPRICED,
    &LLM_DURATION,
    &LLM_TTFT,
    &INGESTION_SENT,
    &INGESTION_DROPPED,
];

/// Registers this crate's metrics in the global catalogue (idempotent).
///
/// ```
/// tta_langfuse::register_metrics().unwrap();
/// let catalogue = tta_primitives_obs::catalogue::Catalogue::global();
/// assert!(catalogue.get("tta_llm_tokens_total").is_some());
/// ```
///
/// # Errors
/// When another definition already holds one of the names.
pub fn register_metrics() -> Result<(), CatalogueError> {
    LLM_METRICS
        .iter()
        .try_for_each(|def| Catalogue::global().register(def))
}

/// The series of the LLM metrics, created on first use.
pub(crate) struct LlmSeries {
    pub(crate) requests: CounterSeries,
    pub(crate) tokens: CounterSeries,
    pub(crate) cost: HistogramSeries,
    pub(crate) unpriced: CounterSeries,
    pub(crate) duration: HistogramSeries,
    pub(crate) ttft: HistogramSeries,
    pub(crate) sent: CounterSeries,
    pub(crate) dropped: CounterSeries,
}

pub(crate) fn series() -> &'static LlmSeries {
    static SERIES: OnceLock<LlmSeries> = OnceLock::new();
    SERIES.get_or_init(|| {
        // The definitions are valid (a test checks them); this fails only
        // when the application registered another metric under one of our
        // names, a programming error worth stopping on with its name.
        fn conflict(e: &CatalogueError) -> ! {
            panic!("tta-langfuse cannot register its metrics: {e}")
        }
        let new = |def| CounterSeries::new(def).unwrap_or_else(|e| conflict(&e));
        let hist = |def| HistogramSeries::new(def).unwrap_or_else(|e| conflict(&e));
        LlmSeries {
            requests: new(&LLM_REQUESTS),
            tokens: new(&LLM_TOKENS),
            cost: hist(&LLM_COST),
            unpriced: new(&LLM_UNPRICED),
            duration: hist(&LLM_DURATION),
            ttft: hist(&LLM_TTFT),
            sent: new(&INGESTION_SENT),
            dropped: new(&INGESTION_DROPPED),
        }
    })
}
