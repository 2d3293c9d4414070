//! Anthropic: messages (`/v1/messages`), complete and streamed.
//!
//! Anthropic's `input_tokens` counts only uncached prompt tokens; the
//! normalised [`Usage::input_tokens`] adds the cache reads and writes, so
//! every provider's input count means "all prompt tokens".
//!
//! ```
//! use tta_langfuse::providers::anthropic::MessagesResponse;
//!
//! let body = r#"{"id":"msg_1","type":"message","role":"assistant","model":"claude-sonnet-4-20250514",
//!   "content":[{"type":"text","text":"Hi"}],"stop_reason":"end_turn","stop_sequence":null,
//!   "usage":{"input_tokens":10,"cache_creation_input_tokens":20,"cache_read_input_tokens":30,"output_tokens":5}}"#;
//! let resp = serde_json::from_str::<MessagesResponse>(body).unwrap().to_llm_response();
//! let usage = resp.usage.unwrap();
//! assert_eq!((usage.input_tokens, usage.cache_read_input_tokens, usage.cache_creation_input_tokens), (60, 30, 20));
//! ```

use serde::Deserialize;

use super::Content;
use crate::types::{LlmChunk, LlmRequest, LlmResponse, Message, Parameters, Usage};

/// The provider name (`gen_ai.provider.name`).
pub const PROVIDER: &str = "anthropic";

/// A message of a request.
#[derive(Debug, Clone, Deserialize, PartialEq)]
pub struct InputMessage {
    /// `user` or `assistant`.
    pub role: String,
    /// The content.
    pub content: Content,
}

/// `metadata` of a request.
#[derive(Debug, Clone, Deserialize, PartialEq, Default)]
pub struct Metadata {
    /// The end user.
    #[serde(default)]
    pub user_id: Option<String>,
}

/// A messages request body.
#[derive(Debug, Clone, Deserialize, PartialEq)]
pub struct MessagesRequest {
    /// The model.
    pub model: String,
    /// The token cap.
    pub max_tokens: u64,
    /// The conversation.
    pub messages: Vec<InputMessage>,
    /// System prompt: text or text blocks.
    #[serde(default)]
    pub system: Option<Content>,
    /// Sampling temperature.
    #[serde(default)]
    pub temperature: Option<f64>,
    /// Nucleus sampling.
    #[serde(default)]
    pub top_p: Option<f64>,
    /// Top-k sampling.
    #[serde(default)]
    pub top_k: Option<u64>,
    /// Stop sequences.
    #[serde(default)]
    pub stop_sequences: Option<Vec<String>>,
    /// Whether the response is streamed as server-sent events.
    #[serde(default)]
    pub stream: Option<bool>,
    /// Anthropic's request metadata (e.g. `user_id`), kept as sent.
    #[serde(default)]
    pub metadata: Option<Metadata>,
}

impl MessagesRequest {
    /// The provider-agnostic request.
    pub fn to_llm_request(&self) -> LlmRequest {
        let mut req = LlmRequest::chat(PROVIDER, self.model.clone());
        if let Some(system) = &self.system {
            req.messages.push(Message::new("system", system.text()));
        }
        req.messages.extend(
            self.messages
                .iter()
                .map(|m| Message::new(m.role.clone(), m.content.text())),
        );
        req.parameters = Parameters {
            temperature: self.temperature,
            top_p: self.top_p,
            top_k: self.top_k.map(|k| k as f64),
            max_tokens: Some(self.max_tokens),
            stop_sequences: self.stop_sequences.clone().unwrap_or_default(),
            ..Parameters::default()
        };
        req.stream = self.stream.unwrap_or(false);
        req.langfuse.user_id = self.metadata.as_ref().and_then(|m| m.user_id.clone());
        req
    }
}

/// Anthropic's token counts.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Default)]
pub struct AnthropicUsage {
    /// Uncached prompt tokens.
    #[serde(default)]
    pub input_tokens: Option<u64>,
    /// Generated tokens (cumulative in `message_delta`).
    #[serde(default)]
    pub output_tokens: Option<u64>,
    /// Prompt tokens written to the cache.
    #[serde(default)]
    pub cache_creation_input_tokens: Option<u64>,
    /// Prompt tokens read from the cache.
    #[serde(default)]
    pub cache_read_input_tokens: Option<u64>,
}

impl AnthropicUsage {
    /// The normalised usage (input = uncached + cache reads + cache writes).
    pub fn to_usage(&self) -> Usage {
        let read = self.cache_read_input_tokens.unwrap_or(0);
        let creation = self.cache_creation_input_tokens.unwrap_or(0);
        Usage {
            input_tokens: self.input_tokens.unwrap_or(0) + read + creation,
            output_tokens: self.output_tokens.unwrap_or(0),
            cache_read_input_tokens: read,
            cache_creation_input_tokens: creation,
            reasoning_tokens: 0,
        }
    }
}

/// A content block of a response.
#[derive(Debug, Clone, Deserialize, PartialEq)]
pub struct ContentBlock {
    /// `text`, `thinking`, `tool_use`, ...
    #[serde(rename = "type")]
    pub kind: String,
    /// Text, for text blocks.
    #[serde(default)]
    pub text: Option<String>,
}

/// A messages response body (also inside `message_start`).
#[derive(Debug, Clone, Deserialize, PartialEq)]
pub struct MessagesResponse {
    /// The message id.
    pub id: String,
    /// The answering model.
    pub model: String,
    /// The content blocks.
    #[serde(default)]
    pub content: Vec<ContentBlock>,
    /// Why generation stopped.
    #[serde(default)]
    pub stop_reason: Option<String>,
    /// Token counts.
    pub usage: AnthropicUsage,
}

impl MessagesResponse {
    /// The provider-agnostic response.
    pub fn to_llm_response(&self) -> LlmResponse {
        let text: String = self
            .content
            .iter()
            .filter(|b| b.kind == "text")
            .filter_map(|b| b.text.as_deref())
            .collect();
        LlmResponse {
            id: Some(self.id.clone()),
            model: Some(self.model.clone()),
            finish_reasons: self.stop_reason.clone().into_iter().collect(),
            usage: Some(self.usage.to_usage()),
            output: vec![Message::new("assistant", text)],
        }
    }
}

/// The delta of a `content_block_delta` event.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(tag = "type")]
pub enum BlockDelta {
    /// A piece of the completion's text.
    #[serde(rename = "text_delta")]
    Text {
        /// The text.
        text: String,
    },
    /// Extended thinking.
    #[serde(rename = "thinking_delta")]
    Thinking {
        /// The thinking text.
        thinking: String,
    },
    /// Anything else (tool input JSON, signatures).
    #[serde(other)]
    Other,
}

/// The delta of a `message_delta` event.
#[derive(Debug, Clone, Deserialize, PartialEq, Default)]
pub struct MessageDelta {
    /// Why generation stopped.
    #[serde(default)]
    pub stop_reason: Option<String>,
}

/// An error event's error.
#[derive(Debug, Clone, Deserialize, PartialEq)]
pub struct StreamError {
    /// E.g. `overloaded_error`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The message.
    pub message: String,
}

/// A streamed messages event (`data:` of the SSE).
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(tag = "type")]
pub enum StreamEvent {
    /// The message starts: id, model, input usage.
    #[serde(rename = "message_start")]
    MessageStart {
        /// The message so far.
        message: MessagesResponse,
    },
    /// A delta of a content block: text, in order.
    #[serde(rename = "content_block_delta")]
    ContentBlockDelta {
        /// The delta.
        delta: BlockDelta,
    },
    /// The stop reason and cumulative output usage.
    #[serde(rename = "message_delta")]
    MessageDelta {
        /// The delta.
        delta: MessageDelta,
        /// Cumulative usage.
        usage: AnthropicUsage,
    },
    /// An error mid-stream.
    #[serde(rename = "error")]
    Error {
        /// The error.
        error: StreamError,
    },
    /// Anything else (`content_block_start`, `content_block_stop`,
    /// `message_stop`, `ping`).
    #[serde(other)]
    Other,
}

impl StreamEvent {
    /// The provider-agnostic chunk, if the event carries anything. An
    /// `error` event carries none: surface it as the stream's error.
    pub fn to_llm_chunk(&self) -> Option<LlmChunk> {
        match self {
            Self::MessageStart { message } => Some(LlmChunk {
                id: Some(message.id.clone()),
                model: Some(message.model.clone()),
                usage: Some(message.usage.to_usage()),
                ..LlmChunk::default()
            }),
            Self::ContentBlockDelta {
                delta: BlockDelta::Text { text },
            } => Some(LlmChunk {
                delta: text.clone(),
                ..LlmChunk::default()
            }),
            Self::ContentBlockDelta {
                delta: BlockDelta::Thinking { thinking },
            } => Some(LlmChunk {
                // Thinking is generated output: it ends the wait for a first token.
                delta: thinking.clone(),
                ..LlmChunk::default()
            }),
            Self::MessageDelta { delta, usage } => Some(LlmChunk {
                finish_reason: delta.stop_reason.clone(),
                usage: Some(usage.to_usage()),
                ..LlmChunk::default()
            }),
            Self::ContentBlockDelta { .. } | Self::Error { .. } | Self::Other => None,
        }
    }
}
