#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]

pub mod attributes;
mod capture;
pub mod config;
pub mod ingestion;
mod layer;
mod metrics;
mod pricing;
pub mod providers;
mod record;
mod stream;
mod types;

pub use capture::{Capture, DEFAULT_MAX_FIELD_BYTES, TRUNCATION_MARKER};
pub use config::{ConfigError, LangfuseConfig};
pub use layer::{INSTRUMENTATION_NAME, LlmCall, LlmFuture, LlmLayer, LlmOutput, LlmService};
pub use metrics::{
    INGESTION_DROPPED, INGESTION_SENT, LLM_COST, LLM_COST_BUCKETS, LLM_DURATION,
    LLM_LATENCY_BUCKETS, LLM_METRICS, LLM_REQUESTS, LLM_TOKENS, LLM_TTFT, LLM_UNPRICED,
    register_metrics,
};
pub use pricing::{Cost, ModelPrice, PriceError, PriceTable};
pub use record::Recorder;
pub use stream::InstrumentedStream;
pub use types::{
    LangfuseAttributes, LlmChunk, LlmRequest, LlmResponse, LlmStream, Message, ObservationType,
    Operation, Parameters, Usage,
};
