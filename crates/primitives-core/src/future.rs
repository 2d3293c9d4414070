//! Small futures shared by several primitives.

use std::{
    future::Future,
    pin::Pin,
    task::{Context, Poll, ready},
};

use pin_project_lite::pin_project;

use crate::WorkflowError;

pin_project! {
    /// Converts the error of an inner future into [`WorkflowError`].
    #[derive(Debug)]
    #[must_use = "futures do nothing unless polled"]
    pub struct IntoWorkflowError<F> {
        #[pin]
        inner: F,
    }
}

impl<F> IntoWorkflowError<F> {
    /// Wraps `inner`.
    pub fn new(inner: F) -> Self {
        Self { inner }
    }
}

impl<F, T, E> Future for IntoWorkflowError<F>
where
    F: Future<Output = Result<T, E>>,
    E: Into<WorkflowError>,
{
    type Output = Result<T, WorkflowError>;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        Poll::Ready(ready!(self.project().inner.poll(cx)).map_err(Into::into))
    }
}
