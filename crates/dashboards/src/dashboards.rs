//! The dashboards. Every query names metrics through their catalogue
//! definitions (`c::PRIMITIVE_EXECUTIONS.name`, ...), so a renamed metric
//! renames every query, and a test parses every expression and checks each
//! metric it names against the catalogue.

use tta_langfuse::{LLM_COST, LLM_DURATION, LLM_REQUESTS, LLM_TOKENS, LLM_TTFT, LLM_UNPRICED};
use tta_primitives_obs::catalogue as c;

use crate::{
    board::{Board, PanelSpec, Var},
    grafana::{Dashboard, DisplayUnit, PanelKind, Thresholds},
    rules::{Sli, names},
};

const RATE: &str = "$__rate_interval";

/// Matchers of the workflow-level series of the selected jobs and workflows.
const WORKFLOWS: &str = "job=~\"$job\", workflow=~\"$workflow\", primitive_type=\"workflow\"";
/// Matchers of the selected nodes.
const NODES: &str = "job=~\"$job\", workflow=~\"$workflow\", primitive=~\"$primitive\"";
/// Matchers of the selected LLM series.
const LLM: &str = "job=~\"$job\", provider=~\"$provider\", model=~\"$model\"";

fn bucket(def: &c::MetricDef) -> String {
    format!("{}_bucket", def.name)
}

fn sum_suffix(def: &c::MetricDef) -> String {
    format!("{}_sum", def.name)
}

/// `part / total` by `by`, where `part` may have no series yet (no errors
/// so far): a missing numerator counts as zero, never as "no data".
fn ratio(part: &str, total: &str, by: &str) -> String {
    format!("(sum by ({by}) ({part}) or (0 * sum by ({by}) ({total}))) / sum by ({by}) ({total})")
}

fn quantile(q: f64, bucket_rate: &str, by: &str) -> String {
    format!("histogram_quantile({q}, sum by (le, {by}) ({bucket_rate}))")
}

/// Every generated dashboard, in file order.
pub fn all() -> Vec<Dashboard> {
    vec![
        overview(),
        primitives(),
        cache(),
        resilience(),
        llm(),
        slo(),
        telemetry(),
    ]
}

/// Service overview: health, traffic, errors, latency, saturation.
pub fn overview() -> Dashboard {
    let exec = c::PRIMITIVE_EXECUTIONS.name;
    let all = format!("rate({exec}{{{WORKFLOWS}}}[{RATE}])");
    let errors = format!("rate({exec}{{{WORKFLOWS}, outcome=\"error\"}}[{RATE}])");
    let buckets = format!(
        "rate({}{{{WORKFLOWS}}}[{RATE}])",
        bucket(&c::PRIMITIVE_DURATION)
    );
    let mut b = Board::new(
        "tta-overview",
        "tta / Service overview",
        "Health, request rate, error ratio, latency and in-flight executions of every workflow.",
        &[Var::Job, Var::Workflow],
    );
    b.row("Health")
        .add(
            PanelSpec::new(PanelKind::Stat, "Targets up", "Scrape targets of the selected jobs that answer.")
                .query("sum(up{job=~\"$job\"})", "up")
                .thresholds(Thresholds::higher_is_better(&[(1.0, "green")])),
        )
        .add(
            PanelSpec::new(PanelKind::Gauge, "Success ratio", "Share of workflow executions that did not fail over the range (expected errors such as a not-found were served, so they count as successes).")
                .query(
                    format!(
                        "1 - (sum(increase({exec}{{{WORKFLOWS}, outcome=\"error\"}}[$__range])) or vector(0)) / sum(increase({exec}{{{WORKFLOWS}}}[$__range]))"
                    ),
                    "success",
                )
                .unit(DisplayUnit::PercentUnit)
                .range(0.0, 1.0)
                .thresholds(Thresholds::higher_is_better(&[(0.95, "orange"), (0.99, "green")])),
        )
        .add(
            PanelSpec::new(PanelKind::Stat, "Request rate", "Workflow executions per second.")
                .query(format!("sum({all})"), "req/s")
                .unit(DisplayUnit::RequestsPerSecond),
        )
        .add(
            PanelSpec::new(PanelKind::Stat, "p99 latency", "99th percentile of workflow duration.")
                .query(format!("histogram_quantile(0.99, sum by (le) ({buckets}))"), "p99")
                .unit(DisplayUnit::Seconds)
                .thresholds(Thresholds::absolute(&[(1.0, "orange"), (2.5, "red")])),
        );
    b.row("Traffic and errors")
        .add(
            PanelSpec::new(
                PanelKind::TimeSeries,
                "Request rate",
                "Workflow executions per second, by workflow.",
            )
            .query(format!("sum by (workflow) ({all})"), "{{workflow}}")
            .unit(DisplayUnit::RequestsPerSecond),
        )
        .add(
            PanelSpec::new(
                PanelKind::TimeSeries,
                "Error ratio",
                "Share of workflow executions that failed, by workflow.",
            )
            .query(ratio(&errors, &all, "workflow"), "{{workflow}}")
            .unit(DisplayUnit::PercentUnit)
            .thresholds(Thresholds::absolute(&[(0.01, "orange"), (0.05, "red")])),
        );
    b.row("Latency and saturation")
        .add(
            PanelSpec::new(
                PanelKind::TimeSeries,
                "Latency percentiles",
                "p50, p95 and p99 of workflow duration.",
            )
            .query(quantile(0.5, &buckets, "workflow"), "p50 {{workflow}}")
            .query(quantile(0.95, &buckets, "workflow"), "p95 {{workflow}}")
            .query(quantile(0.99, &buckets, "workflow"), "p99 {{workflow}}")
            .unit(DisplayUnit::Seconds),
        )
        .add(
            PanelSpec::new(
                PanelKind::TimeSeries,
                "In flight",
                "Workflow executions in progress.",
            )
            .query(
                format!(
                    "sum by (workflow) ({}{{{WORKFLOWS}}})",
                    c::PRIMITIVE_IN_FLIGHT.name
                ),
                "{{workflow}}",
            ),
        )
        .add(
            PanelSpec::new(
                PanelKind::Table,
                "Workflows",
                "Executions over the range, by workflow and outcome.",
            )
            .query(
                format!("sum by (workflow, outcome) (increase({exec}{{{WORKFLOWS}}}[$__range]))"),
                "",
            )
            .width(24),
        );
    let http = c::HTTP_SERVER_DURATION.name;
    let requests = format!("rate({http}_count{{job=~\"$job\"}}[{RATE}])");
    let of_class = |class: &str| {
        format!("rate({http}_count{{job=~\"$job\", status_class=\"{class}\"}}[{RATE}])")
    };
    let http_buckets = format!("rate({http}_bucket{{job=~\"$job\"}}[{RATE}])");
    b.row("HTTP server")
        .add(
            PanelSpec::new(
                PanelKind::TimeSeries,
                "Requests by route",
                "HTTP requests per second, by route template and status class.",
            )
            .query(
                format!("sum by (route, status_class) ({requests})"),
                "{{route}} {{status_class}}",
            )
            .unit(DisplayUnit::RequestsPerSecond),
        )
        .add(
            PanelSpec::new(
                PanelKind::TimeSeries,
                "Server errors (5xx) by route",
                "Share of requests the server failed (5xx), by route: what availability objectives count.",
            )
            .query(ratio(&of_class("5xx"), &requests, "route"), "{{route}}")
            .unit(DisplayUnit::PercentUnit)
            .thresholds(Thresholds::absolute(&[(0.01, "orange"), (0.05, "red")])),
        )
        .add(
            PanelSpec::new(
                PanelKind::TimeSeries,
                "Client errors (4xx) by route",
                "Share of requests answered with a client error (4xx: bad input, not found), by route: not the server's failures.",
            )
            .query(ratio(&of_class("4xx"), &requests, "route"), "{{route}}")
            .unit(DisplayUnit::PercentUnit),
        )
        .add(
            PanelSpec::new(
                PanelKind::TimeSeries,
                "p95 latency by route",
                "95th percentile of request duration, by route template.",
            )
            .query(quantile(0.95, &http_buckets, "route"), "{{route}}")
            .unit(DisplayUnit::Seconds),
        );
    b.finish()
}

/// Primitive drill-down: rate, errors, duration and a latency heatmap per node.
pub fn primitives() -> Dashboard {
    let exec = c::PRIMITIVE_EXECUTIONS.name;
    let buckets = format!(
        "rate({}{{{NODES}}}[{RATE}])",
        bucket(&c::PRIMITIVE_DURATION)
    );
    let mut b = Board::new(
        "tta-primitives",
        "tta / Primitive drill-down",
        "Every workflow node: executions, errors by type, duration percentiles and the latency distribution.",
        &[Var::Job, Var::Workflow, Var::Primitive],
    );
    b.row("Executions")
        .add(
            PanelSpec::new(PanelKind::TimeSeries, "Executions per second", "By primitive and type.")
                .query(
                    format!("sum by (primitive, primitive_type) (rate({exec}{{{NODES}}}[{RATE}]))"),
                    "{{primitive}} ({{primitive_type}})",
                )
                .unit(DisplayUnit::RequestsPerSecond),
        )
        .add(
            PanelSpec::new(PanelKind::TimeSeries, "Errors per second", "Failed executions by primitive and error type.")
                .query(
                    format!("sum by (primitive, error_type) (rate({exec}{{{NODES}, outcome=\"error\"}}[{RATE}]))"),
                    "{{primitive}}: {{error_type}}",
                )
                .unit(DisplayUnit::RequestsPerSecond),
        );
    b.row("Duration")
        .add(
            PanelSpec::new(PanelKind::TimeSeries, "p95 duration", "95th percentile by primitive.")
                .query(quantile(0.95, &buckets, "primitive"), "{{primitive}}")
                .unit(DisplayUnit::Seconds),
        )
        .add(
            PanelSpec::new(PanelKind::Heatmap, "Latency heatmap", "Executions per duration bucket over time.")
                .query(format!("sum by (le) (increase({}{{{NODES}}}[{RATE}]))", bucket(&c::PRIMITIVE_DURATION)), "{{le}}")
                .unit(DisplayUnit::Seconds),
        )
        .add(
            PanelSpec::new(PanelKind::BarGauge, "Slowest primitives (p99)", "p99 duration over the range, slowest first.")
                .query(
                    format!(
                        "topk(10, histogram_quantile(0.99, sum by (le, primitive) (rate({}{{{NODES}}}[$__range]))))",
                        bucket(&c::PRIMITIVE_DURATION)
                    ),
                    "{{primitive}}",
                )
                .unit(DisplayUnit::Seconds),
        )
        .add(
            PanelSpec::new(PanelKind::Table, "Errors by type", "Failed executions over the range.")
                .query(
                    format!("sum by (primitive, error_type) (increase({exec}{{{NODES}, outcome=\"error\"}}[$__range]))"),
                    "",
                ),
        );
    b.finish()
}

/// Cache: hit ratio, requests, evictions, entries, memory.
pub fn cache() -> Dashboard {
    let requests = c::CACHE_REQUESTS.name;
    let sel = "job=~\"$job\", primitive=~\"$primitive\"";
    let mut b = Board::new(
        "tta-cache",
        "tta / Cache",
        "Cache primitives: hit ratio, lookups, evictions by reason, entries and memory.",
        &[Var::Job, Var::Workflow, Var::Primitive],
    );
    b.row("Effectiveness")
        .add(
            PanelSpec::new(
                PanelKind::TimeSeries,
                "Hit ratio",
                "Share of lookups served from the cache.",
            )
            .query(
                ratio(
                    &format!("rate({requests}{{{sel}, result=\"hit\"}}[{RATE}])"),
                    &format!("rate({requests}{{{sel}}}[{RATE}])"),
                    "primitive",
                ),
                "{{primitive}}",
            )
            .unit(DisplayUnit::PercentUnit)
            .range(0.0, 1.0),
        )
        .add(
            PanelSpec::new(
                PanelKind::TimeSeries,
                "Lookups",
                "Lookups per second by result.",
            )
            .query(
                format!("sum by (primitive, result) (rate({requests}{{{sel}}}[{RATE}]))"),
                "{{primitive}} {{result}}",
            )
            .unit(DisplayUnit::RequestsPerSecond),
        )
        .add(
            PanelSpec::new(
                PanelKind::TimeSeries,
                "Evictions",
                "Entries removed per second, by reason.",
            )
            .query(
                format!(
                    "sum by (primitive, reason) (rate({}{{{sel}}}[{RATE}]))",
                    c::CACHE_EVICTIONS.name
                ),
                "{{primitive}} {{reason}}",
            ),
        );
    b.row("Size")
        .add(
            PanelSpec::new(PanelKind::TimeSeries, "Entries", "Entries held.").query(
                format!("sum by (primitive) ({}{{{sel}}})", c::CACHE_ENTRIES.name),
                "{{primitive}}",
            ),
        )
        .add(
            PanelSpec::new(
                PanelKind::TimeSeries,
                "Memory",
                "Estimated bytes held by entries.",
            )
            .query(
                format!("sum by (primitive) ({}{{{sel}}})", c::CACHE_MEMORY.name),
                "{{primitive}}",
            )
            .unit(DisplayUnit::Bytes),
        );
    b.finish()
}

/// Resilience: retries, circuit breakers, timeouts, fallbacks.
pub fn resilience() -> Dashboard {
    let sel = "job=~\"$job\", primitive=~\"$primitive\"";
    let mut b = Board::new(
        "tta-resilience",
        "tta / Resilience",
        "Retries (attempts, outcomes, backoff), circuit breakers (state, transitions, rejections), timeouts and fallbacks.",
        &[Var::Job, Var::Workflow, Var::Primitive],
    );
    b.row("Retries")
        .add(
            PanelSpec::new(PanelKind::Heatmap, "Attempts per call", "Distribution of attempts made per retried call.")
                .query(format!("sum by (le) (increase({}{{{sel}}}[{RATE}]))", bucket(&c::RETRY_ATTEMPTS)), "{{le}}")
                .width(8),
        )
        .add(
            PanelSpec::new(PanelKind::TimeSeries, "Retry outcomes", "Calls per second: first-attempt success, success after retry, exhausted, not retryable.")
                .query(
                    format!("sum by (primitive, result) (rate({}{{{sel}}}[{RATE}]))", c::RETRY_CALLS.name),
                    "{{primitive}} {{result}}",
                )
                .unit(DisplayUnit::RequestsPerSecond)
                .width(8),
        )
        .add(
            PanelSpec::new(PanelKind::TimeSeries, "Backoff p95", "95th percentile of the delay waited before a retry.")
                .query(
                    quantile(0.95, &format!("rate({}{{{sel}}}[{RATE}])", bucket(&c::RETRY_BACKOFF)), "primitive"),
                    "{{primitive}}",
                )
                .unit(DisplayUnit::Seconds)
                .width(8),
        );
    b.row("Circuit breakers")
        .add(
            PanelSpec::new(PanelKind::StateTimeline, "Breaker state", "Closed, half-open or open over time.")
                .query(
                    format!(
                        "max by (primitive) ({state}{{{sel}, state=\"open\"}}) * 2 + on (primitive) max by (primitive) ({state}{{{sel}, state=\"half_open\"}})",
                        state = c::BREAKER_STATE.name
                    ),
                    "{{primitive}}",
                )
                .states(&[(0, "closed", "green"), (1, "half open", "orange"), (2, "open", "red")])
                .thresholds(Thresholds::absolute(&[(1.0, "orange"), (2.0, "red")]))
                .width(24),
        )
        .add(
            PanelSpec::new(PanelKind::Table, "Transitions", "State changes over the range.")
                .query(
                    format!("sum by (primitive, from, to) (increase({}{{{sel}}}[$__range]))", c::BREAKER_TRANSITIONS.name),
                    "",
                ),
        )
        .add(
            PanelSpec::new(PanelKind::TimeSeries, "Rejected calls", "Calls refused by an open or half-open breaker.")
                .query(
                    format!("sum by (primitive) (rate({}{{{sel}}}[{RATE}]))", c::BREAKER_REJECTED.name),
                    "{{primitive}}",
                )
                .unit(DisplayUnit::RequestsPerSecond),
        );
    b.row("Timeouts and fallbacks")
        .add(
            PanelSpec::new(
                PanelKind::TimeSeries,
                "Timeouts",
                "Calls cancelled at their deadline.",
            )
            .query(
                format!(
                    "sum by (primitive) (rate({}{{{sel}}}[{RATE}]))",
                    c::TIMEOUTS.name
                ),
                "{{primitive}}",
            )
            .unit(DisplayUnit::RequestsPerSecond),
        )
        .add(
            PanelSpec::new(
                PanelKind::TimeSeries,
                "Fallback use",
                "Calls answered by the primary, by a fallback, or by none.",
            )
            .query(
                format!(
                    "sum by (primitive, result) (rate({}{{{sel}}}[{RATE}]))",
                    c::FALLBACK.name
                ),
                "{{primitive}} {{result}}",
            )
            .unit(DisplayUnit::RequestsPerSecond),
        );
    b.finish()
}

/// LLM calls: requests, tokens, cost, latency, time to first token, errors.
pub fn llm() -> Dashboard {
    let requests = LLM_REQUESTS.name;
    let all = format!("rate({requests}{{{LLM}}}[{RATE}])");
    let mut b = Board::new(
        "tta-llm",
        "tta / LLM",
        "LLM calls by provider and model: requests, tokens by type, cost, latency, time to first token and errors.",
        &[Var::Job, Var::Provider, Var::Model],
    );
    b.row("Spend")
        .add(
            PanelSpec::new(PanelKind::Stat, "Cost over the range", "US dollars spent on priced calls.")
                .query(format!("sum(increase({}{{{LLM}}}[$__range]))", sum_suffix(&LLM_COST)), "USD")
                .unit(DisplayUnit::CurrencyUsd),
        )
        .add(
            PanelSpec::new(PanelKind::Stat, "Cost per hour", "Current spend rate.")
                .query(format!("sum(rate({}{{{LLM}}}[{RATE}])) * 3600", sum_suffix(&LLM_COST)), "USD/h")
                .unit(DisplayUnit::CurrencyUsd),
        )
        .add(
            PanelSpec::new(PanelKind::Stat, "Unpriced calls", "Calls whose model has no price (add it to the price table).")
                .query(format!("sum(increase({}{{{LLM}}}[$__range]))", LLM_UNPRICED.name), "calls")
                .thresholds(Thresholds::absolute(&[(1.0, "orange")])),
        )
        .add(
            PanelSpec::new(PanelKind::Gauge, "Error ratio", "Share of LLM calls that failed over the range.")
                .query(
                    format!(
                        "(sum(increase({requests}{{{LLM}, outcome=\"error\"}}[$__range])) or vector(0)) / sum(increase({requests}{{{LLM}}}[$__range]))"
                    ),
                    "errors",
                )
                .unit(DisplayUnit::PercentUnit)
                .range(0.0, 1.0)
                .thresholds(Thresholds::absolute(&[(0.02, "orange"), (0.1, "red")])),
        )
        .add(
            PanelSpec::new(PanelKind::TimeSeries, "Cost per model (USD/hour)", "Spend rate by model.")
                .query(
                    format!("sum by (model) (rate({}{{{LLM}}}[{RATE}])) * 3600", sum_suffix(&LLM_COST)),
                    "{{model}}",
                )
                .unit(DisplayUnit::CurrencyUsd),
        )
        .add(
            PanelSpec::new(PanelKind::TimeSeries, "Tokens per second by type", "Input (all prompt tokens), output, cached, cache creation, reasoning.")
                .query(
                    format!("sum by (token_type) (rate({}{{{LLM}}}[{RATE}]))", LLM_TOKENS.name),
                    "{{token_type}}",
                ),
        );
    b.row("Requests and latency")
        .add(
            PanelSpec::new(
                PanelKind::TimeSeries,
                "Requests",
                "Calls per second by model and outcome.",
            )
            .query(
                format!("sum by (model, outcome) ({all})"),
                "{{model}} {{outcome}}",
            )
            .unit(DisplayUnit::RequestsPerSecond),
        )
        .add(
            PanelSpec::new(
                PanelKind::TimeSeries,
                "Error ratio by model",
                "Share of calls that failed.",
            )
            .query(
                ratio(
                    &format!("rate({requests}{{{LLM}, outcome=\"error\"}}[{RATE}])"),
                    &all,
                    "model",
                ),
                "{{model}}",
            )
            .unit(DisplayUnit::PercentUnit),
        )
        .add(
            PanelSpec::new(
                PanelKind::TimeSeries,
                "Latency",
                "p50 and p95 duration of calls, to the last chunk.",
            )
            .query(
                quantile(
                    0.5,
                    &format!("rate({}{{{LLM}}}[{RATE}])", bucket(&LLM_DURATION)),
                    "model",
                ),
                "p50 {{model}}",
            )
            .query(
                quantile(
                    0.95,
                    &format!("rate({}{{{LLM}}}[{RATE}])", bucket(&LLM_DURATION)),
                    "model",
                ),
                "p95 {{model}}",
            )
            .unit(DisplayUnit::Seconds),
        )
        .add(
            PanelSpec::new(
                PanelKind::TimeSeries,
                "Time to first token",
                "p50 and p95 for streamed calls.",
            )
            .query(
                quantile(
                    0.5,
                    &format!("rate({}{{{LLM}}}[{RATE}])", bucket(&LLM_TTFT)),
                    "model",
                ),
                "p50 {{model}}",
            )
            .query(
                quantile(
                    0.95,
                    &format!("rate({}{{{LLM}}}[{RATE}])", bucket(&LLM_TTFT)),
                    "model",
                ),
                "p95 {{model}}",
            )
            .unit(DisplayUnit::Seconds),
        );
    b.finish()
}

/// SLOs: SLIs, error budget, burn rates (from the recording rules).
pub fn slo() -> Dashboard {
    let wf = "workflow=~\"$workflow\"";
    let mut b = Board::new(
        "tta-slo",
        "tta / SLO",
        "Availability and latency SLIs against their objectives, the error budget left over 30 days, and the burn rates the alerts use.",
        &[Var::Workflow],
    );
    const SLIS: [Sli; 2] = [Sli::Availability, Sli::Latency];
    // What each SLI counts as good, and as bad, for the panel texts.
    let words = |sli: Sli| match sli {
        Sli::Availability => (
            "Share of successful executions against the objective.",
            "bad",
        ),
        Sli::Latency => (
            "Share of executions faster than the threshold, against the objective.",
            "slow",
        ),
    };
    let objective = |sli: Sli| format!("{}{{{wf}, slo=\"{}\"}}", names::OBJECTIVE, sli.label());
    b.row("Service level indicators");
    for sli in SLIS {
        b.add(
            PanelSpec::new(
                PanelKind::TimeSeries,
                &format!("{} SLI (1h)", sli.title()),
                words(sli).0,
            )
            .query(
                format!("1 - {}{{{wf}}}", names::error_ratio(sli, "1h")),
                "{{workflow}}",
            )
            .query(objective(sli), "objective {{workflow}}")
            .unit(DisplayUnit::PercentUnit),
        );
    }
    b.row("Error budget");
    for sli in SLIS {
        let bad = words(sli).1;
        b.add(
            PanelSpec::new(
                PanelKind::BarGauge,
                &format!("{} budget left (30d)", sli.title()),
                &format!("1 − ({bad} ratio over 30 days ÷ allowed {bad} ratio)."),
            )
            .query(
                format!(
                    "1 - {} / on (workflow) (1 - {})",
                    names::error_ratio(sli, "30d"),
                    objective(sli)
                ),
                "{{workflow}}",
            )
            .unit(DisplayUnit::PercentUnit)
            .range(0.0, 1.0)
            .thresholds(Thresholds::higher_is_better(&[
                (0.25, "orange"),
                (0.5, "green"),
            ])),
        );
    }
    b.row("Burn rates");
    for sli in SLIS {
        let mut spec = PanelSpec::new(
            PanelKind::TimeSeries,
            &format!("{} burn rate", sli.title()),
            "How fast the error budget burns (1 = exactly at the objective); pages at 14.4 (5m and 1h) or 6 (30m and 6h), tickets at 3 (2h and 1d) or 1 (6h and 3d).",
        );
        for window in ["5m", "1h", "6h", "1d"] {
            spec = spec.query(
                format!(
                    "{} / on (workflow) (1 - {})",
                    names::error_ratio(sli, window),
                    objective(sli)
                ),
                &format!("{{{{workflow}}}} {window}"),
            );
        }
        b.add(spec.thresholds(Thresholds::absolute(&[(1.0, "orange"), (6.0, "red")])));
    }
    b.finish()
}

/// The telemetry pipeline itself: drops, export errors, overflow, scrapes.
pub fn telemetry() -> Dashboard {
    let job = "job=~\"$job\"";
    let mut b = Board::new(
        "tta-telemetry",
        "tta / Telemetry pipeline",
        "Whether the telemetry can be trusted: spans dropped, export errors, label sets folded by the cardinality guard, scrape duration.",
        &[Var::Job],
    );
    b.row("Spans")
        .add(
            PanelSpec::new(
                PanelKind::TimeSeries,
                "Spans dropped",
                "Spans not exported, by exporter and reason.",
            )
            .query(
                format!(
                    "sum by (exporter, reason) (rate({}{{{job}}}[{RATE}]))",
                    c::SPANS_DROPPED.name
                ),
                "{{exporter}} {{reason}}",
            ),
        )
        .add(
            PanelSpec::new(
                PanelKind::TimeSeries,
                "Export errors",
                "Failed exports, by exporter and reason.",
            )
            .query(
                format!(
                    "sum by (exporter, reason) (rate({}{{{job}}}[{RATE}]))",
                    c::EXPORT_ERRORS.name
                ),
                "{{exporter}} {{reason}}",
            ),
        )
        .add(
            PanelSpec::new(
                PanelKind::TimeSeries,
                "Export retries",
                "Export attempts retried after the collector throttled or was briefly unavailable, by exporter and reason.",
            )
            .query(
                format!(
                    "sum by (exporter, reason) (rate({}{{{job}}}[{RATE}]))",
                    c::EXPORT_RETRIES.name
                ),
                "{{exporter}} {{reason}}",
            ),
        );
    b.row("Metrics")
        .add(
            PanelSpec::new(PanelKind::Table, "Series overflow", "Updates folded into `__overflow__` by the cardinality guard, by metric, over the range.")
                .query(
                    format!("sum by (metric) (increase({}{{{job}}}[$__range]))", c::SERIES_OVERFLOW.name),
                    "",
                ),
        )
        .add(
            PanelSpec::new(PanelKind::TimeSeries, "Scrape duration", "How long Prometheus takes to scrape each target.")
                .query(format!("scrape_duration_seconds{{{job}}}"), "{{job}} {{instance}}")
                .unit(DisplayUnit::Seconds),
        )
        .add(
            PanelSpec::new(PanelKind::TimeSeries, "Samples per scrape", "Series exposed by each target (cardinality).")
                .query(format!("scrape_samples_scraped{{{job}}}"), "{{job}} {{instance}}"),
        )
        .add(
            PanelSpec::new(PanelKind::Table, "Build info", "Service versions running.")
                .query(format!("max by (job, service, version) ({}{{{job}}})", c::BUILD_INFO.name), ""),
        );
    b.finish()
}
