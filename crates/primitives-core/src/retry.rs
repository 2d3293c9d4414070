//! Retry with exponential backoff, jitter and an optional retry budget.
//!
//! **What is retried by default:** errors whose
//! [class](crate::WorkflowError::class) is
//! [transient](crate::ErrorClass::Transient): timeouts, overload, and user
//! errors made with [`WorkflowError::transient`],
//! [`WorkflowError::with_kind`] or [`WorkflowError::downstream`]. Errors made
//! with [`WorkflowError::permanent`] or [`WorkflowError::expected`] (a
//! not-found, a rejected input), an open breaker, a missing route and a
//! cancellation are returned at once, unchanged. Change it with
//! [`retry_if`](RetryPolicyBuilder::retry_if).
//!
//! [`Retry`] runs its inner primitive; when an attempt fails with an error the
//! policy's predicate accepts (by default [`WorkflowError::is_transient`]), it
//! waits a backoff and tries again on a clone of the input, each attempt under
//! its own child context. Exact semantics:
//!
//! * at most [`max_attempts`](RetryPolicyBuilder::max_attempts) attempts run,
//!   and exactly that many when every attempt fails with a retryable error;
//!   the error is then [`WorkflowError::RetriesExhausted`] carrying the last
//!   attempt's error;
//! * an error the predicate rejects is returned unchanged at once;
//! * the backoff before attempt `n + 1` is
//!   `min(initial_backoff * multiplier^(n - 1), max_backoff)`, then jittered
//!   ([`Jitter::Full`] by default: uniform in `[0, backoff]`);
//! * with a [`RetryBudget`], every call deposits into a budget shared by all
//!   clones of the primitive and every retry withdraws from it; when the
//!   budget is empty the call stops with
//!   [`WorkflowError::RetryBudgetExhausted`], so retries cannot multiply the
//!   load on a struggling dependency.
//!
//! ```
//! use std::sync::{Arc, atomic::{AtomicU32, Ordering}};
//! use std::time::Duration;
//! use tower::ServiceExt;
//! use tta_primitives_core::prelude::*;
//!
//! # #[tokio::main(flavor = "current_thread", start_paused = true)] async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let calls = Arc::new(AtomicU32::new(0));
//! let flaky = {
//!     let calls = calls.clone();
//!     lambda(move |x: u32| {
//!         let n = calls.fetch_add(1, Ordering::SeqCst) + 1;
//!         async move { if n < 3 { Err(WorkflowError::msg("flaky")) } else { Ok(x) } }
//!     })
//! };
//! let policy = RetryPolicy::builder()
//!     .max_attempts(5)
//!     .initial_backoff(Duration::from_millis(100))
//!     .jitter(Jitter::None)
//!     .build()?;
//! let out = flaky.retry(policy).oneshot(Request::new(WorkflowContext::new("wf"), 9)).await?;
//! assert_eq!((out, calls.load(Ordering::SeqCst)), (9, 3));
//! # Ok(()) }
//! ```

use std::{
    fmt,
    future::Future,
    pin::Pin,
    sync::Arc,
    task::{Context, Poll, ready},
    time::Duration,
};

use pin_project_lite::pin_project;
use tokio::time::Sleep;
use tower::{
    Service, ServiceExt,
    retry::budget::{Budget, TpsBudget},
    util::Oneshot,
};

use crate::{
    ConfigError, Name, Request, WorkflowContext, WorkflowError,
    error::check,
    node::NodeFuture,
    observe::{Event, PrimitiveType, RetryOutcome, emit},
    primitive::impl_primitive,
};

/// How the backoff is randomised.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Jitter {
    /// No randomness: exactly the exponential backoff.
    None,
    /// Uniform in `[0, backoff]` (the default; spreads retries best).
    #[default]
    Full,
    /// Uniform in `[backoff / 2, backoff]`.
    Equal,
}

type RetryPredicate = Arc<dyn Fn(&WorkflowError) -> bool + Send + Sync>;

/// When and how often to retry. Cheap to clone; clones share the budget.
#[derive(Clone)]
pub struct RetryPolicy {
    max_attempts: u32,
    initial_backoff: Duration,
    max_backoff: Duration,
    multiplier: f64,
    jitter: Jitter,
    retry_if: RetryPredicate,
    budget: Option<Arc<TpsBudget>>,
}

impl fmt::Debug for RetryPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RetryPolicy")
            .field("max_attempts", &self.max_attempts)
            .field("initial_backoff", &self.initial_backoff)
            .field("max_backoff", &self.max_backoff)
            .field("multiplier", &self.multiplier)
            .field("jitter", &self.jitter)
            .field("budget", &self.budget.is_some())
            .finish_non_exhaustive()
    }
}

impl RetryPolicy {
    /// A builder with the defaults: 3 attempts, 100 ms initial backoff,
    /// 10 s maximum, multiplier 2, full jitter, retry on transient errors,
    /// no budget.
    pub fn builder() -> RetryPolicyBuilder {
        RetryPolicyBuilder {
            max_attempts: 3,
            initial_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(10),
            multiplier: 2.0,
            jitter: Jitter::Full,
            retry_if: Arc::new(WorkflowError::is_transient),
            budget: None,
        }
    }

    /// The maximum number of attempts (the first call included).
    pub fn max_attempts(&self) -> u32 {
        self.max_attempts
    }

    /// The backoff before attempt `failed_attempt + 1`, before jitter.
    pub fn backoff(&self, failed_attempt: u32) -> Duration {
        let exponent = i32::try_from(failed_attempt.saturating_sub(1)).unwrap_or(i32::MAX);
        let secs = self.initial_backoff.as_secs_f64() * self.multiplier.powi(exponent);
        if secs.is_finite() && secs < self.max_backoff.as_secs_f64() {
            Duration::from_secs_f64(secs)
        } else {
            self.max_backoff
        }
    }

    /// The backoff before attempt `failed_attempt + 1`, jitter applied.
    pub fn delay(&self, failed_attempt: u32) -> Duration {
        let backoff = self.backoff(failed_attempt);
        match self.jitter {
            Jitter::None => backoff,
            Jitter::Full => backoff.mul_f64(fastrand::f64()),
            Jitter::Equal => backoff / 2 + (backoff / 2).mul_f64(fastrand::f64()),
        }
    }

    /// Whether the policy retries after `error`.
    pub fn is_retryable(&self, error: &WorkflowError) -> bool {
        (self.retry_if)(error)
    }
}

/// Builds a [`RetryPolicy`]; [`build`](Self::build) checks every setting.
#[must_use]
pub struct RetryPolicyBuilder {
    max_attempts: u32,
    initial_backoff: Duration,
    max_backoff: Duration,
    multiplier: f64,
    jitter: Jitter,
    retry_if: RetryPredicate,
    budget: Option<RetryBudget>,
}

impl RetryPolicyBuilder {
    /// Maximum attempts, the first call included (at least 1).
    pub fn max_attempts(mut self, n: u32) -> Self {
        self.max_attempts = n;
        self
    }

    /// Backoff after the first failure (greater than zero).
    pub fn initial_backoff(mut self, d: Duration) -> Self {
        self.initial_backoff = d;
        self
    }

    /// Upper bound of any backoff (at least `initial_backoff`).
    pub fn max_backoff(mut self, d: Duration) -> Self {
        self.max_backoff = d;
        self
    }

    /// Growth factor between backoffs (finite, at least 1.0).
    pub fn multiplier(mut self, m: f64) -> Self {
        self.multiplier = m;
        self
    }

    /// How backoffs are randomised.
    pub fn jitter(mut self, jitter: Jitter) -> Self {
        self.jitter = jitter;
        self
    }

    /// Which errors are retried (default: [`WorkflowError::is_transient`]).
    pub fn retry_if(mut self, f: impl Fn(&WorkflowError) -> bool + Send + Sync + 'static) -> Self {
        self.retry_if = Arc::new(f);
        self
    }

    /// Retries only errors whose [`kind`](WorkflowError::kind) is listed.
    pub fn retry_on_kinds(self, kinds: &'static [&'static str]) -> Self {
        self.retry_if(move |e| kinds.contains(&e.kind()))
    }

    /// Limits retries with a budget shared by every clone of the primitive.
    pub fn budget(mut self, budget: RetryBudget) -> Self {
        self.budget = Some(budget);
        self
    }

    /// Checks the settings.
    ///
    /// # Errors
    /// A [`ConfigError`] naming the first invalid setting.
    pub fn build(self) -> Result<RetryPolicy, ConfigError> {
        check(
            "retry.max_attempts",
            self.max_attempts,
            self.max_attempts >= 1,
            "at least 1",
        )?;
        check(
            "retry.initial_backoff",
            self.initial_backoff,
            !self.initial_backoff.is_zero(),
            "greater than zero",
        )?;
        check(
            "retry.max_backoff",
            self.max_backoff,
            self.max_backoff >= self.initial_backoff,
            "at least retry.initial_backoff",
        )?;
        check(
            "retry.multiplier",
            self.multiplier,
            self.multiplier.is_finite() && self.multiplier >= 1.0,
            "a finite number of at least 1.0",
        )?;
        let budget = match self.budget {
            Some(b) => Some(Arc::new(b.build()?)),
            None => None,
        };
        Ok(RetryPolicy {
            max_attempts: self.max_attempts,
            initial_backoff: self.initial_backoff,
            max_backoff: self.max_backoff,
            multiplier: self.multiplier,
            jitter: self.jitter,
            retry_if: self.retry_if,
            budget,
        })
    }
}

/// A retry budget: over a sliding window of `ttl`, retries may be at most
/// `retry_ratio` times the calls made, plus `min_per_sec` per second.
///
/// Backed by tower's [`TpsBudget`]; checked when the policy is built.
#[derive(Debug, Clone, Copy)]
pub struct RetryBudget {
    /// How long a deposit counts (1 to 60 seconds).
    pub ttl: Duration,
    /// Retries always allowed per second, whatever the traffic.
    pub min_per_sec: u32,
    /// Retries allowed per call (0.1 = one retry per ten calls; 0 to 1000).
    pub retry_ratio: f32,
}

impl RetryBudget {
    fn build(self) -> Result<TpsBudget, ConfigError> {
        check(
            "retry.budget.ttl",
            self.ttl,
            self.ttl >= Duration::from_secs(1) && self.ttl <= Duration::from_secs(60),
            "between 1 and 60 seconds",
        )?;
        check(
            "retry.budget.retry_ratio",
            self.retry_ratio,
            self.retry_ratio.is_finite() && (0.0..=1000.0).contains(&self.retry_ratio),
            "a finite number between 0 and 1000",
        )?;
        Ok(TpsBudget::new(self.ttl, self.min_per_sec, self.retry_ratio))
    }
}

/// Retries its inner primitive. Built by
/// [`retry`](crate::WorkflowExt::retry).
#[derive(Debug, Clone)]
pub struct Retry<S> {
    inner: S,
    /// Shared with every call's future (a pointer, not the policy's fields).
    policy: Arc<RetryPolicy>,
    name: Name,
}

impl<S> Retry<S> {
    /// Retries `inner` as `policy` says.
    pub fn new(inner: S, policy: RetryPolicy) -> Self {
        Self {
            inner,
            policy: Arc::new(policy),
            name: Name::new_static("retry"),
        }
    }

    /// The policy.
    pub fn policy(&self) -> &RetryPolicy {
        &self.policy
    }
}

impl<S, I> Service<Request<I>> for Retry<S>
where
    S: Service<Request<I>> + Clone,
    S::Error: Into<WorkflowError>,
    I: Clone,
{
    type Response = S::Response;
    type Error = WorkflowError;
    type Future = NodeFuture<RetryFuture<S, I>>;

    /// Forwards the inner service's readiness: the first attempt runs on
    /// this service once it is ready (tower's shape), so backpressure from
    /// the inner service reaches the caller. Later attempts run on clones,
    /// each driven to readiness after its backoff.
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, req: Request<I>) -> Self::Future {
        NodeFuture::run_wrapping(self, req.ctx, PrimitiveType::Retry, |this, ctx| {
            if let Some(budget) = &this.policy.budget {
                budget.deposit();
            }
            emit(&ctx, &this.name, PrimitiveType::Retry, || {
                Event::RetryAttempt { attempt: 1 }
            });
            let first = this
                .inner
                .call(Request::new(ctx.child(), req.input.clone()));
            RetryFuture {
                service: this.inner.clone(),
                input: req.input,
                ctx,
                policy: Arc::clone(&this.policy),
                name: this.name.clone(),
                attempt: 1,
                state: State::First { fut: first },
            }
        })
    }
}

pin_project! {
    /// The future of a [`Retry`].
    #[must_use = "futures do nothing unless polled"]
    pub struct RetryFuture<S, I>
    where
        S: Service<Request<I>>,
    {
        service: S,
        input: I,
        ctx: WorkflowContext,
        policy: Arc<RetryPolicy>,
        name: Name,
        attempt: u32,
        #[pin]
        state: State<S, I>,
    }
}

pin_project! {
    #[project = StateProj]
    enum State<S, I>
    where
        S: Service<Request<I>>,
    {
        // The first attempt, on the service that was ready.
        First { #[pin] fut: S::Future },
        // A later attempt, on a clone driven to readiness first. Boxed,
        // like the wait: it holds a context and a request, and only a call
        // that retries gets here, so the future of one that does not stays
        // small (every move of it copies less).
        Calling { fut: Pin<Box<Oneshot<S, Request<I>>>> },
        // Boxed: a timer entry is large, and only a call that retries
        // waits, so the future of a call that does not stays small.
        Waiting { sleep: Pin<Box<Sleep>> },
    }
}

impl<S, I> Future for RetryFuture<S, I>
where
    S: Service<Request<I>> + Clone,
    S::Error: Into<WorkflowError>,
    I: Clone,
{
    type Output = Result<S::Response, WorkflowError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        loop {
            match this.state.as_mut().project() {
                state @ (StateProj::First { .. } | StateProj::Calling { .. }) => {
                    let attempts = *this.attempt;
                    let finish = |outcome| {
                        emit(this.ctx, this.name, PrimitiveType::Retry, || {
                            Event::RetryFinished { attempts, outcome }
                        });
                    };
                    let polled = match state {
                        StateProj::First { fut } => fut.poll(cx).map_err(Into::into),
                        StateProj::Calling { fut } => fut.as_mut().poll(cx).map_err(Into::into),
                        StateProj::Waiting { .. } => unreachable!("matched above"),
                    };
                    let error: WorkflowError = match ready!(polled) {
                        Ok(output) => {
                            finish(if attempts == 1 {
                                RetryOutcome::SuccessFirstAttempt
                            } else {
                                RetryOutcome::SuccessAfterRetry
                            });
                            return Poll::Ready(Ok(output));
                        }
                        Err(e) => e,
                    };
                    if !this.policy.is_retryable(&error) {
                        finish(RetryOutcome::NotRetryable);
                        return Poll::Ready(Err(error));
                    }
                    if attempts >= this.policy.max_attempts {
                        finish(RetryOutcome::Exhausted);
                        return Poll::Ready(Err(WorkflowError::RetriesExhausted {
                            attempts,
                            last: Box::new(error),
                        }));
                    }
                    if let Some(budget) = &this.policy.budget
                        && !budget.withdraw()
                    {
                        finish(RetryOutcome::Exhausted);
                        return Poll::Ready(Err(WorkflowError::RetryBudgetExhausted {
                            attempts,
                            last: Box::new(error),
                        }));
                    }
                    let delay = this.policy.delay(attempts);
                    emit(this.ctx, this.name, PrimitiveType::Retry, || {
                        Event::RetryBackoff {
                            next_attempt: attempts + 1,
                            delay,
                            error: &error,
                        }
                    });
                    this.state.set(State::Waiting {
                        sleep: Box::pin(tokio::time::sleep(delay)),
                    });
                }
                StateProj::Waiting { sleep } => {
                    ready!(sleep.as_mut().poll(cx));
                    *this.attempt += 1;
                    let attempt = *this.attempt;
                    emit(this.ctx, this.name, PrimitiveType::Retry, || {
                        Event::RetryAttempt { attempt }
                    });
                    let req = Request::new(this.ctx.child(), this.input.clone());
                    this.state.set(State::Calling {
                        fut: Box::pin(this.service.clone().oneshot(req)),
                    });
                }
            }
        }
    }
}

impl_primitive!(Retry<S>);

/// Wraps services in a [`Retry`] with one policy, for tower's
/// `ServiceBuilder`. The services it wraps share the policy (and its budget,
/// if any).
///
/// ```
/// use tower::{ServiceBuilder, ServiceExt};
/// use tta_primitives_core::{Named, prelude::*, retry::RetryLayer};
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let fetch = ServiceBuilder::new()
///     .layer(RetryLayer::new(RetryPolicy::builder().max_attempts(2).build()?).named("fetch_retry"))
///     .service(lambda(|id: u32| async move { Ok::<_, WorkflowError>(id) }));
/// assert_eq!(fetch.name().as_str(), "fetch_retry");
/// assert_eq!(fetch.oneshot(Request::new(WorkflowContext::new("wf"), 7)).await?, 7);
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct RetryLayer {
    policy: Arc<RetryPolicy>,
    name: Name,
}

impl RetryLayer {
    /// Retries as `policy` says; the nodes are named `retry` unless named.
    pub fn new(policy: RetryPolicy) -> Self {
        Self {
            policy: Arc::new(policy),
            name: Name::new_static("retry"),
        }
    }
}

impl<S> tower::Layer<S> for RetryLayer {
    type Service = Retry<S>;

    fn layer(&self, inner: S) -> Retry<S> {
        Retry {
            inner,
            policy: Arc::clone(&self.policy),
            name: self.name.clone(),
        }
    }
}

crate::name::impl_named!(RetryLayer);
crate::name::impl_named!(Retry<S>);
