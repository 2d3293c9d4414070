//! Cache: memoise results by key, with a time to live and a capacity bound.
//!
//! [`Cache`] computes a key from the context and input. A fresh entry is
//! returned without running the inner primitive (a *hit*); otherwise the
//! inner primitive runs (a *miss*) and a success is stored for `ttl`.
//! Exact semantics:
//!
//! * an entry is served only while `now < stored_at + ttl` (tokio time): an
//!   expired entry is never returned, and is evicted when found;
//! * at most `capacity` entries are held; inserting into a full cache evicts
//!   the least recently used entry;
//! * concurrent misses for the same key run the inner primitive **once**:
//!   later callers wait for the first one's result (error included). If the
//!   first caller is cancelled, a waiting caller takes over;
//! * errors are never stored.
//!
//! [`Cache::stats`] counts hits, misses, coalesced misses, loads (inner
//! runs), expirations, capacity evictions, invalidations and entries.
//!
//! ```
//! use std::time::Duration;
//! use tower::ServiceExt;
//! use tta_primitives_core::prelude::*;
//!
//! # #[tokio::main(flavor = "current_thread", start_paused = true)] async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let lookup = lambda(|id: u32| async move { Ok::<_, WorkflowError>(format!("user-{id}")) });
//! let config = CacheConfig::builder().ttl(Duration::from_secs(60)).capacity(1_000).build()?;
//! let cached = lookup.cache(|_, id: &u32| *id, config);
//! let ctx = || WorkflowContext::new("profile");
//!
//! cached.clone().oneshot(Request::new(ctx(), 7)).await?;
//! cached.clone().oneshot(Request::new(ctx(), 7)).await?;
//! tokio::time::advance(Duration::from_secs(61)).await;
//! cached.clone().oneshot(Request::new(ctx(), 7)).await?;
//!
//! let stats = cached.stats();
//! assert_eq!((stats.hits, stats.misses, stats.expirations, stats.loads), (1, 2, 1, 2));
//! # Ok(()) }
//! ```

use std::{
    collections::HashMap,
    fmt,
    future::{Ready, ready},
    hash::Hash,
    mem::size_of,
    num::NonZeroUsize,
    sync::{
        Arc, Mutex, MutexGuard,
        atomic::{AtomicU64, Ordering},
    },
    task::{Context, Poll},
    time::Duration,
};

use futures_util::future::{BoxFuture, Either};
use lru::LruCache;
use tokio::{sync::OnceCell, time::Instant};
use tower::{Service, ServiceExt};

use crate::{
    ConfigError, Name, Request, WorkflowContext, WorkflowError,
    error::check,
    node::NodeFuture,
    observe::{Event, EvictionReason, PrimitiveType, emit},
    primitive::impl_primitive,
};

/// Checked settings of a [`Cache`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CacheConfig {
    ttl: Duration,
    capacity: NonZeroUsize,
}

impl CacheConfig {
    /// Defaults: ttl 5 minutes, capacity 10 000 entries.
    pub fn builder() -> CacheConfigBuilder {
        CacheConfigBuilder {
            ttl: Duration::from_secs(300),
            capacity: 10_000,
        }
    }

    /// How long an entry is served.
    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    /// The maximum number of entries.
    pub fn capacity(&self) -> usize {
        self.capacity.get()
    }
}

/// Builds a [`CacheConfig`]; [`build`](Self::build) checks every setting.
#[derive(Debug, Clone, Copy)]
#[must_use]
pub struct CacheConfigBuilder {
    ttl: Duration,
    capacity: usize,
}

impl CacheConfigBuilder {
    /// How long an entry is served (greater than zero).
    pub fn ttl(mut self, ttl: Duration) -> Self {
        self.ttl = ttl;
        self
    }

    /// The maximum number of entries (at least 1).
    pub fn capacity(mut self, capacity: usize) -> Self {
        self.capacity = capacity;
        self
    }

    /// Checks the settings.
    ///
    /// # Errors
    /// A [`ConfigError`] naming `cache.ttl` or `cache.capacity`.
    pub fn build(self) -> Result<CacheConfig, ConfigError> {
        check(
            "cache.ttl",
            self.ttl,
            !self.ttl.is_zero(),
            "greater than zero",
        )?;
        let capacity = check(
            "cache.capacity",
            self.capacity,
            self.capacity >= 1,
            "at least 1",
        )?;
        Ok(CacheConfig {
            ttl: self.ttl,
            capacity: NonZeroUsize::new(capacity).unwrap_or(NonZeroUsize::MIN),
        })
    }
}

/// Counters of a [`Cache`], read with [`Cache::stats`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CacheStats {
    /// Lookups served from the cache.
    pub hits: u64,
    /// Lookups not served from the cache (coalesced ones included).
    pub misses: u64,
    /// Misses that waited for another caller's load instead of loading.
    pub coalesced: u64,
    /// Runs of the inner primitive.
    pub loads: u64,
    /// Entries dropped because their ttl had passed.
    pub expirations: u64,
    /// Entries dropped to make room (least recently used).
    pub evictions: u64,
    /// Entries dropped by [`Cache::invalidate`].
    pub invalidations: u64,
    /// Entries held now.
    pub entries: usize,
}

struct Entry<O> {
    value: O,
    expires_at: Instant,
}

/// A hit (ready at once) or a load (boxed).
type CacheLookup<O> =
    Either<Ready<Result<O, WorkflowError>>, BoxFuture<'static, Result<O, WorkflowError>>>;

type Slot<O> = Arc<OnceCell<Result<O, WorkflowError>>>;

struct State<K, O> {
    entries: LruCache<K, Entry<O>>,
    loading: HashMap<K, Slot<O>>,
}

#[derive(Default)]
struct Counters {
    hits: AtomicU64,
    misses: AtomicU64,
    coalesced: AtomicU64,
    loads: AtomicU64,
    expirations: AtomicU64,
    evictions: AtomicU64,
    invalidations: AtomicU64,
}

struct Store<K, O> {
    config: CacheConfig,
    state: Mutex<State<K, O>>,
    counters: Counters,
}

impl<K: Hash + Eq, O> Store<K, O> {
    fn state(&self) -> MutexGuard<'_, State<K, O>> {
        // Every critical section leaves the maps consistent; recover from poison.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn count(&self, counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    fn evicted(&self, ctx: &WorkflowContext, name: &Name, reason: EvictionReason) {
        self.count(match reason {
            EvictionReason::Expired => &self.counters.expirations,
            EvictionReason::Capacity => &self.counters.evictions,
            EvictionReason::Invalidated => &self.counters.invalidations,
        });
        emit(ctx, name, PrimitiveType::Cache, || Event::CacheEviction {
            reason,
        });
    }

    fn report_size(&self, ctx: &WorkflowContext, name: &Name, entries: usize) {
        emit(ctx, name, PrimitiveType::Cache, || Event::CacheSize {
            entries,
            bytes: entries * (size_of::<K>() + size_of::<Entry<O>>()),
        });
    }

    /// Stores a loaded value and ends the load of `key`.
    fn finish_load(
        &self,
        ctx: &WorkflowContext,
        name: &Name,
        key: K,
        slot: &Slot<O>,
        result: &Result<O, WorkflowError>,
    ) where
        O: Clone,
    {
        let mut state = self.state();
        if state
            .loading
            .get(&key)
            .is_some_and(|s| Arc::ptr_eq(s, slot))
        {
            state.loading.remove(&key);
        }
        let Ok(value) = result else { return };
        let now = Instant::now();
        let entry = Entry {
            value: value.clone(),
            expires_at: now + self.config.ttl,
        };
        // `push` returns the old value when the key was present (a refresh,
        // not an eviction) and the least recently used entry when full.
        let refresh = state.entries.contains(&key);
        let displaced = state.entries.push(key, entry);
        let entries = state.entries.len();
        drop(state);
        if let Some((_, old)) = displaced.filter(|_| !refresh) {
            let reason = if now >= old.expires_at {
                EvictionReason::Expired
            } else {
                EvictionReason::Capacity
            };
            self.evicted(ctx, name, reason);
        }
        self.report_size(ctx, name, entries);
    }
}

/// Memoises its inner primitive. Built by
/// [`cache`](crate::WorkflowExt::cache); clones share one store.
pub struct Cache<S, F, K, O> {
    inner: S,
    key: F,
    store: Arc<Store<K, O>>,
    name: Name,
}

impl<S, F, K, O> Cache<S, F, K, O>
where
    K: Hash + Eq,
{
    /// Caches `inner` under keys computed by `key`.
    pub fn new(inner: S, key: F, config: CacheConfig) -> Self {
        Self {
            inner,
            key,
            store: Arc::new(Store {
                config,
                state: Mutex::new(State {
                    entries: LruCache::new(config.capacity),
                    loading: HashMap::new(),
                }),
                counters: Counters::default(),
            }),
            name: Name::new_static("cache"),
        }
    }

    /// The settings.
    pub fn config(&self) -> CacheConfig {
        self.store.config
    }

    /// A snapshot of the counters.
    pub fn stats(&self) -> CacheStats {
        let c = &self.store.counters;
        let load = |a: &AtomicU64| a.load(Ordering::Relaxed);
        CacheStats {
            hits: load(&c.hits),
            misses: load(&c.misses),
            coalesced: load(&c.coalesced),
            loads: load(&c.loads),
            expirations: load(&c.expirations),
            evictions: load(&c.evictions),
            invalidations: load(&c.invalidations),
            entries: self.store.state().entries.len(),
        }
    }

    /// Removes the entry for `key`; returns whether there was one. Counted in
    /// [`CacheStats::invalidations`] (no event: there is no request context).
    pub fn invalidate(&self, key: &K) -> bool {
        let removed = self.store.state().entries.pop(key).is_some();
        if removed {
            self.store.count(&self.store.counters.invalidations);
        }
        removed
    }
}

impl<S, F, K, O, I> Service<Request<I>> for Cache<S, F, K, O>
where
    S: Service<Request<I>, Response = O> + Clone + Send + 'static,
    S::Error: Into<WorkflowError>,
    S::Future: Send + 'static,
    F: Fn(&WorkflowContext, &I) -> K,
    K: Hash + Eq + Clone + Send + Sync + 'static,
    O: Clone + Send + Sync + 'static,
    I: Send + 'static,
{
    type Response = O;
    type Error = WorkflowError;
    type Future = NodeFuture<CacheLookup<O>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        // A hit never touches the inner service; a miss drives its readiness.
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request<I>) -> Self::Future {
        NodeFuture::run(self, req.ctx, PrimitiveType::Cache, |this, ctx| {
            this.lookup(Request::new(ctx, req.input))
        })
    }
}

impl<S, F, K, O> Cache<S, F, K, O> {
    /// Serves `req` from the store, or loads it (once per key at a time).
    fn lookup<I>(&mut self, req: Request<I>) -> CacheLookup<O>
    where
        S: Service<Request<I>, Response = O> + Clone + Send + 'static,
        S::Error: Into<WorkflowError>,
        S::Future: Send + 'static,
        F: Fn(&WorkflowContext, &I) -> K,
        K: Hash + Eq + Clone + Send + Sync + 'static,
        O: Clone + Send + Sync + 'static,
        I: Send + 'static,
    {
        let key = (self.key)(&req.ctx, &req.input);
        let store = &self.store;
        let now = Instant::now();
        let mut state = store.state();
        match state.entries.get(&key) {
            Some(entry) if now < entry.expires_at => {
                let value = entry.value.clone();
                drop(state);
                store.count(&store.counters.hits);
                emit(&req.ctx, &self.name, PrimitiveType::Cache, || {
                    Event::CacheHit
                });
                return Either::Left(ready(Ok(value)));
            }
            Some(_) => {
                state.entries.pop(&key);
                let entries = state.entries.len();
                drop(state);
                store.evicted(&req.ctx, &self.name, EvictionReason::Expired);
                store.report_size(&req.ctx, &self.name, entries);
                state = store.state();
            }
            None => {}
        }
        let (slot, coalesced) = match state.loading.get(&key) {
            Some(slot) => (Arc::clone(slot), true),
            None => {
                let slot = Slot::default();
                state.loading.insert(key.clone(), Arc::clone(&slot));
                (slot, false)
            }
        };
        drop(state);
        store.count(&store.counters.misses);
        if coalesced {
            store.count(&store.counters.coalesced);
        }
        emit(&req.ctx, &self.name, PrimitiveType::Cache, || {
            Event::CacheMiss { coalesced }
        });

        let store = Arc::clone(store);
        let inner = self.inner.clone();
        let name = self.name.clone();
        Either::Right(Box::pin(async move {
            let load = async {
                store.count(&store.counters.loads);
                let child = Request::new(req.ctx.child(), req.input);
                let result = inner.oneshot(child).await.map_err(Into::into);
                store.finish_load(&req.ctx, &name, key, &slot, &result);
                result
            };
            slot.get_or_init(|| load).await.clone()
        }))
    }
}

impl<S: Clone, F: Clone, K, O> Clone for Cache<S, F, K, O> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            key: self.key.clone(),
            store: Arc::clone(&self.store),
            name: self.name.clone(),
        }
    }
}

impl<S, F, K, O> fmt::Debug for Cache<S, F, K, O> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Cache")
            .field("name", &self.name)
            .field("config", &self.store.config)
            .finish_non_exhaustive()
    }
}

impl_primitive!(Cache<S, F, K, O>);
crate::name::impl_named!(Cache<S, F, K, O>);
