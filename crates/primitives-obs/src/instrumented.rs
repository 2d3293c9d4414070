//! One call instruments a whole workflow: `.instrumented()`.

use std::{
    sync::Arc,
    task::{Context, Poll},
};

use tower::Service;
use tta_primitives_core::{
    IntoWorkflowError, NodeFuture, Primitive, Request, WorkflowError,
    observe::{ObserverRef, PrimitiveType},
};

use crate::Telemetry;

/// Instruments every node of a workflow. Implemented for every primitive.
pub trait InstrumentExt: Primitive + Sized {
    /// Records every execution of this workflow, and of every node inside
    /// it, as spans from the global tracer provider and as catalogue
    /// metrics. One execution is one trace: a root span named after the
    /// workflow (the request context's workflow name), with one child span
    /// per node, nested as the nodes are.
    ///
    /// ```
    /// use tower::ServiceExt;
    /// use tta_primitives_core::prelude::*;
    /// use tta_primitives_obs::InstrumentExt;
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), WorkflowError> {
    /// let wf = (lambda(|x: u32| async move { Ok::<_, WorkflowError>(x + 1) }).named("parse")
    ///     >> lambda(|x: u32| async move { Ok::<_, WorkflowError>(x * 2) }).named("price"))
    ///     .instrumented();
    /// assert_eq!(wf.oneshot(Request::new(WorkflowContext::new("quote"), 1)).await?, 4);
    /// # Ok(()) }
    /// ```
    fn instrumented(self) -> Instrumented<Self> {
        self.instrumented_with(Arc::new(Telemetry::new()))
    }

    /// Like [`instrumented`](Self::instrumented), with metrics only: no
    /// spans. The observer is one process-wide [`Telemetry::metrics_only`],
    /// held by a `'static` reference, so no execution touches a reference
    /// count for it.
    ///
    /// ```
    /// use tower::ServiceExt;
    /// use tta_primitives_core::prelude::*;
    /// use tta_primitives_obs::InstrumentExt;
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), WorkflowError> {
    /// let wf = lambda(|x: u32| async move { Ok::<_, WorkflowError>(x + 1) })
    ///     .named("inc")
    ///     .instrumented_metrics_only();
    /// assert_eq!(wf.oneshot(Request::new(WorkflowContext::new("count"), 1)).await?, 2);
    /// # Ok(()) }
    /// ```
    fn instrumented_metrics_only(self) -> Instrumented<Self> {
        static METRICS_ONLY: Telemetry = Telemetry::metrics_only();
        self.instrumented_with(ObserverRef::from_static(&METRICS_ONLY))
    }

    /// Like [`instrumented`](Self::instrumented), with any observer (for
    /// example a `Telemetry` with its own tracer), shared (`Arc`) or
    /// `'static` ([`ObserverRef::from_static`]).
    fn instrumented_with(self, observer: impl Into<ObserverRef>) -> Instrumented<Self> {
        Instrumented {
            inner: self,
            observer: observer.into(),
        }
    }
}

impl<T: Primitive> InstrumentExt for T {}

/// A workflow whose executions are observed. Built by
/// [`InstrumentExt::instrumented`].
#[derive(Clone)]
pub struct Instrumented<W> {
    inner: W,
    observer: ObserverRef,
}

impl<W: std::fmt::Debug> std::fmt::Debug for Instrumented<W> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Instrumented")
            .field("inner", &self.inner)
            .finish_non_exhaustive()
    }
}

impl<W, I> Service<Request<I>> for Instrumented<W>
where
    W: Service<Request<I>>,
    W::Error: Into<WorkflowError>,
{
    type Response = W::Response;
    type Error = WorkflowError;
    type Future = NodeFuture<IntoWorkflowError<W::Future>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, req: Request<I>) -> Self::Future {
        let ctx = req.ctx.with_observer(self.observer.clone());
        let name = ctx.workflow_name_shared().clone();
        // The root wraps the workflow's top-level node: they share their
        // clock readings, so the root's interval is that node's.
        NodeFuture::wrapping(ctx, &name, PrimitiveType::Workflow, |ctx| {
            IntoWorkflowError::new(self.inner.call(Request::new(ctx, req.input)))
        })
    }
}

impl<W> Primitive for Instrumented<W> {}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use futures_util::FutureExt as _;
    use tokio::sync::Notify;
    use tower::{ServiceExt as _, limit::ConcurrencyLimit, service_fn};
    use tta_primitives_core::{WorkflowContext, prelude::*};

    use super::*;

    #[tokio::test]
    async fn an_instrumented_workflow_is_as_ready_as_the_workflow_it_wraps() {
        let gate = Arc::new(Notify::new());
        let waits = Arc::clone(&gate);
        let slow = service_fn(move |r: Request<u32>| {
            let gate = Arc::clone(&waits);
            async move {
                gate.notified().await;
                Ok::<_, WorkflowError>(r.input)
            }
        });
        let wf = step(ConcurrencyLimit::new(slow, 1))
            .named("one_slot")
            .instrumented_metrics_only();
        assert!(format!("{wf:?}").starts_with("Instrumented { inner: "));
        let mut holder = wf.clone();
        holder.ready().await.unwrap();
        let held = tokio::spawn(holder.call(Request::new(WorkflowContext::new("bp"), 7)));
        tokio::task::yield_now().await;
        let mut waiting = wf.clone();
        assert!(
            waiting.ready().now_or_never().is_none(),
            "not ready while the inner service's only slot is taken"
        );
        gate.notify_one();
        assert_eq!(held.await.unwrap().unwrap(), 7);
        assert!(waiting.ready().now_or_never().is_some(), "ready again");
    }
}
