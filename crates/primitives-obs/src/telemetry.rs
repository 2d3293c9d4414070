//! The observer that turns workflow execution into spans and metrics.

use std::{
    borrow::Cow,
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering},
    },
    time::{Duration, SystemTime},
};

use opentelemetry::{
    Context, KeyValue,
    global::BoxedTracer,
    trace::{SpanKind, Status, TraceContextExt, Tracer},
};
use tta_primitives_core::{
    ErrorClass, Name, WorkflowContext, WorkflowError, observe,
    observe::{
        Event, Instant, NodeEnd, NodeHandle, NodeInfo, NodeOutcome, Observer, PrimitiveType,
    },
};

use crate::{
    attr,
    builtin_metrics::{NodeMetrics, instruments},
    clock::Anchor,
};

/// The state kept for a traced node: its span (in a context, ready to parent
/// children) and what its children's spans need from it.
struct NodeSpan {
    cx: Context,
    anchor: Anchor,
    /// Start, as an offset from the anchor.
    start: u64,
    /// The node's own end (its completion), once it is known.
    own_end: AtomicU64,
    /// The latest end of this node's children so far.
    children_end: AtomicU64,
    /// Two counters in one word, so a child's start updates both with one
    /// atomic operation: the children started so far (the high half, see
    /// [`CHILD`]; a child's index is the count before it), and the holds on
    /// this span's end (the low half, see [`HOLD`]): 1 for the node itself
    /// until it ends, plus one per child span not yet ended. The span ends
    /// when the last hold is released, at the latest of its own end and its
    /// children's.
    holds: AtomicU64,
    parent: Option<Arc<NodeSpan>>,
    metrics: &'static NodeMetrics,
    primitive_type: PrimitiveType,
    retry_attempt: AtomicU32,
    /// The backoff before the next retry attempt.
    retry_backoff: Mutex<Option<Duration>>,
    compensating: AtomicBool,
    /// The error type of the last child that failed: an error of the same
    /// type ending this node came from that child, which recorded it.
    failed_child: Mutex<Option<&'static str>>,
}

/// One hold on a span's end, in [`NodeSpan::holds`].
const HOLD: u64 = 1;
/// One child started, in [`NodeSpan::holds`] (its high half: a `u32` count
/// of children, wrapping as a `u64` add does, never reaching the holds).
const CHILD: u64 = 1 << 32;
/// The holds' half of [`NodeSpan::holds`].
const HOLDS_MASK: u64 = CHILD - 1;

/// Locks `mutex`, also after a panic elsewhere held it (the values kept
/// under these locks are plain data, valid whenever written).
fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Records every workflow node as an OpenTelemetry span and the catalogue
/// metrics. Attach it with [`InstrumentExt::instrumented`](crate::InstrumentExt::instrumented)
/// (or [`WorkflowContext::with_observer`]).
///
/// Without a tracer (see [`Telemetry::metrics_only`]) only metrics are
/// recorded, with no allocation per execution.
pub struct Telemetry<T = BoxedTracer> {
    tracer: Option<T>,
}

impl Telemetry<BoxedTracer> {
    /// Spans from the global tracer provider, plus metrics.
    pub fn new() -> Self {
        Self::with_tracer(opentelemetry::global::tracer(crate::INSTRUMENTATION_NAME))
    }

    /// Spans from `provider` instead of the global provider, plus metrics
    /// (as `TelemetryLayer::with_tracer_provider` and
    /// `LlmLayer::with_tracer_provider`).
    pub fn with_tracer_provider<P>(provider: &P) -> Self
    where
        P: opentelemetry::trace::TracerProvider,
        P::Tracer: Send + Sync + 'static,
        <P::Tracer as Tracer>::Span: Send + Sync + 'static,
    {
        Self::with_tracer(BoxedTracer::new(Box::new(
            provider.tracer(crate::INSTRUMENTATION_NAME),
        )))
    }

    /// Metrics only: no spans. See also
    /// [`InstrumentExt::instrumented_metrics_only`](crate::InstrumentExt::instrumented_metrics_only),
    /// which shares one such observer by a `'static` reference.
    pub const fn metrics_only() -> Self {
        Self { tracer: None }
    }
}

impl Default for Telemetry<BoxedTracer> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T> Telemetry<T>
where
    T: Tracer + Send + Sync + 'static,
    T::Span: Send + Sync + 'static,
{
    /// Spans from `tracer`, plus metrics.
    pub fn with_tracer(tracer: T) -> Self {
        Self {
            tracer: Some(tracer),
        }
    }

    fn start_span(
        &self,
        tracer: &T,
        node: &NodeInfo<'_>,
        ctx: &WorkflowContext,
        started: Instant,
        metrics: &'static NodeMetrics,
    ) -> NodeSpan {
        let parent = ctx
            .node_handle()
            .and_then(NodeHandle::downcast_arc::<NodeSpan>);
        let (anchor, start, index) = match &parent {
            // A child starts no earlier than its parent, and holds its end.
            Some(p) => {
                let before = p.holds.fetch_add(CHILD | HOLD, Ordering::Relaxed);
                let index = (before >> 32) as u32;
                (p.anchor, p.anchor.offset(started).max(p.start), index)
            }
            // Both clocks read together: `started` was read before the
            // observer's work, which a preemption could stretch.
            None => (Anchor::now(), 0, 0),
        };
        let mut attributes = Vec::with_capacity(10);
        attributes.extend([
            KeyValue::new(attr::WORKFLOW_NAME, name_value(ctx.workflow_name_shared())),
            KeyValue::new(attr::PRIMITIVE_NAME, name_value(node.name)),
            KeyValue::new(attr::PRIMITIVE_TYPE, node.primitive_type.as_str()),
            KeyValue::new(attr::STEP_ID, ctx.step_id().get() as i64),
        ]);
        let parent_cx = match parent.as_deref() {
            Some(parent) => {
                attributes.push(KeyValue::new(attr::STEP_INDEX, i64::from(index)));
                match parent.primitive_type {
                    PrimitiveType::Retry => {
                        let attempt = parent.retry_attempt.load(Ordering::Relaxed);
                        attributes.push(KeyValue::new(attr::RETRY_ATTEMPT, i64::from(attempt)));
                        if let Some(backoff) = *lock(&parent.retry_backoff) {
                            attributes
                                .push(KeyValue::new(attr::RETRY_BACKOFF, backoff.as_secs_f64()));
                        }
                    }
                    PrimitiveType::Saga => {
                        let phase = if parent.compensating.load(Ordering::Relaxed) {
                            "compensation"
                        } else {
                            "forward"
                        };
                        attributes.push(KeyValue::new(attr::SAGA_PHASE, phase));
                    }
                    _ => {}
                }
                Some(&parent.cx)
            }
            None => {
                // The root: nest under whatever span is current (an HTTP
                // server span, say) and describe the execution.
                attributes.push(KeyValue::new(
                    attr::WORKFLOW_ID,
                    opentelemetry::StringValue::from(Arc::clone(ctx.workflow_id_shared())),
                ));
                attributes.push(KeyValue::new(
                    attr::CORRELATION_ID,
                    opentelemetry::StringValue::from(Arc::clone(ctx.correlation_id_shared())),
                ));
                if let Some(session) = ctx.session_id() {
                    attributes.push(KeyValue::new(attr::SESSION_ID, session.to_owned()));
                }
                if let Some(user) = ctx.user_id() {
                    attributes.push(KeyValue::new(attr::ENDUSER_ID, user.to_owned()));
                }
                // (`None`: the current context, borrowed, not cloned.)
                None
            }
        };
        let builder = tracer
            .span_builder(if node.name.as_str().is_empty() {
                Cow::Borrowed(node.primitive_type.as_str())
            } else {
                name_cow(node.name)
            })
            .with_kind(SpanKind::Internal)
            .with_start_time(anchor.wall(start))
            .with_attributes(attributes);
        let cx = crate::span::start(tracer, builder, parent_cx);
        NodeSpan {
            cx,
            anchor,
            start,
            own_end: AtomicU64::new(0),
            children_end: AtomicU64::new(0),
            holds: AtomicU64::new(HOLD),
            parent,
            metrics,
            primitive_type: node.primitive_type,
            retry_attempt: AtomicU32::new(0),
            retry_backoff: Mutex::new(None),
            compensating: AtomicBool::new(false),
            failed_child: Mutex::new(None),
        }
    }
}

impl NodeSpan {
    /// Records a failure: `error.type` and the class on every span it
    /// passes through; the `exception` event (type and message) once, on
    /// the span where the error arose (not on the ancestors it is passed
    /// up to, which a child of the same error type already recorded); an
    /// error status unless the error is [expected](ErrorClass::Expected).
    fn record_failure(&self, error: &WorkflowError) {
        let span = self.cx.span();
        let kind = error.kind();
        let class = error.class();
        span.set_attribute(KeyValue::new(attr::ERROR_TYPE, kind));
        span.set_attribute(KeyValue::new(attr::ERROR_CLASS, class.as_str()));
        let passed_up = *lock(&self.failed_child) == Some(kind);
        if let Some(parent) = &self.parent {
            *lock(&parent.failed_child) = Some(kind);
        }
        if class == ErrorClass::Expected {
            return;
        }
        if !passed_up {
            span.add_event(
                "exception",
                vec![
                    KeyValue::new(attr::EXCEPTION_TYPE, kind),
                    KeyValue::new(attr::EXCEPTION_MESSAGE, error.to_string()),
                ],
            );
        }
        span.set_status(Status::error(error.to_string()));
    }

    /// The node completed (or was cancelled) at `completed`: records its own
    /// end and releases its own hold on the span.
    fn finish(&self, completed: Instant) {
        let end = self.anchor.offset(completed).max(self.start);
        self.own_end.store(end, Ordering::Release);
        self.release();
    }

    /// A child span ended at `end` (an offset from the shared anchor).
    fn child_ended(&self, end: u64) {
        self.children_end.fetch_max(end, Ordering::AcqRel);
        self.release();
    }

    /// Releases one hold; the last one ends the span, at the latest of the
    /// node's own end and its children's, and tells the parent. So a span
    /// never ends before its children: a child cancelled when its finished
    /// parent's future is dropped, or a span that outlives the node that
    /// started it (an LLM call's stream read after its step returned, see
    /// [`ChildSpanClock`]), keeps its parent's span open until it ends. The
    /// node's metrics keep its own duration.
    fn release(&self) {
        if self.holds.fetch_sub(HOLD, Ordering::AcqRel) & HOLDS_MASK != HOLD {
            return;
        }
        let end = self
            .own_end
            .load(Ordering::Acquire)
            .max(self.children_end.load(Ordering::Acquire));
        self.cx.span().end_with_timestamp(self.anchor.wall(end));
        if let Some(parent) = &self.parent {
            parent.child_ended(end);
        }
    }
}

/// The timestamps of a span that another layer starts under a traced
/// workflow node (an LLM call, say), taken from the node's trace clock, and
/// a hold on the node's span: the node's span (and its ancestors') does not
/// end before this one does. Obtained with [`ChildSpanClock::under`];
/// dropping it unended ends it at the time of the drop.
///
/// ```
/// use tta_primitives_core::WorkflowContext;
/// use tta_primitives_obs::ChildSpanClock;
///
/// // Outside a traced node there is no clock to share.
/// assert!(ChildSpanClock::under(&WorkflowContext::new("wf")).is_none());
/// ```
pub struct ChildSpanClock {
    node: Arc<NodeSpan>,
    start: u64,
    ended: bool,
}

impl ChildSpanClock {
    /// The clock of the traced node running under `ctx`, if any; the
    /// child's start is now.
    pub fn under(ctx: &WorkflowContext) -> Option<Self> {
        let node = ctx.node_handle()?.downcast_arc::<NodeSpan>()?;
        node.holds.fetch_add(HOLD, Ordering::Relaxed);
        let start = node.anchor.offset(observe::now()).max(node.start);
        Some(Self {
            node,
            start,
            ended: false,
        })
    }

    /// When the child started (for `SpanBuilder::with_start_time`).
    pub fn start_time(&self) -> SystemTime {
        self.node.anchor.wall(self.start)
    }

    /// Ends the child now: returns its end time (for
    /// `Span::end_with_timestamp`) and releases its hold on the node's span.
    pub fn end(mut self) -> SystemTime {
        self.end_now()
    }

    fn end_now(&mut self) -> SystemTime {
        self.ended = true;
        let end = self.node.anchor.offset(observe::now()).max(self.start);
        self.node.child_ended(end);
        self.node.anchor.wall(end)
    }
}

impl Drop for ChildSpanClock {
    fn drop(&mut self) {
        if !self.ended {
            self.end_now();
        }
    }
}

impl std::fmt::Debug for ChildSpanClock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChildSpanClock")
            .field("start", &self.start_time())
            .finish_non_exhaustive()
    }
}

impl<T> std::fmt::Debug for Telemetry<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Telemetry")
            .field("traces", &self.tracer.is_some())
            .finish()
    }
}

/// Whether a node records the catalogue's node series (executions, duration,
/// in flight). A workflow's top-level node does not: the root that wraps it
/// shares its clock readings and its outcome, so the workflow's series
/// (`primitive_type="workflow"`) are the top-level node's, and recording
/// both stored every sample twice. The top-level node keeps its span and
/// its type's own metrics (a retry's attempts, a breaker's state).
fn records_node_series(node: &NodeInfo<'_>) -> bool {
    node.wrapped_by != Some(PrimitiveType::Workflow)
}

/// The node's label value: its name, or (documented normalisation) its
/// type when the name is empty.
fn label<'a>(node: &NodeInfo<'a>) -> &'a str {
    match node.name.as_str() {
        "" => node.primitive_type.as_str(),
        name => name,
    }
}

/// A node name as an attribute value, without copying it.
fn name_value(name: &Name) -> opentelemetry::StringValue {
    match (name.as_static(), name.as_shared()) {
        (Some(s), _) => s.into(),
        (None, Some(shared)) => Arc::clone(shared).into(),
        (None, None) => name.as_str().to_owned().into(),
    }
}

/// A node name as a span name (static names are not copied).
fn name_cow(name: &Name) -> Cow<'static, str> {
    match name.as_static() {
        Some(s) => Cow::Borrowed(s),
        None => Cow::Owned(name.as_str().to_owned()),
    }
}

/// The OpenTelemetry context (with the span) of the node running under
/// `ctx`, when the workflow is traced.
pub(crate) fn node_context(ctx: &WorkflowContext) -> Option<Context> {
    ctx.node_handle()?
        .downcast_ref::<NodeSpan>()
        .map(|n| n.cx.clone())
}

impl<T> Observer for Telemetry<T>
where
    T: Tracer + Send + Sync + 'static,
    T::Span: Send + Sync + 'static,
{
    fn on_node_start(
        &self,
        node: &NodeInfo<'_>,
        ctx: &WorkflowContext,
        started: Instant,
    ) -> Option<NodeHandle> {
        let workflow = ctx.workflow_name_shared();
        let static_labels = workflow.as_static().is_some()
            && (node.name.as_static().is_some() || node.name.as_str().is_empty());
        let metrics = instruments().node(
            workflow.as_str(),
            label(node),
            node.primitive_type,
            static_labels,
        );
        let own_series = records_node_series(node);
        if own_series {
            metrics.record_start();
        }
        Some(match &self.tracer {
            Some(tracer) => NodeHandle::new(self.start_span(tracer, node, ctx, started, metrics)),
            None if own_series => NodeHandle::from_static(metrics),
            // Without a span or series of its own, what a node records comes
            // from its events: its end is not needed.
            None => NodeHandle::events_only(metrics),
        })
    }

    /// A traced node's span context is current while its future is polled,
    /// so `tracing` spans (through the bridge), `TelemetryLayer` clients and
    /// `Context::current()` inside the node nest under it.
    /// Only traced nodes that run user code are scoped: a composite node's
    /// poll only polls its children, which are scoped themselves.
    fn scopes_polls(&self, node: &NodeInfo<'_>) -> bool {
        self.tracer.is_some() && !node.primitive_type.is_composite()
    }

    fn enter_poll(&self, handle: &NodeHandle) {
        if let Some(node) = handle.downcast_ref::<NodeSpan>() {
            crate::span::attach_in_poll(&node.cx);
        }
    }

    fn exit_poll(&self, handle: &NodeHandle) {
        if handle.downcast_ref::<NodeSpan>().is_some() {
            crate::span::detach_in_poll();
        }
    }

    fn on_node_end(&self, info: &NodeInfo<'_>, handle: Option<&NodeHandle>, end: &NodeEnd<'_>) {
        let Some(handle) = handle else {
            return;
        };
        let seconds = end.elapsed.as_secs_f64();
        // A metrics-only node without series of its own has an events-only
        // handle: its end never comes here.
        if let Some(metrics) = handle.downcast_ref::<NodeMetrics>() {
            return metrics.record_end(&end.outcome, seconds);
        }
        let Some(node) = handle.downcast_ref::<NodeSpan>() else {
            return;
        };
        if records_node_series(info) {
            node.metrics.record_end(&end.outcome, seconds);
        }
        let span = node.cx.span();
        match end.outcome {
            NodeOutcome::Success => {}
            NodeOutcome::Failure(error) => node.record_failure(error),
            NodeOutcome::Cancelled => span.set_attribute(KeyValue::new(attr::CANCELLED, true)),
        }
        node.finish(end.completed);
    }

    fn on_event(&self, node: &NodeInfo<'_>, ctx: &WorkflowContext, event: &Event<'_>) {
        let handle = ctx.node_handle();
        // Without a tracer no handle is a span: not even looked for.
        let span_node = match self.tracer {
            Some(_) => handle.and_then(|h| h.downcast_ref::<NodeSpan>()),
            None => None,
        };
        if span_node.is_none() && matches!(event, Event::RetryAttempt { .. }) {
            return; // only an attempt's span records its number
        }
        // Events are emitted only by the primitives of the core crate, each
        // under its own node's context, so the handles found are the node's:
        // their type is checked, not their labels. Should they be another
        // node's, the node's own are looked up.
        let metrics = span_node
            .map(|n| n.metrics)
            .or_else(|| handle.and_then(|h| h.downcast_ref::<NodeMetrics>()))
            .filter(|m| m.primitive_type == node.primitive_type)
            .unwrap_or_else(|| {
                let workflow = ctx.workflow_name_shared().as_str();
                instruments().node(workflow, label(node), node.primitive_type, false)
            });
        metrics.events.record(label(node), event);
        let Some(span_node) = span_node else {
            return;
        };
        let span = span_node.cx.span();
        let mut attributes = Vec::new();
        match *event {
            Event::RetryAttempt { attempt } => {
                span_node.retry_attempt.store(attempt, Ordering::Relaxed);
                return; // the attempt's own span carries the number
            }
            Event::RetryBackoff {
                next_attempt,
                delay,
                error,
            } => {
                *lock(&span_node.retry_backoff) = Some(delay);
                attributes.extend([
                    KeyValue::new(attr::RETRY_ATTEMPT, i64::from(next_attempt)),
                    KeyValue::new(attr::RETRY_DELAY, delay.as_secs_f64()),
                    KeyValue::new(attr::ERROR_TYPE, error.kind()),
                ]);
            }
            Event::RetryFinished { attempts, outcome } => {
                span.set_attribute(KeyValue::new(attr::RETRY_ATTEMPTS, i64::from(attempts)));
                span.set_attribute(KeyValue::new(attr::RETRY_RESULT, outcome.as_str()));
                return;
            }
            Event::CacheHit => {
                span.set_attribute(KeyValue::new(attr::CACHE_HIT, true));
            }
            Event::CacheMiss { coalesced } => {
                span.set_attribute(KeyValue::new(attr::CACHE_HIT, false));
                attributes.push(KeyValue::new(attr::CACHE_COALESCED, coalesced));
            }
            Event::CacheEviction { reason } => {
                attributes.push(KeyValue::new(attr::CACHE_EVICTION_REASON, reason.as_str()))
            }
            Event::CacheSize { .. } => return,
            Event::BreakerTransition { from, to } => {
                attributes.extend([
                    KeyValue::new(attr::BREAKER_FROM, from.as_str()),
                    KeyValue::new(attr::BREAKER_TO, to.as_str()),
                ]);
            }
            Event::BreakerAdmitted { .. } => return,
            Event::BreakerRejected { state } => {
                attributes.push(KeyValue::new(attr::BREAKER_STATE, state.as_str()));
            }
            Event::TimedOut { after } => {
                attributes.push(KeyValue::new(attr::TIMEOUT_AFTER, after.as_secs_f64()))
            }
            Event::FallbackFinished { leg, leg_name } => {
                if let (Some(leg), Some(name)) = (leg, leg_name) {
                    span.set_attribute(KeyValue::new(attr::FALLBACK_LEG, leg as i64));
                    attributes.push(KeyValue::new(attr::FALLBACK_LEG_NAME, name.to_owned()));
                }
            }
            Event::RouteChosen { route } => {
                span.set_attribute(KeyValue::new(attr::ROUTER_ROUTE, route.to_owned()));
                return;
            }
            Event::Compensating { step } => {
                span_node.compensating.store(true, Ordering::Relaxed);
                attributes.push(KeyValue::new(attr::SAGA_STEP, step.to_owned()));
            }
            Event::Compensation { step, error } => {
                attributes.push(KeyValue::new(attr::SAGA_STEP, step.to_owned()));
                if let Some(error) = error {
                    attributes.push(KeyValue::new(attr::ERROR_TYPE, error.kind()));
                }
            }
            _ => {}
        }
        span.add_event(event.name(), attributes);
    }
}
