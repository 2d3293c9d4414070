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

mod machine;

use std::{
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
    node::NodeFuture,
    observe::{Event, PrimitiveType, emit},
    primitive::impl_primitive,
};

use machine::{Machine, Permit, Transition};

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
                machine: Mutex::new(Machine::new()),
            }),
            name: Name::new_static("circuit_breaker"),
        }
    }

    /// The current state. An open breaker whose open duration has passed
    /// still reads `Open` until the next call moves it to half-open.
    pub fn state(&self) -> BreakerState {
        self.shared.machine().state()
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
        NodeFuture::run_wrapping(self, req.ctx, PrimitiveType::CircuitBreaker, |this, ctx| {
            let (admission, transition) = this
                .shared
                .machine()
                .admit(&this.shared.config, Instant::now());
            emit_transition(&ctx, &this.name, transition);
            match admission {
                Ok(permit) => {
                    let state = if permit.probe {
                        BreakerState::HalfOpen
                    } else {
                        BreakerState::Closed
                    };
                    emit(&ctx, &this.name, PrimitiveType::CircuitBreaker, || {
                        Event::BreakerAdmitted { state }
                    });
                    BreakerFuture::from(CallState::Admitted {
                        inner: this.inner.call(Request::new(ctx.child(), req.input)),
                        permit: Some(PermitGuard {
                            shared: Arc::clone(&this.shared),
                            permit,
                            ctx,
                            name: this.name.clone(),
                            completed: false,
                        }),
                    })
                }
                Err(state) => {
                    emit(&ctx, &this.name, PrimitiveType::CircuitBreaker, || {
                        Event::BreakerRejected { state }
                    });
                    BreakerFuture::from(CallState::Rejected {
                        error: Some(WorkflowError::CircuitOpen {
                            breaker: this.name.clone(),
                            state,
                        }),
                    })
                }
            }
        })
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
        state: CallState<F>,
    }
}

pin_project! {
    #[project = CallStateProj]
    enum CallState<F> {
        // Admitted: the inner call runs; its permit records the outcome, or
        // gives the slot back if the call is dropped unfinished.
        Admitted { #[pin] inner: F, permit: Option<PermitGuard> },
        // Rejected at admission: the error, taken by the first poll.
        Rejected { error: Option<WorkflowError> },
    }
}

impl<F> From<CallState<F>> for BreakerFuture<F> {
    fn from(state: CallState<F>) -> Self {
        Self { state }
    }
}

impl<F, T, E> Future for BreakerFuture<F>
where
    F: Future<Output = Result<T, E>>,
    E: Into<WorkflowError>,
{
    type Output = Result<T, WorkflowError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project().state.project() {
            CallStateProj::Admitted { inner, permit } => {
                let result = ready!(inner.poll(cx)).map_err(Into::into);
                if let Some(permit) = permit.take() {
                    permit.complete(result.as_ref().err());
                }
                Poll::Ready(result)
            }
            CallStateProj::Rejected { error } => Poll::Ready(Err(error
                .take()
                .expect("BreakerFuture polled after completion"))),
        }
    }
}

impl_primitive!(CircuitBreaker<S>);

/// Wraps services in a [`CircuitBreaker`], for tower's `ServiceBuilder`.
/// A breaker guards a dependency, not one service value: every service this
/// layer (or a clone of it) wraps shares the layer's one state machine, so
/// failures seen through any of them open it for all.
///
/// ```
/// use tower::{Layer, ServiceExt};
/// use tta_primitives_core::{circuit_breaker::CircuitBreakerLayer, prelude::*};
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)] async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let breaker = CircuitBreakerLayer::new(
///     BreakerConfig::builder().policy(FailurePolicy::ConsecutiveFailures(1)).build()?,
/// );
/// let down = || lambda(|_: u32| async move { Err::<u32, _>(WorkflowError::msg("503")) });
/// let (a, b) = (breaker.layer(down()), breaker.layer(down()));
/// a.oneshot(Request::new(WorkflowContext::new("wf"), 1)).await.unwrap_err();
/// let err = b.oneshot(Request::new(WorkflowContext::new("wf"), 1)).await.unwrap_err();
/// assert_eq!((err.kind(), breaker.state()), ("circuit_open", BreakerState::Open));
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct CircuitBreakerLayer {
    shared: Arc<Shared>,
    name: Name,
}

impl CircuitBreakerLayer {
    /// One new, closed breaker for every service this layer wraps; nodes
    /// are named `circuit_breaker` unless named.
    pub fn new(config: BreakerConfig) -> Self {
        let CircuitBreaker { shared, name, .. } = CircuitBreaker::new((), config);
        Self { shared, name }
    }

    /// The shared breaker's current state (see [`CircuitBreaker::state`]).
    pub fn state(&self) -> BreakerState {
        self.shared.machine().state()
    }
}

impl<S> tower::Layer<S> for CircuitBreakerLayer {
    type Service = CircuitBreaker<S>;

    fn layer(&self, inner: S) -> CircuitBreaker<S> {
        CircuitBreaker {
            inner,
            shared: Arc::clone(&self.shared),
            name: self.name.clone(),
        }
    }
}

crate::name::impl_named!(CircuitBreakerLayer);
crate::name::impl_named!(CircuitBreaker<S>);
