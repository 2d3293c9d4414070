//! With the `tracing` bridge, the application's own `tracing` spans join the
//! workflow's trace and its events reach the collector as OTLP log records
//! carrying the trace and span ids.

use std::{
    sync::{Arc, Mutex},
    time::Duration,
};

use axum::{Router, body::Bytes, extract::State, routing::post};
use opentelemetry_proto::tonic::{
    collector::{logs::v1::ExportLogsServiceRequest, trace::v1::ExportTraceServiceRequest},
    common::v1::any_value::Value,
};
use prost::Message;
use tower::ServiceExt;
use tracing_subscriber::filter::LevelFilter;
use tta_obs_init::{ObservabilityConfig, initialize_observability};
use tta_primitives_core::{Request, WorkflowContext, WorkflowError, prelude::*};
use tta_primitives_obs::{InstrumentExt, propagation::context_of};

#[derive(Clone, Default)]
struct Collector {
    traces: Arc<Mutex<Vec<Bytes>>>,
    logs: Arc<Mutex<Vec<Bytes>>>,
}

async fn collector() -> (String, Collector) {
    let collector = Collector::default();
    let app = Router::new()
        .route(
            "/v1/traces",
            post(|State(c): State<Collector>, body: Bytes| async move {
                c.traces.lock().unwrap().push(body);
                (
                    [("content-type", "application/x-protobuf")],
                    Vec::<u8>::new(),
                )
            }),
        )
        .route(
            "/v1/logs",
            post(|State(c): State<Collector>, body: Bytes| async move {
                c.logs.lock().unwrap().push(body);
                (
                    [("content-type", "application/x-protobuf")],
                    Vec::<u8>::new(),
                )
            }),
        )
        .with_state(collector.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (format!("http://{addr}/v1/traces"), collector)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tracing_spans_join_the_trace_and_events_become_logs_with_trace_ids() {
    let (url, collector) = collector().await;
    let config = ObservabilityConfig::builder("bridge-service")
        .without_metrics_endpoint()
        .otlp_http(&url, &[])
        .unwrap()
        .tracing_bridge(LevelFilter::INFO)
        .build()
        .unwrap();
    let guard = initialize_observability(config).unwrap();

    let price = from_fn(|ctx: WorkflowContext, items: u32| async move {
        // Make the step's span current, then use plain `tracing`.
        let _step = context_of(&ctx).attach();
        let span = tracing::info_span!("user_pricing", items);
        let _entered = span.enter();
        tracing::info!(items, "priced the order");
        tracing::debug!("below the bridge's level: not exported");
        Ok::<_, WorkflowError>(items * 10)
    })
    .named("price_step")
    .instrumented();
    let ctx = WorkflowContext::new("bridge_wf");
    assert_eq!(price.oneshot(Request::new(ctx, 3)).await.unwrap(), 30);
    assert!(guard.shutdown(Duration::from_secs(10)).await.completed);

    let spans: Vec<_> = collector
        .traces
        .lock()
        .unwrap()
        .iter()
        .flat_map(|b| {
            ExportTraceServiceRequest::decode(b.as_ref())
                .unwrap()
                .resource_spans
        })
        .flat_map(|rs| rs.scope_spans)
        .flat_map(|ss| ss.spans)
        .collect();
    let by_name = |n: &str| {
        spans
            .iter()
            .find(|s| s.name == n)
            .unwrap_or_else(|| panic!("no span {n}"))
    };
    let step = by_name("price_step");
    let user = by_name("user_pricing");
    assert_eq!(
        user.trace_id, step.trace_id,
        "the tracing span is in the workflow's trace"
    );
    assert_eq!(
        user.parent_span_id, step.span_id,
        "and nests under the step"
    );

    let records: Vec<_> = collector
        .logs
        .lock()
        .unwrap()
        .iter()
        .flat_map(|b| {
            ExportLogsServiceRequest::decode(b.as_ref())
                .unwrap()
                .resource_logs
        })
        .flat_map(|rl| rl.scope_logs)
        .flat_map(|sl| sl.log_records)
        .collect();
    assert_eq!(records.len(), 1, "one event at INFO or above: {records:?}");
    let record = &records[0];
    let body = match record.body.as_ref().and_then(|b| b.value.as_ref()) {
        Some(Value::StringValue(s)) => s.as_str(),
        other => panic!("unexpected body {other:?}"),
    };
    assert_eq!(body, "priced the order");
    assert_eq!(
        record.trace_id, step.trace_id,
        "the log line carries the trace id"
    );
    assert_eq!(
        record.span_id, user.span_id,
        "and the span id of the span it was logged in"
    );
}
