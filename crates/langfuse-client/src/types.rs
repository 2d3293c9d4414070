//! Provider-agnostic request, response and streaming types of an LLM call.
//!
//! Adapters (see [`crate::providers`]) map a provider's bodies onto these;
//! the [`LlmLayer`](crate::LlmLayer) reads them to describe the call.

use std::borrow::Cow;

use futures_util::stream::BoxStream;

/// The GenAI operation (`gen_ai.operation.name`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Operation {
    /// A chat completion (OpenAI chat completions, Anthropic messages).
    #[default]
    Chat,
    /// A text completion.
    TextCompletion,
    /// A multimodal content generation (OpenAI responses).
    GenerateContent,
    /// An embeddings request.
    Embeddings,
}

impl Operation {
    /// The semantic-convention value.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Chat => "chat",
            Self::TextCompletion => "text_completion",
            Self::GenerateContent => "generate_content",
            Self::Embeddings => "embeddings",
        }
    }
}

/// One message of a prompt or a completion.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// `system`, `user`, `assistant`, `tool`, ...
    pub role: Cow<'static, str>,
    /// The text content (parts concatenated).
    pub content: String,
}

impl Message {
    /// A message with `role` and `content`.
    pub fn new(role: impl Into<Cow<'static, str>>, content: impl Into<String>) -> Self {
        Self {
            role: role.into(),
            content: content.into(),
        }
    }
}

/// Sampling and length parameters of a request (`gen_ai.request.*`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Parameters {
    /// Sampling temperature.
    pub temperature: Option<f64>,
    /// Nucleus sampling.
    pub top_p: Option<f64>,
    /// Top-k sampling.
    pub top_k: Option<f64>,
    /// The cap on generated tokens.
    pub max_tokens: Option<u64>,
    /// Frequency penalty.
    pub frequency_penalty: Option<f64>,
    /// Presence penalty.
    pub presence_penalty: Option<f64>,
    /// Stop sequences.
    pub stop_sequences: Vec<String>,
    /// The sampling seed, for repeatable completions (`gen_ai.request.seed`).
    pub seed: Option<i64>,
}

/// The Langfuse type of the observation an LLM call becomes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ObservationType {
    /// A model generation (the default).
    #[default]
    Generation,
    /// An embedding call.
    Embedding,
    /// An agent step.
    Agent,
    /// A tool call.
    Tool,
    /// A chain.
    Chain,
    /// A retrieval.
    Retriever,
    /// An evaluation.
    Evaluator,
    /// A guardrail check.
    Guardrail,
}

impl ObservationType {
    /// The value of `langfuse.observation.type`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Generation => "generation",
            Self::Embedding => "embedding",
            Self::Agent => "agent",
            Self::Tool => "tool",
            Self::Chain => "chain",
            Self::Retriever => "retriever",
            Self::Evaluator => "evaluator",
            Self::Guardrail => "guardrail",
        }
    }
}

/// Langfuse trace and observation attributes of a call. Unset fields are
/// taken, when the call runs inside a workflow, from its context (user id,
/// session id, tags, workflow name as trace name).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LangfuseAttributes {
    /// The trace's name (`langfuse.trace.name`).
    pub trace_name: Option<String>,
    /// The end user (`user.id`).
    pub user_id: Option<String>,
    /// The session (`session.id`).
    pub session_id: Option<String>,
    /// Trace tags (`langfuse.trace.tags`).
    pub tags: Vec<String>,
    /// The application's release (`langfuse.release`).
    pub release: Option<String>,
    /// The deployment environment (`langfuse.environment`).
    pub environment: Option<String>,
    /// The managed prompt's name and version.
    pub prompt: Option<(String, u32)>,
    /// The observation type (generation by default).
    pub observation_type: ObservationType,
}

/// A provider-agnostic LLM request.
///
/// ```
/// use tta_langfuse::{LlmRequest, Message};
///
/// let req = LlmRequest::chat("openai", "gpt-4o-mini")
///     .message(Message::new("user", "Say hi"))
///     .max_tokens(20)
///     .user("user-7");
/// assert_eq!(req.model, "gpt-4o-mini");
/// assert_eq!(req.langfuse.user_id.as_deref(), Some("user-7"));
/// ```
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LlmRequest {
    /// The provider (`gen_ai.provider.name`: `openai`, `anthropic`, ...).
    pub provider: Cow<'static, str>,
    /// The operation.
    pub operation: Operation,
    /// The requested model.
    pub model: String,
    /// Sampling parameters.
    pub parameters: Parameters,
    /// The prompt: system instructions and conversation.
    pub messages: Vec<Message>,
    /// Whether the response is streamed.
    pub stream: bool,
    /// Langfuse attributes.
    pub langfuse: LangfuseAttributes,
}

impl LlmRequest {
    /// A chat request to `model` of `provider`.
    pub fn chat(provider: impl Into<Cow<'static, str>>, model: impl Into<String>) -> Self {
        Self {
            provider: provider.into(),
            model: model.into(),
            ..Self::default()
        }
    }

    /// Appends a prompt message.
    pub fn message(mut self, message: Message) -> Self {
        self.messages.push(message);
        self
    }

    /// Sets the cap on generated tokens.
    pub fn max_tokens(mut self, max_tokens: u64) -> Self {
        self.parameters.max_tokens = Some(max_tokens);
        self
    }

    /// Sets the sampling temperature.
    pub fn temperature(mut self, temperature: f64) -> Self {
        self.parameters.temperature = Some(temperature);
        self
    }

    /// Marks the request as streamed.
    pub fn streaming(mut self) -> Self {
        self.stream = true;
        self
    }

    /// Sets the Langfuse user id.
    pub fn user(mut self, user_id: impl Into<String>) -> Self {
        self.langfuse.user_id = Some(user_id.into());
        self
    }

    /// Sets the Langfuse session id.
    pub fn session(mut self, session_id: impl Into<String>) -> Self {
        self.langfuse.session_id = Some(session_id.into());
        self
    }

    /// Names the managed prompt this request was built from.
    pub fn prompt(mut self, name: impl Into<String>, version: u32) -> Self {
        self.langfuse.prompt = Some((name.into(), version));
        self
    }
}

/// Token counts of a call, normalised across providers.
///
/// `input_tokens` counts every prompt token, cached ones included (OpenAI's
/// `prompt_tokens`; Anthropic's `input_tokens + cache_read_input_tokens +
/// cache_creation_input_tokens`); `output_tokens` counts every generated
/// token, reasoning included.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Usage {
    /// All prompt tokens.
    pub input_tokens: u64,
    /// All generated tokens.
    pub output_tokens: u64,
    /// Prompt tokens read from the provider's cache (billed at the cached price).
    pub cache_read_input_tokens: u64,
    /// Prompt tokens written to the provider's cache.
    pub cache_creation_input_tokens: u64,
    /// Generated tokens spent on reasoning.
    pub reasoning_tokens: u64,
}

impl Usage {
    /// Prompt tokens billed at the plain input price.
    pub fn uncached_input_tokens(&self) -> u64 {
        self.input_tokens
            .saturating_sub(self.cache_read_input_tokens)
            .saturating_sub(self.cache_creation_input_tokens)
    }

    /// Merges counts reported in pieces while streaming: providers report
    /// cumulative counts, so the larger value of each field wins.
    pub fn merge(&mut self, other: &Usage) {
        self.input_tokens = self.input_tokens.max(other.input_tokens);
        self.output_tokens = self.output_tokens.max(other.output_tokens);
        self.cache_read_input_tokens = self
            .cache_read_input_tokens
            .max(other.cache_read_input_tokens);
        self.cache_creation_input_tokens = self
            .cache_creation_input_tokens
            .max(other.cache_creation_input_tokens);
        self.reasoning_tokens = self.reasoning_tokens.max(other.reasoning_tokens);
    }
}

/// A provider-agnostic, complete LLM response.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LlmResponse {
    /// The provider's response id.
    pub id: Option<String>,
    /// The model that answered (often a dated snapshot of the requested one).
    pub model: Option<String>,
    /// Why generation stopped, per choice.
    pub finish_reasons: Vec<String>,
    /// Token counts, when the provider reported them.
    pub usage: Option<Usage>,
    /// The completion.
    pub output: Vec<Message>,
}

/// One piece of a streamed response. Providers spread the id, model,
/// usage and finish reason over different chunks; the layer merges them.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LlmChunk {
    /// The response id, if this chunk carries it.
    pub id: Option<String>,
    /// The answering model, if this chunk carries it.
    pub model: Option<String>,
    /// Generated text in this chunk (may be empty).
    pub delta: String,
    /// A finish reason, if this chunk ends a choice.
    pub finish_reason: Option<String>,
    /// Token counts (cumulative), if this chunk carries them.
    pub usage: Option<Usage>,
}

impl LlmChunk {
    /// Whether the chunk carries generated content (the first such chunk
    /// marks the time to first token).
    pub fn has_content(&self) -> bool {
        !self.delta.is_empty()
    }
}

/// A streamed response: the chunks as the provider sends them.
pub struct LlmStream<E> {
    pub(crate) inner: BoxStream<'static, Result<LlmChunk, E>>,
}

impl<E> LlmStream<E> {
    /// Wraps a stream of chunks.
    pub fn new(
        stream: impl futures_util::Stream<Item = Result<LlmChunk, E>> + Send + 'static,
    ) -> Self {
        Self {
            inner: Box::pin(stream),
        }
    }
}

impl<E> std::fmt::Debug for LlmStream<E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LlmStream").finish_non_exhaustive()
    }
}
