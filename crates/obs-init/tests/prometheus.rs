//! End to end: a real Prometheus (Debian package `prometheus`) scrapes the
//! endpoint, and `promtool check metrics` finds nothing wrong with it.

use std::{sync::Arc, time::Duration};

use tower::ServiceExt;
use tta_obs_init::{ObservabilityConfig, TracesExporter, initialize_observability};
use tta_primitives_core::{Request, WorkflowContext, WorkflowError, prelude::*};
use tta_primitives_obs::{InstrumentExt, Telemetry};
use tta_test_support::{Prometheus, first_value, get, promtool_check_metrics, try_get};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_real_prometheus_scrapes_the_catalogue_metrics() {
    let config = ObservabilityConfig::builder("e2e-service")
        .service_version("9.9.9")
        .metrics_addr("127.0.0.1:0")
        .traces_exporter(TracesExporter::None)
        .build()
        .unwrap();
    let guard = initialize_observability(config).unwrap();
    let addr = guard.metrics_addr().unwrap();

    let flaky = MockPrimitive::<u32, u32>::new()
        .then_fail(WorkflowError::msg("503"))
        .otherwise_return(1)
        .named("e2e_flaky");
    let retry = RetryPolicy::builder()
        .max_attempts(3)
        .initial_backoff(Duration::from_millis(1))
        .build()
        .unwrap();
    let wf = flaky
        .retry(retry)
        .named("e2e_retry")
        .instrumented_with(Arc::new(Telemetry::metrics_only()));
    for _ in 0..5 {
        wf.clone()
            .oneshot(Request::new(WorkflowContext::new("e2e"), 1))
            .await
            .unwrap();
    }

    let (status, health) = get(&format!("http://{addr}/healthz")).await;
    assert_eq!(status, 200);
    let health: serde_json::Value = serde_json::from_str(&health).unwrap();
    assert_eq!(
        (health["status"].as_str(), health["service"].as_str()),
        (Some("ok"), Some("e2e-service"))
    );

    let (status, text) = get(&format!("http://{addr}/metrics")).await;
    assert_eq!(status, 200);
    let findings = promtool_check_metrics(&text);
    assert!(
        findings.is_empty(),
        "promtool check metrics: {findings}\n---\n{text}"
    );

    let prometheus = Prometheus::start("e2e", &[addr]).await;
    let build = prometheus.wait_for("tta_build_info").await;
    assert_eq!(build[0]["metric"]["service"], "e2e-service");
    assert_eq!(build[0]["metric"]["version"], "9.9.9");
    assert_eq!(first_value(&build), 1.0);
    assert_eq!(
        first_value(&prometheus.query("up{job=\"e2e\"}").await),
        1.0,
        "the target is up"
    );
    let executions = prometheus
        .query("tta_primitive_executions_total{workflow=\"e2e\",primitive_type=\"workflow\",outcome=\"success\"}")
        .await;
    assert_eq!(
        first_value(&executions),
        5.0,
        "the workflow's series (its top-level retry's too)"
    );
    let retries = prometheus
        .query("tta_retry_calls_total{primitive=\"e2e_retry\",result=\"success_after_retry\"}")
        .await;
    assert_eq!(first_value(&retries), 1.0);
    let buckets = prometheus
        .query("tta_primitive_duration_seconds_bucket{primitive=\"e2e_flaky\",outcome=\"success\",le=\"+Inf\"}")
        .await;
    assert_eq!(
        first_value(&buckets),
        5.0,
        "histograms are exported with the catalogue's buckets"
    );

    assert!(
        guard.shutdown(Duration::from_secs(5)).await.completed,
        "the guard stops within its deadline"
    );
    assert!(
        try_get(&format!("http://{addr}/metrics")).await.is_err(),
        "the endpoint is closed"
    );
}
