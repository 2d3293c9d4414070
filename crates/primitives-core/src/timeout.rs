//! Timeout: cancel the inner primitive at a deadline.
//!
//! [`Timeout`] races its inner future against the deadline. When the deadline
//! passes first, the inner future is **dropped** (so the inner work is
//! cancelled at its next await point) and the call fails with
//! [`WorkflowError::Timeout`]; the result is never later than the deadline.
//! [`Timeout::or_fallback`] runs an alternative on timeouts only.
//!
//! ```
//! use std::time::Duration;
//! use tower::ServiceExt;
//! use tta_primitives_core::prelude::*;
//!
//! # #[tokio::main(flavor = "current_thread", start_paused = true)] async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let slow = lambda(|x: u32| async move {
//!     tokio::time::sleep(Duration::from_secs(5)).await;
//!     Ok::<_, WorkflowError>(x)
//! });
//! let ctx = || WorkflowContext::new("wf");
//! let bounded = slow.timeout(Duration::from_secs(1))?;
//! let err = bounded.clone().oneshot(Request::new(ctx(), 1)).await.unwrap_err();
//! assert_eq!(err.kind(), "timeout");
//!
//! let cached = lambda(|_: u32| async move { Ok::<_, WorkflowError>(0) });
//! let with_default = bounded.or_fallback(cached);
//! assert_eq!(with_default.oneshot(Request::new(ctx(), 1)).await?, 0);
//! # Ok(()) }
//! ```

use std::{
    future::Future,
    pin::Pin,
    task::{Context, Poll},
    time::Duration,
};

use pin_project_lite::pin_project;
use tower::Service;

use crate::{
    ConfigError, Name, Request, WorkflowContext, WorkflowError,
    error::check,
    fallback::Fallback,
    node::NodeFuture,
    observe::{Event, PrimitiveType, emit},
    primitive::impl_primitive,
};

/// Fails calls that take longer than a deadline. Built by
/// [`timeout`](crate::WorkflowExt::timeout).
#[derive(Debug, Clone)]
pub struct Timeout<S> {
    inner: S,
    after: Duration,
    name: Name,
}

impl<S> Timeout<S> {
    /// Bounds `inner` to `after`.
    ///
    /// # Errors
    /// A zero duration ([`ConfigError`] naming `timeout.after`).
    pub fn new(inner: S, after: Duration) -> Result<Self, ConfigError> {
        check(
            "timeout.after",
            after,
            !after.is_zero(),
            "greater than zero",
        )?;
        Ok(Self {
            inner,
            after,
            name: Name::new_static("timeout"),
        })
    }

    /// The deadline.
    pub fn after(&self) -> Duration {
        self.after
    }

    /// Runs `fallback` when (and only when) this call times out.
    pub fn or_fallback<I, F>(self, fallback: F) -> Fallback<I, S::Response>
    where
        Self: Service<Request<I>, Response = S::Response, Error = WorkflowError>
            + Clone
            + Send
            + Sync
            + 'static,
        <Self as Service<Request<I>>>::Future: Send + 'static,
        S: Service<Request<I>>,
        F: Service<Request<I>, Response = S::Response> + Clone + Send + Sync + 'static,
        F::Error: Into<WorkflowError>,
        F::Future: Send + 'static,
        I: Send + 'static,
    {
        Fallback::new(self)
            .or_named("timeout_fallback", fallback)
            .only_on(|e| matches!(e, WorkflowError::Timeout { .. }))
    }
}

impl<S, I> Service<Request<I>> for Timeout<S>
where
    S: Service<Request<I>>,
    S::Error: Into<WorkflowError>,
{
    type Response = S::Response;
    type Error = WorkflowError;
    type Future = NodeFuture<TimeoutFuture<S::Future>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, req: Request<I>) -> Self::Future {
        NodeFuture::run_wrapping(self, req.ctx, PrimitiveType::Timeout, |this, ctx| {
            let inner = this.inner.call(Request::new(ctx.child(), req.input));
            TimeoutFuture {
                inner: tokio::time::timeout(this.after, inner),
                after: this.after,
                ctx,
                name: this.name.clone(),
            }
        })
    }
}

pin_project! {
    /// The future of a [`Timeout`].
    #[must_use = "futures do nothing unless polled"]
    pub struct TimeoutFuture<F> {
        #[pin]
        inner: tokio::time::Timeout<F>,
        after: Duration,
        ctx: WorkflowContext,
        name: Name,
    }
}

impl<F, T, E> Future for TimeoutFuture<F>
where
    F: Future<Output = Result<T, E>>,
    E: Into<WorkflowError>,
{
    type Output = Result<T, WorkflowError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        match this.inner.poll(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(Ok(result)) => Poll::Ready(result.map_err(Into::into)),
            Poll::Ready(Err(_elapsed)) => {
                let after = *this.after;
                emit(this.ctx, this.name, PrimitiveType::Timeout, || {
                    Event::TimedOut { after }
                });
                Poll::Ready(Err(WorkflowError::Timeout { after }))
            }
        }
    }
}

impl_primitive!(Timeout<S>);

/// Wraps services in a [`Timeout`] with one deadline, for tower's
/// `ServiceBuilder`.
///
/// ```
/// use std::time::Duration;
/// use tower::{ServiceBuilder, ServiceExt};
/// use tta_primitives_core::{prelude::*, timeout::TimeoutLayer};
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)] async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let slow = ServiceBuilder::new()
///     .layer(TimeoutLayer::new(Duration::from_secs(1))?)
///     .service(lambda(|x: u32| async move {
///         tokio::time::sleep(Duration::from_secs(5)).await;
///         Ok::<_, WorkflowError>(x)
///     }));
/// let err = slow.oneshot(Request::new(WorkflowContext::new("wf"), 1)).await.unwrap_err();
/// assert_eq!(err.kind(), "timeout");
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct TimeoutLayer {
    after: Duration,
    name: Name,
}

impl TimeoutLayer {
    /// Bounds each wrapped service to `after`; nodes are named `timeout`
    /// unless named.
    ///
    /// # Errors
    /// A zero duration ([`ConfigError`] naming `timeout.after`), as
    /// [`Timeout::new`].
    pub fn new(after: Duration) -> Result<Self, ConfigError> {
        let Timeout { after, name, .. } = Timeout::new((), after)?;
        Ok(Self { after, name })
    }
}

impl<S> tower::Layer<S> for TimeoutLayer {
    type Service = Timeout<S>;

    fn layer(&self, inner: S) -> Timeout<S> {
        Timeout {
            inner,
            after: self.after,
            name: self.name.clone(),
        }
    }
}

crate::name::impl_named!(TimeoutLayer);
crate::name::impl_named!(Timeout<S>);
