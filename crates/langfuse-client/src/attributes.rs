//! Span attribute names: OpenTelemetry GenAI semantic conventions and
//! Langfuse's own.

/// `gen_ai.operation.name`
pub const OPERATION_NAME: &str = "gen_ai.operation.name";
/// `gen_ai.provider.name`
pub const PROVIDER_NAME: &str = "gen_ai.provider.name";
/// `gen_ai.request.model`
pub const REQUEST_MODEL: &str = "gen_ai.request.model";
/// `gen_ai.request.temperature`
pub const REQUEST_TEMPERATURE: &str = "gen_ai.request.temperature";
/// `gen_ai.request.top_p`
pub const REQUEST_TOP_P: &str = "gen_ai.request.top_p";
/// `gen_ai.request.top_k`
pub const REQUEST_TOP_K: &str = "gen_ai.request.top_k";
/// `gen_ai.request.max_tokens`
pub const REQUEST_MAX_TOKENS: &str = "gen_ai.request.max_tokens";
/// `gen_ai.request.frequency_penalty`
pub const REQUEST_FREQUENCY_PENALTY: &str = "gen_ai.request.frequency_penalty";
/// `gen_ai.request.presence_penalty`
pub const REQUEST_PRESENCE_PENALTY: &str = "gen_ai.request.presence_penalty";
/// `gen_ai.request.stop_sequences`
pub const REQUEST_STOP_SEQUENCES: &str = "gen_ai.request.stop_sequences";
/// `gen_ai.request.seed`
pub const REQUEST_SEED: &str = "gen_ai.request.seed";
/// `gen_ai.request.stream`
pub const REQUEST_STREAM: &str = "gen_ai.request.stream";
/// `gen_ai.response.id`
pub const RESPONSE_ID: &str = "gen_ai.response.id";
/// `gen_ai.response.model`
pub const RESPONSE_MODEL: &str = "gen_ai.response.model";
/// `gen_ai.response.finish_reasons`
pub const RESPONSE_FINISH_REASONS: &str = "gen_ai.response.finish_reasons";
/// `gen_ai.response.time_to_first_chunk` (seconds)
pub const RESPONSE_TIME_TO_FIRST_CHUNK: &str = "gen_ai.response.time_to_first_chunk";
/// `gen_ai.usage.input_tokens`
pub const USAGE_INPUT_TOKENS: &str = "gen_ai.usage.input_tokens";
/// `gen_ai.usage.output_tokens`
pub const USAGE_OUTPUT_TOKENS: &str = "gen_ai.usage.output_tokens";
/// `gen_ai.usage.cache_read.input_tokens`
pub const USAGE_CACHE_READ_INPUT_TOKENS: &str = "gen_ai.usage.cache_read.input_tokens";
/// `gen_ai.usage.cache_creation.input_tokens`
pub const USAGE_CACHE_CREATION_INPUT_TOKENS: &str = "gen_ai.usage.cache_creation.input_tokens";
/// `gen_ai.usage.reasoning.output_tokens`
pub const USAGE_REASONING_OUTPUT_TOKENS: &str = "gen_ai.usage.reasoning.output_tokens";
/// `gen_ai.input.messages` (JSON, only when capture is on)
pub const INPUT_MESSAGES: &str = "gen_ai.input.messages";
/// `gen_ai.output.messages` (JSON, only when capture is on)
pub const OUTPUT_MESSAGES: &str = "gen_ai.output.messages";
/// `error.type` (the toolkit's one constant for it)
pub use tta_primitives_obs::attr::ERROR_TYPE;

/// `langfuse.trace.name`
pub const LANGFUSE_TRACE_NAME: &str = "langfuse.trace.name";
/// `user.id` (Langfuse's trace user)
pub const USER_ID: &str = "user.id";
/// `session.id` (Langfuse's trace session)
pub const SESSION_ID: &str = "session.id";
/// `langfuse.trace.tags`
pub const LANGFUSE_TRACE_TAGS: &str = "langfuse.trace.tags";
/// `langfuse.release`
pub const LANGFUSE_RELEASE: &str = "langfuse.release";
/// `langfuse.environment`
pub const LANGFUSE_ENVIRONMENT: &str = "langfuse.environment";
/// `langfuse.observation.type`
pub const LANGFUSE_OBSERVATION_TYPE: &str = "langfuse.observation.type";
/// `langfuse.observation.model.name`
pub const LANGFUSE_MODEL_NAME: &str = "langfuse.observation.model.name";
/// `langfuse.observation.model.parameters` (JSON)
pub const LANGFUSE_MODEL_PARAMETERS: &str = "langfuse.observation.model.parameters";
/// `langfuse.observation.usage_details` (JSON)
pub const LANGFUSE_USAGE_DETAILS: &str = "langfuse.observation.usage_details";
/// `langfuse.observation.cost_details` (JSON)
pub const LANGFUSE_COST_DETAILS: &str = "langfuse.observation.cost_details";
/// `langfuse.observation.completion_start_time` (ISO 8601)
pub const LANGFUSE_COMPLETION_START_TIME: &str = "langfuse.observation.completion_start_time";
/// `langfuse.observation.prompt.name`
pub const LANGFUSE_PROMPT_NAME: &str = "langfuse.observation.prompt.name";
/// `langfuse.observation.prompt.version`
pub const LANGFUSE_PROMPT_VERSION: &str = "langfuse.observation.prompt.version";
/// `langfuse.observation.input` (JSON, only when capture is on)
pub const LANGFUSE_INPUT: &str = "langfuse.observation.input";
/// `langfuse.observation.output` (JSON, only when capture is on)
pub const LANGFUSE_OUTPUT: &str = "langfuse.observation.output";
/// `langfuse.observation.level` (`ERROR` on failed calls)
pub const LANGFUSE_LEVEL: &str = "langfuse.observation.level";
/// `langfuse.observation.status_message`
pub const LANGFUSE_STATUS_MESSAGE: &str = "langfuse.observation.status_message";
