//! The in-process path: an OpenTelemetry `SpanExporter` and `LogExporter`
//! that hand spans and log records to an embedded console directly,
//! without a network hop. Give them to `tta_obs_init` as a span destination
//! (with its logs), which runs each on its own thread behind a bounded
//! queue, so the console's work never slows the application.

use opentelemetry_proto::{
    tonic::collector::{logs::v1::ExportLogsServiceRequest, trace::v1::ExportTraceServiceRequest},
    transform::{
        common::tonic::ResourceAttributesWithSchema, logs::tonic::group_logs_by_resource_and_scope,
        trace::tonic::group_spans_by_resource_and_scope,
    },
};
use opentelemetry_sdk::{
    Resource,
    error::OTelSdkResult,
    logs::{LogBatch, LogExporter},
    trace::{SpanData, SpanExporter},
};

use crate::ingest::Sink;

/// Sends spans and log records to an embedded console
/// ([`Console::span_exporter`](crate::Console::span_exporter),
/// [`Console::log_exporter`](crate::Console::log_exporter)): one type, an
/// OpenTelemetry `SpanExporter` and `LogExporter` both. They take the same
/// path as OTLP data: converted to the OTLP data model, then stored (log
/// records on their spans).
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
        self.sink.traces(request);
        Ok(())
    }

    fn set_resource(&mut self, resource: &Resource) {
        self.resource = resource.into();
    }
}

impl LogExporter for ConsoleExporter {
    async fn export(&self, batch: LogBatch<'_>) -> OTelSdkResult {
        let request = ExportLogsServiceRequest {
            resource_logs: group_logs_by_resource_and_scope(&batch, &self.resource),
        };
        self.sink.logs(request);
        Ok(())
    }

    fn set_resource(&mut self, resource: &Resource) {
        self.resource = resource.into();
    }
}
