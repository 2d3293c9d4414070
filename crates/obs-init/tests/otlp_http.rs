//! Spans leave over OTLP/HTTP (protobuf), decoded here with the official
//! protobuf definitions (`opentelemetry-proto`): one workflow execution is one
//! trace, with the resource and the configured headers.

use std::time::Duration;

use opentelemetry_proto::tonic::common::v1::any_value::Value;
use tower::ServiceExt;
use tta_obs_init::{ObservabilityConfig, initialize_observability};
use tta_primitives_core::{Request, WorkflowContext, WorkflowError, prelude::*};
use tta_primitives_obs::InstrumentExt;

fn string(value: &Option<opentelemetry_proto::tonic::common::v1::AnyValue>) -> Option<&str> {
    match value.as_ref()?.value.as_ref()? {
        Value::StringValue(s) => Some(s),
        _ => None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spans_arrive_over_otlp_http_with_resource_and_headers() {
    let (base, received) = tta_test_support::otlp::receiver("/v1/traces").await;
    let url = format!("{base}/v1/traces");
    let config = ObservabilityConfig::builder("otlp-service")
        .service_version("1.2.3")
        .without_metrics_endpoint()
        .otlp_http(&url, &[("authorization", "Bearer s3cret")])
        .unwrap()
        .resource_attribute("deployment.region", "eu-west")
        .build()
        .unwrap();
    assert!(
        !format!("{config:?}").contains("s3cret"),
        "Debug never shows header values"
    );
    let guard = initialize_observability(config).unwrap();

    let wf = (lambda(|x: u32| async move { Ok::<_, WorkflowError>(x + 1) }).named("first")
        >> lambda(|x: u32| async move { Ok::<_, WorkflowError>(x * 2) }).named("second"))
    .instrumented();
    let ctx = WorkflowContext::builder("otlp_wf")
        .correlation_id("corr-otlp")
        .build();
    assert_eq!(wf.oneshot(Request::new(ctx, 1)).await.unwrap(), 4);
    assert!(
        guard.shutdown(Duration::from_secs(10)).await.completed,
        "flushed within the deadline"
    );

    let received = received.lock().unwrap();
    assert!(!received.is_empty(), "the collector received an export");
    let mut spans = Vec::new();
    for (headers, request) in received.iter() {
        assert_eq!(headers.get("authorization").unwrap(), "Bearer s3cret");
        assert_eq!(
            headers.get("content-type").unwrap(),
            "application/x-protobuf"
        );
        for resource_spans in request.resource_spans.clone() {
            let resource = resource_spans.resource.unwrap();
            let attr = |key: &str| {
                resource
                    .attributes
                    .iter()
                    .find(|kv| kv.key == key)
                    .and_then(|kv| string(&kv.value))
                    .map(str::to_owned)
            };
            assert_eq!(attr("service.name").as_deref(), Some("otlp-service"));
            assert_eq!(attr("service.version").as_deref(), Some("1.2.3"));
            assert_eq!(attr("deployment.region").as_deref(), Some("eu-west"));
            assert_eq!(attr("os.type").as_deref(), Some(std::env::consts::OS));
            assert!(
                attr("host.name").is_some_and(|h| !h.is_empty()),
                "the host is detected"
            );
            let pid = resource
                .attributes
                .iter()
                .find(|kv| kv.key == "process.pid");
            assert!(pid.is_some(), "the process id is detected");
            for scope in resource_spans.scope_spans {
                spans.extend(scope.spans);
            }
        }
    }
    let names: std::collections::BTreeSet<_> = spans.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(
        names,
        ["first", "otlp_wf", "second", "sequence"]
            .into_iter()
            .collect()
    );
    let trace_ids: std::collections::HashSet<_> =
        spans.iter().map(|s| s.trace_id.clone()).collect();
    assert_eq!(trace_ids.len(), 1, "one execution, one trace");
    let by_name = |n: &str| spans.iter().find(|s| s.name == n).unwrap();
    assert!(
        by_name("otlp_wf").parent_span_id.is_empty(),
        "the workflow span is the root"
    );
    assert_eq!(
        by_name("sequence").parent_span_id,
        by_name("otlp_wf").span_id
    );
    assert_eq!(by_name("first").parent_span_id, by_name("sequence").span_id);
    assert_eq!(
        by_name("second").parent_span_id,
        by_name("sequence").span_id
    );
    let correlation = by_name("otlp_wf")
        .attributes
        .iter()
        .find(|kv| kv.key == "tta.correlation_id")
        .and_then(|kv| string(&kv.value));
    assert_eq!(correlation, Some("corr-otlp"));
}
