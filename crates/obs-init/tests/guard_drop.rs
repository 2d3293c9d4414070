//! Dropping the guard on a current-thread runtime, with a collector that
//! never answers, returns within the guard's bounded flush (no hang, no panic
//! about a missing reactor).

use std::time::{Duration, Instant};

use opentelemetry::trace::{Tracer, TracerProvider as _};
use tta_obs_init::{ObservabilityConfig, initialize_observability};

#[test]
fn dropping_the_guard_is_bounded_with_a_stuck_collector() {
    let addr = tta_test_support::black_hole();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let config = ObservabilityConfig::builder("drop-service")
            .without_metrics_endpoint()
            .otlp_grpc(&format!("http://{addr}"), &[])
            .unwrap()
            .otlp_timeout(Duration::from_secs(30))
            .build()
            .unwrap();
        let guard = initialize_observability(config).unwrap();
        let tracer = opentelemetry::global::tracer_provider().tracer("t");
        for _ in 0..100 {
            tracer.in_span("work", |_| {});
        }
        let started = Instant::now();
        drop(guard);
        let took = started.elapsed();
        assert!(
            took < Duration::from_secs(4),
            "dropping the guard took {took:?}"
        );
    });
}
