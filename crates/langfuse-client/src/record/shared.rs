//! The settings one layer's calls share: the price table, the capture
//! settings, and the prices resolved per model name.

use std::sync::RwLock;

use hashbrown::HashMap;

use crate::{
    capture::Capture,
    pricing::{ModelPrice, PriceTable},
};

/// The settings shared by every call of one layer.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) prices: PriceTable,
    pub(crate) capture: Capture,
    /// Prices by model name as looked up (snapshot names resolved once).
    pub(crate) resolved: RwLock<HashMap<Box<str>, Option<ModelPrice>>>,
}

/// Models whose price lookups are remembered per layer.
const RESOLVED_CAP: usize = 1024;

/// A copy starts with an empty price-resolution cache: the copy is made to
/// be configured (a layer changed after it was cloned), and its prices may
/// differ.
impl Clone for Shared {
    fn clone(&self) -> Self {
        Self::new(self.prices.clone(), self.capture.clone())
    }
}

impl Shared {
    pub(crate) fn new(prices: PriceTable, capture: Capture) -> Self {
        Self {
            prices,
            capture,
            resolved: RwLock::default(),
        }
    }

    /// The price of `model`, resolved once per model name.
    pub(crate) fn price_of(&self, model: &str) -> Option<ModelPrice> {
        if let Some(found) = self
            .resolved
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(model)
        {
            return *found;
        }
        let price = self.prices.get(model).copied();
        let mut resolved = self.resolved.write().unwrap_or_else(|p| p.into_inner());
        if resolved.len() < RESOLVED_CAP {
            resolved.insert(model.into(), price);
        }
        price
    }
}
