//! Property tests of the algebra's laws, under paused tokio time.

use std::time::Duration;

use futures_util::FutureExt;
use proptest::prelude::*;
use tokio::time::Instant;
use tower::ServiceExt;
use tta_primitives_core::{Request, WorkflowContext, WorkflowError, prelude::*};

fn paused_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .expect("a current-thread runtime")
}

fn ctx() -> WorkflowContext {
    WorkflowContext::new("laws")
}

// ---------------------------------------------------------------- sequence

#[derive(Debug, Clone, Copy)]
enum Op {
    Add(i64),
    Mul(i64),
    FailIfDivisible(i64),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        (-50i64..50).prop_map(Op::Add),
        (-5i64..5).prop_map(Op::Mul),
        (2i64..7).prop_map(Op::FailIfDivisible),
    ]
}

fn step_of(op: Op) -> BoxPrimitive<i64, i64> {
    lambda(move |x: i64| async move {
        match op {
            Op::Add(n) => Ok(x.wrapping_add(n)),
            Op::Mul(n) => Ok(x.wrapping_mul(n)),
            Op::FailIfDivisible(m) if x % m == 0 => {
                Err(WorkflowError::msg(format!("{x} divisible by {m}")))
            }
            Op::FailIfDivisible(_) => Ok(x),
        }
    })
    .into_boxed()
}

fn outcome(r: Result<i64, WorkflowError>) -> Result<i64, (String, String)> {
    r.map_err(|e| (e.kind().to_owned(), e.to_string()))
}

proptest! {
    #[test]
    fn sequence_is_associative(a in op(), b in op(), c in op(), x in -1000i64..1000) {
        let left = (step_of(a) >> step_of(b)) >> step_of(c);
        let right = step_of(a) >> (step_of(b) >> step_of(c));
        let l = left.oneshot(Request::new(ctx(), x)).now_or_never().expect("ready");
        let r = right.oneshot(Request::new(ctx(), x)).now_or_never().expect("ready");
        prop_assert_eq!(outcome(l), outcome(r));
    }

    #[test]
    fn parallel_preserves_branch_order(delays in prop::collection::vec(0u64..100, 1..12)) {
        let rt = paused_runtime();
        let branches: Vec<_> = delays
            .iter()
            .enumerate()
            .map(|(i, d)| {
                let d = Duration::from_millis(*d);
                lambda(move |_: ()| async move {
                    tokio::time::sleep(d).await;
                    Ok::<_, WorkflowError>(i)
                })
                .into_boxed()
            })
            .collect();
        let out = rt.block_on(parallel(branches).oneshot(Request::new(ctx(), ()))).unwrap();
        prop_assert_eq!(out, (0..delays.len()).collect::<Vec<_>>());
    }

    #[test]
    fn retry_never_exceeds_max_attempts(max in 1u32..8, failures in 0u32..12) {
        let rt = paused_runtime();
        let mut mock = MockPrimitive::<u32, u32>::new();
        for _ in 0..failures {
            mock = mock.then_fail(WorkflowError::msg("transient"));
        }
        let mock = mock.otherwise_return(1);
        let policy = RetryPolicy::builder().max_attempts(max).build().unwrap();
        let result = rt.block_on(mock.clone().retry(policy).oneshot(Request::new(ctx(), 0)));
        let calls = mock.call_count() as u32;
        prop_assert!(calls <= max);
        if failures < max {
            prop_assert_eq!(calls, failures + 1);
            prop_assert_eq!(result.unwrap(), 1);
        } else {
            prop_assert_eq!(calls, max, "exactly max attempts on persistent failure");
            let exhausted = matches!(result, Err(WorkflowError::RetriesExhausted { attempts, .. }) if attempts == max);
            prop_assert!(exhausted);
        }
    }

    #[test]
    fn timeout_never_returns_after_its_bound(bound_ms in 1u64..1000, work_ms in 0u64..2000) {
        let rt = paused_runtime();
        let bound = Duration::from_millis(bound_ms);
        let work = Duration::from_millis(work_ms);
        let slow = lambda(move |_: ()| async move {
            tokio::time::sleep(work).await;
            Ok::<_, WorkflowError>(())
        });
        let bounded = slow.timeout(bound).unwrap();
        let (result, elapsed) = rt.block_on(async {
            let start = Instant::now();
            let r = bounded.oneshot(Request::new(ctx(), ())).await;
            (r, start.elapsed())
        });
        prop_assert!(elapsed <= bound);
        prop_assert_eq!(elapsed, work.min(bound));
        if work < bound {
            prop_assert!(result.is_ok());
        } else if work > bound {
            prop_assert_eq!(result.unwrap_err().kind(), "timeout");
        }
    }
}

// ---------------------------------------------------------- circuit breaker

/// A deliberately simple reference model of the breaker, for sequential calls.
#[derive(Debug)]
enum Model {
    Closed {
        consecutive: u32,
        window: Vec<(u64, bool)>,
    },
    Open {
        until: u64,
    },
    HalfOpen {
        admitted: u32,
        succeeded: u32,
    },
}

#[derive(Debug, Clone, Copy)]
enum Policy {
    Consecutive(u32),
    Rate {
        threshold: f64,
        window: u64,
        min_calls: u32,
    },
}

struct Reference {
    state: Model,
    policy: Policy,
    open_ms: u64,
    probes: u32,
}

impl Reference {
    /// Returns whether the call was admitted.
    fn call(&mut self, now: u64, success: bool) -> bool {
        if let Model::Open { until } = self.state {
            if now < until {
                return false;
            }
            self.state = Model::HalfOpen {
                admitted: 0,
                succeeded: 0,
            };
        }
        match &mut self.state {
            Model::Open { .. } => unreachable!(),
            Model::HalfOpen {
                admitted,
                succeeded,
            } => {
                if *admitted >= self.probes {
                    return false;
                }
                *admitted += 1;
                if !success {
                    self.state = Model::Open {
                        until: now + self.open_ms,
                    };
                } else {
                    *succeeded += 1;
                    if *succeeded >= self.probes {
                        self.state = Model::Closed {
                            consecutive: 0,
                            window: Vec::new(),
                        };
                    }
                }
                true
            }
            Model::Closed {
                consecutive,
                window,
            } => {
                let trip = match self.policy {
                    Policy::Consecutive(n) => {
                        *consecutive = if success { 0 } else { *consecutive + 1 };
                        *consecutive >= n
                    }
                    Policy::Rate {
                        threshold,
                        window: span,
                        min_calls,
                    } => {
                        window.push((now, !success));
                        window.retain(|(t, _)| now - t < span);
                        let failures = window.iter().filter(|(_, f)| *f).count() as f64;
                        window.len() >= min_calls as usize
                            && failures >= threshold * window.len() as f64
                    }
                };
                if trip {
                    self.state = Model::Open {
                        until: now + self.open_ms,
                    };
                }
                true
            }
        }
    }

    fn state(&self) -> BreakerState {
        match self.state {
            Model::Closed { .. } => BreakerState::Closed,
            Model::Open { .. } => BreakerState::Open,
            Model::HalfOpen { .. } => BreakerState::HalfOpen,
        }
    }
}

#[derive(Debug, Clone, Copy)]
enum BreakerOp {
    Call(bool),
    Advance(u64),
}

fn policy() -> impl Strategy<Value = Policy> {
    prop_oneof![
        (1u32..5).prop_map(Policy::Consecutive),
        (
            prop::sample::select(vec![0.25, 0.5, 0.75, 1.0]),
            1u64..30_000,
            1u32..6
        )
            .prop_map(|(threshold, window, min_calls)| Policy::Rate {
                threshold,
                window,
                min_calls
            }),
    ]
}

fn breaker_ops() -> impl Strategy<Value = Vec<BreakerOp>> {
    prop::collection::vec(
        prop_oneof![
            3 => any::<bool>().prop_map(BreakerOp::Call),
            1 => (0u64..20_000).prop_map(BreakerOp::Advance),
        ],
        1..80,
    )
}

proptest! {
    #[test]
    fn breaker_matches_the_reference_model(
        policy in policy(),
        open_ms in 1u64..20_000,
        probes in 1u32..4,
        ops in breaker_ops(),
    ) {
        let rt = paused_runtime();
        let failure_policy = match policy {
            Policy::Consecutive(n) => FailurePolicy::ConsecutiveFailures(n),
            Policy::Rate { threshold, window, min_calls } => FailurePolicy::FailureRate {
                threshold,
                window: Duration::from_millis(window),
                min_calls,
            },
        };
        let config = BreakerConfig::builder()
            .policy(failure_policy)
            .open_duration(Duration::from_millis(open_ms))
            .half_open_probes(probes)
            .build()
            .unwrap();
        let inner = lambda(|ok: bool| async move {
            if ok { Ok(()) } else { Err(WorkflowError::msg("failure")) }
        });
        let breaker = inner.circuit_breaker(config);
        let mut model = Reference { state: Model::Closed { consecutive: 0, window: Vec::new() }, policy, open_ms, probes };
        rt.block_on(async {
            let start = Instant::now();
            for (i, op) in ops.iter().enumerate() {
                match *op {
                    BreakerOp::Advance(ms) => tokio::time::advance(Duration::from_millis(ms)).await,
                    BreakerOp::Call(success) => {
                        let now = start.elapsed().as_millis() as u64;
                        let expected_admit = model.call(now, success);
                        let result = breaker.clone().oneshot(Request::new(ctx(), success)).await;
                        let admitted = !matches!(result, Err(WorkflowError::CircuitOpen { .. }));
                        prop_assert_eq!(admitted, expected_admit, "op {} {:?} at {}ms", i, op, now);
                        prop_assert_eq!(breaker.state(), model.state(), "state after op {} {:?}", i, op);
                    }
                }
            }
            Ok(())
        })?;
    }
}

// ------------------------------------------------------------------- cache

#[derive(Debug, Clone, Copy)]
enum CacheOp {
    Get(u8),
    Advance(u64),
}

/// A ttl and operations whose time steps often land exactly on the ttl
/// boundary, where an off-by-one would serve an expired entry.
fn cache_case() -> impl Strategy<Value = (u64, Vec<CacheOp>)> {
    (1u64..2_000).prop_flat_map(|ttl| {
        let advance = prop_oneof![
            (0u64..3_000),
            Just(ttl),
            Just(ttl - 1),
            Just(ttl / 2),
        ];
        let ops = prop::collection::vec(
            prop_oneof![3 => (0u8..6).prop_map(CacheOp::Get), 2 => advance.prop_map(CacheOp::Advance)],
            1..100,
        );
        (Just(ttl), ops)
    })
}

proptest! {
    #[test]
    fn cache_never_serves_an_expired_entry_and_evicts_lru(
        (ttl_ms, ops) in cache_case(),
        capacity in 1usize..5,
    ) {
        let rt = paused_runtime();
        rt.block_on(async {
            let start = Instant::now();
            // The inner primitive returns the time (ms) it ran at.
            let inner = lambda(move |_: u8| async move { Ok::<_, WorkflowError>(start.elapsed().as_millis() as u64) });
            let config = CacheConfig::builder().ttl(Duration::from_millis(ttl_ms)).capacity(capacity).build().unwrap();
            let cache = inner.cache(|_, k: &u8| *k, config);
            // Reference: (key, stored_at), least recently used first.
            let mut lru: Vec<(u8, u64)> = Vec::new();
            for op in ops {
                match op {
                    CacheOp::Advance(ms) => tokio::time::advance(Duration::from_millis(ms)).await,
                    CacheOp::Get(key) => {
                        let now = start.elapsed().as_millis() as u64;
                        let stored_at = cache.clone().oneshot(Request::new(ctx(), key)).await.unwrap();
                        prop_assert!(now < stored_at + ttl_ms, "served a value stored at {stored_at} at {now}");
                        let expected = match lru.iter().position(|(k, _)| *k == key) {
                            Some(i) if now < lru[i].1 + ttl_ms => {
                                let hit = lru.remove(i);
                                lru.push(hit);
                                hit.1
                            }
                            found => {
                                if let Some(i) = found {
                                    lru.remove(i);
                                }
                                if lru.len() == capacity {
                                    lru.remove(0);
                                }
                                lru.push((key, now));
                                now
                            }
                        };
                        prop_assert_eq!(stored_at, expected);
                        prop_assert_eq!(cache.stats().entries, lru.len());
                    }
                }
            }
            Ok(())
        })?;
    }
}
