//! Saga: forward steps paired with compensations.
//!
//! A [`SagaStep`] pairs a forward primitive with the primitive that undoes
//! it; alone it runs just the forward step. A [`Saga`] chains saga steps like
//! a sequence (each output feeds the next step). When a step fails, the
//! compensations of the steps that **completed** run in **reverse order**,
//! each on a clone of its own step's output, under a child context. Every
//! compensation runs even if an earlier one fails. The error,
//! [`WorkflowError::Compensated`], reports the failed step, its error, the
//! compensated steps and every compensation failure (kind `compensated`, or
//! `compensation_failed` when any compensation failed).
//!
//! ```
//! use std::sync::{Arc, Mutex};
//! use tower::ServiceExt;
//! use tta_primitives_core::prelude::*;
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), WorkflowError> {
//! let log = Arc::new(Mutex::new(Vec::<String>::new()));
//! let undo = |what: &'static str| {
//!     let log = log.clone();
//!     lambda(move |_: u32| { log.lock().unwrap().push(format!("undo {what}")); async { Ok::<_, WorkflowError>(()) } })
//! };
//! let reserve = lambda(|order: u32| async move { Ok::<_, WorkflowError>(order) });
//! let charge = lambda(|order: u32| async move { Ok::<_, WorkflowError>(order) });
//! let ship = lambda(|_: u32| async move { Err::<u32, _>(WorkflowError::msg("no courier")) });
//!
//! let checkout = Saga::new(reserve.with_compensation(undo("reserve")).named("reserve"))
//!     .then(charge.with_compensation(undo("charge")).named("charge"))
//!     .then(ship.with_compensation(undo("ship")).named("ship"));
//! let err = checkout.oneshot(Request::new(WorkflowContext::new("checkout"), 42)).await.unwrap_err();
//! assert_eq!(err.kind(), "compensated");
//! assert_eq!(*log.lock().unwrap(), ["undo charge", "undo reserve"]);
//! # Ok(()) }
//! ```

use std::{
    fmt,
    future::Future,
    sync::Arc,
    task::{Context, Poll},
};

use futures_util::future::BoxFuture;
use tower::{Service, ServiceExt};

use crate::{
    Name, Request, WorkflowContext, WorkflowError,
    error::StepFailure,
    node::NodeFuture,
    observe::{Event, PrimitiveType, emit},
    primitive::impl_primitive,
};

/// A forward primitive and its compensation. Built by
/// [`with_compensation`](crate::WorkflowExt::with_compensation).
#[derive(Debug, Clone)]
pub struct SagaStep<F, C> {
    forward: F,
    compensation: C,
    name: Name,
}

impl<F, C> SagaStep<F, C> {
    /// Pairs `forward` with `compensation`, which receives a clone of
    /// `forward`'s output.
    pub fn new(forward: F, compensation: C) -> Self {
        Self {
            forward,
            compensation,
            name: Name::new_static("saga_step"),
        }
    }
}

impl<F, C, I> Service<Request<I>> for SagaStep<F, C>
where
    F: Service<Request<I>>,
{
    type Response = F::Response;
    type Error = F::Error;
    type Future = F::Future;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.forward.poll_ready(cx)
    }

    fn call(&mut self, req: Request<I>) -> Self::Future {
        self.forward.call(req)
    }
}

impl_primitive!(SagaStep<F, C>);

type Compensate =
    Box<dyn FnOnce(WorkflowContext) -> BoxFuture<'static, Result<(), WorkflowError>> + Send>;

/// A completed step and how to undo it.
struct Completed {
    name: Name,
    compensate: Compensate,
}

type Outcome<O> = (Result<O, StepFailure>, Vec<Completed>);
type Runner<I, O> =
    Arc<dyn Fn(WorkflowContext, I, Vec<Completed>) -> BoxFuture<'static, Outcome<O>> + Send + Sync>;

/// Runs one saga step; on success records its compensation.
fn run_step<F, C, I>(
    step: &SagaStep<F, C>,
    ctx: &WorkflowContext,
    input: I,
    mut completed: Vec<Completed>,
) -> impl Future<Output = Outcome<F::Response>> + Send + 'static
where
    F: Service<Request<I>> + Clone + Send + 'static,
    F::Error: Into<WorkflowError>,
    F::Future: Send + 'static,
    F::Response: Clone + Send + 'static,
    C: Service<Request<F::Response>> + Clone + Send + 'static,
    C::Error: Into<WorkflowError>,
    C::Future: Send + 'static,
    I: Send + 'static,
{
    let forward = step
        .forward
        .clone()
        .oneshot(Request::new(ctx.child(), input));
    let compensation = step.compensation.clone();
    let name = step.name.clone();
    async move {
        match forward.await {
            Ok(output) => {
                let undo_input = output.clone();
                completed.push(Completed {
                    name: name.clone(),
                    compensate: Box::new(move |ctx| {
                        Box::pin(async move {
                            compensation
                                .oneshot(Request::new(ctx, undo_input))
                                .await
                                .map(drop)
                                .map_err(Into::into)
                        })
                    }),
                });
                (Ok(output), completed)
            }
            Err(error) => (
                Err(StepFailure {
                    name,
                    error: error.into(),
                }),
                completed,
            ),
        }
    }
}

/// A chain of saga steps that compensates completed steps on failure.
pub struct Saga<I, O> {
    runner: Runner<I, O>,
    steps: Arc<[Name]>,
    name: Name,
}

impl<I: Send + 'static, O: Clone + Send + 'static> Saga<I, O> {
    /// A saga whose first step is `first`.
    pub fn new<F, C>(first: SagaStep<F, C>) -> Self
    where
        F: Service<Request<I>, Response = O> + Clone + Send + Sync + 'static,
        F::Error: Into<WorkflowError>,
        F::Future: Send + 'static,
        C: Service<Request<O>> + Clone + Send + Sync + 'static,
        C::Error: Into<WorkflowError>,
        C::Future: Send + 'static,
    {
        let steps: Arc<[Name]> = Arc::new([first.name.clone()]);
        Self {
            runner: Arc::new(move |ctx, input, completed| {
                Box::pin(run_step(&first, &ctx, input, completed))
            }),
            steps,
            name: Name::new_static("saga"),
        }
    }

    /// Appends `next`, which receives this saga's output.
    pub fn then<O2, F, C>(self, next: SagaStep<F, C>) -> Saga<I, O2>
    where
        F: Service<Request<O>, Response = O2> + Clone + Send + Sync + 'static,
        F::Error: Into<WorkflowError>,
        F::Future: Send + 'static,
        C: Service<Request<O2>> + Clone + Send + Sync + 'static,
        C::Error: Into<WorkflowError>,
        C::Future: Send + 'static,
        O2: Clone + Send + 'static,
    {
        let mut steps = self.steps.to_vec();
        steps.push(next.name.clone());
        let previous = self.runner;
        let next = Arc::new(next);
        Saga {
            runner: Arc::new(move |ctx, input, completed| {
                let previous = previous(ctx.clone(), input, completed);
                let next = Arc::clone(&next);
                Box::pin(async move {
                    match previous.await {
                        (Ok(output), completed) => run_step(&next, &ctx, output, completed).await,
                        (Err(failure), completed) => (Err(failure), completed),
                    }
                })
            }),
            steps: steps.into(),
            name: self.name,
        }
    }
}

impl<I, O> Saga<I, O> {
    /// The steps' names, in order.
    pub fn step_names(&self) -> &[Name] {
        &self.steps
    }
}

impl<I, O> Service<Request<I>> for Saga<I, O>
where
    I: Send + 'static,
    O: Send + 'static,
{
    type Response = O;
    type Error = WorkflowError;
    type Future = NodeFuture<BoxFuture<'static, Result<O, WorkflowError>>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request<I>) -> Self::Future {
        NodeFuture::run(self, req.ctx, PrimitiveType::Saga, |this, ctx| {
            this.start(Request::new(ctx, req.input))
        })
    }
}

impl<I, O> Saga<I, O> {
    fn start(&mut self, req: Request<I>) -> BoxFuture<'static, Result<O, WorkflowError>>
    where
        I: Send + 'static,
        O: Send + 'static,
    {
        let run = (self.runner)(req.ctx.clone(), req.input, Vec::new());
        let name = self.name.clone();
        Box::pin(async move {
            let (failure, completed) = match run.await {
                (Ok(output), _) => return Ok(output),
                (Err(failure), completed) => (failure, completed),
            };
            let mut compensated = Vec::new();
            let mut compensation_failures = Vec::new();
            for step in completed.into_iter().rev() {
                emit(&req.ctx, &name, PrimitiveType::Saga, || {
                    Event::Compensating {
                        step: step.name.as_str(),
                    }
                });
                let result = (step.compensate)(req.ctx.child()).await;
                emit(&req.ctx, &name, PrimitiveType::Saga, || {
                    Event::Compensation {
                        step: step.name.as_str(),
                        error: result.as_ref().err(),
                    }
                });
                match result {
                    Ok(()) => compensated.push(step.name),
                    Err(error) => compensation_failures.push(StepFailure {
                        name: step.name,
                        error,
                    }),
                }
            }
            Err(WorkflowError::Compensated {
                failed_step: failure.name,
                cause: Box::new(failure.error),
                compensated,
                compensation_failures,
            })
        })
    }
}

impl<I, O> Clone for Saga<I, O> {
    fn clone(&self) -> Self {
        Self {
            runner: Arc::clone(&self.runner),
            steps: Arc::clone(&self.steps),
            name: self.name.clone(),
        }
    }
}

impl<I, O> fmt::Debug for Saga<I, O> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Saga")
            .field("name", &self.name)
            .field("steps", &self.steps)
            .finish_non_exhaustive()
    }
}

impl_primitive!(Saga<I, O>);
crate::name::impl_named!(SagaStep<F, C>);
crate::name::impl_named!(Saga<I, O>);
