//! The Prometheus recorder the benchmarks measure under, installed the way
//! obs-init installs it: histogram buckets per metric (without them the
//! exporter would compute summaries instead) and the exporter's upkeep,
//! which drains histogram buffers, every 200 ms.

use std::time::Duration;

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder};

/// Installs the global recorder with `buckets` (metric name, bounds), for
/// example a catalogue's `histogram_buckets()`, and starts its upkeep.
///
/// # Panics
/// When a recorder is already installed or a bucket list is empty: both are
/// mistakes of the benchmark that calls it.
pub fn install(buckets: impl IntoIterator<Item = (&'static str, &'static [f64])>) {
    let mut builder = PrometheusBuilder::new();
    for (name, bounds) in buckets {
        builder = builder
            .set_buckets_for_metric(Matcher::Full(name.to_owned()), bounds)
            .expect("bucket lists are not empty");
    }
    let handle = builder
        .install_recorder()
        .expect("the process's only recorder");
    std::thread::spawn(move || {
        loop {
            std::thread::sleep(Duration::from_millis(200));
            handle.run_upkeep();
        }
    });
}
