#![doc = include_str!("../README.md")]
// Unsafe code is denied everywhere but in the counting allocator
// (`resources.rs`), which must implement `GlobalAlloc`.
#![deny(unsafe_code)]

pub mod attr;
mod builtin_metrics;
pub mod catalogue;
mod clock;
pub mod handle_cache;
mod instrumented;
pub mod layer;
pub mod propagation;
pub mod redact;
pub mod resources;
pub mod series;
pub mod server;
pub mod span;
mod telemetry;

pub use builtin_metrics::{NODE_SERIES, PipelineSeries, pipeline_series, set_series_cap};
pub use instrumented::{InstrumentExt, Instrumented};
pub use telemetry::{ChildSpanClock, Telemetry};

/// The `opentelemetry` API this crate is built on, re-exported so that code
/// inside a step (`opentelemetry::Context::current()`, a span of its own)
/// uses the same version without a dependency of its own to keep in step.
pub use opentelemetry;

/// The instrumentation scope name of every span and metric of this crate.
pub const INSTRUMENTATION_NAME: &str = "tta-primitives-obs";

/// The workspace README's examples, compiled and run as doctests.
#[doc = include_str!("../../../README.md")]
#[cfg(doctest)]
pub struct WorkspaceReadmeDoctests;
