//! A scripted test double for users' tests.
//!
//! [`MockPrimitive`] answers calls from a script (outputs, errors, each
//! optionally after a delay), then from a default answer, and records every
//! call (input, step id, time). Clones share the script and the record, so a
//! test keeps one handle while the workflow owns another.
//!
//! ```
//! use std::time::Duration;
//! use tower::ServiceExt;
//! use tta_primitives_core::prelude::*;
//!
//! # #[tokio::main(flavor = "current_thread", start_paused = true)] async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let mock = MockPrimitive::<u32, String>::new()
//!     .then_fail(WorkflowError::msg("503"))
//!     .then_return_after(Duration::from_millis(50), "slow ok".to_string())
//!     .otherwise_return("ok".to_string());
//! let wf = mock.clone().retry(RetryPolicy::builder().max_attempts(3).build()?);
//! assert_eq!(wf.clone().oneshot(Request::new(WorkflowContext::new("t"), 1)).await?, "slow ok");
//! assert_eq!(wf.oneshot(Request::new(WorkflowContext::new("t"), 2)).await?, "ok");
//! assert_eq!(mock.inputs(), vec![1, 1, 2]);
//! # Ok(()) }
//! ```

use std::{
    collections::VecDeque,
    fmt,
    sync::{Arc, Mutex, MutexGuard},
    task::{Context, Poll},
    time::Duration,
};

use futures_util::future::BoxFuture;
use tokio::time::Instant;
use tower::Service;

use crate::{
    Name, Request, StepId, WorkflowError, node::NodeFuture, observe::PrimitiveType,
    primitive::impl_primitive,
};

/// One recorded call of a [`MockPrimitive`].
#[derive(Debug, Clone)]
pub struct MockCall<I> {
    /// The input.
    pub input: I,
    /// The step id of the call's context.
    pub step: StepId,
    /// The correlation id of the call's context.
    pub correlation_id: String,
    /// When it was called (tokio time).
    pub at: Instant,
}

#[derive(Clone)]
struct Answer<O> {
    delay: Option<Duration>,
    result: Result<O, WorkflowError>,
}

struct Script<I, O> {
    queue: VecDeque<Answer<O>>,
    otherwise: Option<Answer<O>>,
    calls: Vec<MockCall<I>>,
}

/// A scripted primitive from `I` to `O`.
pub struct MockPrimitive<I, O> {
    script: Arc<Mutex<Script<I, O>>>,
    name: Name,
}

impl<I, O> Default for MockPrimitive<I, O> {
    fn default() -> Self {
        Self::new()
    }
}

impl<I, O> MockPrimitive<I, O> {
    /// A mock with an empty script: calls fail with kind `mock_exhausted`
    /// until answers are scripted.
    pub fn new() -> Self {
        Self {
            script: Arc::new(Mutex::new(Script {
                queue: VecDeque::new(),
                otherwise: None,
                calls: Vec::new(),
            })),
            name: Name::new_static("mock"),
        }
    }

    fn script(&self) -> MutexGuard<'_, Script<I, O>> {
        self.script.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn push(self, delay: Option<Duration>, result: Result<O, WorkflowError>) -> Self {
        self.script().queue.push_back(Answer { delay, result });
        self
    }

    /// The next call returns `output`.
    pub fn then_return(self, output: O) -> Self {
        self.push(None, Ok(output))
    }

    /// The next call returns `output` after `delay`.
    pub fn then_return_after(self, delay: Duration, output: O) -> Self {
        self.push(Some(delay), Ok(output))
    }

    /// The next call fails with `error`.
    pub fn then_fail(self, error: WorkflowError) -> Self {
        self.push(None, Err(error))
    }

    /// The next call fails with `error` after `delay`.
    pub fn then_fail_after(self, delay: Duration, error: WorkflowError) -> Self {
        self.push(Some(delay), Err(error))
    }

    /// Calls past the script return `output`.
    pub fn otherwise_return(self, output: O) -> Self {
        self.script().otherwise = Some(Answer {
            delay: None,
            result: Ok(output),
        });
        self
    }

    /// Calls past the script fail with `error`.
    pub fn otherwise_fail(self, error: WorkflowError) -> Self {
        self.script().otherwise = Some(Answer {
            delay: None,
            result: Err(error),
        });
        self
    }

    /// How many times it was called.
    pub fn call_count(&self) -> usize {
        self.script().calls.len()
    }

    /// Every call so far, in order.
    pub fn calls(&self) -> Vec<MockCall<I>>
    where
        I: Clone,
    {
        self.script().calls.clone()
    }

    /// The inputs of every call so far, in order.
    pub fn inputs(&self) -> Vec<I>
    where
        I: Clone,
    {
        self.script()
            .calls
            .iter()
            .map(|c| c.input.clone())
            .collect()
    }
}

impl<I, O> Service<Request<I>> for MockPrimitive<I, O>
where
    O: Clone + Send + 'static,
{
    type Response = O;
    type Error = WorkflowError;
    type Future = NodeFuture<BoxFuture<'static, Result<O, WorkflowError>>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request<I>) -> Self::Future {
        NodeFuture::run(self, req.ctx, PrimitiveType::Mock, |this, ctx| {
            this.start(Request::new(ctx, req.input))
        })
    }
}

impl<I, O> MockPrimitive<I, O> {
    fn start(&mut self, req: Request<I>) -> BoxFuture<'static, Result<O, WorkflowError>>
    where
        O: Clone + Send + 'static,
    {
        let answer = {
            let mut script = self.script();
            script.calls.push(MockCall {
                input: req.input,
                step: req.ctx.step_id(),
                correlation_id: req.ctx.correlation_id().to_owned(),
                at: Instant::now(),
            });
            let next = script.queue.pop_front();
            next.or_else(|| script.otherwise.clone())
        };
        Box::pin(async move {
            let Some(answer) = answer else {
                return Err(WorkflowError::with_kind(
                    "mock_exhausted",
                    "MockPrimitive called more times than scripted",
                ));
            };
            if let Some(delay) = answer.delay {
                tokio::time::sleep(delay).await;
            }
            answer.result
        })
    }
}

impl<I, O> Clone for MockPrimitive<I, O> {
    fn clone(&self) -> Self {
        Self {
            script: Arc::clone(&self.script),
            name: self.name.clone(),
        }
    }
}

impl<I, O> fmt::Debug for MockPrimitive<I, O> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let script = self.script();
        f.debug_struct("MockPrimitive")
            .field("name", &self.name)
            .field("scripted", &script.queue.len())
            .field("calls", &script.calls.len())
            .finish()
    }
}

impl_primitive!(MockPrimitive<I, O>);
crate::name::impl_named!(MockPrimitive<I, O>);
