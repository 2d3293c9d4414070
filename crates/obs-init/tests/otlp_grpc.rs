//! Spans leave over OTLP/gRPC to a gRPC trace service built from the
//! official protobuf definitions (`opentelemetry-proto`), from a
//! current-thread application runtime.

use std::{
    sync::{Arc, Mutex},
    time::Duration,
};

use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
    trace_service_server::{TraceService, TraceServiceServer},
};
use tower::ServiceExt;
use tta_obs_init::{ObservabilityConfig, initialize_observability};
use tta_primitives_core::{Request, WorkflowContext, WorkflowError, prelude::*};
use tta_primitives_obs::InstrumentExt;

/// Each export: its `authorization` metadata and its request.
type Exports = Arc<Mutex<Vec<(Option<String>, ExportTraceServiceRequest)>>>;

#[derive(Clone, Default)]
struct Collector {
    received: Exports,
}

#[tonic::async_trait]
impl TraceService for Collector {
    async fn export(
        &self,
        request: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        let auth = request
            .metadata()
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        self.received
            .lock()
            .unwrap()
            .push((auth, request.into_inner()));
        Ok(tonic::Response::new(ExportTraceServiceResponse {
            partial_success: None,
        }))
    }
}

#[test]
fn spans_arrive_over_otlp_grpc_from_a_current_thread_runtime() {
    // The collector runs on its own runtime, like a separate process.
    let collector = Collector::default();
    let server_runtime = tokio::runtime::Runtime::new().unwrap();
    let addr = server_runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let service = TraceServiceServer::new(collector.clone());
        tokio::spawn(async move {
            tonic::transport::Server::builder()
                .add_service(service)
                .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener))
                .await
        });
        addr
    });

    let app = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    app.block_on(async {
        let config = ObservabilityConfig::builder("grpc-service")
            .without_metrics_endpoint()
            .otlp_grpc(
                &format!("http://{addr}"),
                &[("authorization", "Bearer s3cret")],
            )
            .unwrap()
            .build()
            .unwrap();
        let guard = initialize_observability(config).unwrap();
        let wf = (lambda(|x: u32| async move { Ok::<_, WorkflowError>(x + 1) }).named("one")
            >> lambda(|x: u32| async move { Ok::<_, WorkflowError>(x + 1) }).named("two"))
        .instrumented();
        wf.oneshot(Request::new(WorkflowContext::new("grpc_wf"), 1))
            .await
            .unwrap();
        assert!(
            guard.shutdown(Duration::from_secs(10)).await.completed,
            "flushed within the deadline"
        );
    });

    let received = collector.received.lock().unwrap();
    assert!(
        !received.is_empty(),
        "the gRPC collector received an export"
    );
    let mut names = std::collections::BTreeSet::new();
    for (auth, request) in received.iter() {
        assert_eq!(
            auth.as_deref(),
            Some("Bearer s3cret"),
            "headers travel as metadata"
        );
        for rs in &request.resource_spans {
            for ss in &rs.scope_spans {
                names.extend(ss.spans.iter().map(|s| s.name.clone()));
            }
        }
    }
    assert_eq!(
        names,
        ["grpc_wf", "one", "sequence", "two"]
            .into_iter()
            .map(String::from)
            .collect()
    );
}
