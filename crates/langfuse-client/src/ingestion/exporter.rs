//! Spans to ingestion events, for Langfuse servers without the OTLP endpoint.

use std::{collections::BTreeMap, time::SystemTime};

use opentelemetry::{KeyValue, Value, trace::Status};
use opentelemetry_sdk::{
    error::OTelSdkResult,
    trace::{SpanData, SpanExporter},
};
use serde_json::Value as Json;

use super::{
    IngestionClient, IngestionEvent,
    event::{GenerationBody, Level, ObservationEventBody, SpanBody, TraceBody},
};
use crate::attributes as a;

/// A span exporter that turns spans into batch ingestion events and queues
/// them on an [`IngestionClient`] (never blocking, never waiting on the
/// network): a `trace-create` for each local root span and for spans that
/// carry trace attributes (user, session, tags, trace name), a
/// `generation-create` for each LLM span (model, parameters, usage and cost
/// details, completion start time, prompt), a `span-create` for the others,
/// and an `event-create` for each span event.
#[derive(Debug, Clone)]
pub struct IngestionSpanExporter {
    client: IngestionClient,
}

impl IngestionSpanExporter {
    /// Queues converted spans on `client`.
    pub fn new(client: IngestionClient) -> Self {
        Self { client }
    }

    /// The events for one span.
    pub fn events(span: &SpanData) -> Vec<IngestionEvent> {
        let attrs = Attrs(&span.attributes);
        let trace_id = span.span_context.trace_id().to_string();
        let span_id = span.span_context.span_id().to_string();
        let mut events = Vec::with_capacity(2 + span.events.len());

        let local_root = span.parent_span_id == opentelemetry::trace::SpanId::INVALID
            || span.parent_span_is_remote;
        let has_trace_attrs = [
            a::LANGFUSE_TRACE_NAME,
            a::USER_ID,
            a::SESSION_ID,
            a::LANGFUSE_TRACE_TAGS,
            a::LANGFUSE_RELEASE,
        ]
        .iter()
        .any(|k| attrs.get(k).is_some());
        if local_root || has_trace_attrs {
            events.push(IngestionEvent::trace_create(TraceBody {
                id: Some(trace_id.clone()),
                timestamp: local_root.then(|| rfc3339(span.start_time)),
                name: attrs
                    .string(a::LANGFUSE_TRACE_NAME)
                    .or_else(|| local_root.then(|| span.name.to_string())),
                user_id: attrs.string(a::USER_ID),
                session_id: attrs.string(a::SESSION_ID),
                release: attrs.string(a::LANGFUSE_RELEASE),
                environment: attrs.string(a::LANGFUSE_ENVIRONMENT),
                tags: attrs.strings(a::LANGFUSE_TRACE_TAGS),
                ..TraceBody::default()
            }));
        }

        let (level, status_message) = match &span.status {
            Status::Error { description } => (
                Some(Level::Error),
                Some(
                    attrs
                        .string(a::LANGFUSE_STATUS_MESSAGE)
                        .unwrap_or_else(|| description.to_string()),
                ),
            ),
            _ => (None, None),
        };
        let observation = ObservationEventBody {
            id: Some(span_id.clone()),
            trace_id: Some(trace_id.clone()),
            name: Some(span.name.to_string()),
            start_time: Some(rfc3339(span.start_time)),
            metadata: Some(metadata(&span.attributes)),
            input: attrs.json(a::LANGFUSE_INPUT),
            output: attrs.json(a::LANGFUSE_OUTPUT),
            level,
            status_message,
            parent_observation_id: (span.parent_span_id != opentelemetry::trace::SpanId::INVALID)
                .then(|| span.parent_span_id.to_string()),
            environment: attrs.string(a::LANGFUSE_ENVIRONMENT),
        };
        let span_body = SpanBody {
            observation,
            end_time: Some(rfc3339(span.end_time)),
        };
        if attrs.get(a::OPERATION_NAME).is_some() {
            events.push(IngestionEvent::generation_create(generation(
                &attrs, span_body,
            )));
        } else {
            events.push(IngestionEvent::span_create(span_body));
        }

        for event in span.events.iter() {
            events.push(IngestionEvent::event_create(ObservationEventBody {
                id: Some(uuid::Uuid::new_v4().to_string()),
                trace_id: Some(trace_id.clone()),
                name: Some(event.name.to_string()),
                start_time: Some(rfc3339(event.timestamp)),
                metadata: (!event.attributes.is_empty()).then(|| metadata(&event.attributes)),
                parent_observation_id: Some(span_id.clone()),
                ..ObservationEventBody::default()
            }));
        }
        events
    }
}

fn generation(attrs: &Attrs<'_>, span: SpanBody) -> GenerationBody {
    let mut model_parameters = BTreeMap::new();
    for (key, name) in [
        (a::REQUEST_TEMPERATURE, "temperature"),
        (a::REQUEST_TOP_P, "top_p"),
        (a::REQUEST_TOP_K, "top_k"),
        (a::REQUEST_MAX_TOKENS, "max_tokens"),
        (a::REQUEST_FREQUENCY_PENALTY, "frequency_penalty"),
        (a::REQUEST_PRESENCE_PENALTY, "presence_penalty"),
        (a::REQUEST_SEED, "seed"),
    ] {
        if let Some(v) = attrs.get(key) {
            model_parameters.insert(name.to_owned(), v.to_string());
        }
    }
    let usage_details = attrs
        .json(a::LANGFUSE_USAGE_DETAILS)
        .and_then(|j| serde_json::from_value(j).ok())
        .unwrap_or_default();
    let cost_details = attrs
        .json(a::LANGFUSE_COST_DETAILS)
        .and_then(|j| serde_json::from_value(j).ok())
        .unwrap_or_default();
    GenerationBody {
        span,
        completion_start_time: attrs.string(a::LANGFUSE_COMPLETION_START_TIME),
        model: attrs
            .string(a::RESPONSE_MODEL)
            .or_else(|| attrs.string(a::REQUEST_MODEL)),
        model_parameters,
        usage_details,
        cost_details,
        prompt_name: attrs.string(a::LANGFUSE_PROMPT_NAME),
        prompt_version: attrs.get(a::LANGFUSE_PROMPT_VERSION).and_then(|v| match v {
            Value::I64(i) => u32::try_from(*i).ok(),
            _ => None,
        }),
    }
}

/// Span attributes as Langfuse metadata (strings), without the ones mapped
/// onto fields and without captured text.
fn metadata(attributes: &[KeyValue]) -> Json {
    let map = attributes
        .iter()
        .filter(|kv| {
            !matches!(
                kv.key.as_str(),
                a::INPUT_MESSAGES | a::OUTPUT_MESSAGES | a::LANGFUSE_INPUT | a::LANGFUSE_OUTPUT
            )
        })
        .map(|kv| (kv.key.to_string(), Json::String(kv.value.to_string())))
        .collect();
    Json::Object(map)
}

fn rfc3339(t: SystemTime) -> String {
    humantime::format_rfc3339_micros(t).to_string()
}

struct Attrs<'a>(&'a [KeyValue]);

impl Attrs<'_> {
    fn get(&self, key: &str) -> Option<&Value> {
        self.0
            .iter()
            .find(|kv| kv.key.as_str() == key)
            .map(|kv| &kv.value)
    }

    fn string(&self, key: &str) -> Option<String> {
        self.get(key).map(|v| v.as_str().into_owned())
    }

    fn strings(&self, key: &str) -> Vec<String> {
        match self.get(key) {
            Some(Value::Array(opentelemetry::Array::String(values))) => {
                values.iter().map(|s| s.as_str().to_owned()).collect()
            }
            Some(other) => vec![other.as_str().into_owned()],
            None => Vec::new(),
        }
    }

    fn json(&self, key: &str) -> Option<Json> {
        let text = self.string(key)?;
        Some(serde_json::from_str(&text).unwrap_or(Json::String(text)))
    }
}

impl SpanExporter for IngestionSpanExporter {
    async fn export(&self, batch: Vec<SpanData>) -> OTelSdkResult {
        for span in &batch {
            for event in Self::events(span) {
                // Refusals are counted by the client; the export itself
                // never fails because one event did not fit.
                let _ = self.client.enqueue(event);
            }
        }
        Ok(())
    }
}
