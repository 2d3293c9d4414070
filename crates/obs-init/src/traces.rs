//! The trace pipeline: sampler, exporter, global tracer provider.

use std::sync::Arc;

use opentelemetry::KeyValue;
use opentelemetry_sdk::{
    Resource,
    propagation::{BaggagePropagator, TraceContextPropagator},
    trace::{Sampler, SdkTracerProvider},
};

use tta_primitives_obs::redact::Secrets;

use crate::{
    InitError, SpanDestination,
    otlp::{OtlpProtocol, OtlpSettings},
    pipeline::{PipelineStats, QueueProcessor, QueueSettings},
    stdout::{SummaryExporter, TreeExporter},
};

/// Where spans go.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TracesExporter {
    /// Nowhere: spans are still created (so contexts propagate), not exported.
    None,
    /// One line per finished workflow or request on stdout (development;
    /// `OTEL_TRACES_EXPORTER=console`).
    #[default]
    Summary,
    /// Each finished trace as an indented tree on stdout, one line per span
    /// with its duration, outcome, `error.type` and retry attempt
    /// (development; `OTEL_TRACES_EXPORTER=tree`).
    Tree,
    /// OTLP, over HTTP/protobuf or gRPC (see
    /// [`otlp_http`](crate::ObservabilityConfigBuilder::otlp_http) and
    /// [`otlp_grpc`](crate::ObservabilityConfigBuilder::otlp_grpc)).
    Otlp,
}

/// Where a built configuration sends spans: the OTLP settings live inside
/// the OTLP choice, so "OTLP without an endpoint" cannot be represented.
#[derive(Debug, Clone)]
pub(crate) enum Traces {
    None,
    Summary,
    Tree,
    Otlp(OtlpSettings),
}

impl Traces {
    /// The kind of exporter.
    pub(crate) fn exporter(&self) -> TracesExporter {
        match self {
            Self::None => TracesExporter::None,
            Self::Summary => TracesExporter::Summary,
            Self::Tree => TracesExporter::Tree,
            Self::Otlp(_) => TracesExporter::Otlp,
        }
    }

    /// The OTLP settings, when spans are exported over OTLP.
    pub(crate) fn otlp(&self) -> Option<&OtlpSettings> {
        match self {
            Self::Otlp(settings) => Some(settings),
            _ => None,
        }
    }
}

/// Parses `OTEL_TRACES_SAMPLER` / `OTEL_TRACES_SAMPLER_ARG` (the values the
/// OpenTelemetry specification lists, except the remote Jaeger sampler).
///
/// # Errors
/// An [`InitError::InvalidSetting`] naming the variable.
pub(crate) fn sampler(name: Option<&str>, arg: Option<&str>) -> Result<Sampler, InitError> {
    let ratio = || -> Result<f64, InitError> {
        let Some(arg) = arg else { return Ok(1.0) };
        match arg.trim().parse::<f64>() {
            Ok(r) if (0.0..=1.0).contains(&r) => Ok(r),
            _ => Err(InitError::invalid(
                "OTEL_TRACES_SAMPLER_ARG",
                arg.to_owned(),
                "use a sampling ratio between 0 and 1, e.g. 0.1",
            )),
        }
    };
    Ok(
        match name.map(str::trim).unwrap_or("parentbased_always_on") {
            "always_on" => Sampler::AlwaysOn,
            "always_off" => Sampler::AlwaysOff,
            "traceidratio" => Sampler::TraceIdRatioBased(ratio()?),
            "parentbased_always_on" => Sampler::ParentBased(Box::new(Sampler::AlwaysOn)),
            "parentbased_always_off" => Sampler::ParentBased(Box::new(Sampler::AlwaysOff)),
            "parentbased_traceidratio" => {
                Sampler::ParentBased(Box::new(Sampler::TraceIdRatioBased(ratio()?)))
            }
            other => {
                return Err(InitError::invalid(
                    "OTEL_TRACES_SAMPLER",
                    other.to_owned(),
                    "use always_on, always_off, traceidratio, parentbased_always_on, parentbased_always_off or parentbased_traceidratio",
                ));
            }
        },
    )
}

/// Builds the tracer provider, installs it and the W3C propagators globally.
/// Returns the provider and the accounting of every pipeline it feeds: the
/// main exporter's first, then each destination's.
pub(crate) fn install(
    traces: &Traces,
    sampler: Sampler,
    resource: Resource,
    queue: QueueSettings,
    destinations: &[SpanDestination],
    secrets: &Secrets,
) -> Result<(SdkTracerProvider, Vec<Arc<PipelineStats>>), InitError> {
    let mut pipelines = Vec::new();
    let mut builder = SdkTracerProvider::builder().with_sampler(sampler);
    match traces {
        Traces::Summary | Traces::Tree => {
            let stats = Arc::new(PipelineStats::new("stdout", secrets.clone()));
            let processor = if let Traces::Tree = traces {
                QueueProcessor::start(
                    TreeExporter::default(),
                    &resource,
                    queue,
                    Arc::clone(&stats),
                )
            } else {
                QueueProcessor::start(SummaryExporter, &resource, queue, Arc::clone(&stats))
            };
            pipelines.push(stats);
            builder = builder.with_span_processor(processor);
        }
        Traces::Otlp(settings) => {
            let queue = QueueSettings {
                export_timeout: Some(settings.timeout),
                ..queue
            };
            let stats = Arc::new(PipelineStats::new("otlp", secrets.clone()));
            let processor = match settings.protocol {
                OtlpProtocol::HttpProtobuf => QueueProcessor::start(
                    otlp_http(settings)?,
                    &resource,
                    queue,
                    Arc::clone(&stats),
                ),
                OtlpProtocol::Grpc => {
                    let settings = settings.clone();
                    QueueProcessor::start_in_runtime(
                        move || otlp_grpc(&settings),
                        &resource,
                        queue,
                        Arc::clone(&stats),
                    )
                }
            };
            pipelines.push(stats);
            builder = builder.with_span_processor(processor);
        }
        Traces::None => {}
    }
    for destination in destinations {
        let queue = QueueSettings {
            export_timeout: None,
            ..queue
        };
        if let Some((processor, stats)) = destination.start(&resource, queue, secrets) {
            pipelines.push(stats);
            builder = builder.with_span_processor(processor);
        }
    }
    let builder = builder.with_resource(resource);
    let provider = builder.build();
    opentelemetry::global::set_tracer_provider(provider.clone());
    opentelemetry::global::set_text_map_propagator(
        opentelemetry::propagation::TextMapCompositePropagator::new(vec![
            Box::new(TraceContextPropagator::new()),
            Box::new(BaggagePropagator::new()),
        ]),
    );
    Ok((provider, pipelines))
}

/// The OTLP/HTTP exporter. It uses the blocking HTTP client: the batch
/// processor exports from its own thread, where an async client would need a
/// runtime it does not have.
fn otlp_http(settings: &OtlpSettings) -> Result<opentelemetry_otlp::SpanExporter, InitError> {
    use opentelemetry_otlp::{WithExportConfig, WithHttpConfig};
    let headers = settings.headers.iter().cloned().collect();
    let mut builder = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_endpoint(settings.endpoint.clone())
        .with_headers(headers)
        .with_timeout(settings.timeout)
        // The pipeline retries, visibly (tta_telemetry_export_retries_total);
        // the exporter's own retries would sleep unseen on the export thread.
        .with_retry_policy(opentelemetry_otlp::RetryPolicy::disabled());
    if settings.gzip {
        builder = builder.with_compression(opentelemetry_otlp::Compression::Gzip);
    }
    builder.build().map_err(|_| {
        InitError::invalid(
            settings.setting,
            tta_primitives_obs::redact::redact_url(&settings.endpoint),
            "check the OTLP endpoint, headers and compression settings",
        )
    })
}

/// The service's resource: detected host, process and container attributes,
/// then the configured attributes, then the service's name, version and
/// environment (later ones win).
pub(crate) fn resource(
    service: &str,
    version: &str,
    environment: Option<&str>,
    configured: &[(String, String)],
) -> Resource {
    let mut attributes = crate::resource::detect();
    attributes.extend(
        configured
            .iter()
            .map(|(k, v)| KeyValue::new(k.clone(), v.clone())),
    );
    attributes.push(KeyValue::new("service.name", service.to_owned()));
    attributes.push(KeyValue::new("service.version", version.to_owned()));
    if let Some(environment) = environment {
        attributes.push(KeyValue::new(
            "deployment.environment.name",
            environment.to_owned(),
        ));
    }
    Resource::builder().with_attributes(attributes).build()
}

/// The OTLP/gRPC exporter, built inside the export thread's own runtime.
fn otlp_grpc(settings: &OtlpSettings) -> Result<opentelemetry_otlp::SpanExporter, String> {
    use opentelemetry_otlp::{WithExportConfig, WithTonicConfig};
    // Validated when the configuration was built (`otlp::grpc_metadata`).
    let metadata = crate::otlp::grpc_metadata(settings.setting, &settings.headers)
        .map_err(|e| e.to_string())?;
    let mut builder = opentelemetry_otlp::SpanExporter::builder()
        .with_tonic()
        .with_endpoint(settings.endpoint.clone())
        .with_timeout(settings.timeout)
        .with_metadata(metadata)
        .with_retry_policy(opentelemetry_otlp::RetryPolicy::disabled());
    if settings.gzip {
        builder = builder.with_compression(opentelemetry_otlp::Compression::Gzip);
    }
    builder
        .build()
        .map_err(|e| format!("the gRPC exporter could not be built: {e}"))
}
