//! Metric handles per label set, behind a cardinality guard.
//!
//! A [`Series`] creates the `metrics` handles of one catalogue metric, one
//! per distinct label set, and caches them: a warm update hashes the label
//! values and finds the handle under a read lock, with no allocation and no
//! lookup in the recorder's registry. Any label value is accepted and comes
//! out of `/metrics` exactly as given (quotes, backslashes, newlines, any
//! Unicode; a property test checks this against the reference parser); a
//! label set of the wrong length is padded with empty values or truncated
//! (documented normalisation, never a panic).
//!
//! **Cardinality guard**: each series holds at most `cap` label sets
//! (default [`DEFAULT_SERIES_CAP`]). Past the cap, updates for new label
//! sets go to a single series whose every label value is `__overflow__`, and
//! each such update increments `tta_metric_series_overflow_total{metric}`.
//! Overflowing label sets are not remembered, so memory stays bounded
//! whatever the input.
//!
//! ```
//! use tta_primitives_obs::{catalogue::MetricDef, series::CounterSeries};
//!
//! static JOBS: MetricDef = MetricDef::counter("app_jobs_total", "Jobs run.", &["queue"]);
//! let jobs = CounterSeries::new(&JOBS).unwrap().with_cap(2);
//! jobs.increment(&["emails"], 1);
//! jobs.increment(&["reports"], 1);
//! jobs.increment(&["user-supplied-42"], 1); // third label set: folded into `__overflow__`
//! assert_eq!(jobs.len(), 2);
//! ```

use std::{
    hash::{Hash, Hasher},
    sync::{OnceLock, RwLock},
};

use hashbrown::{Equivalent, HashMap};
use metrics::{Counter, Gauge, Histogram, Label};

use crate::catalogue::{Catalogue, CatalogueError, MetricDef, MetricKind, SERIES_OVERFLOW};

/// Label sets per metric before the guard folds new ones into `__overflow__`.
pub const DEFAULT_SERIES_CAP: usize = 2000;

/// The label value of the overflow series.
pub const OVERFLOW: &str = "__overflow__";

/// Emits `# HELP` / `# TYPE` for `def` through the installed recorder.
pub(crate) fn describe(def: &'static MetricDef) {
    match def.kind {
        MetricKind::Counter => metrics::describe_counter!(def.name, def.help),
        MetricKind::Gauge => metrics::describe_gauge!(def.name, def.help),
        MetricKind::Histogram => metrics::describe_histogram!(def.name, def.help),
    }
}

/// A `metrics` handle type that a [`Series`] can create.
pub trait Handle: Clone {
    /// The metric type this handle serves.
    const KIND: MetricKind;
    /// Registers the handle for `def` with `labels` in the installed recorder.
    fn register(def: &'static MetricDef, labels: Vec<Label>) -> Self;
}

impl Handle for Counter {
    const KIND: MetricKind = MetricKind::Counter;
    fn register(def: &'static MetricDef, labels: Vec<Label>) -> Self {
        metrics::counter!(def.name, labels)
    }
}

impl Handle for Gauge {
    const KIND: MetricKind = MetricKind::Gauge;
    fn register(def: &'static MetricDef, labels: Vec<Label>) -> Self {
        metrics::gauge!(def.name, labels)
    }
}

impl Handle for Histogram {
    const KIND: MetricKind = MetricKind::Histogram;
    fn register(def: &'static MetricDef, labels: Vec<Label>) -> Self {
        metrics::histogram!(def.name, labels)
    }
}

/// Owned label values: the cache key.
#[derive(PartialEq, Eq)]
struct OwnedValues(Box<[Box<str>]>);

/// Borrowed label values, looked up without allocating.
struct Values<'a>(&'a [&'a str]);

fn hash_values<'a, H: Hasher>(values: impl ExactSizeIterator<Item = &'a str>, state: &mut H) {
    state.write_usize(values.len());
    for v in values {
        state.write(v.as_bytes());
        state.write_u8(0xff);
    }
}

impl Hash for OwnedValues {
    fn hash<H: Hasher>(&self, state: &mut H) {
        hash_values(self.0.iter().map(|v| &**v), state);
    }
}

impl Hash for Values<'_> {
    fn hash<H: Hasher>(&self, state: &mut H) {
        hash_values(self.0.iter().copied(), state);
    }
}

impl Equivalent<OwnedValues> for Values<'_> {
    fn equivalent(&self, key: &OwnedValues) -> bool {
        self.0.len() == key.0.len() && self.0.iter().zip(key.0.iter()).all(|(a, b)| *a == &**b)
    }
}

/// The handles of one metric, one per label set, with a cardinality cap.
///
/// Keep one `Series` per metric (a `static` behind a `OnceLock`, say): the
/// cap and the cache belong to the `Series`, so two of them for the same
/// metric would each allow `cap` label sets.
pub struct Series<H> {
    def: &'static MetricDef,
    cap: usize,
    handles: RwLock<HashMap<OwnedValues, H>>,
    overflow: OnceLock<H>,
}

/// A [`Series`] of counters.
pub type CounterSeries = Series<Counter>;
/// A [`Series`] of gauges.
pub type GaugeSeries = Series<Gauge>;
/// A [`Series`] of histograms.
pub type HistogramSeries = Series<Histogram>;

impl<H: Handle> Series<H> {
    /// The series of `def`, registering `def` in the global [`Catalogue`].
    ///
    /// # Errors
    /// When `def` is invalid, conflicts with a registered definition, or is
    /// not of this series' type.
    pub fn new(def: &'static MetricDef) -> Result<Self, CatalogueError> {
        if def.kind != H::KIND {
            return Err(CatalogueError::Invalid {
                metric: def.name.to_owned(),
                reason: format!("it is a {}, not a {}", def.kind.as_str(), H::KIND.as_str()),
            });
        }
        Catalogue::global().register(def)?;
        Ok(Self::new_unchecked(def))
    }

    /// For built-in definitions, which are valid and registered by
    /// construction (a test checks every one).
    pub(crate) fn new_unchecked(def: &'static MetricDef) -> Self {
        Self {
            def,
            cap: DEFAULT_SERIES_CAP,
            handles: RwLock::new(HashMap::new()),
            overflow: OnceLock::new(),
        }
    }

    /// Sets the cap on label sets (at least 1).
    pub fn with_cap(mut self, cap: usize) -> Self {
        self.cap = cap.max(1);
        self
    }

    /// The metric's definition.
    pub fn def(&self) -> &'static MetricDef {
        self.def
    }

    /// Label sets held (the overflow series excluded).
    pub fn len(&self) -> usize {
        self.handles.read().unwrap_or_else(|p| p.into_inner()).len()
    }

    /// Whether no label set is held yet.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Runs `f` on the handle for `values` (in the order of the definition's
    /// labels), creating it on first use.
    #[inline]
    pub fn with<R>(&self, values: &[&str], f: impl FnOnce(&H) -> R) -> R {
        {
            let handles = self.handles.read().unwrap_or_else(|p| p.into_inner());
            if let Some(handle) = handles.get(&Values(values)) {
                return f(handle);
            }
        }
        f(&self.create(values))
    }

    /// A clone of the handle for `values`, for callers that keep it.
    pub fn handle(&self, values: &[&str]) -> H {
        self.with(values, H::clone)
    }

    #[cold]
    fn create(&self, values: &[&str]) -> H {
        let mut handles = self.handles.write().unwrap_or_else(|p| p.into_inner());
        if let Some(handle) = handles.get(&Values(values)) {
            return handle.clone();
        }
        if handles.len() >= self.cap {
            drop(handles);
            metrics::counter!(SERIES_OVERFLOW.name, "metric" => self.def.name).increment(1);
            return self
                .overflow
                .get_or_init(|| H::register(self.def, self.labels(&[])))
                .clone();
        }
        if handles.is_empty() {
            // The metric's overflow counter exists (at 0) from the metric's
            // first series on, so dashboards and alerts see "no overflow"
            // rather than "no data".
            metrics::counter!(SERIES_OVERFLOW.name, "metric" => self.def.name).increment(0);
        }
        let handle = H::register(self.def, self.labels(values));
        let owned = normalise(self.def, values).map(Box::from).collect();
        handles.insert(OwnedValues(owned), handle.clone());
        handle
    }

    /// The labels for `values`; an empty slice gives the overflow labels.
    fn labels(&self, values: &[&str]) -> Vec<Label> {
        let overflow = values.is_empty() && !self.def.labels.is_empty();
        self.def
            .labels
            .iter()
            .zip(normalise(self.def, values))
            .map(|(name, value)| {
                Label::new(
                    *name,
                    if overflow {
                        OVERFLOW.to_owned()
                    } else {
                        exporter_safe(value)
                    },
                )
            })
            .collect()
    }
}

/// Prepares a label value for `metrics-exporter-prometheus`, whose escaper
/// takes a backslash followed by a backslash or a quote as already escaped:
/// a value `\"` would lose its backslash. Doubling every backslash makes the
/// exporter write each one escaped, so every value round-trips exactly.
fn exporter_safe(value: &str) -> String {
    value.replace('\\', "\\\\")
}

/// Pads (with empty values) or truncates `values` to the definition's labels.
fn normalise<'a>(def: &MetricDef, values: &'a [&'a str]) -> impl Iterator<Item = &'a str> {
    values
        .iter()
        .copied()
        .chain(std::iter::repeat(""))
        .take(def.labels.len())
}

impl Series<Counter> {
    /// Adds `n` to the counter for `values`.
    #[inline]
    pub fn increment(&self, values: &[&str], n: u64) {
        self.with(values, |c| c.increment(n));
    }
}

impl Series<Gauge> {
    /// Sets the gauge for `values`.
    #[inline]
    pub fn set(&self, values: &[&str], value: f64) {
        self.with(values, |g| g.set(value));
    }

    /// Adds `delta` to the gauge for `values`.
    #[inline]
    pub fn add(&self, values: &[&str], delta: f64) {
        self.with(values, |g| g.increment(delta));
    }
}

impl Series<Histogram> {
    /// Records `value` in the histogram for `values`.
    #[inline]
    pub fn record(&self, values: &[&str], value: f64) {
        self.with(values, |h| h.record(value));
    }
}

impl<H> std::fmt::Debug for Series<H> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Series")
            .field("metric", &self.def.name)
            .field("cap", &self.cap)
            .finish_non_exhaustive()
    }
}
