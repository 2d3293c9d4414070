//! Configuration: a builder, and the standard environment variables.

use std::{net::SocketAddr, time::Duration};

use opentelemetry_sdk::trace::Sampler;

use tta_primitives_obs::{catalogue::MetricDef, redact::Secrets};

use crate::{
    InitError, SpanDestination, TracesExporter,
    otlp::{self, OtlpProtocol, OtlpSettings},
    pipeline::QueueSettings,
    pushgateway::PushgatewaySettings,
    traces::{self, Traces},
};

/// The default address of the Prometheus endpoint: loopback only.
pub const DEFAULT_METRICS_ADDR: &str = "127.0.0.1:9464";

/// A variable of ours that is not UTF-8 would read as unset: say so instead.
fn check_unicode() -> Result<(), InitError> {
    for (name, value) in std::env::vars_os() {
        let name = name.to_string_lossy();
        let ours = ["OTEL_", "TTA_", "LANGFUSE_"]
            .iter()
            .any(|prefix| name.starts_with(prefix));
        if ours && value.to_str().is_none() {
            return Err(InitError::NotUnicode {
                variable: name.into_owned(),
            });
        }
    }
    Ok(())
}

/// What [`initialize_observability`](crate::initialize_observability) sets up.
#[derive(Debug, Clone)]
pub struct ObservabilityConfig {
    pub(crate) service_name: String,
    pub(crate) service_version: String,
    pub(crate) environment: Option<String>,
    pub(crate) metrics_addr: Option<SocketAddr>,
    pub(crate) upkeep_interval: Duration,
    pub(crate) traces: Traces,
    pub(crate) sampler: Sampler,
    pub(crate) queue: QueueSettings,
    pub(crate) resource: Vec<(String, String)>,
    pub(crate) tracing_bridge: Option<tracing_subscriber::filter::LevelFilter>,
    pub(crate) pushgateway: Option<PushgatewaySettings>,
    pub(crate) destinations: Vec<SpanDestination>,
    /// Metric definitions beyond the built-in catalogue.
    pub(crate) catalogues: Vec<&'static [&'static MetricDef]>,
    /// The setting that gave the metrics address, for a bind error.
    pub(crate) metrics_setting: &'static str,
    /// Settings that were given but do nothing, each naming its variable.
    pub(crate) warnings: Vec<String>,
    /// Every secret the settings carry, scrubbed from messages.
    pub(crate) secrets: Secrets,
}

impl ObservabilityConfig {
    /// Adds a span destination beside the main exporter (see
    /// [`ObservabilityConfigBuilder::span_destination`]), for a
    /// configuration read from the environment.
    #[must_use]
    pub fn with_span_destination(mut self, destination: SpanDestination) -> Self {
        self.destinations.push(destination);
        self
    }

    /// Adds metric definitions (see
    /// [`ObservabilityConfigBuilder::metric_catalogue`]), for a
    /// configuration read from the environment.
    #[must_use]
    pub fn with_metric_catalogue(mut self, defs: &'static [&'static MetricDef]) -> Self {
        self.catalogues.push(defs);
        self
    }

    /// A builder for the service `name`, with the defaults: metrics on
    /// `127.0.0.1:9464`, the version `unknown` unless set (pass
    /// `env!("CARGO_PKG_VERSION")` to
    /// [`service_version`](ObservabilityConfigBuilder::service_version):
    /// a library cannot read its caller's).
    pub fn builder(service_name: impl Into<String>) -> ObservabilityConfigBuilder {
        ObservabilityConfigBuilder {
            service_name: service_name.into(),
            service_version: None,
            environment: None,
            metrics_addr: Some(DEFAULT_METRICS_ADDR.to_owned()),
            upkeep_interval: Duration::from_secs(5),
            metrics_setting: "metrics_addr",
            traces: TracesExporter::default(),
            otlp: None,
            otlp_timeout: None,
            sampler: None,
            sampler_arg: None,
            warnings: Vec::new(),
            queue: QueueSettings {
                capacity: 2048,
                max_batch: 512,
                delay: Duration::from_secs(1),
                export_timeout: None,
            },
            resource: Vec::new(),
            tracing_bridge: None,
            pushgateway: None,
            destinations: Vec::new(),
            catalogues: Vec::new(),
        }
    }

    /// The configuration from the environment: the builder's defaults for
    /// the service named by `OTEL_SERVICE_NAME` (or `default_service`),
    /// overlaid with [`ObservabilityConfigBuilder::with_env`]. To set
    /// something in code as well, start from a builder instead:
    /// `ObservabilityConfig::builder("svc").service_version(env!("CARGO_PKG_VERSION")).with_env()?.build()?`.
    ///
    /// # Errors
    /// An [`InitError::InvalidSetting`] naming the variable
    /// (`OTEL_SERVICE_NAME` when neither it nor `default_service` gives a
    /// name).
    pub fn from_env(default_service: Option<&str>) -> Result<Self, InitError> {
        check_unicode()?;
        Self::from_vars(|name| std::env::var(name).ok(), default_service)
    }

    /// Like [`from_env`](Self::from_env), reading variables through `var`.
    ///
    /// # Errors
    /// An [`InitError::InvalidSetting`] naming the variable.
    pub fn from_vars(
        var: impl Fn(&str) -> Option<String>,
        default_service: Option<&str>,
    ) -> Result<Self, InitError> {
        let Some(service) = default_service else {
            // The name must come from the environment.
            let builder = Self::builder("").with_vars(&var)?;
            if builder.service_name.is_empty() {
                return Err(InitError::invalid(
                    "OTEL_SERVICE_NAME",
                    String::new(),
                    "set OTEL_SERVICE_NAME to the service's name",
                ));
            }
            return builder.build();
        };
        Self::builder(service).with_vars(var)?.build()
    }

    /// The service's name.
    pub fn service_name(&self) -> &str {
        &self.service_name
    }

    /// The service's version (`unknown` when neither the code nor
    /// `TTA_SERVICE_VERSION` gave one).
    pub fn service_version(&self) -> &str {
        &self.service_version
    }

    /// Where spans go.
    pub fn traces_exporter(&self) -> TracesExporter {
        self.traces.exporter()
    }

    /// The OTLP settings, when spans are exported over OTLP.
    pub fn otlp(&self) -> Option<&OtlpSettings> {
        self.traces.otlp()
    }

    /// The resource attributes given by the environment or the builder (the
    /// host, process and container attributes are detected at start).
    pub fn resource_attributes(&self) -> &[(String, String)] {
        &self.resource
    }

    /// The metrics endpoint's address (`None`: disabled).
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.metrics_addr
    }

    /// Settings that were given but do nothing (a header variable without
    /// an OTLP endpoint, ...), each naming its setting.
    /// [`initialize_observability`](crate::initialize_observability) prints
    /// them on stderr.
    pub fn warnings(&self) -> &[String] {
        &self.warnings
    }
}

/// Builds an [`ObservabilityConfig`]; [`build`](Self::build) checks it.
#[derive(Debug, Clone)]
#[must_use]
pub struct ObservabilityConfigBuilder {
    service_name: String,
    service_version: Option<String>,
    environment: Option<String>,
    metrics_addr: Option<String>,
    upkeep_interval: Duration,
    metrics_setting: &'static str,
    traces: TracesExporter,
    otlp: Option<OtlpSettings>,
    otlp_timeout: Option<Duration>,
    sampler: Option<String>,
    sampler_arg: Option<String>,
    warnings: Vec<String>,
    queue: QueueSettings,
    resource: Vec<(String, String)>,
    tracing_bridge: Option<tracing_subscriber::filter::LevelFilter>,
    pushgateway: Option<PushgatewaySettings>,
    destinations: Vec<SpanDestination>,
    catalogues: Vec<&'static [&'static MetricDef]>,
}

impl ObservabilityConfigBuilder {
    /// Overlays the standard environment variables on the settings made so
    /// far: each variable that is set replaces the corresponding setting,
    /// the others keep what the code set. Call it after the code's
    /// defaults and before the settings the code insists on, e.g.:
    ///
    /// ```no_run
    /// use tta_obs_init::ObservabilityConfig;
    ///
    /// # fn main() -> Result<(), tta_obs_init::InitError> {
    /// let config = ObservabilityConfig::builder("checkout")
    ///     .service_version(env!("CARGO_PKG_VERSION")) // overridden by TTA_SERVICE_VERSION
    ///     .with_env()?                                // OTEL_*, TTA_* as set by the deployment
    ///     .environment("production")                  // always, whatever the environment says
    ///     .build()?;
    /// # let _ = config; Ok(()) }
    /// ```
    ///
    /// The variables: `OTEL_SERVICE_NAME` (or `service.name` in
    /// `OTEL_RESOURCE_ATTRIBUTES`), `OTEL_RESOURCE_ATTRIBUTES` (added to the
    /// code's), the Kubernetes downward-API variables (`K8S_POD_NAME`,
    /// `K8S_NAMESPACE_NAME`, `K8S_NODE_NAME`), `TTA_SERVICE_VERSION`,
    /// `TTA_ENVIRONMENT`, `TTA_METRICS_ADDR` (`off` disables the endpoint;
    /// `0.0.0.0:9464` for containers), `TTA_PUSHGATEWAY_URL` /
    /// `TTA_PUSHGATEWAY_JOB`, `TTA_TRACING_BRIDGE` (a level),
    /// `OTEL_TRACES_EXPORTER` (`otlp`, `console` (one line per trace),
    /// `tree` (each trace as a tree) or `none`; `otlp` when an endpoint is
    /// set; unset keeps the code's choice), `OTEL_EXPORTER_OTLP_[TRACES_]ENDPOINT`,
    /// `_PROTOCOL` (`http/protobuf` or `grpc`, for that endpoint), `_HEADERS`,
    /// `_TIMEOUT` and `_COMPRESSION` (applied to the endpoint in force,
    /// the environment's or the code's), and `OTEL_TRACES_SAMPLER` /
    /// `OTEL_TRACES_SAMPLER_ARG`.
    ///
    /// # Errors
    /// An [`InitError::InvalidSetting`] naming the variable, or
    /// [`InitError::NotUnicode`] for a variable of ours that is not UTF-8.
    pub fn with_env(self) -> Result<Self, InitError> {
        check_unicode()?;
        self.with_vars(|name| std::env::var(name).ok())
    }

    /// Like [`with_env`](Self::with_env), reading variables through `var`.
    ///
    /// ```
    /// use tta_obs_init::{ObservabilityConfig, TracesExporter};
    ///
    /// let env = |name: &str| (name == "TTA_METRICS_ADDR").then(|| "0.0.0.0:9464".to_owned());
    /// let config = ObservabilityConfig::builder("checkout")
    ///     .traces_exporter(TracesExporter::Tree)
    ///     .with_vars(env)
    ///     .unwrap()
    ///     .build()
    ///     .unwrap();
    /// assert_eq!(config.metrics_addr().unwrap().to_string(), "0.0.0.0:9464");
    /// assert_eq!(config.traces_exporter(), TracesExporter::Tree, "not set in the environment: the code's");
    /// ```
    ///
    /// # Errors
    /// An [`InitError::InvalidSetting`] naming the variable.
    pub fn with_vars(mut self, var: impl Fn(&str) -> Option<String>) -> Result<Self, InitError> {
        let resource = crate::resource::from_env(&var)?;
        let from_attributes = resource
            .iter()
            .find(|(k, _)| k == "service.name")
            .map(|(_, v)| v.clone());
        if let Some(name) = var("OTEL_SERVICE_NAME").or(from_attributes) {
            self.service_name = name;
        }
        self.resource.extend(resource);
        let mut builder = self;
        if let Some(version) = var("TTA_SERVICE_VERSION") {
            builder = builder.service_version(version);
        }
        if let Some(environment) = var("TTA_ENVIRONMENT") {
            builder = builder.environment(environment);
        }
        // Each OTLP setting has a traces-specific variable and a general
        // one; the specific one wins. Returns the variable read and its value.
        let otlp_var = |suffix: &str| -> Option<(&'static str, String)> {
            let names: &[(&'static str, &'static str)] = &[
                ("ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"),
                ("ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT"),
                ("PROTOCOL", "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL"),
                ("PROTOCOL", "OTEL_EXPORTER_OTLP_PROTOCOL"),
                ("HEADERS", "OTEL_EXPORTER_OTLP_TRACES_HEADERS"),
                ("HEADERS", "OTEL_EXPORTER_OTLP_HEADERS"),
                ("TIMEOUT", "OTEL_EXPORTER_OTLP_TRACES_TIMEOUT"),
                ("TIMEOUT", "OTEL_EXPORTER_OTLP_TIMEOUT"),
                ("COMPRESSION", "OTEL_EXPORTER_OTLP_TRACES_COMPRESSION"),
                ("COMPRESSION", "OTEL_EXPORTER_OTLP_COMPRESSION"),
            ];
            names
                .iter()
                .filter(|(s, _)| *s == suffix)
                .find_map(|(_, name)| var(name).map(|value| (*name, value)))
        };
        let protocol = match otlp_var("PROTOCOL") {
            None => OtlpProtocol::HttpProtobuf,
            Some((name, value)) => match value.trim() {
                "http/protobuf" => OtlpProtocol::HttpProtobuf,
                "grpc" => OtlpProtocol::Grpc,
                _ => {
                    return Err(InitError::invalid(name, value, "use http/protobuf or grpc"));
                }
            },
        };
        // The environment's endpoint replaces the code's; without one, the
        // code's stays in force.
        let env_endpoint = otlp::endpoint_from_env(otlp_var("ENDPOINT"), protocol)?;
        let endpoint_from_env = env_endpoint.is_some();
        let mut otlp = env_endpoint.or_else(|| builder.otlp.take());
        let exporter = match var("OTEL_TRACES_EXPORTER").as_deref().map(str::trim) {
            None if endpoint_from_env => TracesExporter::Otlp,
            None => builder.traces,
            Some("console") => TracesExporter::Summary,
            Some("tree") => TracesExporter::Tree,
            Some("none") => TracesExporter::None,
            Some("otlp") => {
                if otlp.is_none() {
                    // The specification's default endpoints.
                    let default = match protocol {
                        OtlpProtocol::HttpProtobuf => "http://localhost:4318/v1/traces",
                        OtlpProtocol::Grpc => "http://localhost:4317",
                    };
                    otlp = Some(OtlpSettings::with_protocol(
                        "OTEL_EXPORTER_OTLP_ENDPOINT",
                        default,
                        protocol,
                    )?);
                }
                TracesExporter::Otlp
            }
            Some(other) => {
                return Err(InitError::invalid(
                    "OTEL_TRACES_EXPORTER",
                    other.to_owned(),
                    "use otlp, console, tree or none",
                ));
            }
        };
        let exporting = exporter == TracesExporter::Otlp;
        if let Some(settings) = otlp.as_mut().filter(|_| exporting) {
            if let Some((name, raw)) = otlp_var("HEADERS") {
                settings.headers = otlp::parse_headers(name, &raw)?;
                if settings.protocol == OtlpProtocol::Grpc {
                    otlp::grpc_metadata(name, &settings.headers)?;
                }
            }
            if let Some((name, raw)) = otlp_var("TIMEOUT") {
                let timeout = match raw.trim().parse::<u64>() {
                    Ok(ms) => Duration::from_millis(ms),
                    Err(_) => {
                        return Err(InitError::invalid(
                            name,
                            raw,
                            "use a number of milliseconds above zero and at most 60000, e.g. 10000",
                        ));
                    }
                };
                otlp::validate_timeout(name, timeout)?;
                settings.timeout = timeout;
            }
            if let Some((name, raw)) = otlp_var("COMPRESSION") {
                settings.gzip = match raw.trim() {
                    "gzip" => true,
                    "none" => false,
                    _ => {
                        return Err(InitError::invalid(name, raw, "use gzip or none"));
                    }
                };
            }
        } else {
            let why = if exporter == TracesExporter::Otlp {
                "no OTLP endpoint is set"
            } else {
                "spans are not exported over OTLP (set OTEL_EXPORTER_OTLP_ENDPOINT or OTEL_TRACES_EXPORTER=otlp)"
            };
            if otlp.is_some() {
                builder.warnings.push(format!(
                    "the OTLP endpoint is set but ignored: OTEL_TRACES_EXPORTER={}",
                    var("OTEL_TRACES_EXPORTER").unwrap_or_default().trim()
                ));
            }
            for suffix in ["HEADERS", "TIMEOUT", "COMPRESSION", "PROTOCOL"] {
                if let Some((name, _)) = otlp_var(suffix) {
                    builder
                        .warnings
                        .push(format!("{name} is set but ignored: {why}"));
                }
            }
        }
        builder.traces = exporter;
        // Warned about above when it is not used.
        builder.otlp = otlp.filter(|_| exporting);
        if let Some(gateway) = var("TTA_PUSHGATEWAY_URL") {
            let job = var("TTA_PUSHGATEWAY_JOB").unwrap_or_else(|| builder.service_name.clone());
            builder.pushgateway = Some(PushgatewaySettings::new(
                "TTA_PUSHGATEWAY_URL",
                &gateway,
                &job,
                Duration::from_secs(10),
            )?);
        }
        if let Some(level) = var("TTA_TRACING_BRIDGE") {
            builder.tracing_bridge = match level.trim().to_ascii_lowercase().as_str() {
                "off" | "false" | "0" => None,
                "error" => Some(tracing_subscriber::filter::LevelFilter::ERROR),
                "warn" => Some(tracing_subscriber::filter::LevelFilter::WARN),
                "info" | "on" | "true" | "1" => Some(tracing_subscriber::filter::LevelFilter::INFO),
                "debug" => Some(tracing_subscriber::filter::LevelFilter::DEBUG),
                "trace" => Some(tracing_subscriber::filter::LevelFilter::TRACE),
                _ => {
                    return Err(InitError::invalid(
                        "TTA_TRACING_BRIDGE",
                        level,
                        "use off, error, warn, info, debug or trace",
                    ));
                }
            };
        }
        if let Some(sampler) = var("OTEL_TRACES_SAMPLER") {
            builder.sampler = Some(sampler);
            builder.sampler_arg = var("OTEL_TRACES_SAMPLER_ARG");
        } else if let Some(arg) = var("OTEL_TRACES_SAMPLER_ARG") {
            builder.sampler_arg = Some(arg);
        }
        if let Some(addr) = var("TTA_METRICS_ADDR") {
            builder.metrics_addr = (!addr.trim().eq_ignore_ascii_case("off")).then_some(addr);
            builder.metrics_setting = "TTA_METRICS_ADDR";
        }
        if var("TTA_PUSHGATEWAY_JOB").is_some() && builder.pushgateway.is_none() {
            builder.warnings.push(
                "TTA_PUSHGATEWAY_JOB is set but ignored: TTA_PUSHGATEWAY_URL is not set".to_owned(),
            );
        }
        Ok(builder)
    }

    /// Metric definitions beyond the built-in catalogue, e.g.
    /// `tta_langfuse::LLM_METRICS`: registered before the Prometheus
    /// recorder is built, so their histograms have their own buckets
    /// whenever the crate that defines them registers them (before
    /// initialisation or after, as `LlmLayer::new` does). The exporter reads
    /// buckets once, when it is built: a histogram registered later and not
    /// listed here gets the default latency buckets.
    pub fn metric_catalogue(mut self, defs: &'static [&'static MetricDef]) -> Self {
        self.catalogues.push(defs);
        self
    }

    /// The service's version (default: unset, reported as `unknown`).
    pub fn service_version(mut self, version: impl Into<String>) -> Self {
        self.service_version = Some(version.into());
        self
    }

    /// The deployment environment (`production`, `staging`, ...).
    pub fn environment(mut self, environment: impl Into<String>) -> Self {
        self.environment = Some(environment.into());
        self
    }

    /// Where the Prometheus endpoint listens (`host:port`; port 0 picks a
    /// free one). Binding beyond loopback (`0.0.0.0:9464`) is for containers.
    pub fn metrics_addr(mut self, addr: impl Into<String>) -> Self {
        self.metrics_addr = Some(addr.into());
        self.metrics_setting = "metrics_addr";
        self
    }

    /// Where spans go (default: a one-line summary per trace on stdout).
    pub fn traces_exporter(mut self, exporter: TracesExporter) -> Self {
        self.traces = exporter;
        self
    }

    /// Exports spans over OTLP/HTTP (protobuf) to `traces_url` (the full
    /// URL, e.g. `http://127.0.0.1:4318/v1/traces`), with `headers` sent
    /// with every export (never logged or shown).
    ///
    /// # Errors
    /// An [`InitError::InvalidSetting`] naming `otlp_http` for a URL that is
    /// not http(s) with a host or carries credentials, or a header HTTP does
    /// not allow.
    pub fn otlp_http(self, traces_url: &str, headers: &[(&str, &str)]) -> Result<Self, InitError> {
        self.otlp("otlp_http", OtlpProtocol::HttpProtobuf, traces_url, headers)
    }

    /// Exports spans over OTLP/gRPC to the collector at `endpoint` (its base
    /// URL, e.g. `http://127.0.0.1:4317`), with `headers` sent as metadata
    /// with every export (never logged or shown).
    ///
    /// # Errors
    /// An [`InitError::InvalidSetting`] naming `otlp_grpc` for a URL that is
    /// not `http://` with a host (TLS is not built in for gRPC: use
    /// [`otlp_http`](Self::otlp_http) with `https://`), has a path or
    /// carries credentials, or a header gRPC does not allow (binary `-bin`
    /// metadata included).
    pub fn otlp_grpc(self, endpoint: &str, headers: &[(&str, &str)]) -> Result<Self, InitError> {
        self.otlp("otlp_grpc", OtlpProtocol::Grpc, endpoint, headers)
    }

    fn otlp(
        mut self,
        setting: &'static str,
        protocol: OtlpProtocol,
        endpoint: &str,
        headers: &[(&str, &str)],
    ) -> Result<Self, InitError> {
        let mut settings = OtlpSettings::with_protocol(setting, endpoint, protocol)?;
        for (k, v) in headers {
            let valid = http::HeaderName::from_bytes(k.as_bytes()).is_ok()
                && http::HeaderValue::from_str(v).is_ok();
            if !valid {
                return Err(InitError::invalid(
                    setting,
                    format!("{}=***", otlp::shown_key(k)),
                    "use a valid HTTP header name and a visible-ASCII value",
                ));
            }
            settings.headers.push(((*k).to_owned(), (*v).to_owned()));
        }
        if protocol == OtlpProtocol::Grpc {
            otlp::grpc_metadata(setting, &settings.headers)?;
        }
        self.traces = TracesExporter::Otlp;
        self.otlp = Some(settings);
        Ok(self)
    }

    /// Installs the `tracing` bridge as the global subscriber: `tracing`
    /// spans and events at `level` or above become OpenTelemetry spans in
    /// the same traces and log records with trace ids (over OTLP/HTTP,
    /// and to each destination given [`SpanDestination::with_logs`]).
    pub fn tracing_bridge(mut self, level: tracing_subscriber::filter::LevelFilter) -> Self {
        self.tracing_bridge = Some(level);
        self
    }

    /// Pushes the metrics to the Pushgateway at `gateway`
    /// (`http://host:9091`) under `job`, every `every` and once more at
    /// shutdown: for short batch jobs that Prometheus cannot scrape.
    ///
    /// # Errors
    /// An [`InitError::InvalidSetting`] for a gateway URL that is not
    /// `http://` with a host, an empty job, or a zero interval.
    pub fn pushgateway(
        mut self,
        gateway: &str,
        job: &str,
        every: Duration,
    ) -> Result<Self, InitError> {
        self.pushgateway = Some(PushgatewaySettings::new(
            "pushgateway",
            gateway,
            job,
            every,
        )?);
        Ok(self)
    }

    /// Sends spans to `destination` too, beside the main exporter, through
    /// its own bounded queue and export thread (drops counted with the
    /// destination's name as `exporter`). For Langfuse:
    /// `SpanDestination::new("langfuse", langfuse.otlp_span_exporter()?, SpanSelection::LlmTraces)`.
    pub fn span_destination(mut self, destination: SpanDestination) -> Self {
        self.destinations.push(destination);
        self
    }

    /// Adds a resource attribute (`deployment.region`, ...) to every span.
    pub fn resource_attribute(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.resource.push((key.into(), value.into()));
        self
    }

    /// How long one OTLP export may take before it is abandoned and counted
    /// as a timeout (default 10 s, at most [`MAX_OTLP_TIMEOUT`](crate::MAX_OTLP_TIMEOUT)).
    /// May be called before or after the endpoint is set;
    /// [`build`](Self::build) checks it.
    pub fn otlp_timeout(mut self, timeout: Duration) -> Self {
        self.otlp_timeout = Some(timeout);
        self
    }

    /// The span queue: at most `capacity` spans wait for export (more are
    /// dropped and counted, never waited for), exported every `delay` or
    /// when a batch is full (default 2048 spans, 1 s).
    pub fn span_queue(mut self, capacity: usize, delay: Duration) -> Self {
        self.queue.capacity = capacity;
        self.queue.delay = delay;
        self
    }

    /// The sampler, by its `OTEL_TRACES_SAMPLER` name and argument
    /// (default `parentbased_always_on`).
    pub fn sampler(mut self, name: impl Into<String>, arg: Option<String>) -> Self {
        self.sampler = Some(name.into());
        self.sampler_arg = arg;
        self
    }

    /// No Prometheus endpoint (metrics are still recorded).
    pub fn without_metrics_endpoint(mut self) -> Self {
        self.metrics_addr = None;
        self
    }

    /// How often the exporter's upkeep drains histogram buffers (at least
    /// 100 ms; default 5 s).
    pub fn upkeep_interval(mut self, every: Duration) -> Self {
        self.upkeep_interval = every;
        self
    }

    /// Checks the settings.
    ///
    /// # Errors
    /// An [`InitError::InvalidSetting`] naming the first invalid setting.
    pub fn build(mut self) -> Result<ObservabilityConfig, InitError> {
        if self.service_name.trim().is_empty() {
            return Err(InitError::invalid(
                "service_name",
                self.service_name,
                "give the service a non-empty name",
            ));
        }
        let metrics_addr = match self.metrics_addr {
            None => None,
            Some(addr) => Some(addr.parse::<std::net::SocketAddr>().map_err(|_| InitError::invalid(self.metrics_setting, addr.clone(), "use host:port with an IP address, e.g. 127.0.0.1:9464 (or 0.0.0.0:9464 in a container)"))?),
        };
        if self.upkeep_interval < Duration::from_millis(100) {
            return Err(InitError::invalid(
                "upkeep_interval",
                format!("{:?}", self.upkeep_interval),
                "use at least 100ms",
            ));
        }
        let sampler = traces::sampler(self.sampler.as_deref(), self.sampler_arg.as_deref())?;
        if self.queue.capacity == 0 || self.queue.delay.is_zero() {
            return Err(InitError::invalid(
                "span_queue",
                format!("{} spans, {:?}", self.queue.capacity, self.queue.delay),
                "use a capacity of at least 1 span and a delay above zero",
            ));
        }
        self.queue.max_batch = self.queue.max_batch.min(self.queue.capacity);
        if let Some(timeout) = self.otlp_timeout {
            otlp::validate_timeout("otlp_timeout", timeout)?;
        }
        let traces = match (self.traces, self.otlp) {
            (TracesExporter::Otlp, Some(mut settings)) => {
                if let Some(timeout) = self.otlp_timeout {
                    settings.timeout = timeout;
                }
                Traces::Otlp(settings)
            }
            (TracesExporter::Otlp, None) => {
                return Err(InitError::invalid(
                    "traces_exporter",
                    "Otlp".into(),
                    "configure the endpoint with otlp_http(url, headers) or otlp_grpc(url, headers)",
                ));
            }
            (other, otlp) => {
                if let Some(settings) = otlp {
                    self.warnings.push(format!(
                        "{} is set but ignored: traces_exporter is {other:?}",
                        settings.setting
                    ));
                }
                if self.otlp_timeout.is_some() {
                    self.warnings.push(
                        "otlp_timeout is set but ignored: no OTLP endpoint is set".to_owned(),
                    );
                }
                match other {
                    TracesExporter::None => Traces::None,
                    TracesExporter::Tree => Traces::Tree,
                    _ => Traces::Summary,
                }
            }
        };
        let mut secrets = Secrets::default();
        if let Some(otlp) = traces.otlp() {
            otlp.collect_secrets(&mut secrets);
        }
        if let Some(gateway) = &self.pushgateway {
            secrets.add_url(&gateway.url);
        }
        Ok(ObservabilityConfig {
            service_name: self.service_name,
            service_version: self.service_version.unwrap_or_else(|| "unknown".to_owned()),
            environment: self.environment,
            metrics_addr,
            upkeep_interval: self.upkeep_interval,
            traces,
            sampler,
            queue: self.queue,
            resource: self.resource,
            tracing_bridge: self.tracing_bridge,
            pushgateway: self.pushgateway,
            destinations: self.destinations,
            catalogues: self.catalogues,
            metrics_setting: self.metrics_setting,
            warnings: self.warnings,
            secrets,
        })
    }
}
