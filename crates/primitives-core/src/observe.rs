//! Observation hooks: how primitives report what they do.
//!
//! Every primitive is a *node*: each execution reports its start and its end
//! (success, failure or cancellation, with its duration) to the [`Observer`]
//! of the request's context, and the observer may attach a [`NodeHandle`]
//! (a span, say) that the node's children inherit. Between start and end,
//! every primitive reports its notable events (a retry attempt and its
//! backoff, a cache hit, a breaker transition, a timeout, the fallback leg
//! that answered, the route chosen, a compensation) to the [`Observer`]
//! attached to the request's [`WorkflowContext`]. With no observer attached
//! the cost is one branch on an `Option`: no event is built.
//!
//! This crate depends on neither OpenTelemetry nor `metrics`; the
//! instrumentation crate implements [`Observer`] to turn events into metrics
//! and span events.
//!
//! ```
//! use std::sync::{Arc, Mutex};
//! use tta_primitives_core::observe::{Event, NodeInfo, Observer};
//! use tta_primitives_core::WorkflowContext;
//!
//! #[derive(Default)]
//! struct Log(Mutex<Vec<String>>);
//!
//! impl Observer for Log {
//!     fn on_event(&self, node: &NodeInfo<'_>, _ctx: &WorkflowContext, event: &Event<'_>) {
//!         self.0.lock().unwrap().push(format!("{}: {}", node.name, event.name()));
//!     }
//! }
//!
//! let log = Arc::new(Log::default());
//! let ctx = WorkflowContext::builder("demo").observer(log.clone()).build();
//! assert!(ctx.child().observer().is_some()); // children inherit the observer
//! ```

use std::{any::Any, sync::Arc, time::Duration};

use crate::{Name, WorkflowContext, WorkflowError, circuit_breaker::BreakerState};

/// The clock node executions are timed with: [`quanta::Instant`], which
/// reads the CPU's time-stamp counter where it is invariant (a few
/// nanoseconds) and the OS's monotonic clock elsewhere. It is real time,
/// also under tokio's paused test clock. An observer that needs wall-clock
/// timestamps anchors one [`SystemTime`](std::time::SystemTime) reading to
/// one of these and offsets every other reading from it, so all timestamps
/// of a trace come from one clock and nest by construction.
pub use quanta::Instant;

/// A reading of the node clock: one `quanta::Clock` for the process, read
/// directly (not through `quanta::Instant::now`, which first checks a
/// per-thread mock clock). Every node's readings come from it, and so should
/// those of any span timed against a node's.
#[inline]
pub fn now() -> Instant {
    static CLOCK: std::sync::OnceLock<quanta::Clock> = std::sync::OnceLock::new();
    CLOCK.get_or_init(quanta::Clock::new).now()
}

/// Receives what every primitive running under a context that carries it
/// does. Implementations must be cheap and must not block: they run inline
/// on the workflow's task. Every method has a no-op default.
///
/// Each execution of a node (a primitive) is bracketed by
/// [`on_node_start`](Self::on_node_start) and exactly one
/// [`on_node_end`](Self::on_node_end), also when the node's future is
/// dropped before it finishes ([`NodeOutcome::Cancelled`]), unless the
/// observer says at the start that it needs no end (a handle made with
/// [`NodeHandle::events_only`]). Between them,
/// [`on_event`](Self::on_event) reports what the node did. The [`NodeHandle`]
/// returned by `on_node_start` (a span, say) is stored in the node's context
/// and inherited by the contexts of its children, so an observer can parent
/// a child's state to its parent's through [`WorkflowContext::node_handle`];
/// it is also what `on_node_end` is given.
pub trait Observer: Send + Sync + 'static {
    /// A node starts executing under `ctx` (whose
    /// [`node_handle`](WorkflowContext::node_handle) is the parent node's),
    /// at `started` (the reading its [`NodeEnd`] durations are measured
    /// from). The returned handle becomes this node's, for its children and
    /// events.
    fn on_node_start(
        &self,
        node: &NodeInfo<'_>,
        ctx: &WorkflowContext,
        started: Instant,
    ) -> Option<NodeHandle> {
        let _ = (node, ctx, started);
        None
    }

    /// A node finished (or was cancelled). `handle` is the one
    /// [`on_node_start`](Self::on_node_start) returned for it: keep there
    /// whatever the end needs from the start (the context is not kept for
    /// the end, so that a node costs no more than it must).
    fn on_node_end(&self, node: &NodeInfo<'_>, handle: Option<&NodeHandle>, end: &NodeEnd<'_>) {
        let _ = (node, handle, end);
    }

    /// A node reports an event; `ctx` carries the node's handle.
    fn on_event(&self, node: &NodeInfo<'_>, ctx: &WorkflowContext, event: &Event<'_>) {
        let _ = (node, ctx, event);
    }

    /// The future of the node whose handle is `handle` is about to be
    /// polled: the observer makes current whatever should be around the poll
    /// (a tracing observer makes the node's span context current, so that
    /// spans started by code inside the node, through `tracing` or
    /// OpenTelemetry's `Context::current()`, nest under the node). Each call
    /// is followed by one [`exit_poll`](Self::exit_poll) with the same handle
    /// on the same thread, also when the poll panics; scopes of nested nodes
    /// nest (last entered, first exited). Nothing is held across polls, so
    /// the node's future stays `Send`. The default does nothing.
    ///
    /// ```
    /// use std::{cell::Cell, sync::Arc};
    /// use tower::ServiceExt;
    /// use tta_primitives_core::observe::{Instant, NodeHandle, NodeInfo, Observer};
    /// use tta_primitives_core::prelude::*;
    ///
    /// thread_local!(static DEPTH: Cell<u32> = const { Cell::new(0) });
    ///
    /// struct Depth;
    /// impl Observer for Depth {
    ///     fn on_node_start(&self, _: &NodeInfo<'_>, _: &WorkflowContext, _: Instant) -> Option<NodeHandle> {
    ///         Some(NodeHandle::new(()))
    ///     }
    ///     fn scopes_polls(&self, _: &NodeInfo<'_>) -> bool {
    ///         true
    ///     }
    ///     fn enter_poll(&self, _: &NodeHandle) {
    ///         DEPTH.set(DEPTH.get() + 1);
    ///     }
    ///     fn exit_poll(&self, _: &NodeHandle) {
    ///         DEPTH.set(DEPTH.get() - 1);
    ///     }
    /// }
    ///
    /// # futures_util::FutureExt::now_or_never(async {
    /// let step = |name| lambda(|x: u32| async move { Ok::<_, WorkflowError>(x + DEPTH.get()) }).named(name);
    /// let wf = step("a") >> step("b");
    /// let ctx = WorkflowContext::new("wf").with_observer(Arc::new(Depth));
    /// // Each step runs inside the sequence's scope and its own.
    /// assert_eq!(wf.oneshot(Request::new(ctx, 0)).await.unwrap(), 4);
    /// assert_eq!(DEPTH.get(), 0);
    /// # });
    /// ```
    fn enter_poll(&self, handle: &NodeHandle) {
        let _ = handle;
    }

    /// Whether this observer wants [`enter_poll`](Self::enter_poll) and
    /// [`exit_poll`](Self::exit_poll) around the polls of `node`, when it
    /// returned a handle for it. Asked once per node, at its start; `false`
    /// (the default) spares every poll of the node the two calls. (A
    /// composite node, see [`PrimitiveType::is_composite`], runs no user code
    /// of its own, so a tracing observer need not scope it.)
    fn scopes_polls(&self, node: &NodeInfo<'_>) -> bool {
        let _ = node;
        false
    }

    /// The poll that [`enter_poll`](Self::enter_poll) announced is over:
    /// undo what it made current. The default does nothing.
    fn exit_poll(&self, handle: &NodeHandle) {
        let _ = handle;
    }
}

/// How a context holds its [`Observer`]: shared by reference counting, or
/// `'static` (a stateless observer, such as a metrics-only one), which costs
/// nothing to clone. Every node execution clones it once, so the difference
/// shows on the hot path.
///
/// ```
/// use std::sync::Arc;
/// use tta_primitives_core::{WorkflowContext, observe::{Observer, ObserverRef}};
///
/// struct Quiet;
/// impl Observer for Quiet {}
/// static QUIET: Quiet = Quiet;
///
/// let shared = WorkflowContext::new("wf").with_observer(Arc::new(Quiet));
/// let fixed = WorkflowContext::new("wf").with_observer(ObserverRef::from_static(&QUIET));
/// assert!(shared.observer().is_some() && fixed.observer().is_some());
/// ```
#[derive(Clone)]
pub struct ObserverRef(ObserverRepr);

#[derive(Clone)]
enum ObserverRepr {
    Shared(Arc<dyn Observer>),
    Static(&'static dyn Observer),
}

impl ObserverRef {
    /// A `'static` observer.
    pub fn from_static(observer: &'static dyn Observer) -> Self {
        Self(ObserverRepr::Static(observer))
    }
}

impl std::ops::Deref for ObserverRef {
    type Target = dyn Observer;

    #[inline]
    fn deref(&self) -> &Self::Target {
        match &self.0 {
            ObserverRepr::Shared(observer) => &**observer,
            ObserverRepr::Static(observer) => *observer,
        }
    }
}

impl From<Arc<dyn Observer>> for ObserverRef {
    fn from(observer: Arc<dyn Observer>) -> Self {
        Self(ObserverRepr::Shared(observer))
    }
}

impl<O: Observer> From<Arc<O>> for ObserverRef {
    fn from(observer: Arc<O>) -> Self {
        Self(ObserverRepr::Shared(observer))
    }
}

impl std::fmt::Debug for ObserverRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self.0 {
            ObserverRepr::Shared(_) => "ObserverRef(shared)",
            ObserverRepr::Static(_) => "ObserverRef(static)",
        })
    }
}

/// State an [`Observer`] attaches to one node execution, such as its span:
/// a value of the observer's own type, shared by reference counting, or a
/// `'static` one (process-wide per-node state), which costs nothing to
/// clone.
///
/// ```
/// use tta_primitives_core::observe::NodeHandle;
///
/// let span = NodeHandle::new(String::from("span of step a"));
/// assert_eq!(span.downcast_ref::<String>().map(String::as_str), Some("span of step a"));
/// static PER_NODE: u32 = 7;
/// assert_eq!(NodeHandle::from_static(&PER_NODE).downcast_ref::<u32>(), Some(&7));
/// ```
#[derive(Clone)]
pub struct NodeHandle(HandleRepr);

#[derive(Clone)]
enum HandleRepr {
    Shared(Arc<dyn Any + Send + Sync>),
    Static(&'static (dyn Any + Send + Sync)),
    EventsOnly(&'static (dyn Any + Send + Sync)),
}

impl NodeHandle {
    /// A handle holding `value`, shared by reference counting.
    pub fn new<T: Any + Send + Sync>(value: T) -> Self {
        Self(HandleRepr::Shared(Arc::new(value)))
    }

    /// A handle to a `'static` value: cloning it copies a reference.
    pub fn from_static(value: &'static (dyn Any + Send + Sync)) -> Self {
        Self(HandleRepr::Static(value))
    }

    /// A handle to a `'static` value, for a node whose end the observer
    /// does not need (what it records of the node comes from its events):
    /// the node's context carries the handle for its events and children,
    /// and no [`on_node_end`](Observer::on_node_end), poll scope or
    /// completion reading is spent on the node. A metrics-only observer
    /// returns one for a workflow's top-level node, whose node series are
    /// the workflow's.
    ///
    /// ```
    /// use tta_primitives_core::observe::NodeHandle;
    ///
    /// static PER_NODE: u32 = 7;
    /// let handle = NodeHandle::events_only(&PER_NODE);
    /// assert_eq!(handle.downcast_ref::<u32>(), Some(&7));
    /// assert!(!handle.reports_end());
    /// assert!(NodeHandle::from_static(&PER_NODE).reports_end());
    /// ```
    pub fn events_only(value: &'static (dyn Any + Send + Sync)) -> Self {
        Self(HandleRepr::EventsOnly(value))
    }

    /// Whether the node's end is reported to the observer: false for a
    /// handle made with [`events_only`](Self::events_only).
    pub fn reports_end(&self) -> bool {
        !matches!(self.0, HandleRepr::EventsOnly(_))
    }

    /// The value, when it is a `T`.
    pub fn downcast_ref<T: Any>(&self) -> Option<&T> {
        match &self.0 {
            HandleRepr::Shared(value) => value.downcast_ref(),
            HandleRepr::Static(value) | HandleRepr::EventsOnly(value) => value.downcast_ref(),
        }
    }

    /// The shared value, when the handle was made with [`new`](Self::new)
    /// from a `T`.
    pub fn downcast_arc<T: Any + Send + Sync>(&self) -> Option<Arc<T>> {
        match &self.0 {
            HandleRepr::Shared(value) => Arc::clone(value).downcast().ok(),
            HandleRepr::Static(_) | HandleRepr::EventsOnly(_) => None,
        }
    }
}

impl std::fmt::Debug for NodeHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self.0 {
            HandleRepr::Shared(_) => "NodeHandle(shared)",
            HandleRepr::Static(_) => "NodeHandle(static)",
            HandleRepr::EventsOnly(_) => "NodeHandle(events only)",
        })
    }
}

/// How a node execution ended.
#[derive(Debug, Clone, Copy)]
pub enum NodeOutcome<'a> {
    /// It returned a value.
    Success,
    /// It returned an error.
    Failure(&'a WorkflowError),
    /// Its future was dropped before it finished.
    Cancelled,
}

impl NodeOutcome<'_> {
    /// The `outcome` label value: `success`, `error` or `cancelled`.
    pub const fn as_str(&self) -> &'static str {
        match self {
            Self::Success => "success",
            Self::Failure(_) => "error",
            Self::Cancelled => "cancelled",
        }
    }

    /// The `error_type` label value: the error's kind, `cancelled`, or the
    /// empty string on success.
    pub fn error_type(&self) -> &'static str {
        match self {
            Self::Success => "",
            Self::Failure(e) => e.kind(),
            Self::Cancelled => "cancelled",
        }
    }
}

/// What [`Observer::on_node_end`] learns about a finished node execution.
#[derive(Debug, Clone, Copy)]
pub struct NodeEnd<'a> {
    /// How it ended.
    pub outcome: NodeOutcome<'a>,
    /// Time from start to completion: `completed - started`.
    pub elapsed: Duration,
    /// When the node completed (its future returned), or, when it was
    /// cancelled, when its future was dropped. The end is reported when the
    /// future is dropped, which can come a little after completion (a
    /// sequence drops a finished step while it starts the next), so an
    /// observer timestamps the end with this, not with the time it is told.
    pub completed: Instant,
}

/// Which primitive emitted an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NodeInfo<'a> {
    /// The node's name: given by the user with `.named(..)`, or its type's
    /// stable default.
    pub name: &'a Name,
    /// The kind of primitive.
    pub primitive_type: PrimitiveType,
    /// At a node's start and end: the type of the node that wraps this one
    /// exactly (see [`NodeFuture::wrapping`](crate::NodeFuture::wrapping)),
    /// whose interval is then this node's. A workflow's root wraps its
    /// top-level node, a retry its first attempt, a timeout or a circuit
    /// breaker its step. `None` for other nodes, and in events.
    pub wrapped_by: Option<PrimitiveType>,
}

/// The kind of a primitive, used as the `primitive_type` label.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum PrimitiveType {
    /// a whole workflow execution (its root node)
    Workflow,
    /// `a >> b`
    Sequence,
    /// `a | b`
    Parallel,
    /// then/else
    Conditional,
    /// key-based routing
    Router,
    /// retry with backoff
    Retry,
    /// ordered alternatives
    Fallback,
    /// deadline
    Timeout,
    /// circuit breaker
    CircuitBreaker,
    /// memoisation
    Cache,
    /// saga step or transaction
    Saga,
    /// a plain async function
    Lambda,
    /// a scripted test double
    Mock,
    /// any other tower service
    Service,
}

impl PrimitiveType {
    /// The stable label value.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Workflow => "workflow",
            Self::Sequence => "sequence",
            Self::Parallel => "parallel",
            Self::Conditional => "conditional",
            Self::Router => "router",
            Self::Retry => "retry",
            Self::Fallback => "fallback",
            Self::Timeout => "timeout",
            Self::CircuitBreaker => "circuit_breaker",
            Self::Cache => "cache",
            Self::Saga => "saga",
            Self::Lambda => "lambda",
            Self::Mock => "mock",
            Self::Service => "service",
        }
    }

    /// Whether a node of this type only combines other nodes: its future
    /// runs no user code, only the futures of its children, each a node of
    /// its own. A lambda, a mock and a wrapped service run user code.
    ///
    /// ```
    /// use tta_primitives_core::observe::PrimitiveType;
    ///
    /// assert!(PrimitiveType::Retry.is_composite());
    /// assert!(!PrimitiveType::Lambda.is_composite());
    /// ```
    pub const fn is_composite(self) -> bool {
        !matches!(self, Self::Lambda | Self::Mock | Self::Service)
    }
}

/// How a retried call ended (the `result` label of `tta_retry_calls_total`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RetryOutcome {
    /// The first attempt succeeded.
    SuccessFirstAttempt,
    /// A later attempt succeeded.
    SuccessAfterRetry,
    /// Every allowed attempt failed, or the budget refused a retry.
    Exhausted,
    /// An attempt failed with an error the policy does not retry.
    NotRetryable,
}

impl RetryOutcome {
    /// Every outcome.
    pub const ALL: [Self; 4] = [
        Self::SuccessFirstAttempt,
        Self::SuccessAfterRetry,
        Self::Exhausted,
        Self::NotRetryable,
    ];

    /// The stable label value.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::SuccessFirstAttempt => "success_first_attempt",
            Self::SuccessAfterRetry => "success_after_retry",
            Self::Exhausted => "exhausted",
            Self::NotRetryable => "not_retryable",
        }
    }
}

/// Why a cache entry left the cache.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EvictionReason {
    /// Its time to live ran out.
    Expired,
    /// The cache was full and it was the least recently used entry.
    Capacity,
    /// The user invalidated it.
    Invalidated,
}

impl EvictionReason {
    /// Every reason.
    pub const ALL: [Self; 3] = [Self::Expired, Self::Capacity, Self::Invalidated];

    /// The stable label value.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Expired => "expired",
            Self::Capacity => "capacity",
            Self::Invalidated => "invalidated",
        }
    }
}

/// Something a primitive did.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub enum Event<'a> {
    /// A retry is about to run attempt number `attempt` (1-based).
    RetryAttempt {
        /// The attempt about to run.
        attempt: u32,
    },
    /// A retry will wait `delay` before attempt `next_attempt`.
    RetryBackoff {
        /// The attempt that will run after the delay.
        next_attempt: u32,
        /// The delay, jitter included.
        delay: Duration,
        /// The error that caused the retry.
        error: &'a WorkflowError,
    },
    /// A retried call finished.
    RetryFinished {
        /// Attempts that ran.
        attempts: u32,
        /// How it ended.
        outcome: RetryOutcome,
    },
    /// A cache lookup found a fresh entry.
    CacheHit,
    /// A cache lookup found nothing fresh.
    CacheMiss {
        /// Whether another caller was already computing this key, so this
        /// call waited for its result instead of running the inner step.
        coalesced: bool,
    },
    /// An entry left the cache.
    CacheEviction {
        /// Why the entry left (expired, capacity, invalidated).
        reason: EvictionReason,
    },
    /// The number of entries changed.
    CacheSize {
        /// Entries now held.
        entries: usize,
        /// Estimated bytes held by the entries: `entries` times the inline
        /// size of a key, a value and its expiry instant (heap data that a
        /// key or value points to is not counted).
        bytes: usize,
    },
    /// A circuit breaker changed state.
    BreakerTransition {
        /// The state left.
        from: BreakerState,
        /// The state entered.
        to: BreakerState,
    },
    /// A circuit breaker admitted a call (in `state`: closed or half-open).
    BreakerAdmitted {
        /// The state that admitted it.
        state: BreakerState,
    },
    /// A circuit breaker rejected a call.
    BreakerRejected {
        /// The state that rejected it.
        state: BreakerState,
    },
    /// A timeout's deadline elapsed; the inner future was dropped.
    TimedOut {
        /// The deadline.
        after: Duration,
    },
    /// A fallback chain finished.
    FallbackFinished {
        /// The index of the leg that answered (0 is the primary), or `None`
        /// when every leg failed.
        leg: Option<usize>,
        /// That leg's name.
        leg_name: Option<&'a str>,
    },
    /// A router chose a route.
    RouteChosen {
        /// The route's name (the key it was registered under, or `default`).
        route: &'a str,
    },
    /// A saga is about to run a compensation.
    Compensating {
        /// The step being compensated.
        step: &'a str,
    },
    /// A saga compensation ran.
    Compensation {
        /// The compensated step.
        step: &'a str,
        /// Its error, when the compensation failed.
        error: Option<&'a WorkflowError>,
    },
}

impl Event<'_> {
    /// A short stable name for the event (used as the span event name).
    pub const fn name(&self) -> &'static str {
        match self {
            Self::RetryAttempt { .. } => "retry.attempt",
            Self::RetryBackoff { .. } => "retry.backoff",
            Self::RetryFinished { .. } => "retry.finished",
            Self::CacheHit => "cache.hit",
            Self::CacheMiss { .. } => "cache.miss",
            Self::CacheEviction { .. } => "cache.eviction",
            Self::CacheSize { .. } => "cache.size",
            Self::BreakerTransition { .. } => "circuit_breaker.transition",
            Self::BreakerAdmitted { .. } => "circuit_breaker.admitted",
            Self::BreakerRejected { .. } => "circuit_breaker.rejected",
            Self::TimedOut { .. } => "timeout",
            Self::FallbackFinished { .. } => "fallback.finished",
            Self::RouteChosen { .. } => "router.route",
            Self::Compensating { .. } => "saga.compensating",
            Self::Compensation { .. } => "saga.compensation",
        }
    }
}

/// Reports `event` for `node` to the observer of `ctx`, if there is one.
/// The event is built only when an observer is attached.
#[inline]
pub(crate) fn emit<'e>(
    ctx: &WorkflowContext,
    name: &Name,
    primitive_type: PrimitiveType,
    event: impl FnOnce() -> Event<'e>,
) {
    if let Some(observer) = ctx.observer() {
        observer.on_event(
            &NodeInfo {
                name,
                primitive_type,
                wrapped_by: None,
            },
            ctx,
            &event(),
        );
    }
}
