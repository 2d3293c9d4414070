//! The JSON values a call's span carries: Langfuse's usage, cost and model
//! parameter details and the captured messages (opt-in), all written the
//! one way, by `serde_json` from the borrowed structs below. `serde_json`
//! formats numbers with `itoa` and `ryu` into one buffer, so a derived
//! struct costs what a hand-written writer would.

use serde::Serialize;

use crate::{
    capture::Capture,
    pricing::Cost,
    types::{Message, Parameters, Usage},
};

/// A value serialised to a string; these structs hold only numbers and
/// strings, for which `serde_json` cannot fail.
fn to_json(value: &impl Serialize) -> String {
    serde_json::to_string(value).expect("JSON of numbers and strings")
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// A cache part with no cost (zero, or not a number) is left out.
fn not_positive(x: &f64) -> bool {
    x.partial_cmp(&0.0) != Some(std::cmp::Ordering::Greater)
}

fn not_finite(x: &f64) -> bool {
    !x.is_finite()
}

/// Langfuse usage details: the prompt split by cache status (the parts sum
/// to all prompt tokens) and the output; reasoning tokens are part of the
/// output and are only on `gen_ai.usage.reasoning.output_tokens`, so no
/// token is counted twice.
#[derive(Serialize)]
struct UsageDetails {
    input: u64,
    output: u64,
    #[serde(skip_serializing_if = "is_zero")]
    input_cache_read: u64,
    #[serde(skip_serializing_if = "is_zero")]
    input_cache_creation: u64,
}

pub(crate) fn usage_details(u: &Usage) -> String {
    to_json(&UsageDetails {
        input: u.uncached_input_tokens(),
        output: u.output_tokens,
        input_cache_read: u.cache_read_input_tokens,
        input_cache_creation: u.cache_creation_input_tokens,
    })
}

/// Langfuse cost details, with the same keys as the usage details
/// (non-finite amounts are left out: JSON has none).
#[derive(Serialize)]
struct CostDetails {
    #[serde(skip_serializing_if = "not_finite")]
    input: f64,
    #[serde(skip_serializing_if = "not_finite")]
    output: f64,
    #[serde(skip_serializing_if = "not_positive")]
    input_cache_read: f64,
    #[serde(skip_serializing_if = "not_positive")]
    input_cache_creation: f64,
    #[serde(skip_serializing_if = "not_finite")]
    total: f64,
}

pub(crate) fn cost_details(c: &Cost) -> String {
    to_json(&CostDetails {
        input: c.input,
        output: c.output,
        input_cache_read: c.cached_input,
        input_cache_creation: c.cache_creation_input,
        total: c.total,
    })
}

/// Langfuse model parameters: the numeric request parameters that are set
/// (stop sequences have their own attribute). `None` when none is set.
#[derive(Serialize)]
struct ModelParameters {
    #[serde(skip_serializing_if = "Option::is_none")]
    temperature: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    top_p: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    top_k: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    max_tokens: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    frequency_penalty: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    presence_penalty: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    seed: Option<i64>,
}

pub(super) fn model_parameters(p: &Parameters) -> Option<String> {
    let finite = |x: Option<f64>| x.filter(|x| x.is_finite());
    let params = ModelParameters {
        temperature: finite(p.temperature),
        top_p: finite(p.top_p),
        top_k: finite(p.top_k),
        max_tokens: p.max_tokens,
        frequency_penalty: finite(p.frequency_penalty),
        presence_penalty: finite(p.presence_penalty),
        seed: p.seed,
    };
    let any = params.temperature.is_some()
        || params.top_p.is_some()
        || params.top_k.is_some()
        || params.max_tokens.is_some()
        || params.frequency_penalty.is_some()
        || params.presence_penalty.is_some()
        || params.seed.is_some();
    any.then(|| to_json(&params))
}

/// One message in the GenAI conventions' JSON shape.
#[derive(Serialize)]
struct MessageJson<'a> {
    role: &'a str,
    parts: [TextPart; 1],
    #[serde(skip_serializing_if = "Option::is_none")]
    finish_reason: Option<&'a str>,
}

#[derive(Serialize)]
struct TextPart {
    r#type: &'static str,
    content: String,
}

/// Messages in the GenAI conventions' JSON shape
/// (`[{"role":..,"parts":[{"type":"text","content":..}]}]`), masked, the
/// field capped.
pub(super) fn messages_json(
    capture: &Capture,
    messages: &[Message],
    finish: Option<&String>,
) -> String {
    let items: Vec<MessageJson<'_>> = messages
        .iter()
        .map(|m| MessageJson {
            role: &m.role,
            parts: [TextPart {
                r#type: "text",
                content: capture.mask_text(&m.content),
            }],
            finish_reason: finish.map(String::as_str),
        })
        .collect();
    capture.cap(to_json(&items))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usage_details_leave_out_cache_parts_that_are_zero() {
        let u = Usage {
            input_tokens: 10,
            output_tokens: 4,
            cache_read_input_tokens: 3,
            ..Usage::default()
        };
        assert_eq!(
            usage_details(&u),
            r#"{"input":7,"output":4,"input_cache_read":3}"#
        );
    }

    #[test]
    fn cost_details_leave_out_what_is_not_a_json_number() {
        let c = Cost {
            input: 0.5,
            output: f64::NAN,
            cached_input: 0.0,
            cache_creation_input: 0.25,
            total: 0.75,
        };
        assert_eq!(
            cost_details(&c),
            r#"{"input":0.5,"input_cache_creation":0.25,"total":0.75}"#
        );
    }

    #[test]
    fn model_parameters_hold_the_set_numbers_only() {
        assert_eq!(model_parameters(&Parameters::default()), None);
        let p = Parameters {
            temperature: Some(0.2),
            top_p: Some(f64::INFINITY),
            max_tokens: Some(64),
            seed: Some(-1),
            ..Parameters::default()
        };
        assert_eq!(
            model_parameters(&p).as_deref(),
            Some(r#"{"temperature":0.2,"max_tokens":64,"seed":-1}"#)
        );
    }
}
