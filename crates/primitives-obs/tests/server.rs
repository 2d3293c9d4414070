//! Server layers on real servers: an axum router served over TCP and a
//! tonic gRPC server called by tonic's generated client (opentelemetry-
//! proto's trace service, not our code), spans and metrics read back.

mod support;

use std::{collections::HashMap, net::SocketAddr};

use axum::{Router, extract::Path, http::StatusCode, routing::get, routing::post};
use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper_util::{client::legacy::Client, rt::TokioExecutor};
use opentelemetry::{Value, trace::Status};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
    trace_service_client::TraceServiceClient,
    trace_service_server::{TraceService, TraceServiceServer},
};
use opentelemetry_sdk::trace::{SdkTracer, SpanData};
use support::{parse_exposition, prometheus, value};
use tta_primitives_obs::{layer::TelemetryLayer, opentelemetry::trace::TracerProvider as _};
use tta_test_support::spans::{attribute, in_memory};

fn attr(span: &SpanData, key: &str) -> Option<String> {
    attribute(span, key).map(Value::to_string)
}

fn by_name<'a>(spans: &'a [SpanData], name: &str) -> Vec<&'a SpanData> {
    spans.iter().filter(|s| s.name == name).collect()
}

async fn serve_axum(app: Router) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    addr
}

/// Sends `method url` with `headers`; returns the status.
async fn send(method: &str, url: &str, headers: &[(&str, &str)]) -> u16 {
    let client = Client::builder(TokioExecutor::new()).build_http::<Empty<Bytes>>();
    let mut req = http::Request::builder().method(method).uri(url);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let resp = client
        .request(req.body(Empty::new()).unwrap())
        .await
        .unwrap();
    let status = resp.status().as_u16();
    resp.into_body().collect().await.unwrap();
    status
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_axum_router_gets_route_named_spans_route_metrics_and_4xx_as_client_errors() {
    let handle = prometheus();
    let (exporter, provider) = in_memory();
    let layer: TelemetryLayer<_, SdkTracer> =
        TelemetryLayer::http_server("shop", "shop_api").with_tracer(provider.tracer("test"));
    let app = Router::new()
        .route(
            "/users/{id}",
            get(|Path(id): Path<u32>| async move {
                if id == 0 {
                    (StatusCode::NOT_FOUND, "no such user")
                } else {
                    (StatusCode::OK, "a user")
                }
            }),
        )
        .route(
            "/orders",
            post(|| async { (StatusCode::INTERNAL_SERVER_ERROR, "db down") }),
        )
        .layer(layer);
    let addr = serve_axum(app).await;
    let caller_trace = "4bf92f3577b34da6a3ce929d0e0e4736";
    let traceparent = format!("00-{caller_trace}-00f067aa0ba902b7-01");
    let base = format!("http://{addr}");

    assert_eq!(
        send(
            "GET",
            &format!("{base}/users/7"),
            &[("traceparent", &traceparent)]
        )
        .await,
        200
    );
    assert_eq!(send("GET", &format!("{base}/users/42"), &[]).await, 200);
    assert_eq!(send("GET", &format!("{base}/users/0"), &[]).await, 404);
    assert_eq!(send("POST", &format!("{base}/orders"), &[]).await, 500);
    assert_eq!(send("GET", &format!("{base}/no/such/page"), &[]).await, 404);
    assert_eq!(send("BREW", &format!("{base}/users/3"), &[]).await, 405);

    let spans = exporter.get_finished_spans().unwrap();
    let users = by_name(&spans, "GET /users/{id}");
    assert_eq!(
        users.len(),
        3,
        "the route template, never the path: {spans:#?}"
    );
    for span in &users {
        assert_eq!(attr(span, "http.route").as_deref(), Some("/users/{id}"));
    }
    let continued = users
        .iter()
        .filter(|s| s.span_context.trace_id().to_string() == caller_trace)
        .count();
    assert_eq!(continued, 1, "the caller's traceparent is continued");
    let not_found = users
        .iter()
        .find(|s| attr(s, "http.response.status_code").as_deref() == Some("404"))
        .unwrap();
    assert_eq!(
        not_found.status,
        Status::Unset,
        "a 4xx is not a server error"
    );
    assert_eq!(attr(not_found, "error.type"), None);

    let orders = by_name(&spans, "POST /orders");
    assert_eq!(orders.len(), 1);
    assert!(matches!(orders[0].status, Status::Error { .. }));
    assert_eq!(attr(orders[0], "error.type").as_deref(), Some("http_5xx"));

    let unmatched = by_name(&spans, "GET");
    assert_eq!(unmatched.len(), 1, "no route matched: the method alone");
    assert_eq!(attr(unmatched[0], "http.route"), None);
    assert!(
        spans
            .iter()
            .all(|s| !s.name.contains("no/such") && !s.name.contains("BREW")),
        "paths and made-up methods never mint span names"
    );

    let samples = parse_exposition(&handle.render());
    let requests = |method: &str, route: &str, class: &str| {
        value(
            &samples,
            "tta_http_server_request_duration_seconds_count",
            &[
                ("server", "shop_api"),
                ("method", method),
                ("route", route),
                ("status_class", class),
            ],
        )
    };
    assert_eq!(requests("GET", "/users/{id}", "2xx"), Some(2.0));
    assert_eq!(requests("GET", "/users/{id}", "4xx"), Some(1.0));
    assert_eq!(requests("POST", "/orders", "5xx"), Some(1.0));
    assert_eq!(requests("GET", "", "4xx"), Some(1.0), "unmatched: no route");
    assert_eq!(requests("_OTHER", "/users/{id}", "4xx"), Some(1.0));
    let node = |outcome: &str, error_type: &str| {
        value(
            &samples,
            "tta_primitive_executions_total",
            &[
                ("workflow", "shop"),
                ("primitive", "shop_api"),
                ("outcome", outcome),
                ("error_type", error_type),
            ],
        )
    };
    assert_eq!(node("success", ""), Some(2.0));
    assert_eq!(node("expected", "http_4xx"), Some(3.0), "client errors");
    assert_eq!(node("error", "http_5xx"), Some(1.0), "server failures");
    assert_eq!(node("error", "http_4xx"), None);
}

/// A trace service that answers by the number of spans sent: none is
/// `INVALID_ARGUMENT` (the client's error), more than one `INTERNAL`.
struct Traces;

#[tonic::async_trait]
impl TraceService for Traces {
    async fn export(
        &self,
        request: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        match request.into_inner().resource_spans.len() {
            0 => Err(tonic::Status::invalid_argument("no spans")),
            1 => Ok(tonic::Response::new(ExportTraceServiceResponse::default())),
            _ => Err(tonic::Status::internal("storage failed")),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tonic_server_gets_rpc_spans_status_codes_and_method_metrics() {
    let handle = prometheus();
    let (exporter, provider) = in_memory();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let layer: TelemetryLayer<_, SdkTracer> =
        TelemetryLayer::grpc_server("collector", "otlp_grpc").with_tracer(provider.tracer("test"));
    tokio::spawn(async move {
        tonic::transport::Server::builder()
            .layer(layer)
            .add_service(TraceServiceServer::new(Traces))
            .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener))
            .await
            .unwrap();
    });
    let mut client = TraceServiceClient::connect(format!("http://{addr}"))
        .await
        .unwrap();
    let with = |n: usize| ExportTraceServiceRequest {
        resource_spans: vec![Default::default(); n],
    };
    // The caller's trace, sent in the metadata as a tonic client sends it.
    let caller_trace = "4bf92f3577b34da6a3ce929d0e0e4736";
    let mut continued = tonic::Request::new(with(1));
    continued.metadata_mut().insert(
        "traceparent",
        format!("00-{caller_trace}-00f067aa0ba902b7-01")
            .parse()
            .unwrap(),
    );
    client.export(continued).await.unwrap();
    let err = client.export(with(0)).await.unwrap_err();
    assert_eq!(err.code(), tonic::Code::InvalidArgument);
    let err = client.export(with(2)).await.unwrap_err();
    assert_eq!(err.code(), tonic::Code::Internal);

    // A made-up method, as anyone can send: answered UNIMPLEMENTED, and
    // its path becomes no span name and no label.
    let channel = tonic::transport::Channel::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let made_up = http::Request::builder()
        .method("POST")
        .uri(format!("http://{addr}/attacker.Random123/Method456"))
        .header("content-type", "application/grpc")
        .header("te", "trailers")
        .body(tonic::body::Body::empty())
        .unwrap();
    let resp = tower::ServiceExt::oneshot(channel, made_up).await.unwrap();
    assert_eq!(resp.headers()["grpc-status"], "12");

    let spans = exporter.get_finished_spans().unwrap();
    let unknown = by_name(&spans, "grpc");
    assert_eq!(unknown.len(), 1, "{spans:#?}");
    assert_eq!(attr(unknown[0], "rpc.method").as_deref(), Some("_OTHER"));
    assert_eq!(attr(unknown[0], "rpc.service").as_deref(), Some("_OTHER"));
    assert!(
        spans.iter().all(|s| !s.name.contains("Random123")),
        "a made-up path names no span"
    );
    let name = "opentelemetry.proto.collector.trace.v1.TraceService/Export";
    let calls = by_name(&spans, name);
    assert_eq!(calls.len(), 3, "{spans:#?}");
    let by_code: HashMap<String, &SpanData> = calls
        .iter()
        .map(|s| (attr(s, "rpc.grpc.status_code").unwrap(), *s))
        .collect();
    for span in &calls {
        assert_eq!(attr(span, "rpc.system").as_deref(), Some("grpc"));
        assert_eq!(
            attr(span, "rpc.service").as_deref(),
            Some("opentelemetry.proto.collector.trace.v1.TraceService")
        );
        assert_eq!(attr(span, "rpc.method").as_deref(), Some("Export"));
    }
    assert_eq!(by_code["0"].status, Status::Unset);
    assert_eq!(
        (
            by_code["0"].span_context.trace_id().to_string(),
            by_code["0"].parent_span_id.to_string()
        ),
        (caller_trace.to_owned(), "00f067aa0ba902b7".to_owned()),
        "the caller's traceparent is continued"
    );
    assert_eq!(
        by_code["3"].parent_span_id,
        opentelemetry::trace::SpanId::INVALID,
        "a call without one starts a trace"
    );
    assert_eq!(
        by_code["3"].status,
        Status::Unset,
        "INVALID_ARGUMENT is the client's"
    );
    assert!(matches!(by_code["13"].status, Status::Error { .. }));
    assert_eq!(
        attr(by_code["13"], "error.type").as_deref(),
        Some("grpc_internal")
    );

    let samples = parse_exposition(&handle.render());
    let calls = |status: &str| {
        value(
            &samples,
            "tta_rpc_server_duration_seconds_count",
            &[
                ("server", "otlp_grpc"),
                (
                    "rpc_service",
                    "opentelemetry.proto.collector.trace.v1.TraceService",
                ),
                ("rpc_method", "Export"),
                ("grpc_status", status),
            ],
        )
    };
    assert_eq!(
        (calls("OK"), calls("INVALID_ARGUMENT"), calls("INTERNAL")),
        (Some(1.0), Some(1.0), Some(1.0))
    );
    let node = |outcome: &str, error_type: &str| {
        value(
            &samples,
            "tta_primitive_executions_total",
            &[
                ("primitive", "otlp_grpc"),
                ("outcome", outcome),
                ("error_type", error_type),
            ],
        )
    };
    assert_eq!(
        value(
            &samples,
            "tta_rpc_server_duration_seconds_count",
            &[
                ("server", "otlp_grpc"),
                ("rpc_service", "_OTHER"),
                ("rpc_method", "_OTHER"),
                ("grpc_status", "UNIMPLEMENTED"),
            ],
        ),
        Some(1.0)
    );
    assert!(!handle.render().contains("Random123"), "nor a label");
    assert_eq!(node("success", ""), Some(1.0), "OK is no client error");
    assert_eq!(node("expected", "grpc_invalid_argument"), Some(1.0));
    assert_eq!(node("error", "grpc_internal"), Some(1.0));
}
