//! The metric handles of one (provider, model), looked up once per process.

use std::sync::{Arc, OnceLock};

use metrics::{Counter, Histogram};
use tta_primitives_obs::{handle_cache::HandleCache, series::DEFAULT_SERIES_CAP};

use crate::metrics::series;

/// Token types, in the order of [`ModelMetrics::tokens`].
const TOKEN_TYPES: [&str; 5] = ["input", "output", "cached", "cache_creation", "reasoning"];
const OUTCOMES: [&str; 3] = ["success", "error", "cancelled"];

/// The metric handles of one (provider, model), looked up once.
#[derive(Debug)]
pub(crate) struct ModelMetrics {
    pub(super) provider: Box<str>,
    pub(super) model: Box<str>,
    pub(super) requests: [Counter; 3],
    pub(super) tokens: [Counter; 5],
    pub(super) cost: Histogram,
    pub(super) unpriced: Counter,
    pub(super) duration: Histogram,
    pub(super) ttft: Histogram,
}

pub(super) fn model_metrics(provider: &str, model: &str) -> Arc<ModelMetrics> {
    static CACHE: OnceLock<HandleCache<2, Arc<ModelMetrics>>> = OnceLock::new();
    let cache = CACHE.get_or_init(|| HandleCache::new(DEFAULT_SERIES_CAP));
    let labels = [provider, model];
    if let Some(found) = cache.get(labels) {
        return found;
    }
    let make = || {
        let s = series();
        Arc::new(ModelMetrics {
            provider: provider.into(),
            model: model.into(),
            requests: OUTCOMES.map(|o| s.requests.handle(&[provider, model, o])),
            tokens: TOKEN_TYPES.map(|t| s.tokens.handle(&[provider, model, t])),
            cost: s.cost.handle(&labels),
            unpriced: s.unpriced.handle(&labels),
            duration: s.duration.handle(&labels),
            ttft: s.ttft.handle(&labels),
        })
    };
    // Past the cap, label sets fold into `__overflow__` anyway: not cached.
    cache.insert_with(labels, make).unwrap_or_else(make)
}
