//! Configuration: a builder, and the standard environment variables.

use std::{net::SocketAddr, time::Duration};

use crate::InitError;

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
        }
    }

    /// The configuration from the environment:
    /// `OTEL_SERVICE_NAME` (required unless `default_service` is given),
    /// `TTA_SERVICE_VERSION`, `TTA_ENVIRONMENT`, and `TTA_METRICS_ADDR`
    /// (`off` disables the endpoint; `0.0.0.0:9464` for containers).
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
        Ok(ObservabilityConfig {
            service_name: self.service_name,
            service_version: self.service_version.unwrap_or_else(|| "unknown".to_owned()),
            environment: self.environment,
            metrics_addr,
            upkeep_interval: self.upkeep_interval,
        })
    }
}
