//! Node lifecycle: how every primitive reports its start and end to the
//! observer of its context.
//!
//! Code outside this crate (an instrumentation layer, an LLM client) makes
//! its own nodes the same way: [`WorkflowContext::enter_node`], then wrap the
//! work's future in [`NodeFuture::new`].

use std::{
    cell::{Cell, RefCell},
    future::Future,
    pin::Pin,
    task::{Context, Poll, ready},
};

use pin_project_lite::pin_project;

use crate::{
    Name, Named, WorkflowContext, WorkflowError,
    observe::{
        Instant, NodeEnd, NodeHandle, NodeInfo, NodeOutcome, ObserverRef, PrimitiveType, now,
    },
};

/// One observed node execution. Exists only when the context has an
/// observer, so an unobserved node pays one branch; it is boxed so that an
/// unobserved node's future grows by one pointer, not by this struct.
///
/// The box is written field by field when it is taken from the recycling
/// pool and read in place when the end is reported: the run is never moved.
pub(crate) struct NodeRun {
    /// `None` only while the box sits in the recycling pool.
    observer: Option<ObserverRef>,
    handle: Option<NodeHandle>,
    /// Whether the observer scopes each poll of this node's future
    /// ([`Observer::scopes_polls`](crate::observe::Observer::scopes_polls)).
    scoped: bool,
    name: Name,
    primitive_type: PrimitiveType,
    started: Instant,
    /// Whether this node wraps one other node exactly (see
    /// [`NodeFuture::wrapping`]): it completes when that node does.
    wraps: bool,
    /// The type of the node that wraps this one, if one does.
    wrapped_by: Option<PrimitiveType>,
    /// Set when the node's future completes; reported when the run drops.
    finished: Option<Finished>,
}

/// Observed node runs are boxed (an unobserved node's future then grows by
/// one pointer only); the boxes are recycled through a small per-thread
/// pool so that a warm observed execution does not allocate either.
const POOL_SIZE: usize = 256;

thread_local! {
    // The boxes themselves are what is recycled.
    #[allow(clippy::vec_box)]
    static POOL: RefCell<Vec<Box<NodeRun>>> = const { RefCell::new(Vec::new()) };

    /// The start reading and the type of a wrapping node, for the node it
    /// wraps: set around the wrapped call, taken by the first node that
    /// starts in it.
    static WRAPPER_START: Cell<Option<(Instant, PrimitiveType)>> = const { Cell::new(None) };

    /// The completion reading of the node that completed last on this
    /// thread, for a wrapping node that completes in the same poll.
    static LAST_COMPLETION: Cell<Option<Instant>> = const { Cell::new(None) };
}

fn new_run(
    observer: ObserverRef,
    handle: Option<NodeHandle>,
    scoped: bool,
    info: &NodeInfo<'_>,
    started: Instant,
) -> Box<NodeRun> {
    let NodeInfo {
        name,
        primitive_type,
        wrapped_by,
    } = *info;
    let recycled = POOL.try_with(|p| p.borrow_mut().pop()).ok().flatten();
    match recycled {
        Some(mut run) => {
            run.observer = Some(observer);
            run.handle = handle;
            run.scoped = scoped;
            run.name.clone_from(name);
            run.primitive_type = primitive_type;
            run.started = started;
            run.wraps = false;
            run.wrapped_by = wrapped_by;
            run
        }
        None => Box::new(NodeRun {
            observer: Some(observer),
            handle,
            scoped,
            name: name.clone(),
            primitive_type,
            started,
            wraps: false,
            wrapped_by,
            finished: None,
        }),
    }
}

fn recycle(run: Box<NodeRun>) {
    let _ = POOL.try_with(|p| {
        let mut pool = p.borrow_mut();
        if pool.len() < POOL_SIZE {
            pool.push(run);
        }
    });
}

struct Finished {
    error: Option<WorkflowError>,
    at: Instant,
}

/// A started node execution, to be handed to [`NodeFuture::new`]. Dropping it
/// without a future reports the node as cancelled.
#[must_use = "a node guard reports the node's end when the future it is given completes"]
pub struct NodeGuard(Option<Box<NodeRun>>);

impl std::fmt::Debug for NodeGuard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NodeGuard")
            .field("observed", &self.0.is_some())
            .finish()
    }
}

impl WorkflowContext {
    /// Starts a node named `name` under this context: reports the start to
    /// the observer (if any) and makes this context the node's, so contexts
    /// derived from it afterwards are its children. Pass the guard to
    /// [`NodeFuture::new`] with the node's work.
    ///
    /// ```
    /// use tta_primitives_core::{Name, NodeFuture, WorkflowContext, WorkflowError, observe::PrimitiveType};
    ///
    /// # futures_util::FutureExt::now_or_never(async {
    /// let mut ctx = WorkflowContext::new("wf");
    /// let guard = ctx.enter_node(&Name::from("custom_step"), PrimitiveType::Service);
    /// let out = NodeFuture::new(async { Ok::<_, WorkflowError>(1) }, guard).await;
    /// assert_eq!(out.unwrap(), 1);
    /// # });
    /// ```
    #[inline]
    pub fn enter_node(&mut self, name: &Name, primitive_type: PrimitiveType) -> NodeGuard {
        NodeGuard(enter(self, name, primitive_type))
    }
}

/// Starts a node execution under `ctx`: reports the start and stores the
/// observer's handle in `ctx`, so the node's children inherit it.
///
/// The unobserved check is inlined; the observed path is kept out of line so
/// that an unobserved workflow's code stays small enough to inline.
#[inline(always)]
pub(crate) fn enter(
    ctx: &mut WorkflowContext,
    name: &Name,
    primitive_type: PrimitiveType,
) -> Option<Box<NodeRun>> {
    ctx.observer()?;
    enter_observed(ctx, name, primitive_type, false)
}

/// Starts an observed node. A wrapping node (`wraps`) hands its start
/// reading to the first node that starts in its call (see
/// [`NodeFuture::wrapping`]), also when it keeps no run of its own. No run
/// is kept for a node whose observer needs no end
/// ([`NodeHandle::events_only`]): its context carries the handle alone.
#[cold]
#[inline(never)]
fn enter_observed(
    ctx: &mut WorkflowContext,
    name: &Name,
    primitive_type: PrimitiveType,
    wraps: bool,
) -> Option<Box<NodeRun>> {
    // One clock reading at the start and one at completion: the observer
    // gets both, and nothing else reads the clock for this node. A node
    // started inside a wrapping node's call takes the wrapper's reading.
    let wrapper = WRAPPER_START.try_with(Cell::take).ok().flatten();
    let started = wrapper.map_or_else(now, |(at, _)| at);
    let info = NodeInfo {
        name,
        primitive_type,
        wrapped_by: wrapper.map(|(_, by)| by),
    };
    let observer = ctx.observer_ref()?;
    let handle = observer.on_node_start(&info, ctx, started);
    if wraps {
        let _ = WRAPPER_START.try_with(|start| start.set(Some((started, primitive_type))));
    }
    if handle.as_ref().is_some_and(|h| !h.reports_end()) {
        ctx.set_node_handle(handle);
        return None;
    }
    let scoped = handle.is_some() && observer.scopes_polls(&info);
    let observer = observer.clone();
    ctx.set_node_handle(handle.clone());
    let mut run = new_run(observer, handle, scoped, &info, started);
    run.wraps = wraps;
    Some(run)
}

/// Starts a wrapping node (see [`NodeFuture::wrapping`]): its run, if it
/// keeps one, and whether it handed its start reading on (then
/// [`withdraw_start`] follows the wrapped call).
#[inline(always)]
fn enter_wrapper(
    ctx: &mut WorkflowContext,
    name: &Name,
    primitive_type: PrimitiveType,
) -> (Option<Box<NodeRun>>, bool) {
    if ctx.observer().is_none() {
        return (None, false);
    }
    (enter_observed(ctx, name, primitive_type, true), true)
}

/// Withdraws the reading [`enter_wrapper`] handed, if no node took it.
#[inline(always)]
fn withdraw_start(handed: bool) {
    if handed {
        let _ = WRAPPER_START.try_with(Cell::take);
    }
}

impl NodeRun {
    /// Records how the node's future completed; the end is reported when
    /// the run is dropped, after the inner future (see [`NodeFuture`]).
    #[cold]
    #[inline(never)]
    fn complete<T>(&mut self, output: &Result<T, WorkflowError>) {
        // A wrapper completes at the completion of the node it wraps, when
        // that came in this poll (see `NodeFuture::wrapping`).
        let handed = if self.wraps {
            LAST_COMPLETION.try_with(Cell::take).ok().flatten()
        } else {
            None
        };
        let at = handed.unwrap_or_else(now);
        let _ = LAST_COMPLETION.try_with(|last| last.set(Some(at)));
        self.finished = Some(Finished {
            error: output.as_ref().err().cloned(),
            at,
        });
    }

    /// Reports the end (the recorded completion, or cancellation), then
    /// returns the box to the pool, emptied of what it held.
    #[cold]
    #[inline(never)]
    fn report(mut self: Box<Self>) {
        if let Some(observer) = self.observer.take() {
            let (outcome, completed) = match &self.finished {
                Some(Finished { error: None, at }) => (NodeOutcome::Success, *at),
                Some(Finished { error: Some(e), at }) => (NodeOutcome::Failure(e), *at),
                // Cancelled: the future is being dropped now.
                None => (NodeOutcome::Cancelled, now()),
            };
            let info = NodeInfo {
                name: &self.name,
                primitive_type: self.primitive_type,
                wrapped_by: self.wrapped_by,
            };
            let end = NodeEnd {
                outcome,
                elapsed: completed.saturating_duration_since(self.started),
                completed,
            };
            observer.on_node_end(&info, self.handle.as_ref(), &end);
        }
        self.handle = None;
        self.finished = None;
        // A name made at run time (a workflow per tenant, say) is released
        // now, not when the box is next taken from the pool.
        if self.name.as_static().is_none() {
            self.name = Name::new_static("");
        }
        recycle(self);
    }
}

/// The observer's poll scope around one poll of an observed node's future
/// ([`Observer::enter_poll`](crate::observe::Observer::enter_poll), then
/// `exit_poll` when dropped, also when the poll panics). The check is
/// inlined, so the poll of a node whose observer scopes no polls (metrics
/// only) pays one branch on each side; an unobserved node's poll has no
/// scope at all.
struct PollScope<'a>(Option<(&'a ObserverRef, &'a NodeHandle)>);

impl<'a> PollScope<'a> {
    #[inline(always)]
    fn enter(run: &'a NodeRun) -> Self {
        if run.scoped {
            Self::enter_observed(run)
        } else {
            Self(None)
        }
    }

    #[inline(never)]
    fn enter_observed(run: &'a NodeRun) -> Self {
        let scope = run.observer.as_ref().zip(run.handle.as_ref());
        if let Some((observer, handle)) = scope {
            observer.enter_poll(handle);
        }
        Self(scope)
    }

    #[inline(never)]
    fn exit_observed(observer: &ObserverRef, handle: &NodeHandle) {
        observer.exit_poll(handle);
    }
}

impl Drop for PollScope<'_> {
    #[inline(always)]
    fn drop(&mut self) {
        if let Some((observer, handle)) = self.0 {
            Self::exit_observed(observer, handle);
        }
    }
}

/// Holds a node's run and reports its end when dropped. The check is
/// inlined so an unobserved node's drop costs one branch.
struct RunSlot(Option<Box<NodeRun>>);

impl Drop for NodeGuard {
    fn drop(&mut self) {
        if let Some(run) = self.0.take() {
            run.report();
        }
    }
}

impl Drop for RunSlot {
    #[inline(always)]
    fn drop(&mut self) {
        if let Some(run) = self.0.take() {
            run.report();
        }
    }
}

pin_project! {
    /// Wraps a node's future and reports the node's end to the observer:
    /// success or failure with the time it took to complete, or
    /// cancellation when the future is dropped unfinished.
    ///
    /// The end is reported when this future is dropped, *after* the inner
    /// future (fields drop in declaration order), so the children the inner
    /// future still held (a timed-out step, the siblings of a failed parallel
    /// branch) report their cancellation before their parent ends. The
    /// reported [`NodeEnd::elapsed`](crate::observe::NodeEnd) is measured at
    /// completion, so a report that comes a little later (a sequence drops a
    /// finished step while it starts the next) does not stretch the timing.
    #[must_use = "futures do nothing unless polled"]
    pub struct NodeFuture<F> {
        #[pin]
        inner: F,
        run: RunSlot,
    }
}

impl<F> NodeFuture<F> {
    /// Wraps `inner`, the work of the node started with `guard`.
    #[inline]
    pub fn new(inner: F, mut guard: NodeGuard) -> Self {
        Self::from_run(inner, guard.0.take())
    }

    /// Runs a primitive's call as a node: enters the node (named after
    /// `primitive`) under `ctx`, which becomes the node's context, then wraps
    /// the future that `work` makes from the primitive and that context.
    /// Every primitive's `call` goes through here.
    #[inline(always)]
    pub(crate) fn run<P: Named>(
        primitive: &mut P,
        mut ctx: WorkflowContext,
        primitive_type: PrimitiveType,
        work: impl FnOnce(&mut P, WorkflowContext) -> F,
    ) -> Self {
        let run = enter(&mut ctx, primitive.name(), primitive_type);
        Self::from_run(work(primitive, ctx), run)
    }

    /// Runs `call` as the one node a node named `name` wraps: a workflow's
    /// root around its top-level node, say. `call` gets the wrapper's
    /// context (the wrapper has entered its node) and returns the wrapped
    /// node's future. The two nodes then share their clock readings: the
    /// first node that starts in `call` starts at the wrapper's start, and
    /// the wrapper completes at the completion of the last node that
    /// completed in the poll where it completes, so the wrapper's interval
    /// is the wrapped node's, and the clock is read once at each end for
    /// both. (Code of `call` that runs before that first node starts, or
    /// after that last node completes in the same poll, is outside both
    /// intervals: make `call` start the node at once, as every primitive's
    /// `call` does.)
    ///
    /// ```
    /// use tta_primitives_core::{Name, NodeFuture, WorkflowContext, WorkflowError, observe::PrimitiveType};
    /// use tta_primitives_core::prelude::*;
    /// use tower::Service;
    ///
    /// # futures_util::FutureExt::now_or_never(async {
    /// let mut step = lambda(|x: u32| async move { Ok::<_, WorkflowError>(x + 1) });
    /// let root = NodeFuture::wrapping(
    ///     WorkflowContext::new("wf"),
    ///     &Name::from("wf"),
    ///     PrimitiveType::Workflow,
    ///     |ctx| step.call(Request::new(ctx, 1)),
    /// );
    /// assert_eq!(root.await.unwrap(), 2);
    /// # });
    /// ```
    #[inline]
    pub fn wrapping(
        mut ctx: WorkflowContext,
        name: &Name,
        primitive_type: PrimitiveType,
        call: impl FnOnce(WorkflowContext) -> F,
    ) -> Self {
        let (run, handed) = enter_wrapper(&mut ctx, name, primitive_type);
        let inner = call(ctx);
        withdraw_start(handed);
        Self::from_run(inner, run)
    }

    /// Like [`run`](Self::run), for a primitive that wraps one node at a
    /// time (a retry its attempts, a timeout or a breaker its step), whose
    /// `call` runs none of the user's code: it shares its readings with the
    /// node it wraps, as [`wrapping`](Self::wrapping) says.
    #[inline(always)]
    pub(crate) fn run_wrapping<P: Named>(
        primitive: &mut P,
        mut ctx: WorkflowContext,
        primitive_type: PrimitiveType,
        work: impl FnOnce(&mut P, WorkflowContext) -> F,
    ) -> Self {
        let (run, handed) = enter_wrapper(&mut ctx, primitive.name(), primitive_type);
        let inner = work(primitive, ctx);
        withdraw_start(handed);
        Self::from_run(inner, run)
    }

    /// Wraps `inner`, the work of the node whose run is `run` (see
    /// [`run`](Self::run); only a sequence, which may have no node of its
    /// own, enters by itself).
    #[inline]
    pub(crate) fn from_run(inner: F, run: Option<Box<NodeRun>>) -> Self {
        Self {
            inner,
            run: RunSlot(run),
        }
    }
}

impl<F, T> Future for NodeFuture<F>
where
    F: Future<Output = Result<T, WorkflowError>>,
{
    type Output = Result<T, WorkflowError>;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        // An unobserved node is its inner future: its output passes through
        // untouched.
        let Some(run) = this.run.0.as_deref_mut() else {
            return this.inner.poll(cx);
        };
        if run.wraps {
            // Only a completion in this poll is the wrapped node's.
            let _ = LAST_COMPLETION.try_with(Cell::take);
        }
        let scope = PollScope::enter(run);
        let output = this.inner.poll(cx);
        drop(scope);
        let output = ready!(output);
        run.complete(&output);
        Poll::Ready(output)
    }
}

impl<F> std::fmt::Debug for NodeFuture<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NodeFuture")
            .field("observed", &self.run.0.is_some())
            .finish_non_exhaustive()
    }
}
