//! Where Langfuse is and how to authenticate: keys and host, from code or
//! from `LANGFUSE_PUBLIC_KEY`, `LANGFUSE_SECRET_KEY` and `LANGFUSE_BASE_URL`
//! (or `LANGFUSE_HOST`).
//!
//! Keys never appear in `Debug` output, logs or error messages.
//!
//! ```
//! use tta_langfuse::LangfuseConfig;
//!
//! let config = LangfuseConfig::new("pk-lf-1", "sk-lf-2", "http://127.0.0.1:3000/").unwrap();
//! assert_eq!(config.otlp_traces_url(), "http://127.0.0.1:3000/api/public/otel/v1/traces");
//! assert!(!format!("{config:?}").contains("sk-lf-2"));
//! let err = LangfuseConfig::new("pk-lf-1", "sk-lf-2", "ftp://x").unwrap_err();
//! assert!(err.to_string().contains("LANGFUSE_BASE_URL"));
//! ```

use std::{collections::HashMap, fmt, time::Duration};

use base64::Engine as _;

/// The default host: Langfuse Cloud (EU).
pub const DEFAULT_HOST: &str = "https://cloud.langfuse.com";

/// A bad or missing Langfuse setting. Never contains a key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// A required setting is missing or empty.
    #[error("{setting} is not set: {fix}")]
    Missing {
        /// The setting (environment variable name).
        setting: &'static str,
        /// How to fix it.
        fix: &'static str,
    },
    /// A setting has a value that cannot work (the value is never a key),
    /// in the toolkit's one shape for invalid settings.
    #[error(transparent)]
    Invalid(#[from] tta_primitives_core::ConfigError),
}

/// Langfuse connection settings.
#[derive(Clone, PartialEq, Eq)]
pub struct LangfuseConfig {
    public_key: String,
    secret_key: String,
    host: String,
    timeout: Duration,
}

impl fmt::Debug for LangfuseConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LangfuseConfig")
            .field("public_key", &"<redacted>")
            .field("secret_key", &"<redacted>")
            .field("host", &self.host)
            .field("timeout", &self.timeout)
            .finish()
    }
}

impl LangfuseConfig {
    /// Settings for the project with `public_key` and `secret_key` on
    /// `host` (e.g. `https://cloud.langfuse.com` or `http://localhost:3000`).
    ///
    /// # Errors
    /// A [`ConfigError`] naming the setting: an empty key, or a host that is
    /// not an `http`/`https` URL with a host name.
    pub fn new(
        public_key: impl Into<String>,
        secret_key: impl Into<String>,
        host: impl AsRef<str>,
    ) -> Result<Self, ConfigError> {
        let public_key = public_key.into();
        let secret_key = secret_key.into();
        if public_key.trim().is_empty() {
            return Err(missing("LANGFUSE_PUBLIC_KEY"));
        }
        if secret_key.trim().is_empty() {
            return Err(missing("LANGFUSE_SECRET_KEY"));
        }
        Ok(Self {
            public_key,
            secret_key,
            host: validate_host("LANGFUSE_BASE_URL", host.as_ref())?,
            timeout: Duration::from_secs(10),
        })
    }

    /// Settings from `LANGFUSE_PUBLIC_KEY`, `LANGFUSE_SECRET_KEY` and
    /// `LANGFUSE_BASE_URL` (or the older `LANGFUSE_HOST`; default
    /// [`DEFAULT_HOST`]).
    ///
    /// # Errors
    /// A [`ConfigError`] naming the missing or invalid variable.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_vars(|name| std::env::var(name).ok())
    }

    /// The settings when Langfuse is configured in the environment, `None`
    /// when neither key is set: for applications where Langfuse is
    /// optional. Exactly one of the two keys set is an error naming the
    /// missing one, never a silent "off".
    ///
    /// # Errors
    /// A [`ConfigError`] naming the missing or invalid variable.
    pub fn from_env_if_set() -> Result<Option<Self>, ConfigError> {
        Self::from_vars_if_set(|name| std::env::var(name).ok())
    }

    /// Like [`from_env_if_set`](Self::from_env_if_set), reading variables
    /// through `get`.
    ///
    /// ```
    /// use tta_langfuse::LangfuseConfig;
    ///
    /// assert!(LangfuseConfig::from_vars_if_set(|_| None).unwrap().is_none());
    /// let half = LangfuseConfig::from_vars_if_set(|name| {
    ///     (name == "LANGFUSE_SECRET_KEY").then(|| "sk-lf-123".to_owned())
    /// });
    /// assert!(half.unwrap_err().to_string().contains("LANGFUSE_PUBLIC_KEY"));
    /// ```
    ///
    /// # Errors
    /// A [`ConfigError`] naming the missing or invalid variable.
    pub fn from_vars_if_set(
        get: impl Fn(&str) -> Option<String>,
    ) -> Result<Option<Self>, ConfigError> {
        let set = |name: &str| get(name).is_some_and(|v| !v.trim().is_empty());
        if !set("LANGFUSE_PUBLIC_KEY") && !set("LANGFUSE_SECRET_KEY") {
            return Ok(None);
        }
        Self::from_vars(get).map(Some)
    }

    /// Like [`from_env`](Self::from_env), reading variables through `get`.
    ///
    /// # Errors
    /// A [`ConfigError`] naming the missing or invalid variable.
    pub fn from_vars(get: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let non_empty = |name: &str| get(name).filter(|v| !v.trim().is_empty());
        let public_key = non_empty("LANGFUSE_PUBLIC_KEY").ok_or(missing("LANGFUSE_PUBLIC_KEY"))?;
        let secret_key = non_empty("LANGFUSE_SECRET_KEY").ok_or(missing("LANGFUSE_SECRET_KEY"))?;
        let (setting, host) = match (non_empty("LANGFUSE_BASE_URL"), non_empty("LANGFUSE_HOST")) {
            (Some(url), _) => ("LANGFUSE_BASE_URL", url),
            (None, Some(host)) => ("LANGFUSE_HOST", host),
            (None, None) => ("LANGFUSE_BASE_URL", DEFAULT_HOST.to_owned()),
        };
        Ok(Self {
            public_key,
            secret_key,
            host: validate_host(setting, &host)?,
            timeout: Duration::from_secs(10),
        })
    }

    /// Sets the timeout of one HTTP request (default 10 s).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The host, without a trailing slash.
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The HTTP request timeout.
    pub fn request_timeout(&self) -> Duration {
        self.timeout
    }

    /// Langfuse's OTLP/HTTP traces endpoint.
    pub fn otlp_traces_url(&self) -> String {
        format!("{}/api/public/otel/v1/traces", self.host)
    }

    /// The batch ingestion endpoint (Langfuse v2/v3).
    pub fn ingestion_url(&self) -> String {
        format!("{}/api/public/ingestion", self.host)
    }

    /// The `Authorization` header value (Basic, public key / secret key).
    pub(crate) fn authorization(&self) -> String {
        let raw = format!("{}:{}", self.public_key, self.secret_key);
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(raw)
        )
    }

    /// An OTLP/HTTP (protobuf) span exporter for Langfuse's OTLP endpoint,
    /// with Basic auth and the `x-langfuse-ingestion-version: 4` header.
    /// It blocks while exporting (the HTTP client is the blocking one), so
    /// run it on an export thread: `tta_obs_init`'s span destinations do.
    ///
    /// # Errors
    /// When the exporter cannot be built from these settings.
    pub fn otlp_span_exporter(&self) -> Result<opentelemetry_otlp::SpanExporter, ConfigError> {
        use opentelemetry_otlp::{WithExportConfig, WithHttpConfig};
        let headers = HashMap::from([
            ("Authorization".to_owned(), self.authorization()),
            ("x-langfuse-ingestion-version".to_owned(), "4".to_owned()),
        ]);
        opentelemetry_otlp::SpanExporter::builder()
            .with_http()
            .with_endpoint(self.otlp_traces_url())
            .with_headers(headers)
            .with_timeout(self.timeout)
            .build()
            .map_err(|e| {
                // The builder's messages name endpoints, never header values.
                ConfigError::Invalid(tta_primitives_core::ConfigError::text(
                    "LANGFUSE_BASE_URL",
                    self.host.clone(),
                    format!("cannot build the OTLP exporter: {e}"),
                ))
            })
    }
}

fn missing(setting: &'static str) -> ConfigError {
    ConfigError::Missing {
        setting,
        fix: "set it to the key shown in the Langfuse project's settings (API keys)",
    }
}

fn validate_host(setting: &'static str, raw: &str) -> Result<String, ConfigError> {
    let invalid = |reason: &str| {
        ConfigError::Invalid(tta_primitives_core::ConfigError::text(
            setting,
            tta_primitives_obs::redact::redact_url(raw),
            reason.to_owned(),
        ))
    };
    let url = reqwest::Url::parse(raw.trim())
        .map_err(|e| invalid(&format!("{e}; expected e.g. https://cloud.langfuse.com")))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(invalid("the scheme must be http or https"));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(invalid("the URL has no host"));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(invalid("the URL must not have a query or fragment"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(invalid(
            "the URL must not carry credentials: use LANGFUSE_PUBLIC_KEY and LANGFUSE_SECRET_KEY",
        ));
    }
    Ok(url.as_str().trim_end_matches('/').to_owned())
}
