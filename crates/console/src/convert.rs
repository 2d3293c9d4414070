//! From the OTLP data model (the official protobuf definitions, decoded
//! from protobuf or from the OTLP/JSON mapping) to the console's spans.

use opentelemetry_proto::tonic::{
    collector::{logs::v1::ExportLogsServiceRequest, trace::v1::ExportTraceServiceRequest},
    common::v1::{AnyValue, KeyValue, any_value},
};
use serde_json::Value;

use crate::model::{Attribute, LogRecord, Span, SpanEvent, SpanLink};

/// Lowercase hex of `bytes`.
pub(crate) fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(DIGITS[usize::from(b >> 4)] as char);
        out.push(DIGITS[usize::from(b & 0xf)] as char);
    }
    out
}

/// The JSON form of an OTLP value, taking its strings over.
fn value(v: Option<AnyValue>) -> Value {
    let Some(inner) = v.and_then(|v| v.value) else {
        return Value::Null;
    };
    match inner {
        any_value::Value::StringValue(s) => Value::String(s),
        any_value::Value::BoolValue(b) => Value::Bool(b),
        any_value::Value::IntValue(i) => Value::from(i),
        any_value::Value::DoubleValue(d) => {
            serde_json::Number::from_f64(d).map_or(Value::Null, Value::Number)
        }
        any_value::Value::ArrayValue(a) => {
            Value::Array(a.values.into_iter().map(|v| value(Some(v))).collect())
        }
        any_value::Value::KvlistValue(kv) => Value::Object(
            kv.values
                .into_iter()
                .map(|kv| (kv.key, value(kv.value)))
                .collect(),
        ),
        any_value::Value::BytesValue(b) => Value::String(hex(&b)),
        // A reference into a profiles string table: not used by traces.
        any_value::Value::StringValueStrindex(i) => Value::from(i),
    }
}

fn attributes(list: Vec<KeyValue>) -> Vec<Attribute> {
    list.into_iter()
        .map(|kv| (kv.key, value(kv.value)))
        .collect()
}

fn kind(kind: i32) -> &'static str {
    match kind {
        2 => "server",
        3 => "client",
        4 => "producer",
        5 => "consumer",
        _ => "internal",
    }
}

/// The spans of an export request, which they take apart (no string is
/// copied but the service and scope names). Spans whose ids have the wrong
/// length are skipped and counted in the second value.
pub fn spans(request: ExportTraceServiceRequest) -> (Vec<Span>, u64) {
    let mut out = Vec::new();
    let mut invalid = 0;
    for resource_spans in request.resource_spans {
        let resource = std::sync::Arc::new(
            resource_spans
                .resource
                .map(|r| attributes(r.attributes))
                .unwrap_or_default(),
        );
        let service = resource
            .iter()
            .find(|(k, _)| k == "service.name")
            .and_then(|(_, v)| v.as_str())
            .unwrap_or("unknown_service")
            .to_owned();
        for scope_spans in resource_spans.scope_spans {
            let scope = scope_spans.scope.map(|s| s.name).unwrap_or_default();
            out.reserve(scope_spans.spans.len());
            for span in scope_spans.spans {
                if span.trace_id.len() != 16
                    || span.span_id.len() != 8
                    || span.trace_id.iter().all(|b| *b == 0)
                    || !(span.parent_span_id.is_empty() || span.parent_span_id.len() == 8)
                {
                    invalid += 1;
                    continue;
                }
                let (status, status_message) = match span.status {
                    Some(s) if s.code == 2 => ("error", s.message),
                    Some(s) if s.code == 1 => ("ok", s.message),
                    _ => ("unset", String::new()),
                };
                out.push(Span {
                    trace_id: hex(&span.trace_id),
                    span_id: hex(&span.span_id),
                    parent_span_id: (!span.parent_span_id.is_empty()
                        && span.parent_span_id.iter().any(|b| *b != 0))
                    .then(|| hex(&span.parent_span_id)),
                    name: span.name,
                    kind: kind(span.kind).into(),
                    start_ns: span.start_time_unix_nano,
                    end_ns: span.end_time_unix_nano.max(span.start_time_unix_nano),
                    status: status.into(),
                    status_message,
                    service: service.clone(),
                    scope: scope.clone(),
                    attributes: attributes(span.attributes),
                    resource: std::sync::Arc::clone(&resource),
                    events: span
                        .events
                        .into_iter()
                        .map(|e| SpanEvent {
                            name: e.name,
                            time_ns: e.time_unix_nano,
                            attributes: attributes(e.attributes),
                        })
                        .collect(),
                    links: span
                        .links
                        .into_iter()
                        .map(|l| SpanLink {
                            trace_id: hex(&l.trace_id),
                            span_id: hex(&l.span_id),
                            attributes: attributes(l.attributes),
                        })
                        .collect(),
                    logs: Vec::new(),
                });
            }
        }
    }
    (out, invalid)
}

/// The log records of an export request that carry a span id, keyed by
/// (trace id, span id); records without one are counted in the second value.
pub fn logs(request: ExportLogsServiceRequest) -> (Vec<(String, String, LogRecord)>, u64) {
    let mut out = Vec::new();
    let mut unattached = 0;
    for resource_logs in request.resource_logs {
        for scope_logs in resource_logs.scope_logs {
            for record in scope_logs.log_records {
                if record.trace_id.len() != 16 || record.span_id.len() != 8 {
                    unattached += 1;
                    continue;
                }
                let body = match value(record.body) {
                    Value::String(s) => s,
                    Value::Null => String::new(),
                    other => other.to_string(),
                };
                out.push((
                    hex(&record.trace_id),
                    hex(&record.span_id),
                    LogRecord {
                        time_ns: if record.time_unix_nano > 0 {
                            record.time_unix_nano
                        } else {
                            record.observed_time_unix_nano
                        },
                        severity: record.severity_text,
                        body,
                        attributes: attributes(record.attributes),
                    },
                ));
            }
        }
    }
    (out, unattached)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_lowercase_hex() {
        assert_eq!(hex(&[0x00, 0xab, 0x1f]), "00ab1f");
    }
}
