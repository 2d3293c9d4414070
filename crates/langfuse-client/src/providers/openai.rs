//! OpenAI: chat completions (`/v1/chat/completions`) and responses
//! (`/v1/responses`), complete and streamed.
//!
//! ```
//! use tta_langfuse::providers::openai::ChatCompletion;
//!
//! let body = r#"{"id":"chatcmpl-1","object":"chat.completion","created":1,"model":"gpt-4o-mini-2024-07-18",
//!   "choices":[{"index":0,"message":{"role":"assistant","content":"Hi"},"finish_reason":"stop"}],
//!   "usage":{"prompt_tokens":9,"completion_tokens":1,"total_tokens":10,
//!            "prompt_tokens_details":{"cached_tokens":0},"completion_tokens_details":{"reasoning_tokens":0}}}"#;
//! let resp = serde_json::from_str::<ChatCompletion>(body).unwrap().to_llm_response();
//! assert_eq!(resp.usage.unwrap().input_tokens, 9);
//! assert_eq!(resp.finish_reasons, ["stop"]);
//! ```

use serde::Deserialize;

use super::{Content, OneOrMany};
use crate::types::{LlmChunk, LlmRequest, LlmResponse, Message, Operation, Parameters, Usage};

/// The provider name (`gen_ai.provider.name`).
pub const PROVIDER: &str = "openai";

/// A chat message of a request or response.
#[derive(Debug, Clone, Deserialize, PartialEq)]
pub struct ChatMessage {
    /// `system`, `developer`, `user`, `assistant`, `tool`.
    pub role: String,
    /// The content (absent on assistant messages with only tool calls).
    #[serde(default)]
    pub content: Option<Content>,
}

impl ChatMessage {
    fn to_message(&self) -> Message {
        Message::new(
            self.role.clone(),
            self.content.as_ref().map(Content::text).unwrap_or_default(),
        )
    }
}

/// A chat completions request body.
#[derive(Debug, Clone, Deserialize, PartialEq)]
pub struct ChatCompletionRequest {
    /// The model.
    pub model: String,
    /// The conversation.
    pub messages: Vec<ChatMessage>,
    /// Sampling temperature.
    #[serde(default)]
    pub temperature: Option<f64>,
    /// Nucleus sampling.
    #[serde(default)]
    pub top_p: Option<f64>,
    /// The current token cap.
    #[serde(default)]
    pub max_completion_tokens: Option<u64>,
    /// The deprecated token cap.
    #[serde(default)]
    pub max_tokens: Option<u64>,
    /// Frequency penalty.
    #[serde(default)]
    pub frequency_penalty: Option<f64>,
    /// Presence penalty.
    #[serde(default)]
    pub presence_penalty: Option<f64>,
    /// Stop sequences.
    #[serde(default)]
    pub stop: Option<OneOrMany>,
    /// The sampling seed, for repeatable completions.
    #[serde(default)]
    pub seed: Option<i64>,
    /// Whether the response is streamed as server-sent events.
    #[serde(default)]
    pub stream: Option<bool>,
    /// The end user.
    #[serde(default)]
    pub user: Option<String>,
}

impl ChatCompletionRequest {
    /// The provider-agnostic request.
    pub fn to_llm_request(&self) -> LlmRequest {
        let mut req = LlmRequest::chat(PROVIDER, self.model.clone());
        req.messages = self.messages.iter().map(ChatMessage::to_message).collect();
        req.parameters = Parameters {
            temperature: self.temperature,
            top_p: self.top_p,
            max_tokens: self.max_completion_tokens.or(self.max_tokens),
            frequency_penalty: self.frequency_penalty,
            presence_penalty: self.presence_penalty,
            stop_sequences: self
                .stop
                .clone()
                .map(OneOrMany::into_vec)
                .unwrap_or_default(),
            seed: self.seed,
            ..Parameters::default()
        };
        req.stream = self.stream.unwrap_or(false);
        req.langfuse.user_id.clone_from(&self.user);
        req
    }
}

/// Token counts of a chat completion.
#[derive(Debug, Clone, Deserialize, PartialEq, Default)]
pub struct CompletionUsage {
    /// All prompt tokens (cached included).
    pub prompt_tokens: u64,
    /// All generated tokens (reasoning included).
    pub completion_tokens: u64,
    /// Cached prompt tokens.
    #[serde(default)]
    pub prompt_tokens_details: Option<PromptTokensDetails>,
    /// Reasoning tokens.
    #[serde(default)]
    pub completion_tokens_details: Option<CompletionTokensDetails>,
}

/// `prompt_tokens_details`.
#[derive(Debug, Clone, Deserialize, PartialEq, Default)]
pub struct PromptTokensDetails {
    /// Prompt tokens read from the cache.
    #[serde(default)]
    pub cached_tokens: Option<u64>,
}

/// `completion_tokens_details`.
#[derive(Debug, Clone, Deserialize, PartialEq, Default)]
pub struct CompletionTokensDetails {
    /// Generated tokens spent reasoning.
    #[serde(default)]
    pub reasoning_tokens: Option<u64>,
}

impl CompletionUsage {
    /// The normalised usage.
    pub fn to_usage(&self) -> Usage {
        usage(
            self.prompt_tokens,
            self.completion_tokens,
            self.prompt_tokens_details.as_ref(),
            self.completion_tokens_details.as_ref(),
        )
    }
}

/// OpenAI's two usage shapes carry the same counts under other names:
/// input (cached included) and output (reasoning included).
fn usage(
    input: u64,
    output: u64,
    input_details: Option<&PromptTokensDetails>,
    output_details: Option<&CompletionTokensDetails>,
) -> Usage {
    Usage {
        input_tokens: input,
        output_tokens: output,
        cache_read_input_tokens: input_details.and_then(|d| d.cached_tokens).unwrap_or(0),
        cache_creation_input_tokens: 0,
        reasoning_tokens: output_details.and_then(|d| d.reasoning_tokens).unwrap_or(0),
    }
}

/// One choice of a chat completion.
#[derive(Debug, Clone, Deserialize, PartialEq)]
pub struct Choice {
    /// The message.
    pub message: ChatMessage,
    /// Why generation stopped.
    #[serde(default)]
    pub finish_reason: Option<String>,
}

/// A chat completion response body.
#[derive(Debug, Clone, Deserialize, PartialEq)]
pub struct ChatCompletion {
    /// The response id.
    pub id: String,
    /// The answering model.
    pub model: String,
    /// The choices.
    pub choices: Vec<Choice>,
    /// Token counts.
    #[serde(default)]
    pub usage: Option<CompletionUsage>,
}

impl ChatCompletion {
    /// The provider-agnostic response.
    pub fn to_llm_response(&self) -> LlmResponse {
        LlmResponse {
            id: Some(self.id.clone()),
            model: Some(self.model.clone()),
            finish_reasons: self
                .choices
                .iter()
                .filter_map(|c| c.finish_reason.clone())
                .collect(),
            usage: self.usage.as_ref().map(CompletionUsage::to_usage),
            output: self
                .choices
                .iter()
                .map(|c| c.message.to_message())
                .collect(),
        }
    }
}

/// The delta of a streamed choice.
#[derive(Debug, Clone, Deserialize, PartialEq, Default)]
pub struct ChunkDelta {
    /// Generated text.
    #[serde(default)]
    pub content: Option<String>,
}

/// A streamed choice.
#[derive(Debug, Clone, Deserialize, PartialEq)]
pub struct ChunkChoice {
    /// The delta.
    #[serde(default)]
    pub delta: ChunkDelta,
    /// Set on the choice's last chunk.
    #[serde(default)]
    pub finish_reason: Option<String>,
}

/// One `chat.completion.chunk` of a stream (`data:` line of the SSE).
/// With `stream_options.include_usage`, the last chunk has no choices and
/// carries the usage.
#[derive(Debug, Clone, Deserialize, PartialEq)]
pub struct ChatCompletionChunk {
    /// The response id.
    pub id: String,
    /// The answering model.
    pub model: String,
    /// Choice deltas.
    #[serde(default)]
    pub choices: Vec<ChunkChoice>,
    /// Token counts (last chunk).
    #[serde(default)]
    pub usage: Option<CompletionUsage>,
}

impl ChatCompletionChunk {
    /// The provider-agnostic chunk.
    pub fn to_llm_chunk(&self) -> LlmChunk {
        LlmChunk {
            id: Some(self.id.clone()),
            model: Some(self.model.clone()),
            delta: self
                .choices
                .iter()
                .filter_map(|c| c.delta.content.as_deref())
                .collect(),
            finish_reason: self.choices.iter().find_map(|c| c.finish_reason.clone()),
            usage: self.usage.as_ref().map(CompletionUsage::to_usage),
        }
    }
}

// --- Responses API ---------------------------------------------------------

/// The `input` of a responses request: text, or a list of input items.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(untagged)]
pub enum ResponsesInput {
    /// A single user text.
    Text(String),
    /// Messages (other item types are ignored).
    Items(Vec<ResponsesInputItem>),
}

/// An input item: messages have a role and content.
#[derive(Debug, Clone, Deserialize, PartialEq)]
pub struct ResponsesInputItem {
    /// The role, for messages.
    #[serde(default)]
    pub role: Option<String>,
    /// The content, for messages.
    #[serde(default)]
    pub content: Option<Content>,
}

/// A responses request body.
#[derive(Debug, Clone, Deserialize, PartialEq)]
pub struct ResponsesRequest {
    /// The model.
    pub model: String,
    /// The input.
    pub input: ResponsesInput,
    /// System instructions.
    #[serde(default)]
    pub instructions: Option<String>,
    /// Sampling temperature.
    #[serde(default)]
    pub temperature: Option<f64>,
    /// Nucleus sampling.
    #[serde(default)]
    pub top_p: Option<f64>,
    /// The token cap.
    #[serde(default)]
    pub max_output_tokens: Option<u64>,
    /// Whether the response is streamed as server-sent events.
    #[serde(default)]
    pub stream: Option<bool>,
    /// The end user.
    #[serde(default)]
    pub user: Option<String>,
}

impl ResponsesRequest {
    /// The provider-agnostic request.
    pub fn to_llm_request(&self) -> LlmRequest {
        let mut req = LlmRequest::chat(PROVIDER, self.model.clone());
        req.operation = Operation::GenerateContent;
        if let Some(instructions) = &self.instructions {
            req.messages
                .push(Message::new("system", instructions.clone()));
        }
        match &self.input {
            ResponsesInput::Text(text) => req.messages.push(Message::new("user", text.clone())),
            ResponsesInput::Items(items) => req.messages.extend(items.iter().filter_map(|i| {
                Some(Message::new(
                    i.role.clone()?,
                    i.content.as_ref().map(Content::text).unwrap_or_default(),
                ))
            })),
        }
        req.parameters.temperature = self.temperature;
        req.parameters.top_p = self.top_p;
        req.parameters.max_tokens = self.max_output_tokens;
        req.stream = self.stream.unwrap_or(false);
        req.langfuse.user_id.clone_from(&self.user);
        req
    }
}

/// Token counts of a response.
#[derive(Debug, Clone, Deserialize, PartialEq, Default)]
pub struct ResponseUsage {
    /// All input tokens (cached included).
    pub input_tokens: u64,
    /// All output tokens (reasoning included).
    pub output_tokens: u64,
    /// Cached input tokens.
    #[serde(default)]
    pub input_tokens_details: Option<PromptTokensDetails>,
    /// Reasoning tokens.
    #[serde(default)]
    pub output_tokens_details: Option<CompletionTokensDetails>,
}

impl ResponseUsage {
    /// The normalised usage.
    pub fn to_usage(&self) -> Usage {
        usage(
            self.input_tokens,
            self.output_tokens,
            self.input_tokens_details.as_ref(),
            self.output_tokens_details.as_ref(),
        )
    }
}

/// An output item of a response (messages carry text content).
#[derive(Debug, Clone, Deserialize, PartialEq)]
pub struct ResponseOutputItem {
    /// `message`, `reasoning`, `function_call`, ...
    #[serde(rename = "type")]
    pub kind: String,
    /// The role, for messages.
    #[serde(default)]
    pub role: Option<String>,
    /// The content, for messages.
    #[serde(default)]
    pub content: Option<Content>,
}

/// Why a response is incomplete.
#[derive(Debug, Clone, Deserialize, PartialEq)]
pub struct IncompleteDetails {
    /// `max_output_tokens` or `content_filter`.
    pub reason: String,
}

/// A responses response body (also inside `response.completed` events).
#[derive(Debug, Clone, Deserialize, PartialEq)]
pub struct Response {
    /// The response id.
    pub id: String,
    /// The answering model.
    pub model: String,
    /// `completed`, `incomplete`, `failed`, `in_progress`.
    #[serde(default)]
    pub status: Option<String>,
    /// The output items.
    #[serde(default)]
    pub output: Vec<ResponseOutputItem>,
    /// Token counts.
    #[serde(default)]
    pub usage: Option<ResponseUsage>,
    /// Why the response is incomplete.
    #[serde(default)]
    pub incomplete_details: Option<IncompleteDetails>,
}

impl Response {
    /// The finish reason in chat-completions terms: `stop`, `length`,
    /// `content_filter`, or the status.
    pub fn finish_reason(&self) -> Option<String> {
        match (self.status.as_deref(), &self.incomplete_details) {
            (_, Some(d)) if d.reason == "max_output_tokens" => Some("length".into()),
            (_, Some(d)) => Some(d.reason.clone()),
            (Some("completed"), None) => Some("stop".into()),
            (Some(other), None) => Some(other.to_owned()),
            (None, None) => None,
        }
    }

    /// The provider-agnostic response.
    pub fn to_llm_response(&self) -> LlmResponse {
        LlmResponse {
            id: Some(self.id.clone()),
            model: Some(self.model.clone()),
            finish_reasons: self.finish_reason().into_iter().collect(),
            usage: self.usage.as_ref().map(ResponseUsage::to_usage),
            output: self
                .output
                .iter()
                .filter(|o| o.kind == "message")
                .map(|o| {
                    Message::new(
                        o.role.clone().unwrap_or_else(|| "assistant".into()),
                        o.content.as_ref().map(Content::text).unwrap_or_default(),
                    )
                })
                .collect(),
        }
    }
}

/// A streamed responses event (`data:` of the SSE). Events other than the
/// ones below carry nothing the layer needs.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(tag = "type")]
pub enum ResponseStreamEvent {
    /// The response started.
    #[serde(rename = "response.created")]
    Created {
        /// The response so far.
        response: Response,
    },
    /// Output text.
    #[serde(rename = "response.output_text.delta")]
    OutputTextDelta {
        /// The text.
        delta: String,
    },
    /// The response finished.
    #[serde(rename = "response.completed")]
    Completed {
        /// The full response, with usage.
        response: Response,
    },
    /// The response stopped early.
    #[serde(rename = "response.incomplete")]
    Incomplete {
        /// The response, with usage and the reason.
        response: Response,
    },
    /// The response failed.
    #[serde(rename = "response.failed")]
    Failed {
        /// The response.
        response: Response,
    },
    /// Anything else.
    #[serde(other)]
    Other,
}

impl ResponseStreamEvent {
    /// The provider-agnostic chunk, if the event carries anything.
    pub fn to_llm_chunk(&self) -> Option<LlmChunk> {
        match self {
            Self::Created { response } => Some(LlmChunk {
                id: Some(response.id.clone()),
                model: Some(response.model.clone()),
                ..LlmChunk::default()
            }),
            Self::OutputTextDelta { delta } => Some(LlmChunk {
                delta: delta.clone(),
                ..LlmChunk::default()
            }),
            Self::Completed { response }
            | Self::Incomplete { response }
            | Self::Failed { response } => Some(LlmChunk {
                id: Some(response.id.clone()),
                model: Some(response.model.clone()),
                finish_reason: response.finish_reason(),
                usage: response.usage.as_ref().map(ResponseUsage::to_usage),
                ..LlmChunk::default()
            }),
            Self::Other => None,
        }
    }
}
