//! The built-in catalogue's metric handles, process-wide: per node (its
//! executions, duration, in-flight and per-call event handles, created once
//! and cached), and the series of every other built-in metric.

use std::sync::{OnceLock, RwLock};

use metrics::{Counter, Gauge, Histogram};
use tta_primitives_core::{
    ErrorClass,
    circuit_breaker::BreakerState,
    observe::{Event, EvictionReason, NodeOutcome, PrimitiveType, RetryOutcome},
};

use crate::{
    catalogue as c,
    handle_cache::HandleCache,
    series::{CounterSeries, DEFAULT_SERIES_CAP, GaugeSeries, HistogramSeries, OVERFLOW, Series},
};

static SERIES_CAP: OnceLock<usize> = OnceLock::new();

/// Sets the cardinality cap of every built-in metric (default
/// [`DEFAULT_SERIES_CAP`]). Must be called before the first metric update.
///
/// # Errors
/// Returns the cap in force when instruments were already created with it.
pub fn set_series_cap(cap: usize) -> Result<(), usize> {
    SERIES_CAP.set(cap.max(1)).map_err(|_| series_cap())
}

fn series_cap() -> usize {
    *SERIES_CAP.get_or_init(|| DEFAULT_SERIES_CAP)
}

/// The handles of one node (workflow, primitive name, primitive type),
/// created on first use and shared by every execution of that node. They
/// live for the rest of the process (their number is bounded by the series
/// cap), so executions refer to them without reference counting.
///
/// Only the series every execution can move start with the node's first
/// recorded start (its in-flight gauge, its successes and their durations:
/// 20 series with the default buckets); the series of errors, expected
/// errors and cancellations start at their first use (see
/// [`NODE_SERIES`]). A node that never records them (a workflow's
/// top-level node, whose series are the workflow's) has none.
#[derive(Debug)]
pub(crate) struct NodeMetrics {
    series: OnceLock<NodeSeries>,
    /// Executions counter per outcome other than success and error kind
    /// (outcomes and kinds are few and static).
    others: RwLock<Vec<(&'static str, &'static str, Counter)>>,
    /// The duration histogram of each outcome of [`LAZY_OUTCOMES`].
    durations: [OnceLock<Histogram>; 3],
    labels: [Box<str>; 3],
    pub(crate) primitive_type: PrimitiveType,
    /// The handles of the events this node's type reports on every call.
    pub(crate) events: EventHandles,
}

/// The series of a node that every execution moves.
#[derive(Debug)]
struct NodeSeries {
    in_flight: Gauge,
    success: (Counter, Histogram),
}

/// The outcomes whose series a node creates at their first use.
const LAZY_OUTCOMES: [&str; 3] = ["error", "expected", "cancelled"];

/// The series one node creates before anything but successes happened:
/// its in-flight gauge, its success counter, and its success duration
/// histogram (one series per bucket, `+Inf`, `_sum` and `_count`). Errors,
/// expected errors and cancellations add a counter per error type and one
/// histogram per outcome when they first happen; the event metrics of a
/// retry, breaker, cache, fallback or timeout add theirs (see the README's
/// series budget).
pub const NODE_SERIES: usize = 1 + 1 + c::LATENCY_BUCKETS.len() + 3;

/// The handles of the per-call event metrics of one node, registered with
/// the node so that a warm call's events look nothing up. Events that are
/// rare (an eviction, a transition, a timeout) or whose labels vary (a
/// route) go through their series.
#[derive(Debug)]
pub(crate) enum EventHandles {
    /// The node's type reports no per-call event metric.
    None,
    /// A retry: attempts and backoff histograms, calls per outcome (in
    /// [`RetryOutcome::ALL`]'s order).
    Retry {
        attempts: Histogram,
        /// Created at the first backoff: a retry that never retried has no
        /// backoff distribution to show.
        backoff: LazyBackoff,
        calls: [Counter; 4],
    },
    /// A circuit breaker: the state gauge per state (in
    /// [`BreakerState::ALL`]'s order) and rejections.
    Breaker {
        states: [Gauge; 3],
        rejected: Counter,
    },
    /// A cache: hits and misses.
    Cache { hit: Counter, miss: Counter },
    /// A fallback: primary, fallback, exhausted.
    Fallback { results: [Counter; 3] },
}

/// A retry's backoff histogram, created when it is first recorded.
#[derive(Debug)]
pub(crate) struct LazyBackoff {
    primitive: Box<str>,
    histogram: OnceLock<Histogram>,
}

impl LazyBackoff {
    /// Records one backoff, in seconds.
    pub(crate) fn record(&self, seconds: f64) {
        self.histogram
            .get_or_init(|| instruments().retry_backoff.handle(&[&self.primitive]))
            .record(seconds);
    }
}

/// Sets a breaker's state gauges (in [`BreakerState::ALL`]'s order): 1 for
/// `current`, 0 for the others.
fn set_state_gauges(states: &[Gauge; 3], current: BreakerState) {
    for (gauge, state) in states.iter().zip(BreakerState::ALL) {
        gauge.set(if state == current { 1.0 } else { 0.0 });
    }
}

/// The `result` label values of `tta_fallback_total`.
pub(crate) const FALLBACK_RESULTS: [&str; 3] = ["primary", "fallback", "exhausted"];

impl EventHandles {
    /// Records `event`'s metrics: the per-call events through these
    /// handles, the others through their series, labelled with the node's
    /// name `primitive` (the registry is read only for those).
    pub(crate) fn record(&self, primitive: &str, event: &Event<'_>) {
        match (self, *event) {
            (Self::Retry { backoff, .. }, Event::RetryBackoff { delay, .. }) => {
                backoff.record(delay.as_secs_f64());
            }
            (
                Self::Retry {
                    attempts, calls, ..
                },
                Event::RetryFinished {
                    attempts: n,
                    outcome,
                },
            ) => {
                attempts.record(f64::from(n));
                let i = RetryOutcome::ALL.iter().position(|o| *o == outcome);
                calls[i.unwrap_or_default()].increment(1);
            }
            (Self::Cache { hit, .. }, Event::CacheHit) => hit.increment(1),
            (Self::Cache { miss, .. }, Event::CacheMiss { .. }) => miss.increment(1),
            (_, Event::CacheEviction { reason }) => {
                instruments()
                    .cache_evictions
                    .increment(&[primitive, reason.as_str()], 1);
            }
            (_, Event::CacheSize { entries, bytes }) => {
                let m = instruments();
                m.cache_entries.set(&[primitive], entries as f64);
                m.cache_memory.set(&[primitive], bytes as f64);
            }
            (Self::Breaker { states, .. }, Event::BreakerTransition { from, to }) => {
                instruments()
                    .breaker_transitions
                    .increment(&[primitive, from.as_str(), to.as_str()], 1);
                set_state_gauges(states, to);
            }
            (Self::Breaker { states, .. }, Event::BreakerAdmitted { state }) => {
                set_state_gauges(states, state);
            }
            (Self::Breaker { states, rejected }, Event::BreakerRejected { state }) => {
                rejected.increment(1);
                set_state_gauges(states, state);
            }
            (_, Event::TimedOut { .. }) => instruments().timeouts.increment(&[primitive], 1),
            (Self::Fallback { results }, Event::FallbackFinished { leg, .. }) => {
                results[match leg {
                    Some(0) => 0,
                    Some(_) => 1,
                    None => 2,
                }]
                .increment(1);
            }
            (_, Event::RouteChosen { route }) => {
                instruments().router.increment(&[primitive, route], 1)
            }
            (_, Event::Compensation { error, .. }) => {
                let result = if error.is_some() {
                    "failure"
                } else {
                    "success"
                };
                instruments().saga.increment(&[primitive, result], 1);
            }
            // An attempt's number and a saga's start have no metric.
            _ => {}
        }
    }

    fn new(m: &Instruments, primitive: &str, primitive_type: PrimitiveType) -> Self {
        match primitive_type {
            PrimitiveType::Retry => Self::Retry {
                attempts: m.retry_attempts.handle(&[primitive]),
                backoff: LazyBackoff {
                    primitive: primitive.into(),
                    histogram: OnceLock::new(),
                },
                calls: RetryOutcome::ALL.map(|o| m.retry_calls.handle(&[primitive, o.as_str()])),
            },
            PrimitiveType::CircuitBreaker => Self::Breaker {
                states: BreakerState::ALL
                    .map(|state| m.breaker_state.handle(&[primitive, state.as_str()])),
                rejected: m.breaker_rejected.handle(&[primitive]),
            },
            PrimitiveType::Cache => Self::Cache {
                hit: m.cache_requests.handle(&[primitive, "hit"]),
                miss: m.cache_requests.handle(&[primitive, "miss"]),
            },
            PrimitiveType::Fallback => Self::Fallback {
                results: FALLBACK_RESULTS.map(|r| m.fallback.handle(&[primitive, r])),
            },
            _ => Self::None,
        }
    }
}

impl NodeMetrics {
    /// The node's series, registered at their first use.
    #[inline]
    fn series(&self) -> &NodeSeries {
        self.series.get_or_init(|| self.register_series())
    }

    #[cold]
    fn register_series(&self) -> NodeSeries {
        let m = instruments();
        let [workflow, primitive, primitive_type] = &self.labels;
        let ids = [&**workflow, primitive, primitive_type];
        NodeSeries {
            in_flight: m.in_flight.handle(&ids),
            success: (
                m.executions
                    .handle(&[workflow, primitive, primitive_type, "success", ""]),
                m.duration
                    .handle(&[workflow, primitive, primitive_type, "success"]),
            ),
        }
    }

    /// Records a started execution.
    #[inline]
    pub(crate) fn record_start(&self) {
        self.series().in_flight.increment(1.0);
    }

    /// Records a finished execution.
    #[inline]
    pub(crate) fn record_end(&self, outcome: &NodeOutcome<'_>, seconds: f64) {
        match outcome {
            NodeOutcome::Success => {
                let series = self.series();
                series.in_flight.decrement(1.0);
                series.success.0.increment(1);
                series.success.1.record(seconds);
            }
            NodeOutcome::Cancelled => self.record_other(2, "cancelled", seconds),
            NodeOutcome::Failure(e) if e.class() == ErrorClass::Expected => {
                self.record_other(1, e.kind(), seconds);
            }
            NodeOutcome::Failure(e) => self.record_other(0, e.kind(), seconds),
        }
    }

    /// Records a finished execution that failed with `kind` (for services
    /// whose failures are classified from their responses).
    pub(crate) fn record_end_kind(&self, kind: &'static str, seconds: f64) {
        self.record_other(0, kind, seconds);
    }

    /// Records a finished execution that ended with an expected error of
    /// type `kind` (a service's answer that is the client's error).
    pub(crate) fn record_end_expected(&self, kind: &'static str, seconds: f64) {
        self.record_other(1, kind, seconds);
    }

    /// Records an execution whose outcome is `LAZY_OUTCOMES[outcome]`
    /// (kept out of line: the success path stays small enough to inline).
    #[cold]
    #[inline(never)]
    fn record_other(&self, outcome: usize, kind: &'static str, seconds: f64) {
        self.series().in_flight.decrement(1.0);
        self.counter(LAZY_OUTCOMES[outcome], kind).increment(1);
        self.durations[outcome]
            .get_or_init(|| {
                let [workflow, primitive, primitive_type] = &self.labels;
                instruments().duration.handle(&[
                    workflow,
                    primitive,
                    primitive_type,
                    LAZY_OUTCOMES[outcome],
                ])
            })
            .record(seconds);
    }

    fn counter(&self, outcome: &'static str, kind: &'static str) -> Counter {
        let known = self.others.read().unwrap_or_else(|p| p.into_inner());
        if let Some((.., c)) = known.iter().find(|(o, k, _)| *o == outcome && *k == kind) {
            return c.clone();
        }
        drop(known);
        let [workflow, primitive, primitive_type] = &self.labels;
        let counter =
            instruments()
                .executions
                .handle(&[workflow, primitive, primitive_type, outcome, kind]);
        self.others
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .push((outcome, kind, counter.clone()));
        counter
    }
}

/// A node's labels, borrowed.
#[derive(Clone, Copy)]
struct NodeKeyRef<'a> {
    workflow: &'a str,
    primitive: &'a str,
    primitive_type: PrimitiveType,
}

/// Every built-in series, plus the per-node handle cache.
pub(crate) struct Instruments {
    /// By workflow, primitive name and primitive type.
    nodes: HandleCache<3, &'static NodeMetrics>,
    /// Shared by every node past the series cap (their labels are the
    /// overflow labels anyway), so memory stays bounded.
    overflow_node: OnceLock<&'static NodeMetrics>,
    pub(crate) executions: CounterSeries,
    pub(crate) duration: HistogramSeries,
    pub(crate) in_flight: GaugeSeries,
    pub(crate) http_server: HistogramSeries,
    pub(crate) rpc_server: HistogramSeries,
    pub(crate) cache_requests: CounterSeries,
    pub(crate) cache_evictions: CounterSeries,
    pub(crate) cache_entries: GaugeSeries,
    pub(crate) cache_memory: GaugeSeries,
    pub(crate) retry_attempts: HistogramSeries,
    pub(crate) retry_backoff: HistogramSeries,
    pub(crate) retry_calls: CounterSeries,
    pub(crate) breaker_state: GaugeSeries,
    pub(crate) breaker_transitions: CounterSeries,
    pub(crate) breaker_rejected: CounterSeries,
    pub(crate) timeouts: CounterSeries,
    pub(crate) fallback: CounterSeries,
    pub(crate) router: CounterSeries,
    pub(crate) saga: CounterSeries,
    pub(crate) cpu: HistogramSeries,
    pub(crate) allocated: CounterSeries,
    pub(crate) pipeline: PipelineSeries,
}

/// The telemetry pipelines' own counters (labels: `exporter`, `reason`),
/// for every exporter of the toolkit (obs-init's span pipeline, the
/// Langfuse ingestion client): catalogue definitions under the cardinality
/// guard, like every other metric. Obtained with [`pipeline_series`].
#[derive(Debug)]
pub struct PipelineSeries {
    /// `tta_telemetry_spans_dropped_total`.
    pub spans_dropped: CounterSeries,
    /// `tta_telemetry_export_errors_total`.
    pub export_errors: CounterSeries,
    /// `tta_telemetry_export_retries_total`.
    pub export_retries: CounterSeries,
}

/// The pipeline counters, process-wide.
///
/// ```
/// let pipeline = tta_primitives_obs::pipeline_series();
/// pipeline.export_errors.increment(&["my_exporter", "timeout"], 1);
/// assert_eq!(pipeline.export_errors.def().name, "tta_telemetry_export_errors_total");
/// ```
pub fn pipeline_series() -> &'static PipelineSeries {
    &instruments().pipeline
}

/// The process-wide instruments.
pub(crate) fn instruments() -> &'static Instruments {
    static INSTRUMENTS: OnceLock<Instruments> = OnceLock::new();
    INSTRUMENTS.get_or_init(|| {
        // HELP and TYPE for every catalogue metric, through whatever
        // recorder is installed by now (obs-init installs it first).
        crate::catalogue::Catalogue::global().describe_all();
        let cap = series_cap();
        fn s<H: crate::series::Handle>(def: &'static c::MetricDef, cap: usize) -> Series<H> {
            Series::new_unchecked(def).with_cap(cap)
        }
        Instruments {
            nodes: HandleCache::new(cap),
            overflow_node: OnceLock::new(),
            executions: s(&c::PRIMITIVE_EXECUTIONS, cap),
            duration: s(&c::PRIMITIVE_DURATION, cap),
            in_flight: s(&c::PRIMITIVE_IN_FLIGHT, cap),
            http_server: s(&c::HTTP_SERVER_DURATION, cap),
            rpc_server: s(&c::RPC_SERVER_DURATION, cap),
            cache_requests: s(&c::CACHE_REQUESTS, cap),
            cache_evictions: s(&c::CACHE_EVICTIONS, cap),
            cache_entries: s(&c::CACHE_ENTRIES, cap),
            cache_memory: s(&c::CACHE_MEMORY, cap),
            retry_attempts: s(&c::RETRY_ATTEMPTS, cap),
            retry_backoff: s(&c::RETRY_BACKOFF, cap),
            retry_calls: s(&c::RETRY_CALLS, cap),
            breaker_state: s(&c::BREAKER_STATE, cap),
            breaker_transitions: s(&c::BREAKER_TRANSITIONS, cap),
            breaker_rejected: s(&c::BREAKER_REJECTED, cap),
            timeouts: s(&c::TIMEOUTS, cap),
            fallback: s(&c::FALLBACK, cap),
            router: s(&c::ROUTER_DECISIONS, cap),
            saga: s(&c::SAGA_COMPENSATIONS, cap),
            cpu: s(&c::PRIMITIVE_CPU, cap),
            allocated: s(&c::PRIMITIVE_ALLOCATED, cap),
            pipeline: PipelineSeries {
                spans_dropped: s(&c::SPANS_DROPPED, cap),
                export_errors: s(&c::EXPORT_ERRORS, cap),
                export_retries: s(&c::EXPORT_RETRIES, cap),
            },
        }
    })
}

/// Slots of the per-thread cache of recently used nodes.
const RECENT_NODES: usize = 64;

thread_local! {
    /// Recently used nodes, by the addresses of their label strings: a warm
    /// lookup hashes two addresses and compares the labels it finds (or,
    /// for static strings, their addresses), instead of hashing the strings
    /// and taking the map's lock. A slot whose strings were freed and their
    /// memory reused for other labels fails the comparison of contents, so
    /// the cache can only miss, never lie.
    static RECENT: [std::cell::Cell<Option<Recent>>; RECENT_NODES] =
        const { [const { std::cell::Cell::new(None) }; RECENT_NODES] };
}

/// A slot of [`RECENT`]: the node, and the addresses and lengths of the
/// label strings it was found with.
#[derive(Clone, Copy)]
struct Recent {
    workflow: (usize, usize),
    primitive: (usize, usize),
    node: &'static NodeMetrics,
}

fn address(s: &str) -> (usize, usize) {
    (s.as_ptr() as usize, s.len())
}

impl NodeMetrics {
    /// Whether these are the handles of this node.
    fn is(&self, workflow: &str, primitive: &str, primitive_type: PrimitiveType) -> bool {
        self.primitive_type == primitive_type
            && *self.labels[1] == *primitive
            && *self.labels[0] == *workflow
    }
}

impl Instruments {
    /// The handles of a node, created on first use. Warm calls find it in a
    /// per-thread cache (two addresses hashed, the labels compared), else
    /// take a read lock and hash the labels; they never allocate.
    #[inline]
    pub(crate) fn node(
        &self,
        workflow: &str,
        primitive: &str,
        primitive_type: PrimitiveType,
        static_labels: bool,
    ) -> &'static NodeMetrics {
        let (w, p) = (address(workflow), address(primitive));
        // Two slots per key (a two-way set), so two nodes whose keys share
        // a slot do not evict each other on every call.
        let set =
            w.0.wrapping_mul(31)
                .wrapping_add(p.0)
                .wrapping_add(primitive_type as usize)
                .wrapping_mul(0x9E37_79B9_7F4A_7C15)
                >> (usize::BITS - RECENT_NODES.trailing_zeros())
                & !1;
        // Static strings never move or change, so for them the same address
        // and length is the same label; others compare.
        let hit = |slot: &std::cell::Cell<Option<Recent>>| {
            let recent = slot.get()?;
            let same = if static_labels {
                recent.workflow == w
                    && recent.primitive == p
                    && recent.node.primitive_type == primitive_type
            } else {
                recent.node.is(workflow, primitive, primitive_type)
            };
            same.then_some(recent.node)
        };
        if let Ok(Some(node)) = RECENT.try_with(|r| hit(&r[set]).or_else(|| hit(&r[set + 1]))) {
            return node;
        }
        let node = self.node_shared(workflow, primitive, primitive_type);
        let recent = Recent {
            workflow: w,
            primitive: p,
            node,
        };
        // The newest in the first slot, the one it displaces in the second.
        let _ = RECENT.try_with(|r| r[set + 1].set(r[set].replace(Some(recent))));
        node
    }

    /// The handles of a node from the process-wide cache; past the series
    /// cap, the one overflow node shared by every node of that type.
    fn node_shared(
        &self,
        workflow: &str,
        primitive: &str,
        primitive_type: PrimitiveType,
    ) -> &'static NodeMetrics {
        let labels = [workflow, primitive, primitive_type.as_str()];
        if let Some(found) = self.nodes.get(labels) {
            return found;
        }
        self.nodes
            .insert_with(labels, || {
                self.leak_node(workflow, primitive, primitive_type)
            })
            .unwrap_or_else(|| {
                self.overflow_node
                    .get_or_init(|| self.leak_node(OVERFLOW, OVERFLOW, primitive_type))
            })
    }

    /// Creates a node's handles for the rest of the process.
    #[cold]
    fn leak_node(
        &self,
        workflow: &str,
        primitive: &str,
        primitive_type: PrimitiveType,
    ) -> &'static NodeMetrics {
        let key = NodeKeyRef {
            workflow,
            primitive,
            primitive_type,
        };
        let t = key.primitive_type.as_str();
        let node: &'static NodeMetrics = Box::leak(Box::new(NodeMetrics {
            series: OnceLock::new(),
            others: RwLock::new(Vec::new()),
            durations: Default::default(),
            labels: [key.workflow.into(), key.primitive.into(), t.into()],
            primitive_type: key.primitive_type,
            events: EventHandles::new(self, key.primitive, key.primitive_type),
        }));
        self.zero_event_counters(key);
        node
    }

    /// Registers, at 0, the event counters a node of this type can move,
    /// so "none yet" shows as 0 rather than as no data (Prometheus's advice
    /// for counters whose label sets are known in advance). The counters of
    /// the node's [`EventHandles`] (a retry's calls, a cache's requests, a
    /// fallback's results) are registered with them; these are the others.
    fn zero_event_counters(&self, key: NodeKeyRef<'_>) {
        let p = key.primitive;
        let zero = |series: &CounterSeries, values: &[&str]| series.increment(values, 0);
        match key.primitive_type {
            PrimitiveType::Timeout => zero(&self.timeouts, &[p]),
            PrimitiveType::CircuitBreaker => {
                zero(&self.breaker_rejected, &[p]);
                // The transitions the breaker's state machine can make.
                for (from, to) in [
                    (BreakerState::Closed, BreakerState::Open),
                    (BreakerState::Open, BreakerState::HalfOpen),
                    (BreakerState::HalfOpen, BreakerState::Closed),
                    (BreakerState::HalfOpen, BreakerState::Open),
                ] {
                    zero(&self.breaker_transitions, &[p, from.as_str(), to.as_str()]);
                }
            }
            PrimitiveType::Cache => {
                for reason in EvictionReason::ALL {
                    zero(&self.cache_evictions, &[p, reason.as_str()]);
                }
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_series_cap_is_set_once_and_a_later_setting_gets_the_cap_in_force() {
        let _ = set_series_cap(DEFAULT_SERIES_CAP);
        let in_force = series_cap();
        assert_eq!(set_series_cap(in_force + 7), Err(in_force));
        assert_eq!(series_cap(), in_force);
    }
}
