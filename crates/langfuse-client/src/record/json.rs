//! The JSON values a call's span carries: Langfuse's usage and cost
//! details (flat objects of numbers, written by hand on every call) and the
//! captured messages (opt-in, through `serde_json`).

use crate::{
    capture::Capture,
    pricing::Cost,
    types::{Message, Usage},
};

/// A flat JSON object of numbers, written by hand with `itoa` and `ryu`:
/// these strings are built on every call, and `fmt` or a JSON map would
/// cost several times more.
#[derive(Default)]
pub(super) struct JsonObject {
    out: String,
}

impl JsonObject {
    fn key(&mut self, key: &str) {
        if self.out.is_empty() {
            self.out.reserve(112);
        }
        self.out.push(if self.out.is_empty() { '{' } else { ',' });
        self.out.push('"');
        self.out.push_str(key);
        self.out.push_str("\":");
    }

    pub(super) fn int(&mut self, key: &str, value: impl itoa::Integer) {
        self.key(key);
        self.out.push_str(itoa::Buffer::new().format(value));
    }

    /// A finite number (non-finite ones are left out: JSON has none).
    pub(super) fn float(&mut self, key: &str, value: f64) {
        if value.is_finite() {
            self.key(key);
            self.out.push_str(ryu::Buffer::new().format_finite(value));
        }
    }

    pub(super) fn finish(mut self) -> Option<String> {
        if self.out.is_empty() {
            return None;
        }
        self.out.push('}');
        Some(self.out)
    }
}

/// Langfuse usage details: the prompt split by cache status (the parts sum
/// to all prompt tokens) and the output; reasoning tokens are part of the
/// output and are only on `gen_ai.usage.reasoning.output_tokens`, so no
/// token is counted twice.
pub(crate) fn usage_details(u: &Usage) -> String {
    let mut o = JsonObject::default();
    o.int("input", u.uncached_input_tokens());
    o.int("output", u.output_tokens);
    if u.cache_read_input_tokens > 0 {
        o.int("input_cache_read", u.cache_read_input_tokens);
    }
    if u.cache_creation_input_tokens > 0 {
        o.int("input_cache_creation", u.cache_creation_input_tokens);
    }
    o.finish().unwrap_or_default()
}

/// Langfuse cost details, with the same keys as the usage details.
pub(crate) fn cost_details(c: &Cost) -> String {
    let mut o = JsonObject::default();
    o.float("input", c.input);
    o.float("output", c.output);
    if c.cached_input > 0.0 {
        o.float("input_cache_read", c.cached_input);
    }
    if c.cache_creation_input > 0.0 {
        o.float("input_cache_creation", c.cache_creation_input);
    }
    o.float("total", c.total);
    o.finish().unwrap_or_default()
}

/// Messages in the GenAI conventions' JSON shape
/// (`[{"role":..,"parts":[{"type":"text","content":..}]}]`), masked, the
/// field capped.
pub(super) fn messages_json(
    capture: &Capture,
    messages: &[Message],
    finish: Option<&String>,
) -> String {
    let items: Vec<serde_json::Value> = messages
        .iter()
        .map(|m| {
            let mut obj = serde_json::json!({
                "role": m.role,
                "parts": [{"type": "text", "content": capture.mask_text(&m.content)}],
            });
            if let Some(reason) = finish {
                obj["finish_reason"] = serde_json::Value::String(reason.clone());
            }
            obj
        })
        .collect();
    capture.cap(serde_json::Value::Array(items).to_string())
}
