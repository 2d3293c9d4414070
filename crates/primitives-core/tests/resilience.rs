//! Retry, fallback and timeout.

mod common;

use std::{
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

use common::{DropFlag, Recorder, call};
use tokio::time::Instant;
use tower::ServiceExt;
use tta_primitives_core::{Request, WorkflowError, prelude::*, retry::RetryPolicy};

fn policy(max_attempts: u32) -> RetryPolicy {
    RetryPolicy::builder()
        .max_attempts(max_attempts)
        .initial_backoff(Duration::from_millis(100))
        .max_backoff(Duration::from_millis(350))
        .multiplier(2.0)
        .jitter(Jitter::None)
        .build()
        .unwrap()
}

#[tokio::test(start_paused = true)]
async fn retry_backs_off_exponentially_up_to_the_cap_and_reports_exhaustion() {
    let mock = MockPrimitive::<u32, u32>::new().otherwise_fail(WorkflowError::msg("503"));
    let rec = Recorder::new();
    let wf = mock.clone().retry(policy(5)).named("fetch");
    let start = Instant::now();
    let err = wf.oneshot(Request::new(rec.ctx(), 1)).await.unwrap_err();

    assert_eq!(mock.call_count(), 5, "exactly max_attempts attempts");
    match &err {
        WorkflowError::RetriesExhausted { attempts, last } => {
            assert_eq!(*attempts, 5);
            assert_eq!(last.kind(), "downstream");
        }
        other => panic!("unexpected {other:?}"),
    }
    // Gaps between attempts: 100, 200, 350 (capped), 350 ms.
    let at: Vec<_> = mock
        .calls()
        .iter()
        .map(|c| c.at.duration_since(start))
        .collect();
    let ms = |v: u64| Duration::from_millis(v);
    assert_eq!(at, [ms(0), ms(100), ms(300), ms(650), ms(1000)]);
    assert_eq!(start.elapsed(), ms(1000));

    let backoffs = rec.matching("retry/fetch: RetryBackoff");
    assert_eq!(backoffs.len(), 4);
    assert!(
        backoffs[2].contains("next_attempt: 4, delay: 350ms"),
        "{}",
        backoffs[2]
    );
    assert_eq!(
        rec.matching("retry/fetch: RetryFinished"),
        ["retry/fetch: RetryFinished { attempts: 5, outcome: Exhausted }"]
    );
    // Each attempt ran under its own child context.
    let steps: std::collections::HashSet<_> = mock.calls().iter().map(|c| c.step).collect();
    assert_eq!(steps.len(), 5);
}

#[tokio::test(start_paused = true)]
async fn retry_stops_on_success_and_on_errors_the_predicate_rejects() {
    let mock = MockPrimitive::<u32, u32>::new()
        .then_fail(WorkflowError::msg("503"))
        .then_return(7);
    let rec = Recorder::new();
    let out = mock
        .clone()
        .retry(policy(3))
        .oneshot(Request::new(rec.ctx(), 1))
        .await
        .unwrap();
    assert_eq!((out, mock.call_count()), (7, 2));
    assert_eq!(
        rec.matching("retry/retry: RetryFinished"),
        ["retry/retry: RetryFinished { attempts: 2, outcome: SuccessAfterRetry }"]
    );

    // `no_route` is not transient: returned unchanged after one attempt.
    let mock =
        MockPrimitive::<u32, u32>::new().otherwise_fail(WorkflowError::NoRoute { key: "k".into() });
    let err = call(&mock.clone().retry(policy(3)), 1).await.unwrap_err();
    assert_eq!((err.kind(), mock.call_count()), ("no_route", 1));

    // A custom predicate on kinds.
    let only_rate_limits = RetryPolicy::builder()
        .max_attempts(4)
        .jitter(Jitter::None)
        .retry_on_kinds(&["rate_limited"])
        .build()
        .unwrap();
    let mock = MockPrimitive::<u32, u32>::new()
        .then_fail(WorkflowError::with_kind("rate_limited", "429"))
        .then_fail(WorkflowError::with_kind("bad_request", "400"));
    let err = call(&mock.clone().retry(only_rate_limits), 1)
        .await
        .unwrap_err();
    assert_eq!((err.kind(), mock.call_count()), ("bad_request", 2));
}

#[test]
fn jitter_stays_within_its_bounds() {
    let full = RetryPolicy::builder().jitter(Jitter::Full).build().unwrap();
    let equal = RetryPolicy::builder()
        .jitter(Jitter::Equal)
        .build()
        .unwrap();
    for attempt in 1..6 {
        let cap = full.backoff(attempt);
        for _ in 0..200 {
            assert!(full.delay(attempt) <= cap);
            let d = equal.delay(attempt);
            assert!(
                d >= cap / 2 && d <= cap,
                "{d:?} outside [{:?}, {cap:?}]",
                cap / 2
            );
        }
    }
    // Huge attempt numbers saturate at max_backoff instead of overflowing.
    assert_eq!(full.backoff(u32::MAX), Duration::from_secs(10));
}

#[test]
fn a_backoff_that_reaches_the_cap_is_the_cap_to_the_nanosecond() {
    // 10,000,000 s + 1 ns has no exact f64: a backoff computed in seconds
    // that reaches the cap must return the cap itself, not its rounding.
    let cap = Duration::new(10_000_000, 1);
    let policy = RetryPolicy::builder()
        .initial_backoff(cap)
        .max_backoff(cap)
        .jitter(Jitter::None)
        .build()
        .unwrap();
    assert_eq!(policy.backoff(1), cap);
    assert_eq!(policy.delay(1), cap);
    // Below the cap the computed value is returned: 100 ms, 200 ms, 350 ms.
    let doubling = RetryPolicy::builder()
        .initial_backoff(Duration::from_millis(100))
        .max_backoff(Duration::from_millis(350))
        .jitter(Jitter::None)
        .build()
        .unwrap();
    let backoffs: Vec<_> = (1..=3).map(|a| doubling.backoff(a)).collect();
    assert_eq!(
        backoffs,
        [
            Duration::from_millis(100),
            Duration::from_millis(200),
            Duration::from_millis(350)
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn retry_budget_stops_retries_from_multiplying_load() {
    // No floor, 50% of calls may be retried: two failing calls earn one retry.
    let budgeted = RetryPolicy::builder()
        .max_attempts(10)
        .initial_backoff(Duration::from_millis(1))
        .jitter(Jitter::None)
        .budget(RetryBudget {
            ttl: Duration::from_secs(10),
            min_per_sec: 0,
            retry_ratio: 0.5,
        })
        .build()
        .unwrap();
    let mock = MockPrimitive::<u32, u32>::new().otherwise_fail(WorkflowError::msg("down"));
    let wf = mock.clone().retry(budgeted);
    let mut kinds = Vec::new();
    for _ in 0..4 {
        kinds.push(call(&wf, 1).await.unwrap_err().kind());
    }
    // Without a budget this would be 40 attempts.
    assert!(mock.call_count() <= 4 + 2, "{} attempts", mock.call_count());
    assert!(
        kinds.iter().all(|k| *k == "retry_budget_exhausted"),
        "{kinds:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn timeout_cancels_the_inner_future_at_the_deadline() {
    let dropped = Arc::new(AtomicBool::new(false));
    let slow = {
        let dropped = dropped.clone();
        lambda(move |x: u32| {
            let guard = DropFlag(dropped.clone());
            async move {
                tokio::time::sleep(Duration::from_secs(10)).await;
                drop(guard);
                Ok::<_, WorkflowError>(x)
            }
        })
    };
    let rec = Recorder::new();
    let wf = slow.timeout(Duration::from_millis(250)).unwrap();
    let start = Instant::now();
    let err = wf
        .clone()
        .oneshot(Request::new(rec.ctx(), 1))
        .await
        .unwrap_err();
    assert_eq!(start.elapsed(), Duration::from_millis(250));
    assert!(matches!(err, WorkflowError::Timeout { after } if after == Duration::from_millis(250)));
    assert!(
        dropped.load(Ordering::SeqCst),
        "inner future dropped at the deadline"
    );
    assert_eq!(rec.events(), ["timeout/timeout: TimedOut { after: 250ms }"]);

    let fast = lambda(|x: u32| async move { Ok::<_, WorkflowError>(x) })
        .timeout(Duration::from_millis(1))
        .unwrap();
    assert_eq!(call(&fast, 3).await.unwrap(), 3);
}

#[tokio::test(start_paused = true)]
async fn timeout_fallback_runs_only_on_timeouts() {
    let slow = MockPrimitive::<u32, u32>::new()
        .then_return_after(Duration::from_secs(5), 1)
        .then_fail(WorkflowError::with_kind("bad_input", "no"));
    let default = MockPrimitive::<u32, u32>::new().otherwise_return(0);
    let wf = slow
        .timeout(Duration::from_secs(1))
        .unwrap()
        .or_fallback(default.clone());
    assert_eq!(call(&wf, 1).await.unwrap(), 0);
    assert_eq!(
        call(&wf, 1).await.unwrap_err().kind(),
        "bad_input",
        "other errors pass through"
    );
    assert_eq!(default.call_count(), 1);
}

#[tokio::test]
async fn fallback_tries_legs_in_order_and_lists_every_failure() {
    let a =
        MockPrimitive::<u32, &str>::new().otherwise_fail(WorkflowError::with_kind("a_down", "a"));
    let b =
        MockPrimitive::<u32, &str>::new().otherwise_fail(WorkflowError::with_kind("b_down", "b"));
    let c = MockPrimitive::<u32, &str>::new().otherwise_return("from c");
    let rec = Recorder::new();
    let chain = a
        .clone()
        .fallback(b.clone())
        .or_named("stale", c.clone())
        .named("read");
    assert_eq!(
        chain
            .clone()
            .oneshot(Request::new(rec.ctx(), 9))
            .await
            .unwrap(),
        "from c"
    );
    assert_eq!(
        (a.inputs(), b.inputs(), c.inputs()),
        (vec![9], vec![9], vec![9])
    );
    assert_eq!(
        rec.events(),
        [r#"fallback/read: FallbackFinished { leg: Some(2), leg_name: Some("stale") }"#]
    );

    let all_fail = a.fallback(b);
    let err = call(&all_fail, 1).await.unwrap_err();
    let WorkflowError::FallbackExhausted { failures } = &err else {
        panic!("{err:?}")
    };
    let legs: Vec<_> = failures
        .iter()
        .map(|f| (f.name.as_str(), f.error.kind()))
        .collect();
    assert_eq!(legs, [("primary", "a_down"), ("fallback_1", "b_down")]);

    // The primary answering means no alternative runs.
    let primary = MockPrimitive::<u32, &str>::new().otherwise_return("primary");
    let unused = MockPrimitive::<u32, &str>::new().otherwise_return("unused");
    assert_eq!(
        call(&primary.fallback(unused.clone()), 1).await.unwrap(),
        "primary"
    );
    assert_eq!(unused.call_count(), 0);
}
