//! What the generated rules alert on: SLO objectives per workflow and the
//! thresholds of the other alerts, from `deploy/slo.toml` (or the
//! defaults).
//!
//! ```
//! use tta_dashboards::AlertConfig;
//!
//! let config = AlertConfig::from_toml_str(r#"
//! [[slo]]
//! workflow = "checkout"
//! availability_target = 0.999
//! latency_threshold_seconds = 0.25
//! latency_target = 0.99
//! "#).unwrap();
//! assert_eq!(config.slo[0].workflow, "checkout");
//! let err = AlertConfig::from_toml_str("[[slo]]\nworkflow = \"x\"\navailability_target = 1.5\nlatency_threshold_seconds = 0.5\nlatency_target = 0.9\n").unwrap_err();
//! assert!(err.to_string().contains("slo[0].availability_target"));
//! ```

use serde::Deserialize;
use tta_primitives_obs::catalogue::LATENCY_BUCKETS;

/// One workflow's service level objectives.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Objective {
    /// The workflow (the `workflow` label).
    pub workflow: String,
    /// The share of executions that must succeed (e.g. 0.99).
    pub availability_target: f64,
    /// An execution slower than this is "slow" (a latency bucket bound).
    pub latency_threshold_seconds: f64,
    /// The share of executions that must be faster than the threshold.
    pub latency_target: f64,
}

/// The objectives and alert thresholds.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlertConfig {
    /// Where each alert's runbook section lives (`#<alert name>` is added).
    #[serde(default = "default_runbook")]
    pub runbook_base_url: String,
    /// Alert when a workflow's error ratio stays above this (default 0.05).
    #[serde(default = "default_error_ratio")]
    pub error_ratio_threshold: f64,
    /// Alert when a workflow's p99 latency stays above this (default 2.5 s).
    #[serde(default = "default_p99")]
    pub p99_latency_seconds: f64,
    /// Alert when LLM spend stays above this many US dollars per hour
    /// (default 5).
    #[serde(default = "default_llm_budget")]
    pub llm_cost_budget_usd_per_hour: f64,
    /// Alert when a cache's hit ratio over 15 minutes falls below this
    /// share of its daily hit ratio (default 0.5).
    #[serde(default = "default_hit_ratio_drop")]
    pub cache_hit_ratio_drop: f64,
    /// SLOs, per workflow.
    #[serde(default)]
    pub slo: Vec<Objective>,
}

fn default_runbook() -> String {
    "https://github.com/tta-observability/tta/blob/main/docs/runbooks.md".into()
}
fn default_error_ratio() -> f64 {
    0.05
}
fn default_p99() -> f64 {
    2.5
}
fn default_llm_budget() -> f64 {
    5.0
}
fn default_hit_ratio_drop() -> f64 {
    0.5
}

/// A configuration the generator refuses, naming the field.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ConfigError {
    /// The file does not parse or has an unknown field.
    #[error("{file}: {message}")]
    Parse {
        /// The file.
        file: String,
        /// The parser's message (names the field).
        message: String,
    },
    /// A value is out of range: the field (`slo[0].availability_target`),
    /// the value and what is allowed, in the toolkit's one shape for
    /// invalid settings.
    #[error(transparent)]
    Invalid(#[from] tta_primitives_core::ConfigError),
}

impl Default for AlertConfig {
    /// The demo's objectives: the `quote` workflow, 99 % available, 95 %
    /// under 0.5 s.
    fn default() -> Self {
        Self {
            runbook_base_url: default_runbook(),
            error_ratio_threshold: default_error_ratio(),
            p99_latency_seconds: default_p99(),
            llm_cost_budget_usd_per_hour: default_llm_budget(),
            cache_hit_ratio_drop: default_hit_ratio_drop(),
            slo: vec![Objective {
                workflow: "quote".into(),
                availability_target: 0.99,
                latency_threshold_seconds: 0.5,
                latency_target: 0.95,
            }],
        }
    }
}

impl AlertConfig {
    /// Parses and checks a TOML configuration.
    ///
    /// # Errors
    /// A [`ConfigError`] naming the field.
    pub fn from_toml_str(text: &str) -> Result<Self, ConfigError> {
        let config: Self = toml::from_str(text).map_err(|e| ConfigError::Parse {
            file: "<string>".into(),
            message: e.message().to_owned(),
        })?;
        config.validate()?;
        Ok(config)
    }

    /// Reads and checks `path`.
    ///
    /// # Errors
    /// A [`ConfigError`] naming the file and the field.
    pub fn load(path: &std::path::Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError::Parse {
            file: path.display().to_string(),
            message: e.to_string(),
        })?;
        Self::from_toml_str(&text).map_err(|e| match e {
            ConfigError::Parse { message, .. } => ConfigError::Parse {
                file: path.display().to_string(),
                message,
            },
            other => other,
        })
    }

    /// Checks every value.
    ///
    /// # Errors
    /// A [`ConfigError::Invalid`] naming the first bad field.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |field: String, value: String, reason: &str| {
            Err(ConfigError::Invalid(
                tta_primitives_core::ConfigError::text(field, value, reason.to_owned()),
            ))
        };
        let ratio = |field: &str, v: f64| {
            if v > 0.0 && v < 1.0 {
                Ok(())
            } else {
                invalid(
                    field.into(),
                    v.to_string(),
                    "must be between 0 and 1, exclusive",
                )
            }
        };
        ratio("error_ratio_threshold", self.error_ratio_threshold)?;
        ratio("cache_hit_ratio_drop", self.cache_hit_ratio_drop)?;
        for (field, v) in [
            ("p99_latency_seconds", self.p99_latency_seconds),
            (
                "llm_cost_budget_usd_per_hour",
                self.llm_cost_budget_usd_per_hour,
            ),
        ] {
            if !(v.is_finite() && v > 0.0) {
                return invalid(field.into(), v.to_string(), "must be a positive number");
            }
        }
        if !(self.runbook_base_url.starts_with("https://")
            || self.runbook_base_url.starts_with("http://"))
        {
            return invalid(
                "runbook_base_url".into(),
                self.runbook_base_url.clone(),
                "must be an http(s) URL",
            );
        }
        for (i, o) in self.slo.iter().enumerate() {
            let field = |name: &str| format!("slo[{i}].{name}");
            let valid_name = !o.workflow.is_empty()
                && o.workflow
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "_-.:".contains(c));
            if !valid_name {
                return invalid(
                    field("workflow"),
                    o.workflow.clone(),
                    "must be a non-empty workflow name of letters, digits and _-.:",
                );
            }
            if self.slo[..i].iter().any(|p| p.workflow == o.workflow) {
                return invalid(
                    field("workflow"),
                    o.workflow.clone(),
                    "has an objective already",
                );
            }
            ratio(&field("availability_target"), o.availability_target)?;
            ratio(&field("latency_target"), o.latency_target)?;
            if !LATENCY_BUCKETS.contains(&o.latency_threshold_seconds) {
                return invalid(
                    field("latency_threshold_seconds"),
                    o.latency_threshold_seconds.to_string(),
                    &format!(
                        "must be a bucket bound of {}, one of {LATENCY_BUCKETS:?}",
                        tta_primitives_obs::catalogue::PRIMITIVE_DURATION.name
                    ),
                );
            }
        }
        Ok(())
    }
}
