//! Ready adapters: providers' request, response and streaming bodies mapped
//! onto this crate's provider-agnostic types.
//!
//! Each body type deserializes the provider's JSON as documented (unknown
//! fields are ignored, so new provider fields do not break parsing) and
//! converts with `to_llm_request`, `to_llm_response` or `to_llm_chunk`.
//! Writing an adapter for another client means writing the same few
//! conversions.

pub mod anthropic;
pub mod openai;

use serde::Deserialize;

/// Message content: a string, or a list of typed parts.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(untagged)]
pub enum Content {
    /// Plain text.
    Text(String),
    /// Typed parts (`text`, `input_text`, `output_text`, `image_url`, ...).
    Parts(Vec<Part>),
}

/// One part of a message's content.
#[derive(Debug, Clone, Deserialize, PartialEq)]
pub struct Part {
    /// The part's type.
    #[serde(rename = "type")]
    pub kind: String,
    /// Its text, for text parts.
    #[serde(default)]
    pub text: Option<String>,
}

impl Content {
    /// The text parts joined (non-text parts are left out).
    pub fn text(&self) -> String {
        match self {
            Self::Text(t) => t.clone(),
            Self::Parts(parts) => parts
                .iter()
                .filter_map(|p| p.text.as_deref())
                .collect::<Vec<_>>()
                .join(""),
        }
    }
}

/// A string or a list of strings (OpenAI's `stop`).
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(untagged)]
pub enum OneOrMany {
    /// One string.
    One(String),
    /// A list of stop sequences.
    Many(Vec<String>),
}

impl OneOrMany {
    fn into_vec(self) -> Vec<String> {
        match self {
            Self::One(s) => vec![s],
            Self::Many(v) => v,
        }
    }
}
