//! Fallback: an ordered chain of alternatives.
//!
//! [`Fallback`] runs its legs in order, each on a clone of the input under a
//! child context, and returns the first success. When every leg fails, the
//! error is [`WorkflowError::FallbackExhausted`], listing each leg's name and
//! error in order. With [`Fallback::only_on`], an error the predicate rejects
//! ends the chain at once and is returned unchanged (such a call is not
//! reported as a fallback outcome).
//!
//! ```
//! use tower::ServiceExt;
//! use tta_primitives_core::prelude::*;
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), WorkflowError> {
//! let primary = lambda(|_: u32| async move { Err::<String, _>(WorkflowError::msg("primary down")) });
//! let replica = lambda(|_: u32| async move { Err::<String, _>(WorkflowError::msg("replica down")) });
//! let stale = lambda(|k: u32| async move { Ok::<_, WorkflowError>(format!("stale-{k}")) });
//!
//! let ctx = || WorkflowContext::new("read");
//! let chain = primary.clone().fallback(replica.clone()).or_named("stale_cache", stale);
//! assert_eq!(chain.oneshot(Request::new(ctx(), 1)).await?, "stale-1");
//!
//! let err = primary.fallback(replica).oneshot(Request::new(ctx(), 1)).await.unwrap_err();
//! assert_eq!(err.kind(), "fallback_exhausted");
//! assert_eq!(
//!     err.to_string(),
//!     "all 2 fallback legs failed: `primary` failed: downstream: primary down; \
//!      `fallback_1` failed: downstream: replica down"
//! );
//! # Ok(()) }
//! ```

use std::{
    fmt,
    sync::Arc,
    task::{Context, Poll},
};

use futures_util::future::BoxFuture;
use tower::Service;

use crate::{
    Name, Request, WorkflowError,
    error::StepFailure,
    node::NodeFuture,
    observe::{Event, PrimitiveType, emit},
    primitive::{BoxPrimitive, NamedBox, impl_primitive},
};

type Trigger = Arc<dyn Fn(&WorkflowError) -> bool + Send + Sync>;

/// Tries legs in order until one succeeds. Built by
/// [`fallback`](crate::WorkflowExt::fallback) or [`Fallback::new`].
pub struct Fallback<I, O> {
    legs: Arc<Vec<NamedBox<I, O>>>,
    trigger: Option<Trigger>,
    name: Name,
}

impl<I, O> Fallback<I, O> {
    /// A chain whose first leg (named `primary`) is `primary`.
    pub fn new<S>(primary: S) -> Self
    where
        S: Service<Request<I>, Response = O> + Clone + Send + Sync + 'static,
        S::Error: Into<WorkflowError>,
        S::Future: Send + 'static,
    {
        Self {
            legs: Arc::new(Vec::new()),
            trigger: None,
            name: Name::new_static("fallback"),
        }
        .or_named("primary", primary)
    }

    /// Appends a leg named `fallback_N` (N = its position, 1 for the first
    /// alternative).
    pub fn or<S>(self, alternative: S) -> Self
    where
        S: Service<Request<I>, Response = O> + Clone + Send + Sync + 'static,
        S::Error: Into<WorkflowError>,
        S::Future: Send + 'static,
    {
        let name = format!("fallback_{}", self.legs.len());
        self.or_named(name, alternative)
    }

    /// Appends a leg with a name of your choosing.
    pub fn or_named<S>(mut self, name: impl Into<Name>, alternative: S) -> Self
    where
        S: Service<Request<I>, Response = O> + Clone + Send + Sync + 'static,
        S::Error: Into<WorkflowError>,
        S::Future: Send + 'static,
    {
        let leg = NamedBox {
            name: name.into(),
            service: BoxPrimitive::new(alternative),
        };
        Arc::make_mut(&mut self.legs).push(leg);
        self
    }

    /// Falls back only on errors `trigger` accepts; any other error is
    /// returned at once.
    pub fn only_on(
        mut self,
        trigger: impl Fn(&WorkflowError) -> bool + Send + Sync + 'static,
    ) -> Self {
        self.trigger = Some(Arc::new(trigger));
        self
    }

    /// The legs' names, in order.
    pub fn leg_names(&self) -> impl Iterator<Item = &str> {
        self.legs.iter().map(|l| l.name.as_str())
    }
}

impl<I, O> Service<Request<I>> for Fallback<I, O>
where
    I: Clone + Send + 'static,
    O: Send + 'static,
{
    type Response = O;
    type Error = WorkflowError;
    type Future = NodeFuture<BoxFuture<'static, Result<O, WorkflowError>>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request<I>) -> Self::Future {
        NodeFuture::run(self, req.ctx, PrimitiveType::Fallback, |this, ctx| {
            this.start(Request::new(ctx, req.input))
        })
    }
}

impl<I, O> Fallback<I, O> {
    fn start(&mut self, req: Request<I>) -> BoxFuture<'static, Result<O, WorkflowError>>
    where
        I: Clone + Send + 'static,
        O: Send + 'static,
    {
        let legs = Arc::clone(&self.legs);
        let trigger = self.trigger.clone();
        let name = self.name.clone();
        Box::pin(async move {
            let mut failures = Vec::new();
            for (index, leg) in legs.iter().enumerate() {
                match leg
                    .run(Request::new(req.ctx.child(), req.input.clone()))
                    .await
                {
                    Ok(output) => {
                        emit(&req.ctx, &name, PrimitiveType::Fallback, || {
                            Event::FallbackFinished {
                                leg: Some(index),
                                leg_name: Some(leg.name.as_str()),
                            }
                        });
                        return Ok(output);
                    }
                    Err(error) if trigger.as_ref().is_some_and(|t| !t(&error)) => {
                        return Err(error);
                    }
                    Err(error) => failures.push(StepFailure {
                        name: leg.name.clone(),
                        error,
                    }),
                }
            }
            emit(&req.ctx, &name, PrimitiveType::Fallback, || {
                Event::FallbackFinished {
                    leg: None,
                    leg_name: None,
                }
            });
            Err(WorkflowError::FallbackExhausted { failures })
        })
    }
}

impl<I, O> Clone for Fallback<I, O> {
    fn clone(&self) -> Self {
        Self {
            legs: Arc::clone(&self.legs),
            trigger: self.trigger.clone(),
            name: self.name.clone(),
        }
    }
}

impl<I, O> fmt::Debug for Fallback<I, O> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Fallback")
            .field("name", &self.name)
            .field("legs", &self.leg_names().collect::<Vec<_>>())
            .field("only_on", &self.trigger.is_some())
            .finish()
    }
}

impl_primitive!(Fallback<I, O>);
crate::name::impl_named!(Fallback<I, O>);
