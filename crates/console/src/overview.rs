//! The workflow overview: per workflow and per primitive, over a window,
//! the rate, the error ratio by error type and the latency percentiles,
//! computed from the stored spans, with a count per time bucket and per
//! latency bucket so that a point or a bucket leads to its traces.

use std::collections::BTreeMap;
use tta_primitives_obs::attr;

use serde::{Deserialize, Serialize};

use crate::{llm::quantile, model::Span};

/// The upper bounds of the latency buckets, in milliseconds (the last
/// bucket is unbounded).
pub const LATENCY_BUCKETS_MS: [f64; 12] = [
    1.0, 2.5, 5.0, 10.0, 25.0, 50.0, 100.0, 250.0, 500.0, 1000.0, 2500.0, 5000.0,
];

/// How many time buckets a window is cut into.
pub const TIME_BUCKETS: usize = 30;

/// An overview query.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct OverviewQuery {
    /// The window, in seconds back from now (default 900: 15 minutes).
    pub window_s: Option<u64>,
    /// Only this workflow.
    pub workflow: Option<String>,
}

/// One latency bucket: spans with a duration in `[from_ms, to_ms)`.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct LatencyBucket {
    /// The lower bound, in ms.
    pub from_ms: f64,
    /// The upper bound, in ms (`None`: unbounded).
    pub to_ms: Option<f64>,
    /// Spans in the bucket.
    pub count: u64,
}

/// The figures of one node (a workflow's root, or one of its primitives).
#[derive(Debug, Clone, Serialize)]
pub struct NodeFigures {
    /// `tta.workflow.name`.
    pub workflow: String,
    /// `tta.primitive.name`.
    pub primitive: String,
    /// `tta.primitive.type`.
    pub primitive_type: String,
    /// Executions in the window.
    pub count: u64,
    /// Executions per second over the window.
    pub rate_per_s: f64,
    /// Failed executions.
    pub errors: u64,
    /// `errors / count`.
    pub error_ratio: f64,
    /// Failed executions by `error.type`.
    pub error_types: BTreeMap<String, u64>,
    /// Median duration, in ms.
    pub p50_ms: f64,
    /// 95th percentile, in ms.
    pub p95_ms: f64,
    /// 99th percentile, in ms.
    pub p99_ms: f64,
    /// Executions per time bucket, oldest first.
    pub series: Vec<u64>,
    /// Failed executions per time bucket.
    pub error_series: Vec<u64>,
    /// Executions per latency bucket.
    pub latency: Vec<LatencyBucket>,
}

/// The overview of a window.
#[derive(Debug, Clone, Serialize)]
pub struct Overview {
    /// The window's start, Unix ns.
    pub from_ns: u64,
    /// The window's end, Unix ns.
    pub to_ns: u64,
    /// The length of a time bucket, in ns.
    pub bucket_ns: u64,
    /// One row per (workflow, primitive), workflows' roots first.
    pub nodes: Vec<NodeFigures>,
}

struct Acc {
    primitive_type: String,
    durations: Vec<f64>,
    errors: u64,
    error_types: BTreeMap<String, u64>,
    series: Vec<u64>,
    error_series: Vec<u64>,
    latency: Vec<u64>,
}

/// The overview of `spans` (every span starting in `[from_ns, to_ns)`).
pub fn overview<'a>(spans: impl Iterator<Item = &'a Span>, from_ns: u64, to_ns: u64) -> Overview {
    let bucket_ns = (to_ns.saturating_sub(from_ns) / TIME_BUCKETS as u64).max(1);
    let mut groups: BTreeMap<(String, String, String), Acc> = BTreeMap::new();
    for span in spans {
        if span.start_ns < from_ns || span.start_ns >= to_ns {
            continue;
        }
        let (Some(workflow), Some(primitive)) = (
            span.attr_str(attr::WORKFLOW_NAME),
            span.attr_str(attr::PRIMITIVE_NAME),
        ) else {
            continue;
        };
        // A workflow's root and its top-level node often share a name.
        let primitive_type = span.attr_str(attr::PRIMITIVE_TYPE).unwrap_or_default();
        let acc = groups
            .entry((workflow, primitive, primitive_type.clone()))
            .or_insert_with(|| Acc {
                primitive_type,
                durations: Vec::new(),
                errors: 0,
                error_types: BTreeMap::new(),
                series: vec![0; TIME_BUCKETS],
                error_series: vec![0; TIME_BUCKETS],
                latency: vec![0; LATENCY_BUCKETS_MS.len() + 1],
            });
        let ms = span.duration_ns() as f64 / 1e6;
        acc.durations.push(ms);
        let slot = usize::try_from((span.start_ns - from_ns) / bucket_ns)
            .unwrap_or(usize::MAX)
            .min(TIME_BUCKETS - 1);
        acc.series[slot] += 1;
        if span.status == "error" {
            acc.errors += 1;
            acc.error_series[slot] += 1;
            *acc.error_types
                .entry(
                    span.attr_str(attr::ERROR_TYPE)
                        .unwrap_or_else(|| "error".to_owned()),
                )
                .or_default() += 1;
        }
        let bucket = LATENCY_BUCKETS_MS
            .iter()
            .position(|le| ms < *le)
            .unwrap_or(LATENCY_BUCKETS_MS.len());
        acc.latency[bucket] += 1;
    }
    let seconds = (to_ns.saturating_sub(from_ns) as f64 / 1e9).max(1e-9);
    let mut nodes: Vec<NodeFigures> = groups
        .into_iter()
        .map(|((workflow, primitive, _), mut acc)| {
            acc.durations.sort_by(f64::total_cmp);
            let count = acc.durations.len() as u64;
            NodeFigures {
                workflow,
                primitive,
                primitive_type: acc.primitive_type,
                count,
                rate_per_s: count as f64 / seconds,
                errors: acc.errors,
                error_ratio: acc.errors as f64 / count.max(1) as f64,
                error_types: acc.error_types,
                p50_ms: quantile(&acc.durations, 0.5),
                p95_ms: quantile(&acc.durations, 0.95),
                p99_ms: quantile(&acc.durations, 0.99),
                series: acc.series,
                error_series: acc.error_series,
                latency: acc
                    .latency
                    .iter()
                    .enumerate()
                    .map(|(i, count)| LatencyBucket {
                        from_ms: if i == 0 {
                            0.0
                        } else {
                            LATENCY_BUCKETS_MS[i - 1]
                        },
                        to_ms: LATENCY_BUCKETS_MS.get(i).copied(),
                        count: *count,
                    })
                    .collect(),
            }
        })
        .collect();
    // Each workflow's root first, then its primitives by name.
    nodes.sort_by(|a, b| {
        (&a.workflow, a.primitive_type != "workflow", &a.primitive).cmp(&(
            &b.workflow,
            b.primitive_type != "workflow",
            &b.primitive,
        ))
    });
    Overview {
        from_ns,
        to_ns,
        bucket_ns,
        nodes,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn span(primitive: &str, start_ns: u64, ms: u64, error: Option<&str>) -> Span {
        let mut attributes = vec![
            ("tta.workflow.name".to_owned(), serde_json::json!("quote")),
            (
                "tta.primitive.name".to_owned(),
                serde_json::json!(primitive),
            ),
            (
                "tta.primitive.type".to_owned(),
                serde_json::json!(if primitive == "quote" {
                    "workflow"
                } else {
                    "retry"
                }),
            ),
        ];
        if let Some(kind) = error {
            attributes.push(("error.type".to_owned(), serde_json::json!(kind)));
        }
        Span {
            trace_id: "0".repeat(32),
            span_id: "1".repeat(16),
            parent_span_id: None,
            name: primitive.to_owned(),
            kind: "internal".into(),
            start_ns,
            end_ns: start_ns + ms * 1_000_000,
            status: if error.is_some() {
                "error".into()
            } else {
                "ok".into()
            },
            status_message: String::new(),
            service: "svc".into(),
            scope: String::new(),
            attributes,
            resource: Default::default(),
            events: vec![],
            links: vec![],
            logs: vec![],
        }
    }

    #[test]
    fn figures_come_from_the_spans_in_the_window() {
        let second = 1_000_000_000;
        let mut spans: Vec<Span> = (0..100)
            .map(|i| span("tax_retry", i * second / 10, i + 1, None))
            .collect();
        spans.push(span("tax_retry", 5 * second, 3, Some("timeout")));
        spans.push(span("quote", 2 * second, 40, None));
        spans.push(span("tax_retry", 11 * second, 1, None)); // outside the window
        let o = overview(spans.iter(), 0, 10 * second);
        assert_eq!(o.nodes[0].primitive, "quote", "the workflow's root first");
        let tax = &o.nodes[1];
        assert_eq!(tax.count, 101);
        assert_eq!(tax.errors, 1);
        assert_eq!(tax.error_types["timeout"], 1);
        assert!((tax.rate_per_s - 10.1).abs() < 1e-9);
        assert_eq!(tax.p50_ms, 50.0);
        assert_eq!(tax.p99_ms, 99.0);
        assert_eq!(tax.series.iter().sum::<u64>(), 101);
        assert_eq!(
            tax.error_series[15], 1,
            "the error at 5 s is in bucket 15 of 30"
        );
        assert_eq!(tax.latency.iter().map(|b| b.count).sum::<u64>(), 101);
        // [1 ms, 2.5 ms): 1 and 2 ms.
        assert_eq!(
            (
                tax.latency[1].from_ms,
                tax.latency[1].to_ms,
                tax.latency[1].count
            ),
            (1.0, Some(2.5), 2)
        );
    }
}
