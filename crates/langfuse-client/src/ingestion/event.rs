//! The events of the batch ingestion API, serialized as the Langfuse
//! OpenAPI spec describes them (`IngestionEvent`).

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::Value;

/// An envelope: a unique event id (Langfuse deduplicates on it, so it stays
/// the same across retries), a timestamp, the type and the body.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct IngestionEvent {
    pub(crate) id: String,
    pub(crate) timestamp: String,
    #[serde(rename = "type")]
    pub(crate) kind: &'static str,
    pub(crate) body: EventBody,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(untagged)]
pub(crate) enum EventBody {
    Trace(TraceBody),
    Span(SpanBody),
    Generation(GenerationBody),
    Event(ObservationEventBody),
    Score(ScoreBody),
}

impl IngestionEvent {
    fn new(kind: &'static str, body: EventBody) -> Self {
        Self {
            id: uuid::Uuid::new_v4().to_string(),
            timestamp: now(),
            kind,
            body,
        }
    }

    /// A `trace-create` (an upsert on `body.id`).
    pub fn trace_create(body: TraceBody) -> Self {
        Self::new("trace-create", EventBody::Trace(body))
    }

    /// A `span-create`.
    pub fn span_create(body: SpanBody) -> Self {
        Self::new("span-create", EventBody::Span(body))
    }

    /// A `generation-create`.
    pub fn generation_create(body: GenerationBody) -> Self {
        Self::new("generation-create", EventBody::Generation(body))
    }

    /// An `event-create`.
    pub fn event_create(body: ObservationEventBody) -> Self {
        Self::new("event-create", EventBody::Event(body))
    }

    /// A `score-create`.
    pub fn score_create(body: ScoreBody) -> Self {
        Self::new("score-create", EventBody::Score(body))
    }

    /// The event id.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The event type (`trace-create`, ...).
    pub fn kind(&self) -> &'static str {
        self.kind
    }
}

/// The current time in RFC 3339 with microseconds.
pub(crate) fn now() -> String {
    humantime::format_rfc3339_micros(std::time::SystemTime::now()).to_string()
}

/// `TraceBody`.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct TraceBody {
    /// The trace id (32 hex characters for OpenTelemetry traces).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// When the trace started (RFC 3339).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timestamp: Option<String>,
    /// The trace's name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The end user.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
    /// The session.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub session_id: Option<String>,
    /// The release.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub release: Option<String>,
    /// The version.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// The environment.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub environment: Option<String>,
    /// Tags to filter traces by in Langfuse.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
    /// Free-form JSON shown with the trace.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metadata: Option<Value>,
    /// The trace's input, as JSON.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub input: Option<Value>,
    /// The trace's output, as JSON.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub output: Option<Value>,
}

/// `ObservationLevel`.
#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq)]
#[serde(rename_all = "UPPERCASE")]
pub enum Level {
    /// Detail for debugging only.
    Debug,
    /// The ordinary level (Langfuse's default).
    Default,
    /// Something went wrong but the observation completed.
    Warning,
    /// The observation failed.
    Error,
}

/// The fields every observation has (`OptionalObservationBody` and the id).
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ObservationEventBody {
    /// The observation id (16 hex characters for OpenTelemetry spans).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// The trace it belongs to.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub trace_id: Option<String>,
    /// Its name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// When it started.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub start_time: Option<String>,
    /// Free-form JSON shown with the observation.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metadata: Option<Value>,
    /// The observation's input, as JSON.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub input: Option<Value>,
    /// The observation's output, as JSON.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub output: Option<Value>,
    /// How serious the observation is (default: `DEFAULT`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub level: Option<Level>,
    /// Status message (errors).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status_message: Option<String>,
    /// The parent observation.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parent_observation_id: Option<String>,
    /// The environment.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub environment: Option<String>,
}

/// `CreateSpanBody`.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct SpanBody {
    /// The common fields.
    #[serde(flatten)]
    pub observation: ObservationEventBody,
    /// When it ended.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub end_time: Option<String>,
}

/// `CreateGenerationBody`.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct GenerationBody {
    /// The span fields.
    #[serde(flatten)]
    pub span: SpanBody,
    /// When the first token arrived.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub completion_start_time: Option<String>,
    /// The model.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// Model parameters. Values are sent as strings: the spec's `MapValue`
    /// is a `oneOf` in which an integer matches both `integer` and `number`.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub model_parameters: BTreeMap<String, String>,
    /// Token counts by type (`input`, `output`, `input_cache_read`, ...).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub usage_details: BTreeMap<String, u64>,
    /// Cost in US dollars by type, with `total`.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub cost_details: BTreeMap<String, f64>,
    /// The managed prompt's name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub prompt_name: Option<String>,
    /// The managed prompt's version.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub prompt_version: Option<u32>,
}

/// A score's value.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(untagged)]
pub enum ScoreValue {
    /// Numeric and boolean scores (booleans as 0 or 1).
    Number(f64),
    /// Categorical scores.
    Category(String),
}

/// `ScoreDataType`.
#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq)]
#[serde(rename_all = "UPPERCASE")]
pub enum ScoreDataType {
    /// A number.
    Numeric,
    /// 0 or 1.
    Boolean,
    /// A category.
    Categorical,
}

/// `ScoreBody`: a score on a trace, an observation or a session.
///
/// ```
/// use tta_langfuse::ingestion::{ScoreBody, IngestionEvent};
///
/// let score = ScoreBody::numeric("helpfulness", 0.9).on_trace("4bf92f3577b34da6a3ce929d0e0e4736");
/// let event = IngestionEvent::score_create(score);
/// assert_eq!(event.kind(), "score-create");
/// ```
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ScoreBody {
    /// The score id (an upsert key).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// The scored trace.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub trace_id: Option<String>,
    /// The scored observation.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub observation_id: Option<String>,
    /// The scored session.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub session_id: Option<String>,
    /// The score's name.
    pub name: String,
    /// The value.
    pub value: ScoreValue,
    /// The data type.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data_type: Option<ScoreDataType>,
    /// A comment.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    /// The environment.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub environment: Option<String>,
}

impl ScoreBody {
    fn new(name: impl Into<String>, value: ScoreValue, data_type: ScoreDataType) -> Self {
        Self {
            id: None,
            trace_id: None,
            observation_id: None,
            session_id: None,
            name: name.into(),
            value,
            data_type: Some(data_type),
            comment: None,
            environment: None,
        }
    }

    /// A numeric score.
    pub fn numeric(name: impl Into<String>, value: f64) -> Self {
        Self::new(name, ScoreValue::Number(value), ScoreDataType::Numeric)
    }

    /// A boolean score (sent as 1 or 0).
    pub fn boolean(name: impl Into<String>, value: bool) -> Self {
        Self::new(
            name,
            ScoreValue::Number(if value { 1.0 } else { 0.0 }),
            ScoreDataType::Boolean,
        )
    }

    /// A categorical score.
    pub fn categorical(name: impl Into<String>, value: impl Into<String>) -> Self {
        Self::new(
            name,
            ScoreValue::Category(value.into()),
            ScoreDataType::Categorical,
        )
    }

    /// Scores the trace `trace_id`.
    pub fn on_trace(mut self, trace_id: impl Into<String>) -> Self {
        self.trace_id = Some(trace_id.into());
        self
    }

    /// Scores the observation `observation_id` of trace `trace_id`.
    pub fn on_observation(
        mut self,
        trace_id: impl Into<String>,
        observation_id: impl Into<String>,
    ) -> Self {
        self.trace_id = Some(trace_id.into());
        self.observation_id = Some(observation_id.into());
        self
    }

    /// Adds a comment.
    pub fn comment(mut self, comment: impl Into<String>) -> Self {
        self.comment = Some(comment.into());
        self
    }
}
