//! What the console stores and shows: spans as the OTLP data model has
//! them (ids in lowercase hex, times in Unix nanoseconds), with the log
//! records that belong to them, and the summaries it derives.

use std::borrow::Cow;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// One attribute: its key and its value as JSON (string, number, bool,
/// array or object).
pub type Attribute = (String, Value);

/// A span.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Span {
    /// The trace id, 32 lowercase hex digits.
    pub trace_id: String,
    /// The span id, 16 lowercase hex digits.
    pub span_id: String,
    /// The parent's span id; `None` for a root.
    pub parent_span_id: Option<String>,
    /// The span's name.
    pub name: String,
    /// `internal`, `server`, `client`, `producer` or `consumer`.
    pub kind: Cow<'static, str>,
    /// Start, in Unix nanoseconds.
    pub start_ns: u64,
    /// End, in Unix nanoseconds.
    pub end_ns: u64,
    /// `unset`, `ok` or `error`.
    pub status: Cow<'static, str>,
    /// The status message, for errors.
    pub status_message: String,
    /// The resource's `service.name` (`unknown_service` when missing).
    pub service: String,
    /// The instrumentation scope's name.
    pub scope: String,
    /// The span's attributes.
    pub attributes: Vec<Attribute>,
    /// The resource's attributes, shared by the spans of one export.
    pub resource: std::sync::Arc<Vec<Attribute>>,
    /// The span's events (exceptions among them).
    pub events: Vec<SpanEvent>,
    /// Links to other spans.
    pub links: Vec<SpanLink>,
    /// Log records carrying this span's id (the `tracing` bridge's events).
    pub logs: Vec<LogRecord>,
}

impl Span {
    /// The attribute `key`, if set.
    pub fn attr(&self, key: &str) -> Option<&Value> {
        self.attributes
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v)
    }

    /// The attribute `key` as a string (numbers and bools written out).
    pub fn attr_str(&self, key: &str) -> Option<String> {
        self.attr(key).map(|v| match v {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        })
    }

    /// The attribute `key` as a number.
    pub fn attr_f64(&self, key: &str) -> Option<f64> {
        self.attr(key).and_then(|v| match v {
            Value::Number(n) => n.as_f64(),
            Value::String(s) => s.parse().ok(),
            _ => None,
        })
    }

    /// The duration in nanoseconds.
    pub fn duration_ns(&self) -> u64 {
        self.end_ns.saturating_sub(self.start_ns)
    }

    /// Whether this is a GenAI (LLM) span.
    pub fn is_llm(&self) -> bool {
        self.attr("gen_ai.operation.name").is_some()
    }

    /// A rough size in bytes, for the store's byte bound.
    pub fn estimated_bytes(&self) -> usize {
        fn attrs(list: &[Attribute]) -> usize {
            list.iter()
                .map(|(k, v)| k.len() + value_bytes(v) + 16)
                .sum()
        }
        fn value_bytes(v: &Value) -> usize {
            match v {
                Value::String(s) => s.len(),
                Value::Array(items) => items.iter().map(value_bytes).sum::<usize>() + 8,
                Value::Object(map) => map.iter().map(|(k, v)| k.len() + value_bytes(v)).sum(),
                _ => 8,
            }
        }
        200 + self.name.len()
            + self.status_message.len()
            + self.service.len()
            + self.scope.len()
            + attrs(&self.attributes)
            + self
                .events
                .iter()
                .map(|e| e.name.len() + attrs(&e.attributes) + 16)
                .sum::<usize>()
            + self
                .links
                .iter()
                .map(|l| 64 + attrs(&l.attributes))
                .sum::<usize>()
            + self
                .logs
                .iter()
                .map(|l| l.body.len() + attrs(&l.attributes) + 32)
                .sum::<usize>()
    }
}

/// A span event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SpanEvent {
    /// Its name (`exception` for errors).
    pub name: String,
    /// When, in Unix nanoseconds.
    pub time_ns: u64,
    /// Its attributes.
    pub attributes: Vec<Attribute>,
}

/// A link to another span.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SpanLink {
    /// The linked trace.
    pub trace_id: String,
    /// The linked span.
    pub span_id: String,
    /// The link's attributes.
    pub attributes: Vec<Attribute>,
}

/// A log record attached to a span.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LogRecord {
    /// When, in Unix nanoseconds.
    pub time_ns: u64,
    /// `INFO`, `WARN`, ... as sent.
    pub severity: String,
    /// The body, as text.
    pub body: String,
    /// Its attributes.
    pub attributes: Vec<Attribute>,
}

/// One trace as the list shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TraceSummary {
    /// The trace id.
    pub trace_id: String,
    /// The root span's name (the earliest span without a parent in the
    /// trace).
    pub root_name: String,
    /// The services whose spans the trace holds, root's first.
    pub services: Vec<String>,
    /// The workflow (`tta.workflow.name`), if any span names one.
    pub workflow: Option<String>,
    /// The earliest start, Unix nanoseconds.
    pub start_ns: u64,
    /// From the earliest start to the latest end.
    pub duration_ns: u64,
    /// Spans stored.
    pub span_count: usize,
    /// `ok` or `error` (the root's status, or an error anywhere).
    pub status: String,
    /// The root's `error.type`, else the first error's.
    pub error_type: Option<String>,
    /// Whether a span's parent never arrived.
    pub partial: bool,
    /// Input plus output tokens over the trace's LLM spans.
    pub llm_tokens: u64,
    /// The LLM cost in USD over the trace's LLM spans.
    pub llm_cost_usd: f64,
}
