//! A `metrics` recorder whose handles are plain atomics and which counts
//! registrations, for the allocation tests: with it installed, a heap
//! allocation or a registry lookup during a warm call is the code under
//! test's own.

use std::sync::{
    Arc,
    atomic::{AtomicU64, AtomicUsize, Ordering},
};

use metrics::{
    Counter, Gauge, Histogram, HistogramFn, Key, KeyName, Metadata, Recorder, SharedString, Unit,
};

static REGISTRATIONS: AtomicUsize = AtomicUsize::new(0);

/// Handles registered so far (a registry lookup by name shows up here).
pub fn registrations() -> usize {
    REGISTRATIONS.load(Ordering::Relaxed)
}

#[derive(Default)]
struct Sum(AtomicU64);

impl HistogramFn for Sum {
    fn record(&self, value: f64) {
        self.0.fetch_add(value.to_bits() & 1, Ordering::Relaxed);
    }
}

/// The recorder; install it with `metrics::set_global_recorder(AtomicRecorder)`.
#[derive(Debug, Clone, Copy, Default)]
pub struct AtomicRecorder;

impl Recorder for AtomicRecorder {
    fn describe_counter(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn describe_gauge(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn describe_histogram(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn register_counter(&self, _: &Key, _: &Metadata<'_>) -> Counter {
        REGISTRATIONS.fetch_add(1, Ordering::Relaxed);
        Counter::from_arc(Arc::new(AtomicU64::new(0)))
    }
    fn register_gauge(&self, _: &Key, _: &Metadata<'_>) -> Gauge {
        REGISTRATIONS.fetch_add(1, Ordering::Relaxed);
        Gauge::from_arc(Arc::new(AtomicU64::new(0)))
    }
    fn register_histogram(&self, _: &Key, _: &Metadata<'_>) -> Histogram {
        REGISTRATIONS.fetch_add(1, Ordering::Relaxed);
        Histogram::from_arc(Arc::new(Sum::default()))
    }
}
