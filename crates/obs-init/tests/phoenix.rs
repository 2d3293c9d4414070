//! End to end against a real OTLP trace backend (Arize Phoenix, from the
//! test venv), over HTTP and over gRPC: one workflow execution is one trace
//! with the expected parent/child tree and resource attributes. Each test
//! runs in a private network namespace (Phoenix's gRPC port binds every
//! interface).

use std::time::Duration;

use tower::ServiceExt;
use tta_obs_init::{ObservabilityConfig, initialize_observability};
use tta_primitives_core::{Request, WorkflowContext, WorkflowError, prelude::*};
use tta_primitives_obs::InstrumentExt;
use tta_test_support::{Phoenix, eventually, in_private_network};

fn text<'a>(v: &'a serde_json::Value, path: &[&str]) -> Option<&'a str> {
    path.iter().try_fold(v, |v, key| v.get(key))?.as_str()
}

fn send_a_workflow_to_phoenix(grpc: bool) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let phoenix = Phoenix::start().await;
        let builder = ObservabilityConfig::builder("phoenix-e2e")
            .service_version("0.1.0")
            .without_metrics_endpoint();
        let builder = if grpc {
            builder.otlp_grpc(&phoenix.grpc, &[])
        } else {
            builder.otlp_http(&format!("{}/v1/traces", phoenix.url), &[])
        }
        .unwrap();
        let guard = initialize_observability(builder.build().unwrap()).unwrap();

        let step = |name: &'static str| {
            lambda(|x: u32| async move { Ok::<_, WorkflowError>(x + 1) }).named(name)
        };
        let workflow =
            (step("fetch") >> (step("left") | step("right")).named("fan_out")).instrumented();
        let name = if grpc {
            "grpc_checkout"
        } else {
            "http_checkout"
        };
        let out = workflow
            .oneshot(Request::new(WorkflowContext::new(name), 1))
            .await
            .unwrap();
        assert_eq!(out, vec![3, 3]);
        assert!(
            guard.shutdown(Duration::from_secs(20)).await,
            "flushed within the deadline"
        );

        let spans = eventually(
            "the workflow's 6 spans in Phoenix",
            Duration::from_secs(60),
            || async {
                let spans = phoenix.spans().await;
                (spans.len() >= 6).then_some(spans)
            },
        )
        .await;
        let find = |n: &str| {
            spans
                .iter()
                .find(|s| text(s, &["name"]) == Some(n))
                .unwrap_or_else(|| panic!("no span {n} in {spans:#?}"))
        };
        let id = |s: &serde_json::Value| text(s, &["context", "span_id"]).map(str::to_owned);
        let parent = |s: &serde_json::Value| text(s, &["parent_id"]).map(str::to_owned);
        let root = find(name);
        let sequence = find("sequence");
        let fan_out = find("fan_out");
        assert_eq!(
            parent(root),
            None,
            "the workflow span is the root: {root:#}"
        );
        assert!(
            spans
                .iter()
                .all(|s| id(s).is_some() && text(s, &["context", "trace_id"]).is_some()),
            "every span has its ids: {spans:#?}"
        );
        assert!(
            parent(sequence).is_some(),
            "children name their parent: {sequence:#}"
        );
        assert_eq!(parent(sequence), id(root));
        assert_eq!(parent(find("fetch")), id(sequence));
        assert_eq!(parent(fan_out), id(sequence));
        assert_eq!(parent(find("left")), id(fan_out));
        assert_eq!(parent(find("right")), id(fan_out));
        let traces: std::collections::HashSet<_> = spans
            .iter()
            .map(|s| text(s, &["context", "trace_id"]))
            .collect();
        assert_eq!(traces.len(), 1, "one workflow execution is one trace");
        let attribute = |s: &serde_json::Value, key: &str| {
            s.get("attributes")
                .and_then(|a| {
                    a.get(key)
                        .or_else(|| key.split('.').try_fold(a, |v, k| v.get(k)))
                })
                .cloned()
        };
        assert_eq!(
            attribute(root, "tta.primitive.type")
                .and_then(|v| v.as_str().map(str::to_owned))
                .as_deref(),
            Some("workflow"),
            "{root:#}"
        );
    });
}

#[test]
fn phoenix_receives_one_trace_per_workflow_over_http() {
    if in_private_network("phoenix_receives_one_trace_per_workflow_over_http") {
        send_a_workflow_to_phoenix(false);
    }
}

#[test]
fn phoenix_receives_one_trace_per_workflow_over_grpc() {
    if in_private_network("phoenix_receives_one_trace_per_workflow_over_grpc") {
        send_a_workflow_to_phoenix(true);
    }
}

fn collector_down_then_back() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
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
                    let spans = phoenix.spans().await;
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
        assert!(guard.shutdown(Duration::from_secs(20)).await);
    });
}

#[test]
fn phoenix_gets_spans_again_after_it_was_down() {
    if in_private_network("phoenix_gets_spans_again_after_it_was_down") {
        collector_down_then_back();
    }
}
