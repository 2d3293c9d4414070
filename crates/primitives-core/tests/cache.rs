//! Cache semantics (see `laws.rs` for the expiry proptest).

mod common;

use std::{
    sync::{
        Arc,
        atomic::{AtomicU32, Ordering},
    },
    time::Duration,
};

use common::{Recorder, call};
use tower::ServiceExt;
use tta_primitives_core::{Request, WorkflowError, cache::Cache, prelude::*};

fn config(ttl_secs: u64, capacity: usize) -> CacheConfig {
    CacheConfig::builder()
        .ttl(Duration::from_secs(ttl_secs))
        .capacity(capacity)
        .build()
        .unwrap()
}

/// A primitive that counts its runs and returns `input * 10 + run number`.
fn counting() -> (Arc<AtomicU32>, BoxPrimitive<u32, u32>) {
    let runs = Arc::new(AtomicU32::new(0));
    let r = runs.clone();
    let service = lambda(move |x: u32| {
        let n = r.fetch_add(1, Ordering::SeqCst) + 1;
        async move {
            tokio::time::sleep(Duration::from_millis(10)).await;
            Ok::<_, WorkflowError>(x * 10 + n)
        }
    })
    .into_boxed();
    (runs, service)
}

#[tokio::test(start_paused = true)]
async fn entries_are_served_until_their_ttl_and_never_after() {
    let (runs, inner) = counting();
    let rec = Recorder::new();
    let cached = inner.cache(|_, x: &u32| *x, config(60, 10)).named("users");
    let get = |x| cached.clone().oneshot(Request::new(rec.ctx(), x));
    assert_eq!(get(1).await.unwrap(), 11);
    // Stored when the load finished (t = 10 ms); fresh until t = 60.010 s.
    tokio::time::advance(Duration::from_millis(59_999)).await;
    assert_eq!(get(1).await.unwrap(), 11);
    tokio::time::advance(Duration::from_millis(1)).await;
    assert_eq!(
        get(1).await.unwrap(),
        12,
        "expired at exactly stored_at + ttl"
    );
    assert_eq!(runs.load(Ordering::SeqCst), 2);
    let stats = cached.stats();
    assert_eq!(
        (
            stats.hits,
            stats.misses,
            stats.expirations,
            stats.loads,
            stats.entries
        ),
        (1, 2, 1, 2, 1)
    );
    assert_eq!(
        rec.events()
            .iter()
            .map(|e| e
                .split(':')
                .nth(1)
                .unwrap()
                .trim()
                .split(' ')
                .next()
                .unwrap()
                .to_string())
            .collect::<Vec<_>>(),
        [
            "CacheMiss",
            "CacheSize",
            "CacheHit",
            "CacheEviction",
            "CacheSize",
            "CacheMiss",
            "CacheSize"
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn capacity_evicts_the_least_recently_used_entry() {
    let (_, inner) = counting();
    let cached = inner.cache(|_, x: &u32| *x, config(600, 2));
    call(&cached, 1).await.unwrap();
    call(&cached, 2).await.unwrap();
    call(&cached, 1).await.unwrap(); // 1 is now more recent than 2
    call(&cached, 3).await.unwrap(); // evicts 2
    let before = cached.stats();
    assert_eq!((before.evictions, before.entries), (1, 2));
    call(&cached, 1).await.unwrap();
    assert_eq!(cached.stats().hits, before.hits + 1, "1 survived");
    call(&cached, 2).await.unwrap();
    assert_eq!(cached.stats().misses, before.misses + 1, "2 was evicted");
}

#[tokio::test(start_paused = true)]
async fn concurrent_misses_for_one_key_run_the_inner_primitive_once() {
    let (runs, inner) = counting();
    let cached = inner.cache(|_, x: &u32| *x, config(60, 10));
    let mut tasks = Vec::new();
    for _ in 0..50 {
        let cached = cached.clone();
        tasks.push(tokio::spawn(async move { call(&cached, 4).await.unwrap() }));
    }
    for t in tasks {
        assert_eq!(t.await.unwrap(), 41);
    }
    assert_eq!(runs.load(Ordering::SeqCst), 1);
    let stats = cached.stats();
    assert_eq!((stats.loads, stats.misses, stats.coalesced), (1, 50, 49));

    // Different keys load independently and concurrently.
    let start = tokio::time::Instant::now();
    let (a, b) = tokio::join!(call(&cached, 5), call(&cached, 6));
    assert_eq!((a.unwrap(), b.unwrap()), (52, 63));
    assert_eq!(start.elapsed(), Duration::from_millis(10));
}

#[tokio::test(start_paused = true)]
async fn errors_are_shared_with_waiters_but_never_stored() {
    let mock = MockPrimitive::<u32, u32>::new()
        .then_fail_after(Duration::from_millis(10), WorkflowError::msg("db down"))
        .otherwise_return(5);
    let cached = mock.clone().cache(|_, x: &u32| *x, config(60, 10));
    let (a, b) = tokio::join!(call(&cached, 1), call(&cached, 1));
    assert_eq!(
        (a.unwrap_err().kind(), b.unwrap_err().kind()),
        ("downstream", "downstream")
    );
    assert_eq!(mock.call_count(), 1);
    assert_eq!(call(&cached, 1).await.unwrap(), 5);
    assert_eq!(mock.call_count(), 2);
}

#[tokio::test(start_paused = true)]
async fn a_waiter_takes_over_when_the_loading_caller_is_cancelled() {
    let mock = MockPrimitive::<u32, u32>::new()
        .then_return_after(Duration::from_secs(100), 1)
        .otherwise_return(2);
    let cached = mock.clone().cache(|_, x: &u32| *x, config(60, 10));
    let leader = tokio::spawn({
        let cached = cached.clone();
        async move { call(&cached, 1).await }
    });
    tokio::task::yield_now().await;
    let waiter = tokio::spawn({
        let cached = cached.clone();
        async move { call(&cached, 1).await }
    });
    tokio::task::yield_now().await;
    leader.abort();
    assert_eq!(waiter.await.unwrap().unwrap(), 2);
    assert_eq!(mock.call_count(), 2);
}

#[tokio::test(start_paused = true)]
async fn invalidate_removes_an_entry() {
    let (runs, inner) = counting();
    let cached: Cache<_, _, u32, u32> = inner.cache(|_, x: &u32| *x, config(60, 10));
    call(&cached, 1).await.unwrap();
    assert!(cached.invalidate(&1));
    assert!(!cached.invalidate(&1));
    call(&cached, 1).await.unwrap();
    assert_eq!(runs.load(Ordering::SeqCst), 2);
    assert_eq!(cached.stats().invalidations, 1);
}

#[tokio::test(start_paused = true)]
async fn keys_can_come_from_the_context() {
    let (_, inner) = counting();
    let per_user = inner.cache(
        |ctx, x: &u32| (ctx.user_id().map(str::to_owned), *x),
        config(60, 10),
    );
    let as_user = |u: &str| WorkflowContext::builder("t").user_id(u).build();
    let a = per_user
        .clone()
        .oneshot(Request::new(as_user("a"), 1))
        .await
        .unwrap();
    let b = per_user
        .clone()
        .oneshot(Request::new(as_user("b"), 1))
        .await
        .unwrap();
    let a2 = per_user
        .clone()
        .oneshot(Request::new(as_user("a"), 1))
        .await
        .unwrap();
    assert_ne!(a, b);
    assert_eq!(a, a2);
}

#[tokio::test(start_paused = true)]
async fn the_size_estimate_is_entries_times_key_value_and_expiry() {
    let rec = Recorder::new();
    let cached = lambda(|x: u64| async move { Ok::<_, WorkflowError>(x * 2) })
        .cache(|_, x: &u64| *x, config(60, 10))
        .named("sized");
    for x in [1, 2, 3] {
        cached
            .clone()
            .oneshot(Request::new(rec.ctx(), x))
            .await
            .unwrap();
    }
    let per_entry = size_of::<u64>() + size_of::<u64>() + size_of::<tokio::time::Instant>();
    assert_eq!(
        rec.matching("cache/sized: CacheSize"),
        (1..=3)
            .map(|n| format!(
                "cache/sized: CacheSize {{ entries: {n}, bytes: {} }}",
                n * per_entry
            ))
            .collect::<Vec<_>>()
    );
}

#[test]
fn a_config_reports_the_settings_it_was_built_with() {
    let c = config(42, 7);
    assert_eq!((c.ttl(), c.capacity()), (Duration::from_secs(42), 7));
}
