//! Circuit breaker: stop calling a dependency that keeps failing.
//!
//! [`CircuitBreaker`] is a state machine shared by every clone of the
//! primitive:
//!
//! * **closed**: calls run; outcomes feed the [`FailurePolicy`]. When the
//!   policy trips (N consecutive failures, or a failure rate over a sliding
//!   window with a minimum number of calls) the breaker opens.
//! * **open**: calls are rejected at once with
//!   [`WorkflowError::CircuitOpen`] until `open_duration` has passed since
//!   opening; the first call after that moves the breaker to half-open.
//! * **half-open**: exactly `half_open_probes` calls are admitted as probes,
//!   however many arrive concurrently; the rest are rejected. When every
//!   probe succeeds the breaker closes; the first probe failure reopens it.
//!   A probe that is cancelled (its future dropped) gives its slot back.
//!
//! Outcomes of calls admitted before the last transition are ignored, so a
//! slow call from the closed period cannot close or reopen the breaker.
//! Time is tokio time, so tests drive the breaker with paused time.
//!
//! ```
//! use std::time::Duration;
//! use tower::ServiceExt;
//! use tta_primitives_core::prelude::*;
//!
//! # #[tokio::main(flavor = "current_thread", start_paused = true)] async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let config = BreakerConfig::builder()
//!     .policy(FailurePolicy::ConsecutiveFailures(2))
//!     .open_duration(Duration::from_secs(30))
//!     .build()?;
//! let down = lambda(|_: u32| async move { Err::<u32, _>(WorkflowError::msg("503")) });
//! let guarded = down.circuit_breaker(config);
//! let ctx = || WorkflowContext::new("wf");
//! for _ in 0..2 {
//!     assert_eq!(guarded.clone().oneshot(Request::new(ctx(), 1)).await.unwrap_err().kind(), "downstream");
//! }
//! assert_eq!(guarded.state(), BreakerState::Open);
//! let err = guarded.clone().oneshot(Request::new(ctx(), 1)).await.unwrap_err();
//! assert_eq!(err.kind(), "circuit_open");
//! # Ok(()) }
//! ```

use std::{
    collections::VecDeque,
    fmt,
    future::Future,
    pin::Pin,
    sync::{Arc, Mutex, MutexGuard},
    task::{Context, Poll, ready},
    time::Duration,
};

use pin_project_lite::pin_project;
use tokio::time::Instant;
use tower::Service;

use crate::{
    ConfigError, Name, Request, WorkflowContext, WorkflowError,
    error::check,
    node::{NodeFuture, enter},
    observe::{Event, PrimitiveType, emit},
    primitive::impl_primitive,
};

/// The state of a circuit breaker.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BreakerState {
    /// Calls run.
    Closed,
    /// Calls are rejected.
    Open,
    /// A limited number of probe calls run.
    HalfOpen,
}

impl BreakerState {
    /// The stable label value: `closed`, `open` or `half_open`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Closed => "closed",
            Self::Open => "open",
            Self::HalfOpen => "half_open",
        }
    }

    /// Every state, in a stable order.
    pub const ALL: [BreakerState; 3] = [Self::Closed, Self::Open, Self::HalfOpen];
}

impl fmt::Display for BreakerState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// When a closed breaker opens.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum FailurePolicy {
    /// After this many failures in a row (at least 1).
    ConsecutiveFailures(u32),
    /// When, over the last `window`, at least `min_calls` calls completed and
    /// the share of failures is at least `threshold` (in `(0, 1]`).
    FailureRate {
        /// Failure share that trips the breaker.
        threshold: f64,
        /// The sliding window.
        window: Duration,
        /// Calls needed in the window before the rate counts.
        min_calls: u32,
    },
}

type FailurePredicate = Arc<dyn Fn(&WorkflowError) -> bool + Send + Sync>;

/// Checked settings of a [`CircuitBreaker`].
#[derive(Clone)]
pub struct BreakerConfig {
    policy: FailurePolicy,
    open_duration: Duration,
    half_open_probes: u32,
    is_failure: FailurePredicate,
}

impl fmt::Debug for BreakerConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BreakerConfig")
            .field("policy", &self.policy)
            .field("open_duration", &self.open_duration)
            .field("half_open_probes", &self.half_open_probes)
            .finish_non_exhaustive()
    }
}

impl BreakerConfig {
    /// Defaults: 5 consecutive failures, open for 30 s, 1 half-open probe,
    /// every error counts as a failure.
    pub fn builder() -> BreakerConfigBuilder {
        BreakerConfigBuilder {
            config: BreakerConfig {
                policy: FailurePolicy::ConsecutiveFailures(5),
                open_duration: Duration::from_secs(30),
                half_open_probes: 1,
                is_failure: Arc::new(|_| true),
            },
        }
    }

    /// The failure policy.
    pub fn policy(&self) -> FailurePolicy {
        self.policy
    }

    /// How long the breaker stays open.
    pub fn open_duration(&self) -> Duration {
        self.open_duration
    }

    /// How many probes half-open admits.
    pub fn half_open_probes(&self) -> u32 {
        self.half_open_probes
    }
}

/// Builds a [`BreakerConfig`]; [`build`](Self::build) checks every setting.
#[must_use]
pub struct BreakerConfigBuilder {
    config: BreakerConfig,
}

impl BreakerConfigBuilder {
    /// When the breaker opens.
    pub fn policy(mut self, policy: FailurePolicy) -> Self {
        self.config.policy = policy;
        self
    }

    /// How long it stays open before admitting probes (greater than zero).
    pub fn open_duration(mut self, d: Duration) -> Self {
        self.config.open_duration = d;
        self
    }

    /// Probes admitted in half-open (at least 1); all must succeed to close.
    pub fn half_open_probes(mut self, n: u32) -> Self {
        self.config.half_open_probes = n;
        self
    }

    /// Which errors count as failures (default: all).
    pub fn is_failure(
        mut self,
        f: impl Fn(&WorkflowError) -> bool + Send + Sync + 'static,
    ) -> Self {
        self.config.is_failure = Arc::new(f);
        self
    }

    /// Checks the settings.
    ///
    /// # Errors
    /// A [`ConfigError`] naming the first invalid setting.
    pub fn build(self) -> Result<BreakerConfig, ConfigError> {
        let c = &self.config;
        match c.policy {
            FailurePolicy::ConsecutiveFailures(n) => {
                check("circuit_breaker.failure_threshold", n, n >= 1, "at least 1")?;
            }
            FailurePolicy::FailureRate {
                threshold,
                window,
                min_calls,
            } => {
                check(
                    "circuit_breaker.failure_rate",
                    threshold,
                    threshold > 0.0 && threshold <= 1.0,
                    "a share in (0, 1]",
                )?;
                check(
                    "circuit_breaker.window",
                    window,
                    !window.is_zero(),
                    "greater than zero",
                )?;
                check(
                    "circuit_breaker.min_calls",
                    min_calls,
                    min_calls >= 1,
                    "at least 1",
                )?;
            }
        }
        check(
            "circuit_breaker.open_duration",
            c.open_duration,
            !c.open_duration.is_zero(),
            "greater than zero",
        )?;
        check(
            "circuit_breaker.half_open_probes",
            c.half_open_probes,
            c.half_open_probes >= 1,
            "at least 1",
        )?;
        Ok(self.config)
    }
}

#[derive(Debug)]
enum Phase {
    Closed {
        consecutive_failures: u32,
        /// (completion time, failed) for the failure-rate policy.
        window: VecDeque<(Instant, bool)>,
    },
    Open {
        until: Instant,
    },
    HalfOpen {
        admitted: u32,
        succeeded: u32,
    },
}

impl Phase {
    fn state(&self) -> BreakerState {
        match self {
            Self::Closed { .. } => BreakerState::Closed,
            Self::Open { .. } => BreakerState::Open,
            Self::HalfOpen { .. } => BreakerState::HalfOpen,
        }
    }

    fn closed() -> Self {
        Self::Closed {
            consecutive_failures: 0,
            window: VecDeque::new(),
        }
    }
}

/// A call's admission: which generation of the state machine admitted it.
#[derive(Debug, Clone, Copy)]
struct Permit {
    generation: u64,
    probe: bool,
}

type Transition = Option<(BreakerState, BreakerState)>;

/// The breaker's state machine. Pure: time is passed in.
#[derive(Debug)]
struct Machine {
    phase: Phase,
    /// Bumped on every transition; outcomes of older permits are ignored.
    generation: u64,
}

impl Machine {
    fn transition(&mut self, to: Phase) -> Transition {
        let from = self.phase.state();
        self.phase = to;
        self.generation += 1;
        Some((from, self.phase.state()))
    }

    fn admit(
        &mut self,
        config: &BreakerConfig,
        now: Instant,
    ) -> (Result<Permit, BreakerState>, Transition) {
        let mut transition = None;
        if let Phase::Open { until } = self.phase
            && now >= until
        {
            transition = self.transition(Phase::HalfOpen {
                admitted: 0,
                succeeded: 0,
            });
        }
        let generation = self.generation;
        let admission = match &mut self.phase {
            Phase::Closed { .. } => Ok(Permit {
                generation,
                probe: false,
            }),
            Phase::Open { .. } => Err(BreakerState::Open),
            Phase::HalfOpen { admitted, .. } if *admitted < config.half_open_probes => {
                *admitted += 1;
                Ok(Permit {
                    generation,
                    probe: true,
                })
            }
            Phase::HalfOpen { .. } => Err(BreakerState::HalfOpen),
        };
        (admission, transition)
    }

    fn record(
        &mut self,
        config: &BreakerConfig,
        permit: Permit,
        failed: bool,
        now: Instant,
    ) -> Transition {
        if permit.generation != self.generation {
            return None;
        }
        let open = || Phase::Open {
            until: now + config.open_duration,
        };
        match &mut self.phase {
            Phase::Closed {
                consecutive_failures,
                window,
            } => {
                let trip = match config.policy {
                    FailurePolicy::ConsecutiveFailures(limit) => {
                        *consecutive_failures = if failed { *consecutive_failures + 1 } else { 0 };
                        *consecutive_failures >= limit
                    }
                    FailurePolicy::FailureRate {
                        threshold,
                        window: span,
                        min_calls,
                    } => {
                        window.push_back((now, failed));
                        while window
                            .front()
                            .is_some_and(|(t, _)| now.duration_since(*t) >= span)
                        {
                            window.pop_front();
                        }
                        let failures = window.iter().filter(|(_, f)| *f).count();
                        window.len() >= min_calls as usize
                            && failures as f64 >= threshold * window.len() as f64
                    }
                };
                if trip { self.transition(open()) } else { None }
            }
            Phase::Open { .. } => None,
            Phase::HalfOpen { succeeded, .. } => {
                if failed {
                    self.transition(open())
                } else {
                    *succeeded += 1;
                    if *succeeded >= config.half_open_probes {
                        self.transition(Phase::closed())
                    } else {
                        None
                    }
                }
            }
        }
    }

    fn release(&mut self, permit: Permit) {
        if permit.probe
            && permit.generation == self.generation
            && let Phase::HalfOpen { admitted, .. } = &mut self.phase
        {
            *admitted -= 1;
        }
    }
}

#[derive(Debug)]
struct Shared {
    config: BreakerConfig,
    machine: Mutex<Machine>,
}

impl Shared {
    fn machine(&self) -> MutexGuard<'_, Machine> {
        // The machine is consistent after every method; recover from poison.
        self.machine.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Rejects calls while its inner primitive keeps failing. Built by
/// [`circuit_breaker`](crate::WorkflowExt::circuit_breaker); clones share
/// one state machine.
#[derive(Debug, Clone)]
pub struct CircuitBreaker<S> {
    inner: S,
    shared: Arc<Shared>,
    name: Name,
}

impl<S> CircuitBreaker<S> {
    /// Guards `inner` with a new, closed breaker.
    pub fn new(inner: S, config: BreakerConfig) -> Self {
        Self {
            inner,
            shared: Arc::new(Shared {
                config,
                machine: Mutex::new(Machine {
                    phase: Phase::closed(),
                    generation: 0,
                }),
            }),
            name: Name::new_static("circuit_breaker"),
        }
    }

    /// Names this node (default `circuit_breaker`).
    pub fn named(mut self, name: impl Into<Name>) -> Self {
        self.name = name.into();
        self
    }

    /// This node's name.
    pub fn name(&self) -> &Name {
        &self.name
    }

    /// The current state. An open breaker whose open duration has passed
    /// still reads `Open` until the next call moves it to half-open.
    pub fn state(&self) -> BreakerState {
        self.shared.machine().phase.state()
    }
}

fn emit_transition(ctx: &WorkflowContext, name: &Name, transition: Transition) {
    if let Some((from, to)) = transition {
        emit(ctx, name, PrimitiveType::CircuitBreaker, || {
            Event::BreakerTransition { from, to }
        });
    }
}

impl<S, I> Service<Request<I>> for CircuitBreaker<S>
where
    S: Service<Request<I>>,
    S::Error: Into<WorkflowError>,
{
    type Response = S::Response;
    type Error = WorkflowError;
    type Future = NodeFuture<BreakerFuture<S::Future>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, req: Request<I>) -> Self::Future {
        let mut ctx = req.ctx;
        let run = enter(&mut ctx, &self.name, PrimitiveType::CircuitBreaker);
        let (admission, transition) = self
            .shared
            .machine()
            .admit(&self.shared.config, Instant::now());
        emit_transition(&ctx, &self.name, transition);
        let future = match admission {
            Ok(permit) => {
                let state = if permit.probe {
                    BreakerState::HalfOpen
                } else {
                    BreakerState::Closed
                };
                emit(&ctx, &self.name, PrimitiveType::CircuitBreaker, || {
                    Event::BreakerAdmitted { state }
                });
                BreakerFuture {
                    inner: Some(self.inner.call(Request::new(ctx.child(), req.input))),
                    guard: Some(PermitGuard {
                        shared: Arc::clone(&self.shared),
                        permit,
                        ctx,
                        name: self.name.clone(),
                        completed: false,
                    }),
                    rejected: None,
                }
            }
            Err(state) => {
                emit(&ctx, &self.name, PrimitiveType::CircuitBreaker, || {
                    Event::BreakerRejected { state }
                });
                BreakerFuture {
                    inner: None,
                    guard: None,
                    rejected: Some(WorkflowError::CircuitOpen {
                        breaker: self.name.clone(),
                        state,
                    }),
                }
            }
        };
        NodeFuture::from_run(future, run)
    }
}

/// Gives an admitted call's slot back if the call is dropped unfinished.
struct PermitGuard {
    shared: Arc<Shared>,
    permit: Permit,
    ctx: WorkflowContext,
    name: Name,
    completed: bool,
}

impl PermitGuard {
    fn complete(mut self, error: Option<&WorkflowError>) {
        self.completed = true;
        let failed = error.is_some_and(|e| (self.shared.config.is_failure)(e));
        let transition =
            self.shared
                .machine()
                .record(&self.shared.config, self.permit, failed, Instant::now());
        emit_transition(&self.ctx, &self.name, transition);
    }
}

impl Drop for PermitGuard {
    fn drop(&mut self) {
        if !self.completed {
            self.shared.machine().release(self.permit);
        }
    }
}

pin_project! {
    /// The future of a [`CircuitBreaker`].
    #[must_use = "futures do nothing unless polled"]
    pub struct BreakerFuture<F> {
        #[pin]
        inner: Option<F>,
        guard: Option<PermitGuard>,
        rejected: Option<WorkflowError>,
    }
}

impl<F, T, E> Future for BreakerFuture<F>
where
    F: Future<Output = Result<T, E>>,
    E: Into<WorkflowError>,
{
    type Output = Result<T, WorkflowError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let Some(inner) = this.inner.as_pin_mut() else {
            let err = this
                .rejected
                .take()
                .expect("BreakerFuture polled after completion");
            return Poll::Ready(Err(err));
        };
        let result = ready!(inner.poll(cx)).map_err(Into::into);
        if let Some(guard) = this.guard.take() {
            guard.complete(result.as_ref().err());
        }
        Poll::Ready(result)
    }
}

impl_primitive!(CircuitBreaker<S>);
