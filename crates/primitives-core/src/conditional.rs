//! Conditional: run `then` when a predicate holds, else `otherwise`.
//!
//! [`Conditional`] evaluates its predicate on the context and input, then
//! runs exactly one branch under a child context. Without an `otherwise`
//! branch the input passes through unchanged (so `then` must return the
//! input's type).
//!
//! ```
//! use tower::ServiceExt;
//! use tta_primitives_core::prelude::*;
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), WorkflowError> {
//! let ctx = || WorkflowContext::new("pricing");
//! let discount = lambda(|p: u32| async move { Ok::<_, WorkflowError>(p * 9 / 10) });
//! let surcharge = lambda(|p: u32| async move { Ok::<_, WorkflowError>(p + 5) });
//!
//! let only_big = when(|_, p: &u32| *p >= 100, discount.clone());
//! assert_eq!(only_big.clone().oneshot(Request::new(ctx(), 200)).await?, 180);
//! assert_eq!(only_big.oneshot(Request::new(ctx(), 50)).await?, 50); // passed through
//!
//! let either = when(|_, p: &u32| *p >= 100, discount).otherwise(surcharge);
//! assert_eq!(either.oneshot(Request::new(ctx(), 50)).await?, 55);
//! # Ok(()) }
//! ```

use std::{
    future::{Future, Ready, ready},
    pin::Pin,
    task::{Context, Poll},
};

use pin_project_lite::pin_project;
use tower::{Service, ServiceExt, util::Oneshot};

use crate::{
    Name, Request, WorkflowContext, WorkflowError, node::NodeFuture, observe::PrimitiveType,
    primitive::impl_primitive,
};

/// The identity primitive: returns its input. The `otherwise` branch of a
/// [`Conditional`] built without one.
#[derive(Debug, Clone, Copy, Default)]
pub struct PassThrough;

impl<I> Service<Request<I>> for PassThrough {
    type Response = I;
    type Error = WorkflowError;
    type Future = Ready<Result<I, WorkflowError>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request<I>) -> Self::Future {
        ready(Ok(req.input))
    }
}

/// Runs `then` when the predicate holds, otherwise `otherwise`.
#[derive(Debug, Clone)]
pub struct Conditional<P, T, E = PassThrough> {
    predicate: P,
    then: T,
    otherwise: E,
    name: Name,
}

/// A [`Conditional`] that runs `then` when `predicate` holds and passes the
/// input through otherwise; add an else branch with
/// [`otherwise`](Conditional::otherwise).
pub fn when<P, T, I>(predicate: P, then: T) -> Conditional<P, T>
where
    P: Fn(&WorkflowContext, &I) -> bool,
{
    Conditional {
        predicate,
        then,
        otherwise: PassThrough,
        name: Name::new_static("conditional"),
    }
}

impl<P, T, E> Conditional<P, T, E> {
    /// Sets the branch that runs when the predicate does not hold.
    pub fn otherwise<E2>(self, otherwise: E2) -> Conditional<P, T, E2> {
        Conditional {
            predicate: self.predicate,
            then: self.then,
            otherwise,
            name: self.name,
        }
    }
}

impl<P, T, E, I> Service<Request<I>> for Conditional<P, T, E>
where
    P: Fn(&WorkflowContext, &I) -> bool,
    T: Service<Request<I>> + Clone,
    T::Error: Into<WorkflowError>,
    E: Service<Request<I>, Response = T::Response> + Clone,
    E::Error: Into<WorkflowError>,
{
    type Response = T::Response;
    type Error = WorkflowError;
    type Future = NodeFuture<ConditionalFuture<T, E, I>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request<I>) -> Self::Future {
        NodeFuture::run(self, req.ctx, PrimitiveType::Conditional, |this, ctx| {
            let chosen = (this.predicate)(&ctx, &req.input);
            let child = Request::new(ctx.into_child(), req.input);
            ConditionalFuture {
                inner: if chosen {
                    Branch::Then {
                        fut: this.then.clone().oneshot(child),
                    }
                } else {
                    Branch::Otherwise {
                        fut: this.otherwise.clone().oneshot(child),
                    }
                },
            }
        })
    }
}

pin_project! {
    /// The future of a [`Conditional`].
    #[must_use = "futures do nothing unless polled"]
    pub struct ConditionalFuture<T, E, I>
    where
        T: Service<Request<I>>,
        E: Service<Request<I>>,
    {
        #[pin]
        inner: Branch<T, E, I>,
    }
}

pin_project! {
    #[project = BranchProj]
    enum Branch<T, E, I>
    where
        T: Service<Request<I>>,
        E: Service<Request<I>>,
    {
        Then { #[pin] fut: Oneshot<T, Request<I>> },
        Otherwise { #[pin] fut: Oneshot<E, Request<I>> },
    }
}

impl<T, E, I> Future for ConditionalFuture<T, E, I>
where
    T: Service<Request<I>>,
    T::Error: Into<WorkflowError>,
    E: Service<Request<I>, Response = T::Response>,
    E::Error: Into<WorkflowError>,
{
    type Output = Result<T::Response, WorkflowError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project().inner.project() {
            BranchProj::Then { fut } => fut.poll(cx).map_err(Into::into),
            BranchProj::Otherwise { fut } => fut.poll(cx).map_err(Into::into),
        }
    }
}

impl_primitive!(Conditional<P, T, E>);
crate::name::impl_named!(Conditional<P, T, E>);
