//! Invalid settings are rejected at construction, naming the setting.

use std::time::Duration;

use tta_primitives_core::{ConfigError, WorkflowError, prelude::*};

fn noop() -> BoxPrimitive<u32, u32> {
    lambda(|x: u32| async move { Ok::<_, WorkflowError>(x) }).into_boxed()
}

fn assert_rejects<T: std::fmt::Debug>(result: Result<T, ConfigError>, setting: &str, value: &str) {
    let err = result.expect_err("the setting must be rejected");
    assert_eq!(err.setting(), setting);
    assert_eq!(err.value(), value);
    let message = err.to_string();
    assert!(
        message.contains(setting) && message.contains(value),
        "{message}"
    );
}

#[test]
fn retry_settings() {
    let b = RetryPolicy::builder;
    assert_rejects(b().max_attempts(0).build(), "retry.max_attempts", "0");
    assert_rejects(
        b().initial_backoff(Duration::ZERO).build(),
        "retry.initial_backoff",
        "0ns",
    );
    assert_rejects(
        b().initial_backoff(Duration::from_secs(2))
            .max_backoff(Duration::from_secs(1))
            .build(),
        "retry.max_backoff",
        "1s",
    );
    assert_rejects(b().multiplier(0.5).build(), "retry.multiplier", "0.5");
    assert_rejects(b().multiplier(f64::NAN).build(), "retry.multiplier", "NaN");
    let budget = |ttl, ratio| RetryBudget {
        ttl,
        min_per_sec: 1,
        retry_ratio: ratio,
    };
    assert_rejects(
        b().budget(budget(Duration::ZERO, 0.1)).build(),
        "retry.budget.ttl",
        "0ns",
    );
    assert_rejects(
        b().budget(budget(Duration::from_secs(61), 0.1)).build(),
        "retry.budget.ttl",
        "61s",
    );
    assert_rejects(
        b().budget(budget(Duration::from_secs(10), -1.0)).build(),
        "retry.budget.retry_ratio",
        "-1.0",
    );
    assert!(
        b().budget(budget(Duration::from_secs(10), 0.2))
            .build()
            .is_ok()
    );
}

#[test]
fn timeout_settings() {
    assert_rejects(noop().timeout(Duration::ZERO), "timeout.after", "0ns");
    assert!(noop().timeout(Duration::from_nanos(1)).is_ok());
}

#[test]
fn circuit_breaker_settings() {
    let b = BreakerConfig::builder;
    assert_rejects(
        b().policy(FailurePolicy::ConsecutiveFailures(0)).build(),
        "circuit_breaker.failure_threshold",
        "0",
    );
    let rate = |threshold, window, min_calls| FailurePolicy::FailureRate {
        threshold,
        window,
        min_calls,
    };
    let minute = Duration::from_secs(60);
    assert_rejects(
        b().policy(rate(0.0, minute, 5)).build(),
        "circuit_breaker.failure_rate",
        "0.0",
    );
    assert_rejects(
        b().policy(rate(1.5, minute, 5)).build(),
        "circuit_breaker.failure_rate",
        "1.5",
    );
    assert_rejects(
        b().policy(rate(0.5, Duration::ZERO, 5)).build(),
        "circuit_breaker.window",
        "0ns",
    );
    assert_rejects(
        b().policy(rate(0.5, minute, 0)).build(),
        "circuit_breaker.min_calls",
        "0",
    );
    assert_rejects(
        b().open_duration(Duration::ZERO).build(),
        "circuit_breaker.open_duration",
        "0ns",
    );
    assert_rejects(
        b().half_open_probes(0).build(),
        "circuit_breaker.half_open_probes",
        "0",
    );
    assert!(b().policy(rate(1.0, minute, 1)).build().is_ok());
}

#[test]
fn cache_settings() {
    let b = CacheConfig::builder;
    assert_rejects(b().ttl(Duration::ZERO).build(), "cache.ttl", "0ns");
    assert_rejects(b().capacity(0).build(), "cache.capacity", "0");
    let ok = b()
        .capacity(1)
        .ttl(Duration::from_millis(1))
        .build()
        .unwrap();
    assert_eq!((ok.capacity(), ok.ttl()), (1, Duration::from_millis(1)));
}
