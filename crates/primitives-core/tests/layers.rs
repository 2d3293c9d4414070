//! The layers build the same primitives as the methods: a stack assembled
//! with tower's `ServiceBuilder` behaves, and reports, exactly as the
//! method-built workflow does.

mod common;

use std::{
    sync::{
        Arc,
        atomic::{AtomicU32, Ordering},
    },
    time::Duration,
};

use common::Recorder;
use tower::{Layer, ServiceBuilder, ServiceExt};
use tta_primitives_core::{
    Named, Request, WorkflowError, circuit_breaker::CircuitBreakerLayer, prelude::*,
    retry::RetryLayer, timeout::TimeoutLayer,
};

/// Hangs on its first call, answers at once afterwards.
fn hangs_once() -> BoxPrimitive<u32, u32> {
    let calls = Arc::new(AtomicU32::new(0));
    lambda(move |x: u32| {
        let first = calls.fetch_add(1, Ordering::SeqCst) == 0;
        async move {
            if first {
                std::future::pending::<()>().await;
            }
            Ok::<_, WorkflowError>(x + 1)
        }
    })
    .named("fetch")
    .into_boxed()
}

fn policy() -> RetryPolicy {
    RetryPolicy::builder()
        .max_attempts(3)
        .initial_backoff(Duration::from_millis(10))
        .jitter(Jitter::None)
        .build()
        .unwrap()
}

#[tokio::test(start_paused = true)]
async fn a_service_builder_stack_runs_and_reports_as_the_methods_do() {
    let by_methods = hangs_once()
        .timeout(Duration::from_secs(1))
        .unwrap()
        .named("deadline")
        .retry(policy())
        .named("again");
    let by_layers = ServiceBuilder::new()
        .layer(RetryLayer::new(policy()).named("again"))
        .layer(
            TimeoutLayer::new(Duration::from_secs(1))
                .unwrap()
                .named("deadline"),
        )
        .service(hangs_once());
    assert_eq!(
        (by_layers.name().as_str(), by_layers.policy().max_attempts()),
        ("again", 3)
    );

    let (methods, layers) = (Recorder::new(), Recorder::new());
    let started = tokio::time::Instant::now();
    let out = by_methods.oneshot(Request::new(methods.ctx(), 1)).await;
    let methods_took = started.elapsed();
    let started = tokio::time::Instant::now();
    let out_layers = by_layers.oneshot(Request::new(layers.ctx(), 1)).await;
    assert_eq!((out.unwrap(), out_layers.unwrap()), (2, 2));
    assert_eq!(
        started.elapsed(),
        methods_took,
        "1 s deadline + 10 ms backoff"
    );
    assert_eq!(methods_took, Duration::from_millis(1_010));
    assert!(!methods.events().is_empty());
    assert_eq!(layers.events(), methods.events());
}

#[tokio::test(start_paused = true)]
async fn every_service_a_breaker_layer_wraps_shares_its_state() {
    let layer = CircuitBreakerLayer::new(
        BreakerConfig::builder()
            .policy(FailurePolicy::ConsecutiveFailures(2))
            .build()
            .unwrap(),
    )
    .named("payments");
    let down = || lambda(|_: u32| async move { Err::<u32, _>(WorkflowError::msg("503")) });
    let (a, b) = (layer.layer(down()), layer.clone().layer(down()));
    assert_eq!(a.name().as_str(), "payments");
    let ctx = common::ctx;
    a.clone().oneshot(Request::new(ctx(), 1)).await.unwrap_err();
    assert_eq!(layer.state(), BreakerState::Closed, "one failure of two");
    b.clone().oneshot(Request::new(ctx(), 1)).await.unwrap_err();
    assert_eq!(
        (a.state(), layer.state()),
        (BreakerState::Open, BreakerState::Open)
    );
    let err = a.oneshot(Request::new(ctx(), 1)).await.unwrap_err();
    assert_eq!(err.kind(), "circuit_open");

    let fresh = CircuitBreakerLayer::new(BreakerConfig::builder().build().unwrap());
    assert_eq!(
        fresh.layer(down()).state(),
        BreakerState::Closed,
        "a new layer, a new breaker"
    );
}

#[test]
fn a_timeout_layer_checks_its_deadline() {
    let err = TimeoutLayer::new(Duration::ZERO).unwrap_err();
    assert!(err.to_string().contains("timeout.after"), "{err}");
}
