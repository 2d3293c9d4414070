//! What one LLM call records: its span's attributes and its metrics.

mod json;
mod model_metrics;
mod shared;

use std::{
    borrow::Cow,
    fmt,
    sync::Arc,
    time::{Duration, SystemTime},
};

use opentelemetry::{
    Array, Context, KeyValue, StringValue, Value,
    trace::{Status, TraceContextExt},
};
use tokio::time::Instant;
use tta_primitives_obs::ChildSpanClock;

pub(crate) use json::{cost_details, usage_details};
use json::{messages_json, model_parameters};
use model_metrics::{ModelMetrics, model_metrics};
pub(crate) use shared::Shared;

use crate::{
    attributes as a,
    capture::Capture,
    types::{LangfuseAttributes, LlmRequest, Message, Usage},
};

/// How a call ended.
#[derive(Clone, Copy)]
pub(crate) enum Outcome<'a> {
    Success(Summary<'a>),
    Error(&'a dyn fmt::Display),
    Cancelled,
}

/// What a successful call returned.
#[derive(Default, Clone, Copy)]
pub(crate) struct Summary<'a> {
    pub(crate) id: Option<&'a str>,
    pub(crate) model: Option<&'a str>,
    pub(crate) finish_reasons: &'a [String],
    pub(crate) usage: Option<Usage>,
    /// The completion, when capture is on.
    pub(crate) output: Option<&'a [Message]>,
}

/// One LLM call being recorded: its span (if traced) and metric handles.
/// Dropped unfinished, it records a cancelled call.
pub struct Recorder {
    shared: Arc<Shared>,
    metrics: Arc<ModelMetrics>,
    cx: Option<Context>,
    /// The workflow node's trace clock, when the call runs under one.
    clock: Option<ChildSpanClock>,
    started: Instant,
    first_token: Option<(Duration, SystemTime)>,
    done: bool,
}

impl Recorder {
    /// The request's attributes, for the span builder.
    pub(crate) fn request_attributes(
        shared: &Shared,
        req: &LlmRequest,
        langfuse: &LangfuseAttributes,
    ) -> Vec<KeyValue> {
        // Room for the response's attributes too: the span keeps this
        // vector, so they are added at the end without growing it.
        let mut attrs = Vec::with_capacity(28);
        attrs.push(KeyValue::new(a::OPERATION_NAME, req.operation.as_str()));
        attrs.push(KeyValue::new(a::PROVIDER_NAME, req.provider.clone()));
        // One shared string for both model attributes.
        let model = StringValue::from(std::sync::Arc::<str>::from(req.model.as_str()));
        attrs.push(KeyValue::new(a::REQUEST_MODEL, model.clone()));
        attrs.push(KeyValue::new(
            a::LANGFUSE_OBSERVATION_TYPE,
            langfuse.observation_type.as_str(),
        ));
        attrs.push(KeyValue::new(a::LANGFUSE_MODEL_NAME, model));
        if req.stream {
            attrs.push(KeyValue::new(a::REQUEST_STREAM, true));
        }
        let p = &req.parameters;
        let numbers: [(&'static str, Option<Value>); 7] = [
            (a::REQUEST_TEMPERATURE, p.temperature.map(Value::from)),
            (a::REQUEST_TOP_P, p.top_p.map(Value::from)),
            (a::REQUEST_TOP_K, p.top_k.map(Value::from)),
            (
                a::REQUEST_MAX_TOKENS,
                p.max_tokens.map(|v| saturating_i64(v).into()),
            ),
            (
                a::REQUEST_FREQUENCY_PENALTY,
                p.frequency_penalty.map(Value::from),
            ),
            (
                a::REQUEST_PRESENCE_PENALTY,
                p.presence_penalty.map(Value::from),
            ),
            (a::REQUEST_SEED, p.seed.map(Value::from)),
        ];
        for (key, value) in numbers {
            if let Some(value) = value {
                attrs.push(KeyValue::new(key, value));
            }
        }
        if let Some(params) = model_parameters(p) {
            attrs.push(KeyValue::new(a::LANGFUSE_MODEL_PARAMETERS, params));
        }
        if !p.stop_sequences.is_empty() {
            attrs.push(KeyValue::new(
                a::REQUEST_STOP_SEQUENCES,
                string_array(p.stop_sequences.iter().cloned()),
            ));
        }
        push_langfuse(&mut attrs, langfuse);
        if shared.capture.is_enabled() {
            let input = messages_json(&shared.capture, &req.messages, None);
            attrs.push(KeyValue::new(a::INPUT_MESSAGES, input.clone()));
            attrs.push(KeyValue::new(a::LANGFUSE_INPUT, input));
        }
        attrs
    }

    pub(crate) fn new(
        shared: Arc<Shared>,
        provider: &str,
        model: &str,
        cx: Option<Context>,
        clock: Option<ChildSpanClock>,
    ) -> Self {
        Self {
            shared,
            metrics: model_metrics(provider, model),
            cx,
            clock,
            started: Instant::now(),
            first_token: None,
            done: false,
        }
    }

    pub(crate) fn capture(&self) -> &Capture {
        &self.shared.capture
    }

    /// Marks the first generated content (once).
    pub(crate) fn first_token(&mut self) {
        if self.first_token.is_none() {
            self.first_token = Some((self.started.elapsed(), SystemTime::now()));
        }
    }

    /// Records the end of the call.
    pub(crate) fn finish(&mut self, outcome: Outcome<'_>) {
        if std::mem::replace(&mut self.done, true) {
            return;
        }
        let elapsed = self.started.elapsed().as_secs_f64();
        let m = &*self.metrics;
        m.duration.record(elapsed);
        let outcome_index = match &outcome {
            Outcome::Success(_) => 0,
            Outcome::Error(_) => 1,
            Outcome::Cancelled => 2,
        };
        m.requests[outcome_index].increment(1);
        if let Some((ttft, _)) = self.first_token {
            m.ttft.record(ttft.as_secs_f64());
        }
        let mut attrs: Vec<KeyValue> = Vec::with_capacity(if self.cx.is_some() { 14 } else { 0 });
        match outcome {
            Outcome::Success(summary) => self.success(summary, &mut attrs),
            Outcome::Error(error) => {
                if let Some(cx) = &self.cx {
                    let message = error.to_string();
                    attrs.push(KeyValue::new(a::ERROR_TYPE, "llm_error"));
                    attrs.push(KeyValue::new(a::LANGFUSE_LEVEL, "ERROR"));
                    attrs.push(KeyValue::new(a::LANGFUSE_STATUS_MESSAGE, message.clone()));
                    cx.span().set_status(Status::error(message));
                }
            }
            Outcome::Cancelled => {
                if let Some(cx) = &self.cx {
                    attrs.push(KeyValue::new(a::ERROR_TYPE, "cancelled"));
                    cx.span().set_status(Status::error("cancelled"));
                }
            }
        }
        if let Some(cx) = &self.cx {
            let span = cx.span();
            span.set_attributes(attrs);
            match self.clock.take() {
                Some(clock) => span.end_with_timestamp(clock.end()),
                None => span.end(),
            }
        }
    }

    fn success(&self, summary: Summary<'_>, attrs: &mut Vec<KeyValue>) {
        let m = &*self.metrics;
        let usage = summary.usage;
        if let Some(u) = &usage {
            let counts = [
                u.input_tokens,
                u.output_tokens,
                u.cache_read_input_tokens,
                u.cache_creation_input_tokens,
                u.reasoning_tokens,
            ];
            for (counter, n) in m.tokens.iter().zip(counts) {
                if n > 0 {
                    counter.increment(n);
                }
            }
        }
        // Priced by the answering model (a dated snapshot is more precise),
        // else by the requested one.
        let cost = usage.as_ref().and_then(|u| {
            summary
                .model
                .and_then(|model| self.shared.price_of(model))
                .or_else(|| self.shared.price_of(&m.model))
                .map(|price| price.cost(u))
        });
        match &cost {
            Some(cost) => m.cost.record(cost.total),
            None => m.unpriced.increment(1),
        }
        let Some(cx) = &self.cx else { return };
        cx.span().set_status(Status::Ok);
        if let Some(id) = summary.id {
            attrs.push(KeyValue::new(a::RESPONSE_ID, id.to_owned()));
        }
        if let Some(model) = summary.model {
            attrs.push(KeyValue::new(a::RESPONSE_MODEL, model.to_owned()));
        }
        if !summary.finish_reasons.is_empty() {
            attrs.push(KeyValue::new(
                a::RESPONSE_FINISH_REASONS,
                string_array(summary.finish_reasons.iter().cloned()),
            ));
        }
        if let Some(u) = &usage {
            attrs.push(KeyValue::new(
                a::USAGE_INPUT_TOKENS,
                saturating_i64(u.input_tokens),
            ));
            attrs.push(KeyValue::new(
                a::USAGE_OUTPUT_TOKENS,
                saturating_i64(u.output_tokens),
            ));
            if u.cache_read_input_tokens > 0 {
                attrs.push(KeyValue::new(
                    a::USAGE_CACHE_READ_INPUT_TOKENS,
                    saturating_i64(u.cache_read_input_tokens),
                ));
            }
            if u.cache_creation_input_tokens > 0 {
                attrs.push(KeyValue::new(
                    a::USAGE_CACHE_CREATION_INPUT_TOKENS,
                    saturating_i64(u.cache_creation_input_tokens),
                ));
            }
            if u.reasoning_tokens > 0 {
                attrs.push(KeyValue::new(
                    a::USAGE_REASONING_OUTPUT_TOKENS,
                    saturating_i64(u.reasoning_tokens),
                ));
            }
            attrs.push(KeyValue::new(a::LANGFUSE_USAGE_DETAILS, usage_details(u)));
        }
        if let Some(cost) = &cost {
            attrs.push(KeyValue::new(a::LANGFUSE_COST_DETAILS, cost_details(cost)));
        }
        if let Some((ttft, at)) = self.first_token {
            attrs.push(KeyValue::new(
                a::RESPONSE_TIME_TO_FIRST_CHUNK,
                ttft.as_secs_f64(),
            ));
            attrs.push(KeyValue::new(
                a::LANGFUSE_COMPLETION_START_TIME,
                humantime::format_rfc3339_micros(at).to_string(),
            ));
        }
        if let Some(output) = summary.output {
            let json = messages_json(&self.shared.capture, output, summary.finish_reasons.first());
            attrs.push(KeyValue::new(a::OUTPUT_MESSAGES, json.clone()));
            attrs.push(KeyValue::new(a::LANGFUSE_OUTPUT, json));
        }
    }
}

impl Drop for Recorder {
    fn drop(&mut self) {
        self.finish(Outcome::Cancelled);
    }
}

fn push_langfuse(attrs: &mut Vec<KeyValue>, l: &LangfuseAttributes) {
    let mut opt = |key: &'static str, value: &Option<String>| {
        if let Some(v) = value {
            attrs.push(KeyValue::new(key, v.clone()));
        }
    };
    opt(a::LANGFUSE_TRACE_NAME, &l.trace_name);
    opt(a::USER_ID, &l.user_id);
    opt(a::SESSION_ID, &l.session_id);
    opt(a::LANGFUSE_RELEASE, &l.release);
    opt(a::LANGFUSE_ENVIRONMENT, &l.environment);
    if !l.tags.is_empty() {
        attrs.push(KeyValue::new(
            a::LANGFUSE_TRACE_TAGS,
            string_array(l.tags.iter().cloned()),
        ));
    }
    if let Some((name, version)) = &l.prompt {
        attrs.push(KeyValue::new(a::LANGFUSE_PROMPT_NAME, name.clone()));
        attrs.push(KeyValue::new(
            a::LANGFUSE_PROMPT_VERSION,
            i64::from(*version),
        ));
    }
}

fn string_array(values: impl Iterator<Item = String>) -> Value {
    Value::Array(Array::String(values.map(StringValue::from).collect()))
}

fn saturating_i64(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

/// The trace and observation attributes of a call: the request's, with
/// unset ones taken from the workflow the call runs in.
pub(crate) fn effective_langfuse<'a>(
    req: &'a LlmRequest,
    ctx: Option<&tta_primitives_core::WorkflowContext>,
) -> Cow<'a, LangfuseAttributes> {
    let Some(ctx) = ctx else {
        return Cow::Borrowed(&req.langfuse);
    };
    let mut l = req.langfuse.clone();
    if l.trace_name.is_none() {
        l.trace_name = Some(ctx.workflow_name().to_owned());
    }
    if l.user_id.is_none() {
        l.user_id = ctx.user_id().map(str::to_owned);
    }
    if l.session_id.is_none() {
        l.session_id = ctx.session_id().map(str::to_owned);
    }
    if l.tags.is_empty() {
        l.tags = ctx.tags().to_vec();
    }
    Cow::Owned(l)
}

impl fmt::Debug for Recorder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Recorder")
            .field("provider", &self.metrics.provider)
            .field("model", &self.metrics.model)
            .finish_non_exhaustive()
    }
}
