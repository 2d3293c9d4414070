//! The in-process path: an OpenTelemetry `SpanExporter` that hands spans to
//! an embedded console directly, without a network hop. Give it to
//! `tta_obs_init` as a span destination, which runs it on its own thread
//! behind a bounded queue (drops counted), so the console's work never
//! slows the application.

use opentelemetry_proto::{
    tonic::collector::trace::v1::ExportTraceServiceRequest,
    transform::{
        common::tonic::ResourceAttributesWithSchema,
        trace::tonic::group_spans_by_resource_and_scope,
    },
};
use opentelemetry_sdk::{
    Resource,
    error::OTelSdkResult,
    trace::{SpanData, SpanExporter},
};

use crate::ingest::Sink;

/// Sends spans to an embedded console
/// ([`Console::span_exporter`](crate::Console::span_exporter)). The spans
/// take the same path as OTLP ones: converted to the OTLP data model, then
/// stored.
pub struct ConsoleExporter {
    pub(crate) sink: Sink,
    pub(crate) resource: ResourceAttributesWithSchema,
}

impl std::fmt::Debug for ConsoleExporter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConsoleExporter").finish_non_exhaustive()
    }
}

impl SpanExporter for ConsoleExporter {
    async fn export(&self, batch: Vec<SpanData>) -> OTelSdkResult {
        let request = ExportTraceServiceRequest {
            resource_spans: group_spans_by_resource_and_scope(batch, &self.resource),
        };
        self.sink.traces(&request);
        Ok(())
    }

    fn set_resource(&mut self, resource: &Resource) {
        self.resource = resource.into();
    }
}
