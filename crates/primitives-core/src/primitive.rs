//! The primitive model: every primitive is a `tower::Service<Request<I>>`.
//!
//! This module holds what all primitives share: the [`Primitive`] marker that
//! gives them the composition operators and builder methods of
//! [`WorkflowExt`], [`step`] to bring any other tower service into a workflow,
//! and [`BoxPrimitive`] for type-erased workflows.

use std::{
    future::Future,
    task::{Context, Poll},
    time::Duration,
};

use tower::{Service, ServiceExt, util::BoxCloneSyncService};

use crate::{future::IntoWorkflowError, node::NodeFuture, observe::PrimitiveType};

use crate::{
    ConfigError, Name, Request, WorkflowContext, WorkflowError,
    cache::{Cache, CacheConfig},
    circuit_breaker::{BreakerConfig, CircuitBreaker},
    fallback::Fallback,
    retry::{Retry, RetryPolicy},
    saga::SagaStep,
    timeout::Timeout,
};

/// Marks the types that compose with `>>`, `|` and the [`WorkflowExt`]
/// builder methods: every primitive of this crate, and any tower service
/// wrapped with [`step`].
///
/// Operators are implemented per type (Rust does not allow them for every
/// `T`), which is why foreign services enter a workflow through [`step`] or
/// stand on the right-hand side of an operator.
pub trait Primitive {}

/// Implements [`Primitive`], `>>` and `|` for a primitive type.
macro_rules! impl_primitive {
    (@seq $ty:ident < $($g:ident),* >) => {
        impl<$($g),*> $crate::primitive::Primitive for $ty<$($g),*> {}

        impl<$($g,)* Rhs> ::std::ops::Shr<Rhs> for $ty<$($g),*> {
            type Output = $crate::sequence::Sequence<Self, Rhs>;
            /// `self >> rhs`: run `self`, feed its output to `rhs`.
            fn shr(self, rhs: Rhs) -> Self::Output {
                $crate::sequence::Sequence::new(self, rhs)
            }
        }
    };
    ($ty:ident < $($g:ident),* >) => {
        impl_primitive!(@seq $ty<$($g),*>);

        impl<$($g,)* Rhs> ::std::ops::BitOr<Rhs> for $ty<$($g),*> {
            type Output = $crate::parallel::Parallel<(
                $crate::parallel::Branch<Self>,
                $crate::parallel::Branch<Rhs>,
            )>;
            /// `self | rhs`: run both on the same input, concurrently.
            fn bitor(self, rhs: Rhs) -> Self::Output {
                $crate::parallel::Parallel::from_branches((
                    $crate::parallel::Branch::new(self),
                    $crate::parallel::Branch::new(rhs),
                ))
            }
        }
    };
}
pub(crate) use impl_primitive;

/// Builder methods shared by every [`Primitive`].
///
/// ```
/// use std::time::Duration;
/// use tower::ServiceExt;
/// use tta_primitives_core::prelude::*;
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let fetch = lambda(|id: u32| async move { Ok::<_, WorkflowError>(format!("user-{id}")) })
///     .retry(RetryPolicy::builder().max_attempts(3).build()?)
///     .timeout(Duration::from_secs(2))?;
/// let out = fetch.oneshot(Request::new(WorkflowContext::new("profile"), 7)).await?;
/// assert_eq!(out, "user-7");
/// # Ok(()) }
/// ```
pub trait WorkflowExt: Primitive + Sized {
    /// Retries failed calls as `policy` says. See [`crate::retry`].
    fn retry(self, policy: RetryPolicy) -> Retry<Self> {
        Retry::new(self, policy)
    }

    /// Cancels calls that take longer than `after`. See [`crate::timeout`].
    ///
    /// # Errors
    /// A zero duration is rejected with a [`ConfigError`] naming
    /// `timeout.after`.
    fn timeout(self, after: Duration) -> Result<Timeout<Self>, ConfigError> {
        Timeout::new(self, after)
    }

    /// Tries `alternative` when `self` fails. Chain more legs with
    /// [`Fallback::or`]. See [`crate::fallback`].
    fn fallback<I, A>(self, alternative: A) -> Fallback<I, Self::Response>
    where
        Self: Service<Request<I>> + Clone + Send + Sync + 'static,
        Self::Error: Into<WorkflowError>,
        Self::Future: Send + 'static,
        A: Service<Request<I>, Response = Self::Response> + Clone + Send + Sync + 'static,
        A::Error: Into<WorkflowError>,
        A::Future: Send + 'static,
        I: Send + 'static,
    {
        Fallback::new(self).or(alternative)
    }

    /// Memoises results by `key`. See [`crate::cache`].
    fn cache<I, K, F>(self, key: F, config: CacheConfig) -> Cache<Self, F, K, Self::Response>
    where
        Self: Service<Request<I>>,
        F: Fn(&WorkflowContext, &I) -> K,
        K: std::hash::Hash + Eq,
    {
        Cache::new(self, key, config)
    }

    /// Stops calling `self` while it keeps failing. See
    /// [`crate::circuit_breaker`].
    fn circuit_breaker(self, config: BreakerConfig) -> CircuitBreaker<Self> {
        CircuitBreaker::new(self, config)
    }

    /// Pairs `self` with the step that undoes it, for use in a
    /// [`Saga`](crate::saga::Saga).
    fn with_compensation<C>(self, compensation: C) -> SagaStep<Self, C> {
        SagaStep::new(self, compensation)
    }

    /// Erases the type, keeping the shape `I -> Response`. (Named so as not to
    /// clash with `tower::ServiceExt::boxed`.)
    fn into_boxed<I>(self) -> BoxPrimitive<I, Self::Response>
    where
        Self: Service<Request<I>> + Clone + Send + Sync + 'static,
        Self::Error: Into<WorkflowError>,
        Self::Future: Send + 'static,
    {
        BoxPrimitive::new(self)
    }
}

impl<T: Primitive> WorkflowExt for T {}

/// Brings any `tower::Service<Request<I>>` into a workflow, giving it the
/// operators and builder methods of a primitive.
///
/// ```
/// use tower::{ServiceExt, service_fn, limit::ConcurrencyLimit};
/// use tta_primitives_core::prelude::*;
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), WorkflowError> {
/// let double = service_fn(|r: Request<u32>| async move { Ok::<_, WorkflowError>(r.input * 2) });
/// let wf = step(ConcurrencyLimit::new(double, 8)) >> lambda(|x: u32| async move { Ok::<_, WorkflowError>(x + 1) });
/// assert_eq!(wf.oneshot(Request::new(WorkflowContext::new("wf"), 20)).await?, 41);
/// # Ok(()) }
/// ```
pub fn step<S>(service: S) -> Step<S> {
    Step {
        inner: service,
        name: Name::new_static("service"),
    }
}

/// A tower service wrapped by [`step`]: a workflow node (type `service`)
/// whose errors are converted to [`WorkflowError`].
#[derive(Debug, Clone)]
pub struct Step<S> {
    inner: S,
    name: Name,
}

impl<S> Step<S> {
    /// The wrapped service.
    pub fn into_inner(self) -> S {
        self.inner
    }
}

impl<S, I> Service<Request<I>> for Step<S>
where
    S: Service<Request<I>>,
    S::Error: Into<WorkflowError>,
{
    type Response = S::Response;
    type Error = WorkflowError;
    type Future = NodeFuture<IntoWorkflowError<S::Future>>;

    #[inline]
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    #[inline]
    fn call(&mut self, req: Request<I>) -> Self::Future {
        NodeFuture::run(self, req.ctx, PrimitiveType::Service, |this, ctx| {
            IntoWorkflowError::new(this.inner.call(Request::new(ctx, req.input)))
        })
    }
}

impl_primitive!(Step<S>);

/// A type-erased primitive from `I` to `O`: clonable, `Send` and `Sync`.
///
/// Calls cost one heap allocation for the boxed future.
pub struct BoxPrimitive<I, O> {
    inner: BoxCloneSyncService<Request<I>, O, WorkflowError>,
}

impl<I, O> BoxPrimitive<I, O> {
    /// Boxes `service`, converting its errors to [`WorkflowError`].
    pub fn new<S>(service: S) -> Self
    where
        S: Service<Request<I>, Response = O> + Clone + Send + Sync + 'static,
        S::Error: Into<WorkflowError>,
        S::Future: Send + 'static,
    {
        Self {
            inner: BoxCloneSyncService::new(ErrInto(service)),
        }
    }
}

impl<I, O> Clone for BoxPrimitive<I, O> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
        }
    }
}

impl<I, O> std::fmt::Debug for BoxPrimitive<I, O> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BoxPrimitive").finish_non_exhaustive()
    }
}

impl<I, O> Service<Request<I>> for BoxPrimitive<I, O> {
    type Response = O;
    type Error = WorkflowError;
    type Future = futures_util::future::BoxFuture<'static, Result<O, WorkflowError>>;

    #[inline]
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    #[inline]
    fn call(&mut self, req: Request<I>) -> Self::Future {
        self.inner.call(req)
    }
}

impl_primitive!(BoxPrimitive<I, O>);

/// Converts a service's errors into [`WorkflowError`].
#[derive(Clone)]
struct ErrInto<S>(S);

impl<S, I> Service<Request<I>> for ErrInto<S>
where
    S: Service<Request<I>>,
    S::Error: Into<WorkflowError>,
{
    type Response = S::Response;
    type Error = WorkflowError;
    type Future = IntoWorkflowError<S::Future>;

    #[inline]
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.0.poll_ready(cx).map_err(Into::into)
    }

    #[inline]
    fn call(&mut self, req: Request<I>) -> Self::Future {
        IntoWorkflowError::new(self.0.call(req))
    }
}

/// A leg, branch or route: a boxed primitive with a name.
#[derive(Debug)]
pub(crate) struct NamedBox<I, O> {
    pub(crate) name: Name,
    pub(crate) service: BoxPrimitive<I, O>,
}

impl<I, O> Clone for NamedBox<I, O> {
    fn clone(&self) -> Self {
        Self {
            name: self.name.clone(),
            service: self.service.clone(),
        }
    }
}

impl<I, O> NamedBox<I, O> {
    /// Runs the boxed primitive once on `req` (readiness included).
    pub(crate) fn run(
        &self,
        req: Request<I>,
    ) -> impl Future<Output = Result<O, WorkflowError>> + use<I, O>
    where
        I: 'static,
        O: 'static,
    {
        self.service.clone().oneshot(req)
    }
}
crate::name::impl_named!(Step<S>);
