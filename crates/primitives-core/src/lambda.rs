//! Plain async functions as primitives.

use std::{
    future::Future,
    task::{Context, Poll},
};

use tower::Service;

use crate::{
    Name, Request, WorkflowContext, WorkflowError, future::IntoWorkflowError, node::NodeFuture,
    observe::PrimitiveType, primitive::impl_primitive,
};

/// A primitive that runs an async function of the context and the input.
///
/// Created by [`from_fn`] or [`lambda`]. Always ready; cloning clones the
/// function (closures are `Clone` when what they capture is).
#[derive(Debug, Clone)]
pub struct FnPrimitive<F> {
    f: F,
    name: Name,
}

/// A primitive from an async function of the context and the input.
///
/// ```
/// use tower::ServiceExt;
/// use tta_primitives_core::prelude::*;
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), WorkflowError> {
/// let greet = from_fn(|ctx: WorkflowContext, name: String| async move {
///     Ok::<_, WorkflowError>(format!("{} greets {name}", ctx.workflow_name()))
/// });
/// let out = greet.oneshot(Request::new(WorkflowContext::new("hello"), "Ada".into())).await?;
/// assert_eq!(out, "hello greets Ada");
/// # Ok(()) }
/// ```
pub fn from_fn<I, O, E, Fut, F>(f: F) -> FnPrimitive<F>
where
    F: Fn(WorkflowContext, I) -> Fut,
    Fut: Future<Output = Result<O, E>>,
    E: Into<WorkflowError>,
{
    FnPrimitive {
        f,
        name: Name::new_static("lambda"),
    }
}

/// A primitive from an async function of the input alone.
///
/// ```
/// use tower::ServiceExt;
/// use tta_primitives_core::prelude::*;
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), WorkflowError> {
/// let inc = lambda(|x: u64| async move { Ok::<_, WorkflowError>(x + 1) });
/// assert_eq!(inc.oneshot(Request::new(WorkflowContext::new("wf"), 1)).await?, 2);
/// # Ok(()) }
/// ```
pub fn lambda<I, O, E, Fut, F>(
    f: F,
) -> FnPrimitive<impl Fn(WorkflowContext, I) -> Fut + Clone + Send + Sync + 'static>
where
    F: Fn(I) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = Result<O, E>>,
    E: Into<WorkflowError>,
{
    from_fn(move |_ctx: WorkflowContext, input: I| f(input))
}

impl<F, I, O, E, Fut> Service<Request<I>> for FnPrimitive<F>
where
    F: Fn(WorkflowContext, I) -> Fut,
    Fut: Future<Output = Result<O, E>>,
    E: Into<WorkflowError>,
{
    type Response = O;
    type Error = WorkflowError;
    type Future = NodeFuture<IntoWorkflowError<Fut>>;

    #[inline]
    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    #[inline]
    fn call(&mut self, req: Request<I>) -> Self::Future {
        NodeFuture::run(self, req.ctx, PrimitiveType::Lambda, |this, ctx| {
            IntoWorkflowError::new((this.f)(ctx, req.input))
        })
    }
}

impl_primitive!(FnPrimitive<F>);
crate::name::impl_named!(FnPrimitive<F>);
