//! Prices per model and the cost of a call.
//!
//! Prices are in US dollars per million tokens. A model is priced when the
//! table holds its exact name, or its name followed by a dated snapshot
//! suffix (`gpt-4o-2024-08-06` is priced as `gpt-4o`, `claude-3-5-haiku-20241022`
//! as `claude-3-5-haiku`): never by a looser prefix, so `gpt-4o` is not
//! priced as `gpt-4`. A model the table does not know gets no cost (and
//! the call is counted in `tta_llm_unpriced_requests_total`), never a
//! wrong number.
//!
//! ```
//! use tta_langfuse::{PriceTable, ModelPrice, Usage};
//!
//! let mut prices = PriceTable::builtin();
//! prices.insert("my-finetune", ModelPrice::new(1.0, 4.0).unwrap());
//! let usage = Usage { input_tokens: 1_000_000, output_tokens: 500_000, ..Usage::default() };
//! let cost = prices.cost("my-finetune", &usage).unwrap();
//! assert!((cost.total - 3.0).abs() < 1e-9);
//! assert!(prices.cost("unheard-of-model", &usage).is_none());
//!
//! // From a file: TOML (or JSON with the same shape).
//! let extra = PriceTable::from_toml_str(r#"
//! [models."acme-large"]
//! input = 2.0
//! output = 6.0
//! cached_input = 0.5
//! "#).unwrap();
//! prices.extend(extra);
//! assert!(prices.get("acme-large-2025-01-01").is_some());
//! ```

use std::{collections::BTreeMap, path::Path};

use serde::Deserialize;

use crate::types::Usage;

/// The prices of one model, in US dollars per million tokens.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelPrice {
    /// Uncached prompt tokens.
    pub input: f64,
    /// Generated tokens (reasoning included).
    pub output: f64,
    /// Prompt tokens read from the provider's cache (default: the input price).
    #[serde(default)]
    pub cached_input: Option<f64>,
    /// Prompt tokens written to the provider's cache (default: the input price).
    #[serde(default)]
    pub cache_creation_input: Option<f64>,
}

impl ModelPrice {
    /// Input and output prices per million tokens.
    ///
    /// # Errors
    /// When a price is negative or not finite.
    pub fn new(input: f64, output: f64) -> Result<Self, PriceError> {
        let price = Self {
            input,
            output,
            cached_input: None,
            cache_creation_input: None,
        };
        price.validate(None)?;
        Ok(price)
    }

    /// Sets the cached-input price.
    ///
    /// # Errors
    /// When the price is negative or not finite.
    pub fn with_cached_input(mut self, price: f64) -> Result<Self, PriceError> {
        self.cached_input = Some(price);
        self.validate(None)?;
        Ok(self)
    }

    /// Sets the cache-creation price.
    ///
    /// # Errors
    /// When the price is negative or not finite.
    pub fn with_cache_creation_input(mut self, price: f64) -> Result<Self, PriceError> {
        self.cache_creation_input = Some(price);
        self.validate(None)?;
        Ok(self)
    }

    fn validate(&self, model: Option<&str>) -> Result<(), PriceError> {
        let fields = [
            ("input", Some(self.input)),
            ("output", Some(self.output)),
            ("cached_input", self.cached_input),
            ("cache_creation_input", self.cache_creation_input),
        ];
        for (field, value) in fields {
            if let Some(v) = value
                && (!v.is_finite() || v < 0.0)
            {
                return Err(PriceError::InvalidPrice {
                    field: model
                        .map_or_else(|| field.to_owned(), |m| format!("models.\"{m}\".{field}")),
                    value: v,
                });
            }
        }
        Ok(())
    }
}

/// The cost of one call, in US dollars, by kind of token.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Cost {
    /// Uncached prompt tokens.
    pub input: f64,
    /// Cached prompt tokens.
    pub cached_input: f64,
    /// Prompt tokens written to the cache.
    pub cache_creation_input: f64,
    /// Generated tokens.
    pub output: f64,
    /// The sum.
    pub total: f64,
}

/// Why a price table was refused.
#[derive(Debug, thiserror::Error)]
pub enum PriceError {
    /// A price is negative or not a number.
    #[error(
        "price `{field}` is {value}: prices must be finite and not negative (US dollars per million tokens)"
    )]
    InvalidPrice {
        /// The field (`models."<model>".<field>` in a file).
        field: String,
        /// The refused value.
        value: f64,
    },
    /// The file does not parse or has an unknown field.
    #[error("price file {source_name}: {message}")]
    Parse {
        /// The file (or `<string>`).
        source_name: String,
        /// The parser's message, naming the field.
        message: String,
    },
    /// The file cannot be read.
    #[error("price file {path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The operating system's error reading the file.
        source: std::io::Error,
    },
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PriceFile {
    models: BTreeMap<String, ModelPrice>,
}

/// Prices per model.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PriceTable {
    models: BTreeMap<String, ModelPrice>,
}

/// Built-in prices (US dollars per million tokens: input, output, cached
/// input, cache creation) as the providers list them; extend or override
/// them for your contract.
type BuiltinPrice = (&'static str, f64, f64, Option<f64>, Option<f64>);
const BUILTIN: &[BuiltinPrice] = &[
    ("gpt-4o", 2.5, 10.0, Some(1.25), None),
    ("gpt-4o-mini", 0.15, 0.6, Some(0.075), None),
    ("gpt-4.1", 2.0, 8.0, Some(0.5), None),
    ("gpt-4.1-mini", 0.4, 1.6, Some(0.1), None),
    ("gpt-4.1-nano", 0.1, 0.4, Some(0.025), None),
    ("o3", 2.0, 8.0, Some(0.5), None),
    ("o4-mini", 1.1, 4.4, Some(0.275), None),
    ("claude-opus-4", 15.0, 75.0, Some(1.5), Some(18.75)),
    ("claude-sonnet-4", 3.0, 15.0, Some(0.3), Some(3.75)),
    ("claude-3-7-sonnet", 3.0, 15.0, Some(0.3), Some(3.75)),
    ("claude-3-5-haiku", 0.8, 4.0, Some(0.08), Some(1.0)),
];

impl PriceTable {
    /// An empty table.
    pub fn empty() -> Self {
        Self::default()
    }

    /// The built-in prices of common OpenAI and Anthropic models.
    pub fn builtin() -> Self {
        let models = BUILTIN
            .iter()
            .map(
                |&(name, input, output, cached_input, cache_creation_input)| {
                    (
                        name.to_owned(),
                        ModelPrice {
                            input,
                            output,
                            cached_input,
                            cache_creation_input,
                        },
                    )
                },
            )
            .collect();
        Self { models }
    }

    /// Adds or replaces the price of `model`.
    pub fn insert(&mut self, model: impl Into<String>, price: ModelPrice) {
        self.models.insert(model.into(), price);
    }

    /// Adds or replaces every price of `other`.
    pub fn extend(&mut self, other: PriceTable) {
        self.models.extend(other.models);
    }

    /// Parses a TOML table `[models."<name>"]` with `input`, `output` and
    /// optional `cached_input` and `cache_creation_input`.
    ///
    /// # Errors
    /// A [`PriceError`] naming the unknown field or the negative price.
    pub fn from_toml_str(text: &str) -> Result<Self, PriceError> {
        let file: PriceFile = toml::from_str(text).map_err(|e| PriceError::Parse {
            source_name: "<string>".into(),
            message: e.message().to_owned() + &location(text, e.span()),
        })?;
        Self::from_file(file)
    }

    /// Parses JSON of the same shape as the TOML file
    /// (`{"models": {"<name>": {"input": .., "output": ..}}}`).
    ///
    /// # Errors
    /// A [`PriceError`] naming the unknown field or the negative price.
    pub fn from_json_str(text: &str) -> Result<Self, PriceError> {
        let file: PriceFile = serde_json::from_str(text).map_err(|e| PriceError::Parse {
            source_name: "<string>".into(),
            message: e.to_string(),
        })?;
        Self::from_file(file)
    }

    /// Reads a price file; `.json` files are JSON, anything else TOML.
    ///
    /// # Errors
    /// A [`PriceError`] naming the file and the field.
    pub fn load(path: impl AsRef<Path>) -> Result<Self, PriceError> {
        let path = path.as_ref();
        let name = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| PriceError::Io {
            path: name.clone(),
            source,
        })?;
        let parsed = if path.extension().is_some_and(|e| e == "json") {
            Self::from_json_str(&text)
        } else {
            Self::from_toml_str(&text)
        };
        parsed.map_err(|e| match e {
            PriceError::Parse { message, .. } => PriceError::Parse {
                source_name: name,
                message,
            },
            other => other,
        })
    }

    fn from_file(file: PriceFile) -> Result<Self, PriceError> {
        for (model, price) in &file.models {
            price.validate(Some(model))?;
        }
        Ok(Self {
            models: file.models,
        })
    }

    /// The price of `model`: its exact entry, or the entry it is a dated
    /// snapshot of.
    pub fn get(&self, model: &str) -> Option<&ModelPrice> {
        if let Some(price) = self.models.get(model) {
            return Some(price);
        }
        // The longest entry that `model` is a snapshot of (`name-<date>`).
        // Tables are small: a scan costs less than keeping an index.
        self.models
            .iter()
            .filter(|(name, _)| {
                model
                    .strip_prefix(name.as_str())
                    .is_some_and(is_snapshot_suffix)
            })
            .max_by_key(|(name, _)| name.len())
            .map(|(_, price)| price)
    }

    /// The cost of `usage` on `model`, or `None` when the model has no price.
    pub fn cost(&self, model: &str, usage: &Usage) -> Option<Cost> {
        self.get(model).map(|price| price.cost(usage))
    }
}

impl ModelPrice {
    /// The cost of `usage` at these prices.
    pub fn cost(&self, usage: &Usage) -> Cost {
        let price = self;
        let per_token = |tokens: u64, per_million: f64| tokens as f64 * per_million / 1e6;
        let input = per_token(usage.uncached_input_tokens(), price.input);
        let cached_input = per_token(
            usage.cache_read_input_tokens,
            price.cached_input.unwrap_or(price.input),
        );
        let cache_creation_input = per_token(
            usage.cache_creation_input_tokens,
            price.cache_creation_input.unwrap_or(price.input),
        );
        let output = per_token(usage.output_tokens, price.output);
        Cost {
            input,
            cached_input,
            cache_creation_input,
            output,
            total: input + cached_input + cache_creation_input + output,
        }
    }
}

/// `-2024-08-06`, `-20241022`, `-latest`.
fn is_snapshot_suffix(rest: &str) -> bool {
    let Some(tail) = rest.strip_prefix('-') else {
        return false;
    };
    tail == "latest"
        || (tail.len() >= 4
            && tail.bytes().all(|b| b.is_ascii_digit() || b == b'-')
            && tail.as_bytes()[0].is_ascii_digit())
}

fn location(text: &str, span: Option<std::ops::Range<usize>>) -> String {
    span.map(|s| {
        let line = text[..s.start.min(text.len())].lines().count().max(1);
        format!(" (line {line})")
    })
    .unwrap_or_default()
}
