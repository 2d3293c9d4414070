//! The LLM view's data: every GenAI span as a call, totals per model, and
//! groups by session and user.

use std::collections::BTreeMap;
use tta_primitives_obs::attr;

use serde::Serialize;

use crate::{model::Span, store::llm_cost};

/// One LLM call, from its span's `gen_ai.*` and `langfuse.*` attributes.
#[derive(Debug, Clone, Serialize)]
pub struct LlmCall {
    /// The trace.
    pub trace_id: String,
    /// The span.
    pub span_id: String,
    /// When it started (Unix ns).
    pub start_ns: u64,
    /// `gen_ai.provider.name`.
    pub provider: Option<String>,
    /// The model that answered (`gen_ai.response.model`), else the one asked.
    pub model: Option<String>,
    /// Prompt tokens.
    pub input_tokens: u64,
    /// Completion tokens.
    pub output_tokens: u64,
    /// Prompt tokens read from the provider's cache.
    pub cached_tokens: u64,
    /// Reasoning tokens.
    pub reasoning_tokens: u64,
    /// Cost in USD, when priced.
    pub cost_usd: Option<f64>,
    /// Time to the first streamed chunk, in seconds.
    pub time_to_first_token_s: Option<f64>,
    /// The call's duration, in seconds.
    pub latency_s: f64,
    /// Why generation stopped.
    pub finish_reasons: Option<String>,
    /// The captured prompt, when capture was on.
    pub prompt: Option<String>,
    /// The captured completion, when capture was on.
    pub completion: Option<String>,
    /// `session.id`.
    pub session: Option<String>,
    /// `user.id`.
    pub user: Option<String>,
    /// `ok` or `error`, with `error.type` when it failed.
    pub status: String,
    /// The error type.
    pub error_type: Option<String>,
}

impl LlmCall {
    /// The call a GenAI span records.
    pub fn from_span(span: &Span) -> Self {
        let tokens = |key: &str| span.attr_f64(key).unwrap_or(0.0) as u64;
        Self {
            trace_id: span.trace_id.clone(),
            span_id: span.span_id.clone(),
            start_ns: span.start_ns,
            provider: span.attr_str("gen_ai.provider.name"),
            model: span
                .attr_str("gen_ai.response.model")
                .or_else(|| span.attr_str("gen_ai.request.model")),
            input_tokens: tokens("gen_ai.usage.input_tokens"),
            output_tokens: tokens("gen_ai.usage.output_tokens"),
            cached_tokens: tokens("gen_ai.usage.cache_read.input_tokens"),
            reasoning_tokens: tokens("gen_ai.usage.reasoning.output_tokens"),
            cost_usd: llm_cost(span),
            time_to_first_token_s: span.attr_f64("gen_ai.response.time_to_first_chunk"),
            latency_s: span.duration_ns() as f64 / 1e9,
            finish_reasons: span.attr_str("gen_ai.response.finish_reasons"),
            prompt: span
                .attr_str("gen_ai.input.messages")
                .or_else(|| span.attr_str("langfuse.observation.input")),
            completion: span
                .attr_str("gen_ai.output.messages")
                .or_else(|| span.attr_str("langfuse.observation.output")),
            session: span.attr_str("session.id"),
            user: span.attr_str("user.id"),
            status: if span.status == "error" {
                "error"
            } else {
                "ok"
            }
            .to_owned(),
            error_type: span.attr_str(attr::ERROR_TYPE),
        }
    }
}

/// Totals over a group of calls (a model, a session, a user).
#[derive(Debug, Clone, Default, Serialize)]
pub struct LlmTotals {
    /// The group's key (model, session or user).
    pub key: String,
    /// LLM calls in the window.
    pub calls: u64,
    /// Failed calls.
    pub errors: u64,
    /// Prompt tokens.
    pub input_tokens: u64,
    /// Completion tokens.
    pub output_tokens: u64,
    /// Cost in USD.
    pub cost_usd: f64,
    /// Median latency, in seconds.
    pub p50_latency_s: f64,
    /// 95th percentile latency, in seconds.
    pub p95_latency_s: f64,
}

/// The value at quantile `q` of `sorted` (nearest rank).
pub fn quantile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = (q * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// Totals of `calls` grouped by `key` (calls without one are left out).
pub fn totals(calls: &[LlmCall], key: impl Fn(&LlmCall) -> Option<String>) -> Vec<LlmTotals> {
    let mut groups: BTreeMap<String, (LlmTotals, Vec<f64>)> = BTreeMap::new();
    for call in calls {
        let Some(k) = key(call) else { continue };
        let (t, latencies) = groups.entry(k.clone()).or_insert_with(|| {
            (
                LlmTotals {
                    key: k,
                    ..LlmTotals::default()
                },
                Vec::new(),
            )
        });
        t.calls += 1;
        t.errors += u64::from(call.status == "error");
        t.input_tokens += call.input_tokens;
        t.output_tokens += call.output_tokens;
        t.cost_usd += call.cost_usd.unwrap_or(0.0);
        latencies.push(call.latency_s);
    }
    groups
        .into_values()
        .map(|(mut t, mut latencies)| {
            latencies.sort_by(f64::total_cmp);
            t.p50_latency_s = quantile(&latencies, 0.5);
            t.p95_latency_s = quantile(&latencies, 0.95);
            t
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_take_the_nearest_rank() {
        let sorted: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(quantile(&sorted, 0.5), 50.0);
        assert_eq!(quantile(&sorted, 0.95), 95.0);
        assert_eq!(quantile(&[3.0], 0.95), 3.0);
        assert_eq!(quantile(&[], 0.5), 0.0);
    }
}
