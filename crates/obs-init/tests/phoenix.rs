//! The collector-down and collector-returns cases against a real OTLP trace
//! backend (Arize Phoenix, from the test venv), in a private network
//! namespace (Phoenix's gRPC port binds every interface). The demo crate's
//! tests send the demo's traces to Phoenix over HTTP and gRPC.

use std::time::Duration;

use tower::ServiceExt;
use tta_obs_init::{ObservabilityConfig, initialize_observability};
use tta_primitives_core::{Request, WorkflowContext, WorkflowError, prelude::*};
use tta_primitives_obs::InstrumentExt;
use tta_test_support::{Phoenix, eventually, in_private_network};

fn text<'a>(v: &'a serde_json::Value, path: &[&str]) -> Option<&'a str> {
    path.iter().try_fold(v, |v, key| v.get(key))?.as_str()
}

fn collector_down_then_back() {
    let runtime = tta_test_support::runtime();
    runtime.block_on(async {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let config = ObservabilityConfig::builder("phoenix-down")
            .metrics_addr("127.0.0.1:0")
            .otlp_http(&format!("http://127.0.0.1:{port}/v1/traces"), &[])
            .unwrap()
            .span_queue(100, Duration::from_millis(100))
            .build()
            .unwrap();
        let guard = initialize_observability(config).unwrap();
        let workflow = lambda(|x: u32| async move { Ok::<_, WorkflowError>(x + 1) })
            .named("work")
            .instrumented();
        // The collector is down: executions go on, exports fail and are counted.
        for i in 0..50 {
            workflow
                .clone()
                .oneshot(Request::new(WorkflowContext::new("while_down"), i))
                .await
                .unwrap();
        }
        eventually(
            "a failed export to be counted",
            Duration::from_secs(30),
            || async {
                guard
                    .render()
                    .lines()
                    .any(|l| l.starts_with("tta_telemetry_export_errors_total{exporter=\"otlp\""))
                    .then_some(())
            },
        )
        .await;
        // The collector comes back on that port: exports resume.
        let grpc_port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let phoenix = Phoenix::start_on(port, grpc_port).await;
        let spans = eventually(
            "spans sent after the collector came back",
            Duration::from_secs(90),
            || {
                let (workflow, phoenix) = (workflow.clone(), &phoenix);
                async move {
                    workflow
                        .oneshot(Request::new(WorkflowContext::new("after_return"), 1))
                        .await
                        .unwrap();
                    let spans = phoenix.spans("default").await;
                    spans
                        .iter()
                        .any(|s| text(s, &["name"]) == Some("after_return"))
                        .then_some(spans)
                }
            },
        )
        .await;
        assert!(
            spans
                .iter()
                .all(|s| text(s, &["name"]) != Some("while_down")),
            "spans of failed exports are dropped, not replayed"
        );
        assert!(guard.shutdown(Duration::from_secs(20)).await.completed);
    });
}

#[test]
fn phoenix_gets_spans_again_after_it_was_down() {
    if in_private_network("phoenix_gets_spans_again_after_it_was_down") {
        collector_down_then_back();
    }
}
