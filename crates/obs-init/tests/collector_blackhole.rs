//! A collector that accepts connections and never answers: exports time out,
//! are counted, and the application does not wait for them.

use std::time::{Duration, Instant};

use tower::ServiceExt;
use tta_obs_init::{ObservabilityConfig, initialize_observability};
use tta_primitives_core::{Request, WorkflowContext, WorkflowError, prelude::*};
use tta_primitives_obs::InstrumentExt;
use tta_test_support::eventually;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_black_holing_collector_times_out_without_slowing_the_application() {
    // Accepts connections, reads nothing, answers nothing.
    let addr = tta_test_support::black_hole();
    let mut config = ObservabilityConfig::builder("blackhole-service")
        .metrics_addr("127.0.0.1:0")
        .otlp_http(&format!("http://{addr}/v1/traces"), &[])
        .unwrap()
        .span_queue(100, Duration::from_millis(50));
    config = config.otlp_timeout(Duration::from_millis(300));
    let guard = initialize_observability(config.build().unwrap()).unwrap();

    let wf = lambda(|x: u32| async move { Ok::<_, WorkflowError>(x + 1) })
        .named("step")
        .instrumented();
    let started = Instant::now();
    for i in 0..2_000 {
        wf.clone()
            .oneshot(Request::new(WorkflowContext::new("hole"), i))
            .await
            .unwrap();
    }
    let took = started.elapsed();
    assert!(
        took < Duration::from_secs(2),
        "2000 executions took {took:?}: the application waited on export"
    );

    let timeouts = eventually(
        "a timed-out export to be counted",
        Duration::from_secs(30),
        || async {
            let text = guard.render();
            text.lines()
                .find(|l| {
                    l.starts_with(
                        "tta_telemetry_export_errors_total{exporter=\"otlp\",reason=\"timeout\"}",
                    )
                })
                .and_then(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
                .filter(|v| *v > 0.0)
        },
    )
    .await;
    assert!(timeouts > 0.0);
    let text = guard.render();
    assert!(
        text.contains("tta_telemetry_spans_dropped_total{exporter=\"otlp\",reason=\"timeout\"}"),
        "spans of timed-out exports are counted as dropped"
    );
    let started = Instant::now();
    assert!(
        !guard.shutdown(Duration::from_millis(500)).await.completed
            || started.elapsed() < Duration::from_secs(1)
    );
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "shutdown respects its deadline with a stuck collector"
    );
}
