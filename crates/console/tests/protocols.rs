//! OTLP exporters that are not ours deliver to the console over gRPC,
//! HTTP/protobuf and HTTP/JSON, and the stored tree equals what was sent;
//! bad input gets a clear 4xx and a counter and leaves the store as it was.

use std::{sync::atomic::Ordering, time::Duration};

use opentelemetry::{
    KeyValue,
    trace::{Span as _, SpanKind, TraceContextExt, Tracer, TracerProvider as _},
};
use opentelemetry_otlp::WithExportConfig;
use opentelemetry_sdk::{Resource, trace::SdkTracerProvider};
use tta_console::{Console, ConsoleConfig, store::StoreConfig};

fn local() -> std::net::SocketAddr {
    "127.0.0.1:0".parse().unwrap()
}

async fn console(max_body_bytes: usize) -> Console {
    Console::start(ConsoleConfig {
        ui_addr: local(),
        otlp_http_addr: Some(local()),
        otlp_grpc_addr: Some(local()),
        store: StoreConfig::default(),
        token: None,
        max_body_bytes,
    })
    .await
    .unwrap()
}

/// Sends a three-span tree through `provider`; returns the trace id and the
/// (name, span id, parent span id) of each span.
fn send_tree(provider: &SdkTracerProvider) -> (String, Vec<(String, String, Option<String>)>) {
    let tracer = provider.tracer("protocol-test");
    let mut sent = Vec::new();
    let root = tracer
        .span_builder("checkout")
        .with_kind(SpanKind::Server)
        .with_attributes([KeyValue::new("tta.workflow.name", "checkout")])
        .start(&tracer);
    let root_cx = opentelemetry::Context::current_with_span(root);
    let root_id = root_cx.span().span_context().span_id().to_string();
    let trace_id = root_cx.span().span_context().trace_id().to_string();
    sent.push(("checkout".to_owned(), root_id.clone(), None));
    {
        let mut child = tracer
            .span_builder("charge_card")
            .with_attributes([
                KeyValue::new("tta.retry.attempt", 2),
                KeyValue::new("error.type", "card_declined"),
            ])
            .start_with_context(&tracer, &root_cx);
        child.add_event(
            "exception",
            vec![KeyValue::new("exception.message", "declined")],
        );
        let child_id = child.span_context().span_id().to_string();
        let child_cx = root_cx.with_span(child);
        let grandchild = tracer.start_with_context("ledger_write", &child_cx);
        sent.push((
            "ledger_write".to_owned(),
            grandchild.span_context().span_id().to_string(),
            Some(child_id.clone()),
        ));
        drop(grandchild);
        sent.push(("charge_card".to_owned(), child_id, Some(root_id)));
    }
    drop(root_cx);
    (trace_id, sent)
}

fn stored_tree(console: &Console, trace_id: &str) -> Vec<(String, String, Option<String>)> {
    let mut spans: Vec<_> = console
        .store()
        .trace(trace_id)
        .unwrap_or_default()
        .into_iter()
        .map(|s| (s.name, s.span_id, s.parent_span_id))
        .collect();
    spans.sort();
    spans
}

async fn wait_for_trace(console: &Console, trace_id: &str, spans: usize) {
    tta_test_support::eventually(
        "the trace to be stored",
        Duration::from_secs(20),
        || async {
            (console.store().trace(trace_id).map_or(0, |s| s.len()) >= spans).then_some(())
        },
    )
    .await;
}

fn resource(service: &str) -> Resource {
    Resource::builder_empty()
        .with_attributes([KeyValue::new("service.name", service.to_owned())])
        .build()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn opentelemetry_otlps_own_exporters_deliver_over_http_and_grpc() {
    let console = console(tta_console::DEFAULT_MAX_BODY_BYTES).await;
    // OTLP/HTTP with protobuf, the batch processor, as a user sets it up.
    let http = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_endpoint(format!(
            "http://{}/v1/traces",
            console.otlp_http_addr().unwrap()
        ))
        .build()
        .unwrap();
    let provider = SdkTracerProvider::builder()
        .with_batch_exporter(http)
        .with_resource(resource("http-client"))
        .build();
    let (trace_id, mut sent) = send_tree(&provider);
    provider.shutdown().unwrap();
    wait_for_trace(&console, &trace_id, 3).await;
    sent.sort();
    assert_eq!(stored_tree(&console, &trace_id), sent);
    let spans = console.store().trace(&trace_id).unwrap();
    let child = spans.iter().find(|s| s.name == "charge_card").unwrap();
    assert_eq!(child.attr_str("tta.retry.attempt").as_deref(), Some("2"));
    assert_eq!(child.events[0].name, "exception");
    assert_eq!(child.service, "http-client");

    // OTLP/gRPC.
    let grpc = opentelemetry_otlp::SpanExporter::builder()
        .with_tonic()
        .with_endpoint(format!("http://{}", console.otlp_grpc_addr().unwrap()))
        .with_timeout(Duration::from_secs(5))
        .build()
        .unwrap();
    let provider = SdkTracerProvider::builder()
        .with_batch_exporter(grpc)
        .with_resource(resource("grpc-client"))
        .build();
    let (trace_id, mut sent) = tokio::task::spawn_blocking(move || {
        let sent = send_tree(&provider);
        provider.shutdown().unwrap();
        sent
    })
    .await
    .unwrap();
    wait_for_trace(&console, &trace_id, 3).await;
    sent.sort();
    assert_eq!(stored_tree(&console, &trace_id), sent);
    assert_eq!(console.counters().spans.load(Ordering::Relaxed), 6);
}

/// Now, in Unix nanoseconds (older spans would fall outside the age bound).
fn now_ns() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
}

/// An OTLP/JSON body (the specification's JSON mapping, hex ids).
fn json_span(
    service: &str,
    trace: &str,
    span: &str,
    parent: &str,
    name: &str,
) -> serde_json::Value {
    let start = now_ns();
    serde_json::json!({
        "resourceSpans": [{
            "resource": { "attributes": [{ "key": "service.name", "value": { "stringValue": service } }] },
            "scopeSpans": [{
                "scope": { "name": "hand-written" },
                "spans": [{
                    "traceId": trace, "spanId": span, "parentSpanId": parent, "name": name,
                    "kind": 2, "startTimeUnixNano": start.to_string(), "endTimeUnixNano": (start + 500_000_000).to_string(),
                    "attributes": [
                        { "key": "tta.workflow.name", "value": { "stringValue": "joined" } },
                        { "key": "tta.retry.attempt", "value": { "intValue": "3" } }
                    ],
                    "status": { "code": 2, "message": "boom" }
                }]
            }]
        }]
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hand_written_otlp_json_joins_services_keeps_partial_traces_and_attaches_logs() {
    let console = console(tta_console::DEFAULT_MAX_BODY_BYTES).await;
    let url = format!("http://{}/v1/traces", console.otlp_http_addr().unwrap());
    let client = reqwest::Client::new();
    let trace = "5b8efff798038103d269b633813fc60c";
    for body in [
        json_span("frontend", trace, "eee19b7ec3c1b174", "", "GET /quote"),
        json_span(
            "backend",
            trace,
            "eee19b7ec3c1b175",
            "eee19b7ec3c1b174",
            "POST /quote",
        ),
        // A span whose parent never arrives.
        json_span(
            "backend",
            trace,
            "eee19b7ec3c1b176",
            "0102030405060708",
            "orphan",
        ),
    ] {
        let response = client.post(&url).json(&body).send().await.unwrap();
        assert_eq!(response.status(), 200, "{}", response.text().await.unwrap());
    }
    let logs = serde_json::json!({
        "resourceLogs": [{ "scopeLogs": [{ "logRecords": [{
            "timeUnixNano": now_ns().to_string(), "severityText": "INFO",
            "body": { "stringValue": "charged the card" },
            "traceId": trace, "spanId": "eee19b7ec3c1b175"
        }]}]}]
    });
    let response = client
        .post(format!(
            "http://{}/v1/logs",
            console.otlp_http_addr().unwrap()
        ))
        .json(&logs)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let spans = console.store().trace(trace).unwrap();
    assert_eq!(spans.len(), 3);
    let backend = spans.iter().find(|s| s.name == "POST /quote").unwrap();
    assert_eq!(backend.parent_span_id.as_deref(), Some("eee19b7ec3c1b174"));
    assert_eq!(backend.attr_str("tta.retry.attempt").as_deref(), Some("3"));
    assert_eq!(backend.status, "error");
    assert_eq!(backend.logs[0].body, "charged the card");
    let page = console.store().traces(&Default::default());
    let summary = &page.traces[0];
    assert_eq!(summary.services, ["frontend", "backend"]);
    assert!(summary.partial, "the orphan's parent never arrived");
    assert_eq!(summary.root_name, "GET /quote");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_gets_a_clear_4xx_and_a_counter_and_nothing_stored_is_lost() {
    let console = console(4096).await;
    let url = format!("http://{}/v1/traces", console.otlp_http_addr().unwrap());
    let client = reqwest::Client::new();
    let good = json_span(
        "svc",
        "5b8efff798038103d269b633813fc60d",
        "eee19b7ec3c1b174",
        "",
        "kept",
    );
    assert_eq!(
        client.post(&url).json(&good).send().await.unwrap().status(),
        200
    );
    let cases: Vec<(&str, Vec<u8>, u16, &str)> = vec![
        (
            "application/x-protobuf",
            b"\xff\xff\xff\xff garbage".to_vec(),
            400,
            "not a valid OTLP",
        ),
        (
            "application/json",
            b"{\"resourceSpans\": 7}".to_vec(),
            400,
            "not a valid OTLP",
        ),
        (
            "text/plain",
            b"hello".to_vec(),
            415,
            "unsupported content type",
        ),
        (
            "application/json",
            vec![b' '; 10_000],
            413,
            "exceeds the limit",
        ),
    ];
    for (content_type, body, status, message) in cases {
        let response = client
            .post(&url)
            .header("content-type", content_type)
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), status);
        let text = response.text().await.unwrap();
        assert!(text.contains(message), "{text}");
    }
    let counters = console.counters();
    assert_eq!(counters.rejected_malformed.load(Ordering::Relaxed), 2);
    assert_eq!(counters.rejected_content_type.load(Ordering::Relaxed), 1);
    assert_eq!(counters.rejected_too_large.load(Ordering::Relaxed), 1);
    assert_eq!(
        console.store().stats().spans,
        1,
        "the stored span is still there"
    );
    // gzip bombs are bounded by the same limit after decompression.
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    std::io::Write::write_all(&mut gz, &vec![b' '; 1_000_000]).unwrap();
    let response = client
        .post(&url)
        .header("content-type", "application/json")
        .header("content-encoding", "gzip")
        .body(gz.finish().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 413);
}

#[tokio::test]
async fn listening_beyond_loopback_needs_a_token_and_requests_without_it_are_refused() {
    let refused = Console::start(ConsoleConfig {
        ui_addr: "0.0.0.0:0".parse().unwrap(),
        otlp_http_addr: None,
        otlp_grpc_addr: None,
        ..ConsoleConfig::default()
    })
    .await
    .unwrap_err();
    assert!(refused.to_string().contains("ui_addr"), "{refused}");
    assert!(refused.to_string().contains("token"), "{refused}");

    let console = Console::start(ConsoleConfig {
        ui_addr: local(),
        otlp_http_addr: None,
        otlp_grpc_addr: None,
        token: Some("letmein-123".into()),
        ..ConsoleConfig::default()
    })
    .await
    .unwrap();
    let base = format!("http://{}", console.ui_addr());
    let client = reqwest::Client::new();
    assert_eq!(
        client
            .get(format!("{base}/api/stats"))
            .send()
            .await
            .unwrap()
            .status(),
        401
    );
    assert_eq!(
        client
            .get(format!("{base}/api/stats?token=letmein-123"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    assert_eq!(
        client
            .get(format!("{base}/api/stats"))
            .bearer_auth("letmein-123")
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    assert!(!format!("{console:?}").contains("letmein"));
}
