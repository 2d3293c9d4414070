//! One-call observability setup.
//!
//! [`initialize_observability`] installs the Prometheus recorder with the
//! catalogue's histogram buckets and `# HELP`/`# TYPE` lines, runs the
//! exporter's upkeep, serves `/metrics` and `/healthz` (127.0.0.1:9464 by
//! default), sets `tta_build_info`, and returns an [`ObservabilityGuard`] that
//! stops everything within a deadline.
//!
//! ```no_run
//! use tta_obs_init::{ObservabilityConfig, initialize_observability};
//!
//! # #[tokio::main] async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let config = ObservabilityConfig::builder("checkout").service_version("1.4.2").build()?;
//! let guard = initialize_observability(config)?;
//! // ... run the service; http://127.0.0.1:9464/metrics is being served ...
//! guard.shutdown(std::time::Duration::from_secs(5)).await;
//! # Ok(()) }
//! ```
//!
//! Traces: the global tracer provider (with the W3C trace-context and baggage
//! propagators) samples as `OTEL_TRACES_SAMPLER` says and prints one line per
//! trace on stdout, exports over OTLP (HTTP/protobuf or gRPC), or exports
//! nothing. With the `tracing` bridge on, the application's `tracing` spans
//! join the same traces and its events are exported as OTLP log records
//! carrying trace ids (over OTLP/HTTP). Short batch jobs can push their
//! metrics to a Pushgateway instead of being scraped. Extra
//! [`SpanDestination`]s (Langfuse's OTLP endpoint, a second backend) receive
//! every span or only whole LLM traces, each through its own bounded queue.
#![forbid(unsafe_code)]

mod bridge;
mod config;
mod destination;
mod endpoint;
mod error;
mod health;
mod otlp;
mod pipeline;
mod pushgateway;
mod report;
mod resource;
mod signal;
mod stdout;
mod traces;

pub use config::{DEFAULT_METRICS_ADDR, ObservabilityConfig, ObservabilityConfigBuilder};
pub use destination::{MAX_HELD_SPANS, SpanDestination, SpanSelection};
pub use endpoint::{ObservabilityGuard, initialize_observability};
pub use error::InitError;
pub use otlp::{DEFAULT_OTLP_TIMEOUT, MAX_OTLP_TIMEOUT, OtlpProtocol, OtlpSettings};
pub use pushgateway::PushgatewaySettings;
pub use report::ShutdownReport;
pub use resource::container_id;
pub use signal::{ShutdownSignal, shutdown_signal};
pub use traces::TracesExporter;

/// The instrumentation scope of the spans the `tracing` bridge makes.
pub(crate) const INSTRUMENTATION_SCOPE: &str = "tta-obs-init";

/// The crate README's examples, compiled as doctests.
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
