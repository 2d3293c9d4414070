//! Typed fan-out: [`join`] runs two to five branches with **different**
//! output types on the same input and returns their outputs as a tuple.
//!
//! It is the [parallel](crate::parallel) primitive for branches that do not
//! share one output type (a user and their orders), with the same
//! semantics and observed the same way (a node of type `parallel`, one
//! child per branch, in branch order):
//!
//! * every branch gets a clone of the input and its own
//!   [child](crate::WorkflowContext::child) context, and the branches run
//!   concurrently on the calling task;
//! * fail-fast (the default): the first branch error is returned as is and
//!   the sibling branches still running are cancelled (their futures are
//!   dropped);
//! * [`Join::collect_all`]: every branch runs to completion and the result
//!   is a tuple of one `Result` per branch.
//!
//! Like [`Parallel`](crate::parallel::Parallel), `join` decides inside the
//! call: its `poll_ready` is always ready, and each branch is driven with
//! `oneshot` (which waits for that branch's own readiness). Each branch's
//! future is boxed: one allocation per branch per call.
//!
//! ```
//! use tower::ServiceExt;
//! use tta_primitives_core::prelude::*;
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), WorkflowError> {
//! let user = lambda(|id: u32| async move { Ok::<_, WorkflowError>(format!("user-{id}")) });
//! let orders = lambda(|id: u32| async move { Ok::<_, WorkflowError>(vec![id * 10, id * 10 + 1]) });
//! let missing = lambda(|_: u32| async move { Err::<bool, _>(WorkflowError::msg("down")) });
//!
//! let ctx = || WorkflowContext::new("profile");
//! let (name, list) = join((user.clone(), orders.clone()))
//!     .oneshot(Request::new(ctx(), 4))
//!     .await?;
//! assert_eq!((name.as_str(), list), ("user-4", vec![40, 41]));
//!
//! let (name, flag) = join((user, missing))
//!     .collect_all()
//!     .oneshot(Request::new(ctx(), 4))
//!     .await?;
//! assert_eq!(name?, "user-4");
//! assert_eq!(flag.unwrap_err().kind(), "downstream");
//! # Ok(()) }
//! ```

use std::{
    future::Future,
    task::{Context, Poll},
};

use futures_util::{FutureExt, future};
use tower::Service;

use crate::{
    Name, Request, WorkflowContext, WorkflowError,
    node::NodeFuture,
    observe::PrimitiveType,
    parallel::{BranchFuture, start_one},
    primitive::impl_primitive,
};

/// Runs the services of `branches` (a tuple of two to five) concurrently on
/// the same input and returns their outputs as a tuple, in branch order;
/// fail-fast. See the [module docs](self).
pub fn join<T>(branches: T) -> Join<T> {
    Join {
        branches,
        name: Name::new_static("join"),
    }
}

/// A tuple of branches that take the same input `I`, each with its own
/// output type. Implemented for tuples of two to five services.
pub trait JoinBranches<I> {
    /// The tuple of the branches' outputs.
    type Output;
    /// The tuple of the branches' results ([`Join::collect_all`]).
    type Settled;
    /// Joins the branches' futures, failing fast.
    type Future: Future<Output = Result<Self::Output, WorkflowError>>;
    /// Joins the branches' futures, every one to completion.
    type SettledFuture: Future<Output = Self::Settled>;

    /// Starts every branch (in order) on a clone of `input`, each under a
    /// child of `ctx`, failing fast.
    fn start(&self, ctx: &WorkflowContext, input: &I) -> Self::Future;

    /// Starts every branch (in order), each run to completion.
    fn start_settled(&self, ctx: &WorkflowContext, input: &I) -> Self::SettledFuture;
}

macro_rules! join_branches {
    ($try_join:ident, $try_ty:ident, $join:ident, $join_ty:ident; $($s:ident $v:ident),+) => {
        impl<I, $($s),+> JoinBranches<I> for ($($s,)+)
        where
            I: Clone + Send + 'static,
            $(
                $s: Service<Request<I>> + Clone + Send + 'static,
                $s::Error: Into<WorkflowError>,
                $s::Future: Send + 'static,
            )+
        {
            type Output = ($($s::Response,)+);
            type Settled = ($(Result<$s::Response, WorkflowError>,)+);
            type Future = future::$try_ty<$(BranchFuture<$s::Response>),+>;
            type SettledFuture = future::$join_ty<$(BranchFuture<$s::Response>),+>;

            fn start(&self, ctx: &WorkflowContext, input: &I) -> Self::Future {
                let ($($v,)+) = self;
                future::$try_join($(start_one($v, ctx, input)),+)
            }

            fn start_settled(&self, ctx: &WorkflowContext, input: &I) -> Self::SettledFuture {
                let ($($v,)+) = self;
                future::$join($(start_one($v, ctx, input)),+)
            }
        }
    };
}

join_branches!(try_join, TryJoin, join, Join; A a, B b);
join_branches!(try_join3, TryJoin3, join3, Join3; A a, B b, C c);
join_branches!(try_join4, TryJoin4, join4, Join4; A a, B b, C c, D d);
join_branches!(try_join5, TryJoin5, join5, Join5; A a, B b, C c, D d, E e);

/// Runs a tuple of branches concurrently; fail-fast. Built by [`join`].
#[derive(Debug, Clone)]
pub struct Join<T> {
    branches: T,
    name: Name,
}

impl<T> Join<T> {
    /// Runs every branch to completion and returns a tuple of one `Result`
    /// per branch instead of failing fast.
    pub fn collect_all(self) -> JoinSettled<T> {
        JoinSettled { inner: self }
    }
}

impl<T, I> Service<Request<I>> for Join<T>
where
    T: JoinBranches<I>,
{
    type Response = T::Output;
    type Error = WorkflowError;
    type Future = NodeFuture<T::Future>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request<I>) -> Self::Future {
        NodeFuture::run(self, req.ctx, PrimitiveType::Parallel, |this, ctx| {
            this.branches.start(&ctx, &req.input)
        })
    }
}

/// A [`Join`] that collects every branch's result. Built by
/// [`Join::collect_all`]; never fails itself.
#[derive(Debug, Clone)]
pub struct JoinSettled<T> {
    inner: Join<T>,
}

/// Wraps a settled tuple as the node's (never failing) result.
type Settle<T> = fn(T) -> Result<T, WorkflowError>;

impl<T, I> Service<Request<I>> for JoinSettled<T>
where
    T: JoinBranches<I>,
{
    type Response = T::Settled;
    type Error = WorkflowError;
    type Future = NodeFuture<future::Map<T::SettledFuture, Settle<T::Settled>>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request<I>) -> Self::Future {
        NodeFuture::run(self, req.ctx, PrimitiveType::Parallel, |this, ctx| {
            this.inner
                .branches
                .start_settled(&ctx, &req.input)
                .map(Ok as Settle<T::Settled>)
        })
    }
}

impl_primitive!(Join<T>);
impl_primitive!(JoinSettled<T>);
crate::name::impl_named!(Join<T>);

impl<T> crate::Named for JoinSettled<T> {
    fn name(&self) -> &Name {
        &self.inner.name
    }

    fn rename(&mut self, name: Name) {
        self.inner.name = name;
    }
}
