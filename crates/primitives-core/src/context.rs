//! The context that travels with every request through a workflow.

use std::{
    cell::Cell,
    collections::BTreeMap,
    fmt,
    num::NonZeroU64,
    sync::{
        Arc, Mutex, MutexGuard,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use tokio::time::Instant;

use crate::{
    Name,
    observe::{NodeHandle, Observer, ObserverRef},
};

/// What every primitive receives: the [`WorkflowContext`] of this step and
/// the input value.
///
/// ```
/// use tta_primitives_core::{Request, WorkflowContext};
///
/// let req = Request::new(WorkflowContext::new("checkout"), 42_u32);
/// assert_eq!(req.input, 42);
/// assert_eq!(req.ctx.workflow_name(), "checkout");
/// ```
#[derive(Debug, Clone)]
pub struct Request<I> {
    /// The context of the step that handles this request.
    pub ctx: WorkflowContext,
    /// The input value.
    pub input: I,
}

impl<I> Request<I> {
    /// A request carrying `input` under `ctx`.
    pub fn new(ctx: WorkflowContext, input: I) -> Self {
        Self { ctx, input }
    }

    /// Replaces the input, keeping the context.
    pub fn map<J>(self, f: impl FnOnce(I) -> J) -> Request<J> {
        Request {
            ctx: self.ctx,
            input: f(self.input),
        }
    }
}

/// Identifies one step execution inside a workflow execution.
///
/// Step ids are unique within the process, so also within one workflow
/// execution. They are handed out from per-thread blocks, so deriving a child
/// context costs no contended atomic operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct StepId(NonZeroU64);

impl StepId {
    /// The id as a number (never zero).
    pub fn get(self) -> u64 {
        self.0.get()
    }
}

impl fmt::Display for StepId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0.get())
    }
}

/// A named point in a workflow execution, with the time elapsed since the
/// workflow started.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    /// The checkpoint's name.
    pub name: Name,
    /// The step that recorded it.
    pub step: StepId,
    /// Time since the root context was created.
    pub elapsed: Duration,
}

/// Everything that is the same for every step of one workflow execution.
struct Shared {
    workflow_name: Name,
    workflow_id: Arc<str>,
    /// The workflow id's own string unless one was given.
    correlation_id: Arc<str>,
    session_id: Option<String>,
    user_id: Option<String>,
    baggage: BTreeMap<String, String>,
    tags: Vec<String>,
    metadata: Mutex<BTreeMap<String, String>>,
    checkpoints: Mutex<Vec<Checkpoint>>,
    started: Instant,
}

/// A fresh, process-wide unique step id.
///
/// Each thread takes blocks of ids from one global counter and hands them out
/// without synchronisation; child contexts are created on every step, so
/// this keeps a shared atomic off the hot path.
#[inline]
fn next_step_id() -> StepId {
    const BLOCK: u64 = 1 << 16;
    // Starts at 1: ids are never zero, so `Option<StepId>` is one word.
    static NEXT_BLOCK: AtomicU64 = AtomicU64::new(1);
    thread_local! {
        static RANGE: Cell<(u64, u64)> = const { Cell::new((0, 0)) };
    }
    RANGE.with(|range| {
        let (next, end) = range.get();
        let id = if next < end {
            next
        } else {
            NEXT_BLOCK.fetch_add(BLOCK, Ordering::Relaxed)
        };
        let end = if next < end { end } else { id + BLOCK };
        range.set((id + 1, end));
        StepId(NonZeroU64::new(id).unwrap_or(NonZeroU64::MIN))
    })
}

/// The context of one step of one workflow execution.
///
/// A root context is created per workflow execution (with
/// [`WorkflowContext::new`] or [`WorkflowContext::builder`]); every
/// combinator hands each of its children a [`child`](Self::child) context.
/// The workflow-wide part (name, ids, baggage, tags, metadata, checkpoints)
/// is shared behind one `Arc`, so cloning a context or deriving a child is an
/// atomic increment and never allocates.
///
/// * the **correlation id** is inherited by every child (it defaults to the
///   workflow id, or is set from an incoming request);
/// * the **causation id** of a child is the step id of the step that created
///   it; the root has none.
///
/// ```
/// use tta_primitives_core::WorkflowContext;
///
/// let root = WorkflowContext::builder("checkout")
///     .correlation_id("req-7f3a")
///     .user_id("u-1")
///     .baggage("tenant", "acme")
///     .tag("beta")
///     .build();
/// let child = root.child();
/// assert_eq!(child.correlation_id(), "req-7f3a");
/// assert_eq!(child.causation_id(), Some(root.step_id()));
/// assert_eq!(child.depth(), 1);
/// assert_eq!(child.baggage().get("tenant").map(String::as_str), Some("acme"));
///
/// child.checkpoint("validated");
/// assert_eq!(root.checkpoints()[0].name.as_str(), "validated");
/// ```
#[derive(Clone)]
pub struct WorkflowContext {
    shared: Arc<Shared>,
    step_id: StepId,
    causation_id: Option<StepId>,
    depth: u32,
    /// The observer and the current node's handle, in one `Option` so an
    /// unobserved context pays one branch to clone and to drop.
    observed: Option<Observed>,
}

#[derive(Clone)]
struct Observed {
    observer: ObserverRef,
    node: Option<NodeHandle>,
}

impl WorkflowContext {
    /// A root context for one execution of the workflow `name`, with a fresh
    /// random workflow id that also serves as the correlation id.
    pub fn new(name: impl Into<Name>) -> Self {
        Self::builder(name).build()
    }

    /// A builder for a root context.
    pub fn builder(name: impl Into<Name>) -> WorkflowContextBuilder {
        WorkflowContextBuilder {
            name: name.into(),
            workflow_id: None,
            correlation_id: None,
            session_id: None,
            user_id: None,
            baggage: BTreeMap::new(),
            tags: Vec::new(),
            metadata: BTreeMap::new(),
            observer: None,
        }
    }

    /// A context for a step run on behalf of this one: same workflow, same
    /// correlation id, a new step id, this step as its cause.
    #[inline]
    pub fn child(&self) -> Self {
        self.clone().into_child()
    }

    /// This context turned into its [`child`](Self::child), for a caller
    /// that no longer needs it: the shared part, the observer and the node
    /// handle move over, so no reference count changes.
    #[inline]
    pub(crate) fn into_child(mut self) -> Self {
        self.causation_id = Some(self.step_id);
        self.step_id = next_step_id();
        self.depth += 1;
        self
    }

    /// This context turned into one for the next step beside it: same
    /// parent (causation), same depth, a new step id. Used by flattened
    /// sequences; like [`into_child`](Self::into_child), it moves what it
    /// shares.
    #[inline]
    pub(crate) fn into_sibling(mut self) -> Self {
        self.step_id = next_step_id();
        self
    }

    /// The same context with `observer` receiving the events of every
    /// primitive that runs under it (and under its children).
    pub fn with_observer(mut self, observer: impl Into<ObserverRef>) -> Self {
        let node = self.observed.and_then(|o| o.node);
        self.observed = Some(Observed {
            observer: observer.into(),
            node,
        });
        self
    }

    /// The handle the observer attached to the node running under this
    /// context (inherited from the parent until the node starts), if any.
    #[inline]
    pub fn node_handle(&self) -> Option<&NodeHandle> {
        self.observed.as_ref()?.node.as_ref()
    }

    /// Replaces the node handle: for observers that start the root of a
    /// workflow themselves (its children then nest under `handle`).
    pub fn with_node_handle(mut self, handle: Option<NodeHandle>) -> Self {
        self.set_node_handle(handle);
        self
    }

    #[inline]
    pub(crate) fn set_node_handle(&mut self, handle: Option<NodeHandle>) {
        if let Some(observed) = &mut self.observed {
            observed.node = handle;
        }
    }

    /// The observer attached to this context, if any.
    #[inline]
    pub fn observer(&self) -> Option<&dyn Observer> {
        self.observed.as_ref().map(|o| &*o.observer)
    }

    /// The observer as the context holds it, to hand on.
    #[inline]
    pub(crate) fn observer_ref(&self) -> Option<&ObserverRef> {
        self.observed.as_ref().map(|o| &o.observer)
    }

    /// The workflow's name (low-cardinality; used as the `workflow` label).
    pub fn workflow_name(&self) -> &str {
        self.shared.workflow_name.as_str()
    }

    /// The workflow's name as a cheaply clonable [`Name`].
    pub fn workflow_name_shared(&self) -> &Name {
        &self.shared.workflow_name
    }

    /// The id of this workflow execution.
    pub fn workflow_id(&self) -> &str {
        &self.shared.workflow_id
    }

    /// The correlation id, shared by every step of this execution.
    pub fn correlation_id(&self) -> &str {
        &self.shared.correlation_id
    }

    /// The workflow id as a shared string, to keep without copying it (an
    /// attribute of every root span, say).
    pub fn workflow_id_shared(&self) -> &Arc<str> {
        &self.shared.workflow_id
    }

    /// The correlation id as a shared string, to keep without copying it.
    pub fn correlation_id_shared(&self) -> &Arc<str> {
        &self.shared.correlation_id
    }

    /// The id of this step.
    pub fn step_id(&self) -> StepId {
        self.step_id
    }

    /// The step that caused this one (`None` for the root).
    pub fn causation_id(&self) -> Option<StepId> {
        self.causation_id
    }

    /// How many steps lie between this one and the root (the root is 0).
    pub fn depth(&self) -> u32 {
        self.depth
    }

    /// The session id, if one was set.
    pub fn session_id(&self) -> Option<&str> {
        self.shared.session_id.as_deref()
    }

    /// The user id, if one was set.
    pub fn user_id(&self) -> Option<&str> {
        self.shared.user_id.as_deref()
    }

    /// Key-value pairs propagated to everything this workflow calls.
    pub fn baggage(&self) -> &BTreeMap<String, String> {
        &self.shared.baggage
    }

    /// Free-form tags of this execution.
    pub fn tags(&self) -> &[String] {
        &self.shared.tags
    }

    /// Adds or replaces a metadata entry, visible to every step of this
    /// execution.
    pub fn set_metadata(&self, key: impl Into<String>, value: impl Into<String>) {
        lock(&self.shared.metadata).insert(key.into(), value.into());
    }

    /// A copy of the metadata recorded so far.
    pub fn metadata(&self) -> BTreeMap<String, String> {
        lock(&self.shared.metadata).clone()
    }

    /// Records a checkpoint with the time elapsed since the workflow started.
    pub fn checkpoint(&self, name: impl Into<Name>) -> Checkpoint {
        let checkpoint = Checkpoint {
            name: name.into(),
            step: self.step_id,
            elapsed: self.elapsed(),
        };
        lock(&self.shared.checkpoints).push(checkpoint.clone());
        checkpoint
    }

    /// The checkpoints recorded so far, in order.
    pub fn checkpoints(&self) -> Vec<Checkpoint> {
        lock(&self.shared.checkpoints).clone()
    }

    /// Time since the root context was created (tokio time, so paused-time
    /// tests see exact values).
    pub fn elapsed(&self) -> Duration {
        self.shared.started.elapsed()
    }
}

/// Locks a mutex, recovering the data if a panicking thread poisoned it:
/// the protected maps stay consistent after every individual operation.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl fmt::Debug for WorkflowContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WorkflowContext")
            .field("workflow_name", &self.workflow_name())
            .field("workflow_id", &self.workflow_id())
            .field("correlation_id", &self.correlation_id())
            .field("step_id", &self.step_id)
            .field("causation_id", &self.causation_id)
            .field("depth", &self.depth)
            .field("observed", &self.observed.is_some())
            .finish_non_exhaustive()
    }
}

/// Builds a root [`WorkflowContext`].
#[must_use]
pub struct WorkflowContextBuilder {
    name: Name,
    workflow_id: Option<String>,
    correlation_id: Option<String>,
    session_id: Option<String>,
    user_id: Option<String>,
    baggage: BTreeMap<String, String>,
    tags: Vec<String>,
    metadata: BTreeMap<String, String>,
    observer: Option<ObserverRef>,
}

impl WorkflowContextBuilder {
    /// Sets the workflow id (default: 32 random hex digits).
    pub fn workflow_id(mut self, id: impl Into<String>) -> Self {
        self.workflow_id = Some(id.into());
        self
    }

    /// Sets the correlation id (default: the workflow id).
    pub fn correlation_id(mut self, id: impl Into<String>) -> Self {
        self.correlation_id = Some(id.into());
        self
    }

    /// Sets the session id.
    pub fn session_id(mut self, id: impl Into<String>) -> Self {
        self.session_id = Some(id.into());
        self
    }

    /// Sets the user id.
    pub fn user_id(mut self, id: impl Into<String>) -> Self {
        self.user_id = Some(id.into());
        self
    }

    /// Adds a baggage entry.
    pub fn baggage(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.baggage.insert(key.into(), value.into());
        self
    }

    /// Adds a tag.
    pub fn tag(mut self, tag: impl Into<String>) -> Self {
        self.tags.push(tag.into());
        self
    }

    /// Adds a metadata entry.
    pub fn metadata(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.metadata.insert(key.into(), value.into());
        self
    }

    /// Attaches an observer (see [`crate::observe`]).
    pub fn observer(mut self, observer: impl Into<ObserverRef>) -> Self {
        self.observer = Some(observer.into());
        self
    }

    /// Builds the root context; the workflow's clock starts now.
    pub fn build(self) -> WorkflowContext {
        let workflow_id: Arc<str> = match self.workflow_id {
            Some(id) => id.into(),
            None => format!("{:032x}", fastrand::u128(..)).into(),
        };
        let correlation_id = match self.correlation_id {
            Some(id) => id.into(),
            None => Arc::clone(&workflow_id),
        };
        WorkflowContext {
            shared: Arc::new(Shared {
                workflow_name: self.name,
                workflow_id,
                correlation_id,
                session_id: self.session_id,
                user_id: self.user_id,
                baggage: self.baggage,
                tags: self.tags,
                metadata: Mutex::new(self.metadata),
                checkpoints: Mutex::new(Vec::new()),
                started: Instant::now(),
            }),
            step_id: next_step_id(),
            causation_id: None,
            depth: 0,
            observed: self.observer.map(|observer| Observed {
                observer,
                node: None,
            }),
        }
    }
}
