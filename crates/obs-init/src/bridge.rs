//! The `tracing` bridge: the application's own `tracing` spans become
//! OpenTelemetry spans in the same traces, and its events become OTLP log
//! records carrying the trace and span ids.

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_appender_tracing::layer::OpenTelemetryTracingBridge;
use opentelemetry_sdk::{
    Resource,
    logs::{LoggerProviderBuilder, SdkLoggerProvider},
    trace::SdkTracerProvider,
};
use tracing_subscriber::{Layer as _, filter::LevelFilter, layer::SubscriberExt};

use crate::{
    InitError, SpanDestination,
    otlp::{OtlpProtocol, OtlpSettings},
};

/// Installs the global `tracing` subscriber. Log records are exported over
/// OTLP/HTTP when traces are (`logs_url` next to the traces URL), and to
/// each destination that has a log exporter; with neither, only spans are
/// bridged.
pub(crate) fn install(
    tracer_provider: &SdkTracerProvider,
    otlp: Option<&OtlpSettings>,
    destinations: &[SpanDestination],
    resource: Resource,
    level: LevelFilter,
) -> Result<Option<SdkLoggerProvider>, InitError> {
    let tracer = tracer_provider.tracer(crate::INSTRUMENTATION_SCOPE);
    let spans = tracing_opentelemetry::layer()
        .with_tracer(tracer)
        .with_filter(level);
    let mut builder = None::<LoggerProviderBuilder>;
    if let Some(settings) = otlp.filter(|s| s.protocol == OtlpProtocol::HttpProtobuf) {
        builder = Some(SdkLoggerProvider::builder().with_batch_exporter(log_exporter(settings)?));
    }
    for add in destinations.iter().filter_map(SpanDestination::take_logs) {
        builder = Some(add(builder.unwrap_or_else(SdkLoggerProvider::builder)));
    }
    let logger_provider = builder.map(|b| b.with_resource(resource).build());
    let logs = logger_provider
        .as_ref()
        .map(|provider| OpenTelemetryTracingBridge::new(provider).with_filter(level));
    let subscriber = tracing_subscriber::registry().with(spans).with(logs);
    tracing::subscriber::set_global_default(subscriber).map_err(|_| {
        InitError::invalid(
            "tracing_bridge",
            "true".into(),
            "a global tracing subscriber is already installed: disable the bridge, or add \
              tracing-opentelemetry to your own subscriber",
        )
    })?;
    Ok(logger_provider)
}

/// The OTLP/HTTP log exporter, posting to the traces URL's sibling `/v1/logs`.
fn log_exporter(settings: &OtlpSettings) -> Result<opentelemetry_otlp::LogExporter, InitError> {
    use opentelemetry_otlp::{WithExportConfig, WithHttpConfig};
    let url = match settings.endpoint.strip_suffix("/v1/traces") {
        Some(base) => format!("{base}/v1/logs"),
        None => format!("{}/v1/logs", settings.endpoint.trim_end_matches('/')),
    };
    opentelemetry_otlp::LogExporter::builder()
        .with_http()
        .with_endpoint(url.clone())
        .with_headers(settings.headers.iter().cloned().collect())
        .with_timeout(settings.timeout)
        .build()
        .map_err(|_| {
            InitError::invalid(
                "OTEL_EXPORTER_OTLP_ENDPOINT",
                url,
                "check the OTLP endpoint and headers",
            )
        })
}
