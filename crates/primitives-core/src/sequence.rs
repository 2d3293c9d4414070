//! Sequential composition: `a >> b`.
//!
//! [`Sequence`] runs `a`, then feeds its output to `b`; the first error ends
//! the sequence and is returned unchanged. Each step gets a
//! [child](crate::WorkflowContext::child) of the sequence's context. Chains
//! are associative: `(a >> b) >> c` and `a >> (b >> c)` give the same
//! result and the same error.
//!
//! A sequence adds no heap allocation: its future is a state machine holding
//! the running step's future, and the next step is a clone of the service.
//!
//! ```
//! use tower::ServiceExt;
//! use tta_primitives_core::prelude::*;
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), WorkflowError> {
//! let parse = lambda(|s: String| async move { s.trim().parse::<i64>().map_err(WorkflowError::downstream) });
//! let square = lambda(|x: i64| async move { Ok::<_, WorkflowError>(x * x) });
//! let show = lambda(|x: i64| async move { Ok::<_, WorkflowError>(format!("={x}")) });
//! let wf = parse >> square >> show;
//! assert_eq!(wf.clone().oneshot(Request::new(WorkflowContext::new("calc"), " 12 ".into())).await?, "=144");
//! let err = wf.oneshot(Request::new(WorkflowContext::new("calc"), "x".into())).await.unwrap_err();
//! assert_eq!(err.kind(), "downstream");
//! # Ok(()) }
//! ```

use std::{
    future::Future,
    pin::Pin,
    task::{Context, Poll, ready},
};

use pin_project_lite::pin_project;
use tower::{Service, ServiceExt, util::Oneshot};

use crate::{Name, Request, WorkflowContext, WorkflowError, primitive::impl_primitive};

/// Runs `first`, then `second` on its output. Built by `a >> b` or
/// [`Sequence::new`].
#[derive(Debug, Clone)]
pub struct Sequence<A, B> {
    first: A,
    second: B,
    name: Name,
}

impl<A, B> Sequence<A, B> {
    /// A sequence of `first` then `second`.
    pub fn new(first: A, second: B) -> Self {
        Self {
            first,
            second,
            name: Name::new_static("sequence"),
        }
    }

    /// Names this node (default `sequence`).
    pub fn named(mut self, name: impl Into<Name>) -> Self {
        self.name = name.into();
        self
    }

    /// This node's name.
    pub fn name(&self) -> &Name {
        &self.name
    }

    /// The two steps.
    pub fn steps(&self) -> (&A, &B) {
        (&self.first, &self.second)
    }
}

impl<A, B, I> Service<Request<I>> for Sequence<A, B>
where
    A: Service<Request<I>>,
    A::Error: Into<WorkflowError>,
    B: Service<Request<A::Response>> + Clone,
    B::Error: Into<WorkflowError>,
{
    type Response = B::Response;
    type Error = WorkflowError;
    type Future = SequenceFuture<A::Future, B, A::Response>;

    #[inline]
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.first.poll_ready(cx).map_err(Into::into)
    }

    #[inline]
    fn call(&mut self, req: Request<I>) -> Self::Future {
        let first = self.first.call(Request::new(req.ctx.child(), req.input));
        SequenceFuture {
            state: State::First {
                fut: first,
                next: Some((req.ctx, self.second.clone())),
            },
        }
    }
}

pin_project! {
    /// The future of a [`Sequence`].
    #[must_use = "futures do nothing unless polled"]
    pub struct SequenceFuture<FA, B, M>
    where
        B: Service<Request<M>>,
    {
        #[pin]
        state: State<FA, B, M>,
    }
}

pin_project! {
    #[project = StateProj]
    enum State<FA, B, M>
    where
        B: Service<Request<M>>,
    {
        First {
            #[pin]
            fut: FA,
            // The sequence's own context, and the second step.
            next: Option<(WorkflowContext, B)>,
        },
        Second {
            #[pin]
            fut: Oneshot<B, Request<M>>,
        },
    }
}

impl<FA, B, M, EA> Future for SequenceFuture<FA, B, M>
where
    FA: Future<Output = Result<M, EA>>,
    EA: Into<WorkflowError>,
    B: Service<Request<M>>,
    B::Error: Into<WorkflowError>,
{
    type Output = Result<B::Response, WorkflowError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        loop {
            match this.state.as_mut().project() {
                StateProj::First { fut, next } => {
                    let output = ready!(fut.poll(cx)).map_err(Into::into)?;
                    let (ctx, second) =
                        next.take().expect("SequenceFuture polled after completion");
                    let req = Request::new(ctx.child(), output);
                    this.state.set(State::Second {
                        fut: second.oneshot(req),
                    });
                }
                StateProj::Second { fut } => return fut.poll(cx).map_err(Into::into),
            }
        }
    }
}

impl_primitive!(Sequence<A, B>);
