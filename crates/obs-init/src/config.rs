//! Configuration: a builder, and the standard environment variables.

use std::{net::SocketAddr, time::Duration};

use opentelemetry_sdk::trace::Sampler;

use crate::{InitError, TracesExporter, traces};

/// The default address of the Prometheus endpoint: loopback only.
pub const DEFAULT_METRICS_ADDR: &str = "127.0.0.1:9464";

/// What [`initialize_observability`](crate::initialize_observability) sets up.
#[derive(Debug, Clone)]
pub struct ObservabilityConfig {
    pub(crate) service_name: String,
    pub(crate) service_version: String,
    pub(crate) environment: Option<String>,
    pub(crate) metrics_addr: Option<SocketAddr>,
    pub(crate) upkeep_interval: Duration,
    pub(crate) traces: TracesExporter,
    pub(crate) sampler: Sampler,
}

impl ObservabilityConfig {
    /// A builder for the service `name`, with the defaults: metrics on
    /// `127.0.0.1:9464`, version from the caller's `CARGO_PKG_VERSION`
    /// unless set.
    pub fn builder(service_name: impl Into<String>) -> ObservabilityConfigBuilder {
        ObservabilityConfigBuilder {
            service_name: service_name.into(),
            service_version: None,
            environment: None,
            metrics_addr: Some(DEFAULT_METRICS_ADDR.to_owned()),
            upkeep_interval: Duration::from_secs(5),
            metrics_setting: "metrics_addr",
            traces: TracesExporter::default(),
            sampler: None,
            sampler_arg: None,
        }
    }

    /// The configuration from the environment:
    /// `OTEL_SERVICE_NAME` (required unless `default_service` is given),
    /// `TTA_SERVICE_VERSION`, `TTA_ENVIRONMENT`, `TTA_METRICS_ADDR` (`off`
    /// disables the endpoint; `0.0.0.0:9464` for containers),
    /// `OTEL_TRACES_EXPORTER` (`console` or `none`) and
    /// `OTEL_TRACES_SAMPLER` / `OTEL_TRACES_SAMPLER_ARG`. OTLP export is not
    /// built yet: `OTEL_TRACES_EXPORTER=otlp` or an
    /// `OTEL_EXPORTER_OTLP_ENDPOINT` is refused with an error saying so.
    ///
    /// # Errors
    /// An [`InitError::InvalidSetting`] naming the variable.
    pub fn from_env(default_service: Option<&str>) -> Result<Self, InitError> {
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
        let service = match (var("OTEL_SERVICE_NAME"), default_service) {
            (Some(name), _) => name,
            (None, Some(name)) => name.to_owned(),
            (None, None) => {
                return Err(InitError::InvalidSetting {
                    setting: "OTEL_SERVICE_NAME",
                    value: String::new(),
                    fix: "set OTEL_SERVICE_NAME to the service's name",
                });
            }
        };
        let mut builder = Self::builder(service);
        if let Some(version) = var("TTA_SERVICE_VERSION") {
            builder = builder.service_version(version);
        }
        if let Some(environment) = var("TTA_ENVIRONMENT") {
            builder = builder.environment(environment);
        }
        for otlp_var in [
            "OTEL_EXPORTER_OTLP_ENDPOINT",
            "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
        ] {
            if let Some(value) = var(otlp_var) {
                return Err(InitError::InvalidSetting {
                    setting: if otlp_var == "OTEL_EXPORTER_OTLP_ENDPOINT" {
                        "OTEL_EXPORTER_OTLP_ENDPOINT"
                    } else {
                        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"
                    },
                    value,
                    fix: "OTLP export is not available in this version yet: unset it (spans go to stdout)",
                });
            }
        }
        if let Some(exporter) = var("OTEL_TRACES_EXPORTER") {
            builder = builder.traces_exporter(match exporter.trim() {
                "console" => TracesExporter::Summary,
                "none" => TracesExporter::None,
                _ => {
                    return Err(InitError::InvalidSetting {
                        setting: "OTEL_TRACES_EXPORTER",
                        value: exporter,
                        fix: "use console or none (OTLP export is not available in this version yet)",
                    });
                }
            });
        }
        builder.sampler = var("OTEL_TRACES_SAMPLER");
        builder.sampler_arg = var("OTEL_TRACES_SAMPLER_ARG");
        if let Some(addr) = var("TTA_METRICS_ADDR") {
            builder.metrics_addr = (addr != "off").then_some(addr);
            builder.metrics_setting = "TTA_METRICS_ADDR";
        }
        builder.build()
    }

    /// The service's name.
    pub fn service_name(&self) -> &str {
        &self.service_name
    }

    /// The metrics endpoint's address (`None`: disabled).
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.metrics_addr
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
    sampler: Option<String>,
    sampler_arg: Option<String>,
}

impl ObservabilityConfigBuilder {
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
    pub fn build(self) -> Result<ObservabilityConfig, InitError> {
        if self.service_name.trim().is_empty() {
            return Err(InitError::InvalidSetting {
                setting: "service_name",
                value: self.service_name,
                fix: "give the service a non-empty name",
            });
        }
        let metrics_addr = match self.metrics_addr {
            None => None,
            Some(addr) => Some(addr.parse::<std::net::SocketAddr>().map_err(|_| InitError::InvalidSetting {
                setting: self.metrics_setting,
                value: addr.clone(),
                fix: "use host:port with an IP address, e.g. 127.0.0.1:9464 (or 0.0.0.0:9464 in a container)",
            })?),
        };
        if self.upkeep_interval < Duration::from_millis(100) {
            return Err(InitError::InvalidSetting {
                setting: "upkeep_interval",
                value: format!("{:?}", self.upkeep_interval),
                fix: "use at least 100ms",
            });
        }
        let sampler = traces::sampler(self.sampler.as_deref(), self.sampler_arg.as_deref())?;
        Ok(ObservabilityConfig {
            service_name: self.service_name,
            service_version: self.service_version.unwrap_or_else(|| "unknown".to_owned()),
            environment: self.environment,
            metrics_addr,
            upkeep_interval: self.upkeep_interval,
            traces: self.traces,
            sampler,
        })
    }
}
