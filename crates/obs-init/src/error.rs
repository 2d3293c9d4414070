//! Initialisation errors: each names the setting, the value and the fix.

use tta_primitives_core::ConfigError;

/// Why observability could not be initialised.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum InitError {
    /// A setting has a value that cannot be used: the setting (builder
    /// method or environment variable), the rejected value and what to use
    /// instead, in the toolkit's one shape for invalid settings.
    #[error(transparent)]
    InvalidSetting(#[from] ConfigError),
    /// An environment variable the toolkit reads is not valid UTF-8.
    #[error(
        "environment variable `{variable}` is not valid UTF-8: set it to a UTF-8 value or unset it"
    )]
    NotUnicode {
        /// The variable.
        variable: String,
    },
    /// The metrics endpoint's address cannot be bound.
    #[error(
        "cannot listen on {addr} for the metrics endpoint (set by `{setting}`; the variable is TTA_METRICS_ADDR, the builder method metrics_addr): {source}; choose a free address (e.g. 127.0.0.1:0 for any free port), stop what uses it, or set TTA_METRICS_ADDR=off"
    )]
    Bind {
        /// The setting that gave the address.
        setting: &'static str,
        /// The address.
        addr: std::net::SocketAddr,
        /// The operating system's error.
        source: std::io::Error,
    },
    /// Initialisation needs a Tokio runtime (it spawns the endpoint).
    #[error(
        "initialize_observability must be called inside a Tokio runtime (it spawns the metrics endpoint): call it from async code or within Runtime::enter"
    )]
    NoRuntime,
    /// A `metrics` recorder is already installed in this process.
    #[error(
        "a metrics recorder is already installed in this process: initialize observability once, at start-up"
    )]
    RecorderInstalled,
}

impl InitError {
    /// An invalid `setting` whose rejected text is `value` (masked where it
    /// may hold a secret), with the `fix`.
    pub(crate) fn invalid(setting: &'static str, value: String, fix: &'static str) -> Self {
        Self::InvalidSetting(ConfigError::text(setting, value, fix))
    }
}
