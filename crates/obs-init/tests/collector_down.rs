//! With the collector down, the application is not slowed, dropped spans and
//! failed exports are counted, and export resumes when the collector is back.

use std::{
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use axum::{Router, body::Bytes, extract::State, routing::post};
use tower::ServiceExt;
use tta_obs_init::{ObservabilityConfig, initialize_observability};
use tta_primitives_core::{Request, WorkflowContext, WorkflowError, prelude::*};
use tta_primitives_obs::{InstrumentExt, Telemetry};
use tta_test_support::{eventually, get};

/// The median and 99th percentile of `runs` executions of `wf`, in µs.
async fn latency<W>(wf: &W, runs: usize) -> (u128, u128)
where
    W: tower::Service<Request<u32>, Response = u32, Error = WorkflowError> + Clone,
{
    let mut samples = Vec::with_capacity(runs);
    for i in 0..runs {
        let started = Instant::now();
        wf.clone()
            .oneshot(Request::new(WorkflowContext::new("down"), i as u32))
            .await
            .unwrap();
        samples.push(started.elapsed().as_micros());
    }
    samples.sort_unstable();
    (samples[runs / 2], samples[runs * 99 / 100])
}

fn metric(text: &str, name_and_labels: &str) -> f64 {
    text.lines()
        .find(|l| l.starts_with(name_and_labels))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_down_collector_costs_the_application_nothing_and_export_resumes() {
    // A port with nobody listening: connections are refused.
    let collector = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let config = ObservabilityConfig::builder("down-service")
        .metrics_addr("127.0.0.1:0")
        .otlp_http(&format!("http://{collector}/v1/traces"), &[])
        .unwrap()
        .span_queue(50, Duration::from_millis(100))
        .build()
        .unwrap();
    let started = Instant::now();
    let guard = initialize_observability(config).unwrap();
    let init_took = started.elapsed();
    eprintln!("initialize_observability took {init_took:?} with the collector down");
    assert!(
        init_took < Duration::from_millis(500),
        "initialisation took {init_took:?} with the collector down"
    );
    let health_url = format!("http://{}/healthz", guard.metrics_addr().unwrap());

    let steps = || {
        lambda(|x: u32| async move { Ok::<_, WorkflowError>(x + 1) }).named("a")
            >> lambda(|x: u32| async move { Ok::<_, WorkflowError>(x + 1) }).named("b")
    };
    let traced = steps().instrumented();
    let untraced = steps().instrumented_with(Arc::new(Telemetry::metrics_only()));
    latency(&traced, 200).await; // warm up
    let (off_p50, off_p99) = latency(&untraced, 2000).await;
    let (on_p50, on_p99) = latency(&traced, 2000).await;
    // Spans cost a few µs each; the down collector must add no waiting (an
    // export that blocked the application would add milliseconds to every
    // call: the median shows it; the tail gets room for a busy machine).
    assert!(
        on_p50 <= off_p50 + 500,
        "median {on_p50} µs with spans vs {off_p50} µs without"
    );
    assert!(
        on_p99 <= off_p99 + 20_000,
        "p99 {on_p99} µs with spans vs {off_p99} µs without"
    );

    let dropped_and_failed = eventually(
        "failed exports to be counted",
        Duration::from_secs(30),
        || async {
            let text = guard.render();
            let queue_full = metric(
                &text,
                "tta_telemetry_spans_dropped_total{exporter=\"otlp\",reason=\"queue_full\"}",
            );
            let failed = metric(
                &text,
                "tta_telemetry_export_errors_total{exporter=\"otlp\",reason=\"export_failed\"}",
            );
            (queue_full > 0.0 && failed > 0.0).then_some((queue_full, failed))
        },
    )
    .await;
    assert!(dropped_and_failed.0 > 0.0 && dropped_and_failed.1 > 0.0);
    // While exports fail, /healthz says so with 503 and the reason.
    let (status, health) = get(&health_url).await;
    assert_eq!(status, 503, "{health}");
    let health: serde_json::Value = serde_json::from_str(&health).unwrap();
    assert_eq!(health["status"], "failing");
    assert!(
        health["reason"].as_str().unwrap().contains("otlp"),
        "{health}"
    );
    assert_eq!(health["traces"]["exporter"], "otlp");
    assert_eq!(health["traces"]["status"], "failing");
    assert!(health["traces"]["dropped_spans"].as_u64().unwrap() > 0);
    assert!(health["traces"]["last_error"].is_string());

    // The collector comes back on the same address: export resumes.
    let received: Arc<Mutex<usize>> = Arc::default();
    let app = Router::new()
        .route(
            "/v1/traces",
            post(
                |State(received): State<Arc<Mutex<usize>>>, body: Bytes| async move {
                    *received.lock().unwrap() += body.len();
                    (
                        [("content-type", "application/x-protobuf")],
                        Vec::<u8>::new(),
                    )
                },
            ),
        )
        .with_state(received.clone());
    let listener = tokio::net::TcpListener::bind(collector).await.unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    eventually(
        "spans to reach the collector again",
        Duration::from_secs(30),
        || {
            let (traced, received) = (traced.clone(), received.clone());
            async move {
                traced
                    .oneshot(Request::new(WorkflowContext::new("back"), 1))
                    .await
                    .unwrap();
                (*received.lock().unwrap() > 0).then_some(())
            }
        },
    )
    .await;
    // A queued batch may still fail after the first success: wait for the
    // page to recover.
    let health = eventually("/healthz to recover", Duration::from_secs(30), || {
        let url = health_url.clone();
        async move {
            let (status, body) = get(&url).await;
            (status == 200).then_some(body)
        }
    })
    .await;
    let health: serde_json::Value = serde_json::from_str(&health).unwrap();
    assert_eq!(health["status"], "ok");
    assert!(
        health["traces"]["last_successful_export_unix_seconds"].is_number(),
        "{health}"
    );
    assert_eq!(health["traces"]["status"], "ok");
    assert!(guard.shutdown(Duration::from_secs(10)).await.completed);
}
