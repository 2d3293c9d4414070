//! Pushgateway mode, against a real Pushgateway (Debian package
//! `prometheus-pushgateway`): the final push at shutdown delivers the
//! catalogue metrics under the job's name.

use std::{sync::Arc, time::Duration};

use tower::ServiceExt;
use tta_obs_init::{ObservabilityConfig, TracesExporter, initialize_observability};
use tta_primitives_core::{Request, WorkflowContext, WorkflowError, prelude::*};
use tta_primitives_obs::{InstrumentExt, Telemetry};
use tta_test_support::{Pushgateway, get};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_job_pushes_its_metrics_at_shutdown() {
    let gateway = Pushgateway::start().await;
    let config = ObservabilityConfig::builder("nightly-batch")
        .without_metrics_endpoint()
        .traces_exporter(TracesExporter::None)
        // Longer than the job: only the final push can deliver.
        .pushgateway(&gateway.url, "nightly_batch", Duration::from_secs(3600))
        .unwrap()
        .build()
        .unwrap();
    let guard = initialize_observability(config).unwrap();
    let job = lambda(|x: u32| async move { Ok::<_, WorkflowError>(x * 2) })
        .named("transform")
        .instrumented_with(Arc::new(Telemetry::metrics_only()));
    for i in 0..7 {
        job.clone()
            .oneshot(Request::new(WorkflowContext::new("batch"), i))
            .await
            .unwrap();
    }
    let (_, before) = get(&format!("{}/metrics", gateway.url)).await;
    assert!(
        !before.contains("tta_primitive_executions_total"),
        "nothing pushed before shutdown"
    );
    assert!(guard.shutdown(Duration::from_secs(10)).await.completed);

    let (status, text) = get(&format!("{}/metrics", gateway.url)).await;
    assert_eq!(status, 200);
    let line = text
        .lines()
        .find(|l| {
            l.starts_with("tta_primitive_executions_total{")
                && l.contains("job=\"nightly_batch\"")
                && l.contains("workflow=\"batch\"")
                // The top-level node's executions are the workflow's series.
                && l.contains("primitive_type=\"workflow\"")
                && l.contains("outcome=\"success\"")
        })
        .unwrap_or_else(|| panic!("no pushed executions series in:\n{text}"));
    assert!(line.ends_with(" 7"), "{line}");
}
