//! `/healthz` tells the truth about exports now: 503 with the reason while
//! the collector answers 500 or 429, black-holes, or is killed, and 200
//! again once exports succeed. The exporter's retries of a throttled
//! collector are counted.

use std::time::Duration;

use tower::ServiceExt;
use tta_obs_init::{ObservabilityConfig, initialize_observability};
use tta_primitives_core::{Request, WorkflowContext, WorkflowError, prelude::*};
use tta_primitives_obs::InstrumentExt;
use tta_test_support::{
    collector::{Behaviour, Collector},
    eventually, get,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_follows_the_collector_through_failures_and_recovery() {
    let collector = Collector::start(Behaviour::Accept);
    let config = ObservabilityConfig::builder("health-service")
        .metrics_addr("127.0.0.1:0")
        .otlp_http(&collector.traces_url(), &[])
        .unwrap()
        .otlp_timeout(Duration::from_millis(800))
        .span_queue(1000, Duration::from_millis(50))
        .build()
        .unwrap();
    let guard = initialize_observability(config).unwrap();
    let health_url = format!("http://{}/healthz", guard.metrics_addr().unwrap());
    let wf = lambda(|x: u32| async move { Ok::<_, WorkflowError>(x + 1) })
        .named("step")
        .instrumented();
    // Sends a few executions, then reads /healthz until `want` holds.
    let until = |what: &'static str, want: fn(u16, &serde_json::Value) -> bool| {
        let (wf, url) = (wf.clone(), health_url.clone());
        async move {
            eventually(what, Duration::from_secs(30), || {
                let (wf, url) = (wf.clone(), url.clone());
                async move {
                    for i in 0..5 {
                        wf.clone()
                            .oneshot(Request::new(WorkflowContext::new("health"), i))
                            .await
                            .unwrap();
                    }
                    let (status, body) = get(&url).await;
                    let body: serde_json::Value = serde_json::from_str(&body).unwrap();
                    want(status, &body).then_some(body)
                }
            })
            .await
        }
    };
    let failing = |status: u16, body: &serde_json::Value| {
        status == 503 && body["status"] == "failing" && body["traces"]["status"] == "failing"
    };
    let healthy = |status: u16, body: &serde_json::Value| {
        status == 200
            && body["status"] == "ok"
            && body["traces"]["exported_spans"].as_u64() > Some(0)
    };

    until("a healthy start", healthy).await;

    collector.set(Behaviour::Status(500));
    let body = until("503 while the collector answers 500", failing).await;
    assert!(body["reason"].as_str().unwrap().contains("500"), "{body}");

    collector.set(Behaviour::Accept);
    until("recovery after the 500s", healthy).await;

    collector.set(Behaviour::Status(429));
    let body = until("503 while the collector throttles", |status, body| {
        status == 503 && body["traces"]["export_retries"].as_u64() > Some(0)
    })
    .await;
    assert!(body["reason"].as_str().unwrap().contains("429"), "{body}");
    let retries = guard
        .render()
        .lines()
        .find(|l| {
            l.starts_with(
                "tta_telemetry_export_retries_total{exporter=\"otlp\",reason=\"throttled\"}",
            )
        })
        .and_then(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .unwrap();
    assert!(retries > 0.0, "retries on 429 are counted");

    collector.set(Behaviour::BlackHole);
    let body = until("503 while the collector black-holes", failing).await;
    assert!(body["traces"]["last_error"].is_string(), "{body}");

    collector.set(Behaviour::Accept);
    until("recovery after the black hole", healthy).await;

    collector.kill();
    let body = until("503 with the collector killed", failing).await;
    assert!(body["reason"].as_str().unwrap().contains("otlp"), "{body}");

    collector.revive();
    until("recovery once the collector is back", healthy).await;
    assert!(guard.shutdown(Duration::from_secs(5)).await.completed);
}
