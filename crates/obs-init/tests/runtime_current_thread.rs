//! On a current-thread runtime, the guard flushes and stops within its
//! deadline, with no hang and no panic about a missing reactor.

use std::time::{Duration, Instant};

use tta_obs_init::{ObservabilityConfig, TracesExporter, initialize_observability};

#[test]
fn the_guard_stops_within_its_deadline_on_a_current_thread_runtime() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let config = ObservabilityConfig::builder("current-thread")
            .metrics_addr("127.0.0.1:0")
            .traces_exporter(TracesExporter::Summary)
            .build()
            .unwrap();
        let guard = initialize_observability(config).unwrap();
        {
            use opentelemetry::trace::{Tracer, TracerProvider as _};
            let tracer = opentelemetry::global::tracer_provider().tracer("t");
            tracer.in_span("work", |_| {});
        }
        let started = Instant::now();
        assert!(guard.shutdown(Duration::from_secs(3)).await.completed);
        assert!(started.elapsed() < Duration::from_secs(3));
    });
}
