//! Metric handles cached by their label values, looked up with borrowed
//! values: a warm lookup hashes the `&str`s it is given and allocates
//! nothing; only the first lookup of a label set copies the values into
//! the key. The number of entries is capped (the series cap), so a label
//! that takes unbounded values cannot grow the cache without bound.
//!
//! `hashbrown`'s [`Equivalent`] lets a map keyed by owned strings be
//! searched with borrowed ones; the standard map needs a `Borrow`
//! implementation, which an array of owned strings cannot give for an
//! array of borrowed ones. That is why this small type exists.

use std::{
    hash::{Hash, Hasher},
    sync::RwLock,
};

use hashbrown::{Equivalent, HashMap};

/// Values of type `V` (metric handles, or a struct of them) keyed by `N`
/// label values, shared by every thread.
///
/// ```
/// use tta_primitives_obs::handle_cache::HandleCache;
///
/// let cache: HandleCache<2, u32> = HandleCache::new(2);
/// assert_eq!(cache.get(["openai", "gpt-4o"]), None);
/// assert_eq!(cache.insert_with(["openai", "gpt-4o"], || 1), Some(1));
/// assert_eq!(cache.get(["openai", "gpt-4o"]), Some(1));
/// // A label set already there keeps its value.
/// assert_eq!(cache.insert_with(["openai", "gpt-4o"], || 9), Some(1));
/// assert_eq!(cache.insert_with(["anthropic", "claude"], || 2), Some(2));
/// // Full: nothing is made or stored.
/// assert_eq!(cache.insert_with(["mistral", "large"], || 3), None);
/// assert_eq!(cache.len(), 2);
/// ```
#[derive(Debug)]
pub struct HandleCache<const N: usize, V> {
    map: RwLock<HashMap<[Box<str>; N], V>>,
    cap: usize,
}

/// Borrowed label values: hash like the owned key (arrays hash their
/// length, then each element; a `Box<str>` hashes as its `str`).
struct Borrowed<'a, const N: usize>([&'a str; N]);

impl<const N: usize> Hash for Borrowed<'_, N> {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.0.hash(state);
    }
}

impl<const N: usize> Equivalent<[Box<str>; N]> for Borrowed<'_, N> {
    fn equivalent(&self, key: &[Box<str>; N]) -> bool {
        self.0.iter().zip(key).all(|(a, b)| *a == &**b)
    }
}

impl<const N: usize, V: Clone> HandleCache<N, V> {
    /// An empty cache of at most `cap` label sets (at least 1).
    pub fn new(cap: usize) -> Self {
        Self {
            map: RwLock::new(HashMap::new()),
            cap: cap.max(1),
        }
    }

    /// The value of `labels`, if cached: a read lock and one hash, no
    /// allocation.
    pub fn get(&self, labels: [&str; N]) -> Option<V> {
        self.map
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(&Borrowed(labels))
            .cloned()
    }

    /// The value of `labels`: the cached one, else `make()`'s, stored.
    /// `None` (and `make` not called) when the cache is full.
    pub fn insert_with(&self, labels: [&str; N], make: impl FnOnce() -> V) -> Option<V> {
        let mut map = self.map.write().unwrap_or_else(|p| p.into_inner());
        if let Some(found) = map.get(&Borrowed(labels)) {
            return Some(found.clone());
        }
        if map.len() >= self.cap {
            return None;
        }
        let value = make();
        map.insert(labels.map(Box::from), value.clone());
        Some(value)
    }

    /// The number of label sets cached.
    pub fn len(&self) -> usize {
        self.map.read().unwrap_or_else(|p| p.into_inner()).len()
    }

    /// Whether nothing is cached.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_label_set_finds_its_own_value_among_many() {
        let cache: HandleCache<2, usize> = HandleCache::new(1000);
        assert!(cache.is_empty());
        let labels: Vec<[String; 2]> = (0..300)
            .map(|i| [format!("provider{}", i % 7), format!("model{i}")])
            .collect();
        for (i, [a, b]) in labels.iter().enumerate() {
            assert_eq!(cache.insert_with([a.as_str(), b.as_str()], || i), Some(i));
        }
        assert!(!cache.is_empty());
        assert_eq!(cache.len(), 300);
        for (i, [a, b]) in labels.iter().enumerate() {
            assert_eq!(cache.get([a.as_str(), b.as_str()]), Some(i), "{a} {b}");
        }
        assert_eq!(cache.get(["provider0", "model1"]), None);
        assert_eq!(cache.get(["model1", "provider1"]), None, "order matters");
    }

    #[test]
    fn the_cap_is_at_least_one_label_set() {
        let cache: HandleCache<1, u8> = HandleCache::new(0);
        assert_eq!(cache.insert_with(["a"], || 1), Some(1));
        assert_eq!(cache.insert_with(["b"], || 2), None);
    }
}
