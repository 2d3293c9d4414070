//! A span processor for benchmarks: it counts the spans that end and drops
//! them, so what is measured is recording, not export.

use std::{
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use opentelemetry::Context;
use opentelemetry_sdk::{
    error::OTelSdkResult,
    trace::{Span, SpanData, SpanProcessor},
};

/// Counts finished spans and drops them.
///
/// ```
/// use opentelemetry::trace::{Tracer, TracerProvider};
/// use opentelemetry_sdk::trace::SdkTracerProvider;
/// use tta_test_support::spans::DiscardSpans;
///
/// let discard = DiscardSpans::default();
/// let provider = SdkTracerProvider::builder().with_span_processor(discard.clone()).build();
/// provider.tracer("t").in_span("s", |_| {});
/// assert_eq!(discard.ended(), 1);
/// ```
#[derive(Debug, Clone, Default)]
pub struct DiscardSpans(Arc<AtomicU64>);

impl DiscardSpans {
    /// Spans ended so far.
    pub fn ended(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

impl SpanProcessor for DiscardSpans {
    fn on_start(&self, _span: &mut Span, _cx: &Context) {}
    fn on_end(&self, span: SpanData) {
        self.0.fetch_add(1, Ordering::Relaxed);
        drop(std::hint::black_box(span));
    }
    fn force_flush(&self) -> OTelSdkResult {
        Ok(())
    }
    fn shutdown_with_timeout(&self, _timeout: Duration) -> OTelSdkResult {
        Ok(())
    }
}
