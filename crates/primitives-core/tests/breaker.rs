//! Circuit breaker semantics (see `laws.rs` for the model-based proptest).

mod common;

use std::{sync::Arc, time::Duration};

use common::{Recorder, call};
use tokio::sync::Notify;
use tower::ServiceExt;
use tta_primitives_core::{Request, WorkflowError, prelude::*};

fn config(policy: FailurePolicy, probes: u32) -> BreakerConfig {
    BreakerConfig::builder()
        .policy(policy)
        .open_duration(Duration::from_secs(10))
        .half_open_probes(probes)
        .build()
        .unwrap()
}

#[tokio::test(start_paused = true)]
async fn consecutive_failures_open_the_breaker_and_a_success_resets_the_count() {
    let mock = MockPrimitive::<u32, u32>::new()
        .then_fail(WorkflowError::msg("1"))
        .then_fail(WorkflowError::msg("2"))
        .then_return(0)
        .then_fail(WorkflowError::msg("3"))
        .then_fail(WorkflowError::msg("4"))
        .then_fail(WorkflowError::msg("5"))
        .otherwise_return(1);
    let rec = Recorder::new();
    let cb = mock
        .clone()
        .circuit_breaker(config(FailurePolicy::ConsecutiveFailures(3), 1))
        .named("db");
    let run = |cb: &tta_primitives_core::circuit_breaker::CircuitBreaker<
        MockPrimitive<u32, u32>,
    >| { cb.clone().oneshot(Request::new(rec.ctx(), 1)) };
    for _ in 0..5 {
        let _ = run(&cb).await;
        assert_eq!(cb.state(), BreakerState::Closed);
    }
    let _ = run(&cb).await;
    assert_eq!(cb.state(), BreakerState::Open);
    let err = run(&cb).await.unwrap_err();
    assert!(
        matches!(&err, WorkflowError::CircuitOpen { breaker, state: BreakerState::Open } if breaker.as_str() == "db")
    );
    assert_eq!(
        mock.call_count(),
        6,
        "a rejected call never reaches the inner primitive"
    );

    // After open_duration, one probe is admitted; its success closes the breaker.
    tokio::time::advance(Duration::from_secs(10)).await;
    assert_eq!(run(&cb).await.unwrap(), 1);
    assert_eq!(cb.state(), BreakerState::Closed);
    let admitted = rec.matching("circuit_breaker/db: BreakerAdmitted");
    assert_eq!(admitted.len(), 7, "six closed calls and one probe");
    assert!(admitted[6].ends_with("BreakerAdmitted { state: HalfOpen }"));
    let changes: Vec<_> = rec
        .matching("circuit_breaker/db: Breaker")
        .into_iter()
        .filter(|e| !e.contains("Admitted"))
        .collect();
    assert_eq!(
        changes,
        [
            "circuit_breaker/db: BreakerTransition { from: Closed, to: Open }",
            "circuit_breaker/db: BreakerRejected { state: Open }",
            "circuit_breaker/db: BreakerTransition { from: Open, to: HalfOpen }",
            "circuit_breaker/db: BreakerTransition { from: HalfOpen, to: Closed }",
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn failure_rate_over_a_sliding_window_needs_the_minimum_calls() {
    let policy = FailurePolicy::FailureRate {
        threshold: 0.5,
        window: Duration::from_secs(60),
        min_calls: 4,
    };
    let mock = MockPrimitive::<u32, u32>::new()
        .then_fail(WorkflowError::msg("f"))
        .then_fail(WorkflowError::msg("f"))
        .then_fail(WorkflowError::msg("f"))
        .then_return(0)
        .then_return(0)
        .then_return(0)
        .then_fail(WorkflowError::msg("f"))
        .then_fail(WorkflowError::msg("f"))
        .otherwise_fail(WorkflowError::msg("f"));
    let cb = mock.circuit_breaker(config(policy, 1));
    for _ in 0..3 {
        let _ = call(&cb, 1).await;
    }
    assert_eq!(
        cb.state(),
        BreakerState::Closed,
        "3 failures are below min_calls"
    );
    // Let those three fall out of the window.
    tokio::time::advance(Duration::from_secs(61)).await;
    for _ in 0..3 {
        call(&cb, 1).await.unwrap();
    }
    let _ = call(&cb, 1).await; // 1 failure of 4: 25%
    assert_eq!(cb.state(), BreakerState::Closed);
    let _ = call(&cb, 1).await; // 2 of 5: 40%
    assert_eq!(cb.state(), BreakerState::Closed);
    let _ = call(&cb, 1).await; // 3 of 6: 50%
    assert_eq!(cb.state(), BreakerState::Open);
}

#[tokio::test(start_paused = true)]
async fn half_open_admits_exactly_n_probes_under_concurrency() {
    let release = Arc::new(Notify::new());
    let gate = {
        let release = release.clone();
        from_fn(move |_ctx, fail: bool| {
            let release = release.clone();
            async move {
                if fail {
                    return Err(WorkflowError::msg("down"));
                }
                release.notified().await;
                Ok::<_, WorkflowError>(())
            }
        })
    };
    let cb = gate.circuit_breaker(config(FailurePolicy::ConsecutiveFailures(1), 3));
    let _ = call(&cb, true).await;
    assert_eq!(cb.state(), BreakerState::Open);
    tokio::time::advance(Duration::from_secs(10)).await;

    let mut tasks = Vec::new();
    for _ in 0..20 {
        let cb = cb.clone();
        tasks.push(tokio::spawn(async move { call(&cb, false).await }));
    }
    // Let every task reach the breaker.
    for _ in 0..10 {
        tokio::task::yield_now().await;
    }
    release.notify_waiters();
    let mut admitted = 0;
    let mut rejected = 0;
    for t in tasks {
        match t.await.unwrap() {
            Ok(()) => admitted += 1,
            Err(WorkflowError::CircuitOpen {
                state: BreakerState::HalfOpen,
                ..
            }) => rejected += 1,
            Err(e) => panic!("unexpected {e:?}"),
        }
    }
    assert_eq!((admitted, rejected), (3, 17));
    assert_eq!(cb.state(), BreakerState::Closed, "all 3 probes succeeded");
}

#[tokio::test(start_paused = true)]
async fn a_failed_probe_reopens_and_a_cancelled_probe_gives_its_slot_back() {
    let mock = MockPrimitive::<u32, u32>::new()
        .then_fail(WorkflowError::msg("trip"))
        .then_return_after(Duration::from_secs(100), 0) // probe that we cancel
        .then_fail(WorkflowError::msg("probe failed"))
        .otherwise_return(1);
    let cb = mock
        .clone()
        .circuit_breaker(config(FailurePolicy::ConsecutiveFailures(1), 1));
    let _ = call(&cb, 1).await;
    tokio::time::advance(Duration::from_secs(10)).await;

    // A probe that is dropped before finishing frees the only probe slot.
    let probe = tokio::time::timeout(Duration::from_millis(10), call(&cb, 1)).await;
    assert!(probe.is_err());
    assert_eq!(cb.state(), BreakerState::HalfOpen);
    // The next probe is admitted, fails, and reopens the breaker.
    assert_eq!(call(&cb, 1).await.unwrap_err().kind(), "downstream");
    assert_eq!(cb.state(), BreakerState::Open);
    assert_eq!(call(&cb, 1).await.unwrap_err().kind(), "circuit_open");
    assert_eq!(mock.call_count(), 3);
}

#[tokio::test(start_paused = true)]
async fn outcomes_from_before_a_transition_are_ignored() {
    // A slow call admitted while closed finishes after the breaker opened and
    // half-opened: its success must not close the breaker.
    let mock = MockPrimitive::<u32, u32>::new()
        .then_return_after(Duration::from_secs(30), 0) // slow, admitted while closed
        .then_fail(WorkflowError::msg("trip"))
        .otherwise_return(2);
    let cb = mock.circuit_breaker(config(FailurePolicy::ConsecutiveFailures(1), 1));
    let slow = tokio::spawn({
        let cb = cb.clone();
        async move { call(&cb, 1).await }
    });
    tokio::task::yield_now().await;
    let _ = call(&cb, 1).await;
    assert_eq!(cb.state(), BreakerState::Open);
    tokio::time::advance(Duration::from_secs(30)).await;
    slow.await.unwrap().unwrap();
    assert_eq!(
        cb.state(),
        BreakerState::Open,
        "a stale success does not close the breaker"
    );
}

#[tokio::test(start_paused = true)]
async fn a_stale_failure_does_not_count_against_the_recovered_breaker() {
    // A slow call admitted while closed fails after the breaker opened,
    // probed and closed again: that failure belongs to the old generation,
    // so one fresh failure leaves the recovered breaker closed (two are
    // needed to trip it).
    let mock = MockPrimitive::<u32, u32>::new()
        .then_fail_after(Duration::from_secs(30), WorkflowError::msg("stale"))
        .then_fail(WorkflowError::msg("trip 1"))
        .then_fail(WorkflowError::msg("trip 2"))
        .then_return(0) // the probe
        .then_fail(WorkflowError::msg("fresh"))
        .otherwise_return(1);
    let cb = mock.circuit_breaker(config(FailurePolicy::ConsecutiveFailures(2), 1));
    let slow = tokio::spawn({
        let cb = cb.clone();
        async move { call(&cb, 1).await }
    });
    tokio::task::yield_now().await;
    let _ = call(&cb, 1).await;
    let _ = call(&cb, 1).await;
    assert_eq!(cb.state(), BreakerState::Open);
    tokio::time::advance(Duration::from_secs(10)).await;
    assert_eq!(call(&cb, 1).await.unwrap(), 0, "the probe succeeds");
    assert_eq!(cb.state(), BreakerState::Closed);
    tokio::time::advance(Duration::from_secs(20)).await;
    assert!(slow.await.unwrap().is_err(), "the slow call failed late");
    assert!(call(&cb, 1).await.is_err());
    assert_eq!(
        cb.state(),
        BreakerState::Closed,
        "the stale failure was not counted: one fresh failure does not trip it"
    );
}
