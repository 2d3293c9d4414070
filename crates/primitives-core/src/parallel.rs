//! Parallel fan-out: `a | b | c`.
//!
//! [`Parallel`] gives every branch a clone of the same input (and its own
//! [child](crate::WorkflowContext::child) context) and runs the branches
//! concurrently on the calling task. Results come back **in branch order**,
//! whatever order the branches finish in.
//!
//! * Fail-fast (the default): the first branch error is returned as is and
//!   the sibling branches still running are cancelled (their futures are
//!   dropped).
//! * [`Parallel::collect_all`]: every branch runs to completion and the
//!   result is one `Result` per branch, in branch order.
//!
//! Branches are joined with `|` (typed, any mix of primitive types with the
//! same output) or given as a `Vec` of one type with [`parallel`]. Each
//! branch's future is boxed: one allocation per branch per call.
//!
//! ```
//! use tower::ServiceExt;
//! use tta_primitives_core::prelude::*;
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), WorkflowError> {
//! let double = lambda(|x: u32| async move { Ok::<_, WorkflowError>(x * 2) });
//! let square = lambda(|x: u32| async move { Ok::<_, WorkflowError>(x * x) });
//! let fail = lambda(|_: u32| async move { Err::<u32, _>(WorkflowError::msg("boom")) });
//!
//! let ctx = || WorkflowContext::new("fanout");
//! let both = double.clone() | square.clone();
//! assert_eq!(both.oneshot(Request::new(ctx(), 5)).await?, vec![10, 25]);
//!
//! let settled = (double | fail | square).collect_all();
//! let results = settled.oneshot(Request::new(ctx(), 3)).await?;
//! assert_eq!(results[0].as_ref().ok(), Some(&6));
//! assert_eq!(results[1].as_ref().unwrap_err().kind(), "downstream");
//! assert_eq!(results[2].as_ref().ok(), Some(&9));
//! # Ok(()) }
//! ```

use std::task::{Context, Poll};

use futures_util::future::{BoxFuture, JoinAll, TryJoinAll, join_all, try_join_all};
use tower::{Service, ServiceExt};

use crate::{
    Name, Request, WorkflowContext, WorkflowError, future::IntoWorkflowError, node::NodeFuture,
    observe::PrimitiveType, primitive::impl_primitive,
};

/// The boxed future of one branch.
pub type BranchFuture<O> = BoxFuture<'static, Result<O, WorkflowError>>;

/// A list of branches that all take `I` and produce the same output.
///
/// Implemented for one [`Branch`], for `(list, Branch)` pairs built by `|`,
/// and for `Vec<S>`.
pub trait Branches<I> {
    /// What every branch returns.
    type Output;

    /// The number of branches (sizes the list of their futures).
    fn count(&self) -> usize;

    /// Starts every branch (in order) on a clone of `input`, each under a
    /// child of `ctx`, and appends their futures to `out`.
    fn start(&self, ctx: &WorkflowContext, input: &I, out: &mut Vec<BranchFuture<Self::Output>>);
}

/// One branch of a [`Parallel`].
#[derive(Debug, Clone)]
pub struct Branch<S> {
    service: S,
}

impl<S> Branch<S> {
    /// Wraps `service` as a branch.
    pub fn new(service: S) -> Self {
        Self { service }
    }
}

pub(crate) fn start_one<S, I>(
    service: &S,
    ctx: &WorkflowContext,
    input: &I,
) -> BranchFuture<S::Response>
where
    S: Service<Request<I>> + Clone + Send + 'static,
    S::Error: Into<WorkflowError>,
    S::Future: Send + 'static,
    I: Clone + Send + 'static,
{
    let req = Request::new(ctx.child(), input.clone());
    Box::pin(IntoWorkflowError::new(service.clone().oneshot(req)))
}

impl<S, I> Branches<I> for Branch<S>
where
    S: Service<Request<I>> + Clone + Send + 'static,
    S::Error: Into<WorkflowError>,
    S::Future: Send + 'static,
    I: Clone + Send + 'static,
{
    type Output = S::Response;

    fn count(&self) -> usize {
        1
    }

    fn start(&self, ctx: &WorkflowContext, input: &I, out: &mut Vec<BranchFuture<S::Response>>) {
        out.push(start_one(&self.service, ctx, input));
    }
}

impl<L, S, I> Branches<I> for (L, Branch<S>)
where
    L: Branches<I>,
    Branch<S>: Branches<I, Output = L::Output>,
{
    type Output = L::Output;

    fn count(&self) -> usize {
        self.0.count() + 1
    }

    fn start(&self, ctx: &WorkflowContext, input: &I, out: &mut Vec<BranchFuture<L::Output>>) {
        self.0.start(ctx, input, out);
        self.1.start(ctx, input, out);
    }
}

impl<S, I> Branches<I> for Vec<S>
where
    S: Service<Request<I>> + Clone + Send + 'static,
    S::Error: Into<WorkflowError>,
    S::Future: Send + 'static,
    I: Clone + Send + 'static,
{
    type Output = S::Response;

    fn count(&self) -> usize {
        self.len()
    }

    fn start(&self, ctx: &WorkflowContext, input: &I, out: &mut Vec<BranchFuture<S::Response>>) {
        out.extend(self.iter().map(|s| start_one(s, ctx, input)));
    }
}

/// Runs branches concurrently on the same input; fail-fast. Built by `a | b`
/// or [`parallel`].
#[derive(Debug, Clone)]
pub struct Parallel<L> {
    branches: L,
    name: Name,
}

/// A fail-fast [`Parallel`] over branches of one type.
///
/// ```
/// use tower::ServiceExt;
/// use tta_primitives_core::prelude::*;
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), WorkflowError> {
/// let shards: Vec<_> = (0..4u32)
///     .map(|shard| lambda(move |q: u32| async move { Ok::<_, WorkflowError>(q * 10 + shard) }))
///     .collect();
/// let out = parallel(shards).oneshot(Request::new(WorkflowContext::new("search"), 7)).await?;
/// assert_eq!(out, vec![70, 71, 72, 73]);
/// # Ok(()) }
/// ```
pub fn parallel<S>(branches: Vec<S>) -> Parallel<Vec<S>> {
    Parallel::from_branches(branches)
}

impl<L> Parallel<L> {
    /// A parallel node over `branches`.
    pub fn from_branches(branches: L) -> Self {
        Self {
            branches,
            name: Name::new_static("parallel"),
        }
    }

    /// Runs every branch to completion and returns one `Result` per branch,
    /// in branch order, instead of failing fast.
    pub fn collect_all(self) -> ParallelSettled<L> {
        ParallelSettled { inner: self }
    }

    /// Starts every branch on a clone of the input, each under a child
    /// of the node's context.
    fn start<I>(&self, ctx: &WorkflowContext, input: &I) -> Vec<BranchFuture<L::Output>>
    where
        L: Branches<I>,
    {
        let mut futures = Vec::with_capacity(self.branches.count());
        self.branches.start(ctx, input, &mut futures);
        futures
    }
}

impl<L, I> Service<Request<I>> for Parallel<L>
where
    L: Branches<I>,
{
    type Response = Vec<L::Output>;
    type Error = WorkflowError;
    type Future = NodeFuture<TryJoinAll<BranchFuture<L::Output>>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request<I>) -> Self::Future {
        NodeFuture::run(self, req.ctx, PrimitiveType::Parallel, |this, ctx| {
            try_join_all(this.start(&ctx, &req.input))
        })
    }
}

impl_primitive!(@seq Parallel<L>);

impl<L, Rhs> std::ops::BitOr<Rhs> for Parallel<L> {
    type Output = Parallel<(L, Branch<Rhs>)>;

    /// Appends a branch.
    fn bitor(self, rhs: Rhs) -> Self::Output {
        Parallel {
            branches: (self.branches, Branch::new(rhs)),
            name: self.name,
        }
    }
}

/// A [`Parallel`] that collects every branch's result. Built by
/// [`Parallel::collect_all`]; never fails itself.
#[derive(Debug, Clone)]
pub struct ParallelSettled<L> {
    inner: Parallel<L>,
}

impl<L, I> Service<Request<I>> for ParallelSettled<L>
where
    L: Branches<I>,
{
    type Response = Vec<Result<L::Output, WorkflowError>>;
    type Error = WorkflowError;
    type Future = NodeFuture<
        futures_util::future::Map<
            JoinAll<BranchFuture<L::Output>>,
            fn(Vec<Result<L::Output, WorkflowError>>) -> Result<Self::Response, WorkflowError>,
        >,
    >;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request<I>) -> Self::Future {
        use futures_util::FutureExt;
        NodeFuture::run(self, req.ctx, PrimitiveType::Parallel, |this, ctx| {
            join_all(this.inner.start(&ctx, &req.input)).map(Ok as fn(_) -> _)
        })
    }
}

impl_primitive!(ParallelSettled<L>);
crate::name::impl_named!(Parallel<L>);

impl<L> crate::Named for ParallelSettled<L> {
    fn name(&self) -> &Name {
        &self.inner.name
    }

    fn rename(&mut self, name: Name) {
        self.inner.name = name;
    }
}
