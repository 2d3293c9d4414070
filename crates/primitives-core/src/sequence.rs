//! Sequential composition: `a >> b`.
//!
//! [`Sequence`] runs `a`, then feeds its output to `b`; the first error ends
//! the sequence and is returned unchanged. Each step gets a
//! [child](crate::WorkflowContext::child) of the sequence's context. Chains
//! are associative: `(a >> b) >> c` and `a >> (b >> c)` give the same
//! result and the same error.
//!
//! A chain `a >> b >> c` is **one** sequence node with three steps: extending
//! an unnamed sequence with `>>` flattens it (the inner sequence stops being
//! a node of its own), so traces show one `sequence` span with one child per
//! step. Name a sequence with [`named`](crate::Named::named) to keep it as its own node.
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
use tower::Service;

use crate::{
    Name, Request, WorkflowContext, WorkflowError,
    node::{NodeFuture, enter},
    observe::PrimitiveType,
};

/// Runs `first`, then `second` on its output. Built by `a >> b` or
/// [`Sequence::new`].
#[derive(Debug, Clone)]
pub struct Sequence<A, B> {
    first: A,
    second: B,
    name: Name,
    /// Whether the user named it (named sequences are never flattened).
    named: bool,
    /// Set when this sequence was extended by `>>` without being named: it
    /// is then part of the outer sequence, not a node of its own.
    flattened: bool,
}

impl<A, B> Sequence<A, B> {
    /// A sequence of `first` then `second`.
    pub fn new(first: A, second: B) -> Self {
        Self {
            first,
            second,
            name: Name::new_static("sequence"),
            named: false,
            flattened: false,
        }
    }

    /// The two steps.
    pub fn steps(&self) -> (&A, &B) {
        (&self.first, &self.second)
    }
}

impl<A, B> Sequence<A, B> {
    /// Calls the first step under `first_ctx`; the second runs under `ctx`
    /// (a sibling of the first step's when flattened).
    #[inline(always)]
    fn start<I>(
        &mut self,
        first_ctx: WorkflowContext,
        ctx: WorkflowContext,
        input: I,
    ) -> SequenceFuture<A::Future, B, A::Response>
    where
        A: Service<Request<I>>,
        B: Service<Request<A::Response>> + Clone,
    {
        let first = self.first.call(Request::new(first_ctx, input));
        SequenceFuture {
            flattened: self.flattened,
            state: State::First {
                fut: first,
                next: Some((ctx, self.second.clone())),
            },
        }
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
    type Future = NodeFuture<SequenceFuture<A::Future, B, A::Response>>;

    #[inline]
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.first.poll_ready(cx).map_err(Into::into)
    }

    #[inline]
    fn call(&mut self, req: Request<I>) -> Self::Future {
        let mut ctx = req.ctx;
        // A flattened sequence's part has no node of its own (the enclosing
        // sequence is the node): the context handed to it is the first
        // step's, and later steps get siblings of it.
        let (first_ctx, run) = if self.flattened {
            (ctx.clone(), None)
        } else {
            let run = enter(&mut ctx, &self.name, PrimitiveType::Sequence);
            (ctx.child(), run)
        };
        NodeFuture::from_run(self.start(first_ctx, ctx, req.input), run)
    }
}

pin_project! {
    /// The future of a [`Sequence`].
    #[must_use = "futures do nothing unless polled"]
    pub struct SequenceFuture<FA, B, M>
    where
        B: Service<Request<M>>,
    {
        flattened: bool,
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
            // The sequence's own context (or, flattened, the first step's),
            // and the second step.
            next: Option<(WorkflowContext, B)>,
        },
        // Waiting for the second step to be ready.
        Ready {
            second: B,
            req: Option<Request<M>>,
        },
        Second {
            #[pin]
            fut: B::Future,
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
    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        loop {
            match this.state.as_mut().project() {
                StateProj::First { fut, next } => {
                    let output = ready!(fut.poll(cx)).map_err(Into::into)?;
                    let (ctx, second) =
                        next.take().expect("SequenceFuture polled after completion");
                    let ctx = if *this.flattened {
                        ctx.into_sibling()
                    } else {
                        ctx.into_child()
                    };
                    let mut second = second;
                    let req = Request::new(ctx, output);
                    // Usually ready at once: go straight to the call.
                    let next = match second.poll_ready(cx) {
                        Poll::Ready(Ok(())) => State::Second {
                            fut: second.call(req),
                        },
                        Poll::Ready(Err(e)) => return Poll::Ready(Err(e.into())),
                        Poll::Pending => State::Ready {
                            second,
                            req: Some(req),
                        },
                    };
                    this.state.set(next);
                }
                StateProj::Ready { second, req } => {
                    ready!(second.poll_ready(cx)).map_err(Into::into)?;
                    let req = req.take().expect("SequenceFuture polled after completion");
                    let fut = second.call(req);
                    this.state.set(State::Second { fut });
                }
                StateProj::Second { fut } => return fut.poll(cx).map_err(Into::into),
            }
        }
    }
}

impl<A, B> crate::primitive::Primitive for Sequence<A, B> {}

impl<A, B, Rhs> std::ops::Shr<Rhs> for Sequence<A, B> {
    type Output = Sequence<Self, Rhs>;

    /// Appends a step. An unnamed sequence is flattened into the result (one
    /// node with one more step); a named one stays a node of its own.
    fn shr(mut self, rhs: Rhs) -> Self::Output {
        self.flattened = !self.named;
        Sequence::new(self, rhs)
    }
}

impl<A, B, Rhs> std::ops::BitOr<Rhs> for Sequence<A, B> {
    type Output =
        crate::parallel::Parallel<(crate::parallel::Branch<Self>, crate::parallel::Branch<Rhs>)>;

    /// `self | rhs`: run both on the same input, concurrently.
    fn bitor(self, rhs: Rhs) -> Self::Output {
        crate::parallel::Parallel::from_branches((
            crate::parallel::Branch::new(self),
            crate::parallel::Branch::new(rhs),
        ))
    }
}

/// The default name is `sequence`; a named sequence stays a node of its own
/// when extended with `>>`.
impl<A, B> crate::Named for Sequence<A, B> {
    fn name(&self) -> &Name {
        &self.name
    }

    fn rename(&mut self, name: Name) {
        self.name = name;
        self.named = true;
    }
}
