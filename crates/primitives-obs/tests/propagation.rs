//! Two services in one process, over real HTTP on 127.0.0.1: one trace
//! across both, with the workflow correlation id on both sides.

use std::sync::Arc;

use axum::{Router, routing::post};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::{client::legacy::Client, rt::TokioExecutor};
use opentelemetry::{
    Value,
    trace::{SpanId, SpanKind, TraceContextExt as _, TracerProvider as _},
};
use opentelemetry_sdk::trace::{SdkTracerProvider, SpanData};
use tower::{ServiceBuilder, ServiceExt};
use tta_primitives_core::{Request, WorkflowContext, WorkflowError, prelude::*};
use tta_primitives_obs::{
    InstrumentExt, Telemetry,
    layer::TelemetryLayer,
    propagation::{ExtractLayer, InjectLayer, workflow_context},
};
use tta_test_support::spans::in_memory;

type Tel = Arc<Telemetry<opentelemetry_sdk::trace::SdkTracer>>;

async fn serve(app: Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{addr}")
}

fn pricing_service(provider: &SdkTracerProvider, telemetry: Tel) -> Router {
    Router::new()
        .route(
            "/price",
            post(move |body: String| {
                let telemetry = telemetry.clone();
                async move {
                    let ctx = workflow_context("pricing").build();
                    let lookup = lambda(|n: usize| async move { Ok::<_, WorkflowError>(n * 100) })
                        .named("lookup")
                        .instrumented_with(telemetry);
                    lookup
                        .oneshot(Request::new(ctx, body.len()))
                        .await
                        .unwrap()
                        .to_string()
                }
            }),
        )
        .layer(ServiceBuilder::new().layer(ExtractLayer).layer(
            TelemetryLayer::http_server("pricing_api", "http").with_tracer_provider(provider),
        ))
}

fn checkout_service(provider: &SdkTracerProvider, telemetry: Tel, pricing_url: String) -> Router {
    let client = ServiceBuilder::new()
        .layer(
            TelemetryLayer::http_client("checkout_api", "pricing_client")
                .with_tracer_provider(provider),
        )
        .layer(InjectLayer)
        .service(Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>());
    Router::new()
        .route(
            "/checkout",
            post(move |body: String| {
                let (telemetry, client, url) =
                    (telemetry.clone(), client.clone(), pricing_url.clone());
                async move {
                    let call_pricing = from_fn(move |ctx: WorkflowContext, items: String| {
                        let (client, url) = (client.clone(), url.clone());
                        async move {
                            let mut req = http::Request::post(format!("{url}/price"))
                                .body(Full::new(Bytes::from(items)))
                                .unwrap();
                            req.extensions_mut().insert(ctx);
                            let resp = client
                                .oneshot(req)
                                .await
                                .map_err(WorkflowError::downstream)?;
                            let body = resp
                                .into_body()
                                .collect()
                                .await
                                .map_err(WorkflowError::downstream)?;
                            Ok::<_, WorkflowError>(
                                String::from_utf8_lossy(&body.to_bytes()).into_owned(),
                            )
                        }
                    })
                    .named("call_pricing");
                    let ctx = workflow_context("checkout").build();
                    call_pricing
                        .instrumented_with(telemetry)
                        .oneshot(Request::new(ctx, body))
                        .await
                        .unwrap()
                }
            }),
        )
        .layer(ServiceBuilder::new().layer(ExtractLayer).layer(
            TelemetryLayer::http_server("checkout_api", "http").with_tracer_provider(provider),
        ))
}

fn attr(span: &SpanData, key: &str) -> Option<String> {
    span.attributes
        .iter()
        .find(|kv| kv.key.as_str() == key)
        .map(|kv| match &kv.value {
            Value::String(s) => s.to_string(),
            other => other.to_string(),
        })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_trace_spans_two_services_over_http_with_the_correlation_id() {
    let (exporter, provider) = in_memory();
    let telemetry: Tel = Arc::new(Telemetry::with_tracer(provider.tracer("test")));

    let pricing_url = serve(pricing_service(&provider, telemetry.clone())).await;
    let checkout_url = serve(checkout_service(&provider, telemetry, pricing_url)).await;

    let plain = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
    let resp = plain
        .request(
            http::Request::post(format!("{checkout_url}/checkout"))
                .body(Full::new(Bytes::from_static(b"abc")))
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let body = resp.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(&body[..], b"300");

    let spans = exporter.get_finished_spans().unwrap();
    let find = |pred: &dyn Fn(&SpanData) -> bool, what: &str| {
        spans
            .iter()
            .find(|s| pred(s))
            .unwrap_or_else(|| panic!("no {what} span in {spans:#?}"))
            .clone()
    };
    let checkout_server = find(
        &|s| {
            s.span_kind == SpanKind::Server
                && attr(s, "tta.workflow.name").as_deref() == Some("checkout_api")
        },
        "checkout server",
    );
    let checkout_root = find(&|s| s.name == "checkout", "checkout workflow");
    let step = find(&|s| s.name == "call_pricing", "call_pricing step");
    let client = find(&|s| s.span_kind == SpanKind::Client, "client");
    let pricing_server = find(
        &|s| {
            s.span_kind == SpanKind::Server
                && attr(s, "tta.workflow.name").as_deref() == Some("pricing_api")
        },
        "pricing server",
    );
    let pricing_root = find(&|s| s.name == "pricing", "pricing workflow");
    let lookup = find(&|s| s.name == "lookup", "lookup");

    let trace = checkout_server.span_context.trace_id();
    for span in &spans {
        assert_eq!(
            span.span_context.trace_id(),
            trace,
            "{} is in another trace",
            span.name
        );
    }
    let id = |s: &SpanData| s.span_context.span_id();
    assert_eq!(checkout_server.parent_span_id, SpanId::INVALID);
    assert_eq!(checkout_root.parent_span_id, id(&checkout_server));
    assert_eq!(step.parent_span_id, id(&checkout_root));
    assert_eq!(client.parent_span_id, id(&step));
    assert_eq!(pricing_server.parent_span_id, id(&client));
    assert!(
        pricing_server.parent_span_is_remote,
        "the pricing server's parent came over HTTP"
    );
    assert_eq!(pricing_root.parent_span_id, id(&pricing_server));
    assert_eq!(lookup.parent_span_id, id(&pricing_root));

    let correlation = attr(&checkout_root, "tta.correlation_id").unwrap();
    assert_eq!(attr(&pricing_root, "tta.correlation_id"), Some(correlation));
    assert_eq!(
        attr(&client, "http.response.status_code").as_deref(),
        Some("200")
    );
    assert_eq!(attr(&pricing_server, "url.path").as_deref(), Some("/price"));
    assert!(
        checkout_server.events.iter().all(|e| e.name != "exception"),
        "a 200 is no failure"
    );
}

/// A step that hands its request to a spawned task: the task runs outside
/// the step's OpenTelemetry context (tokio does not carry it), so only the
/// `WorkflowContext` in the request's extensions says where the call
/// belongs. The client span and the injected `traceparent` still hang
/// under the step.
#[tokio::test]
async fn a_client_called_outside_the_steps_context_parents_on_the_workflow_context_it_carries() {
    let (exporter, provider) = in_memory();
    let telemetry: Tel = Arc::new(Telemetry::with_tracer(provider.tracer("test")));
    // Answers with the traceparent it was sent.
    let echo = || {
        tower::service_fn(|req: http::Request<()>| async move {
            let sent = req.headers().get("traceparent").cloned();
            Ok::<_, std::convert::Infallible>(http::Response::new(sent))
        })
    };
    let traced_client = ServiceBuilder::new()
        .layer(TelemetryLayer::http_client("checkout", "client").with_tracer_provider(&provider))
        .layer(InjectLayer)
        .service(echo());
    let bare_client = ServiceBuilder::new().layer(InjectLayer).service(echo());

    let step = from_fn(move |ctx: WorkflowContext, (): ()| {
        let (traced_client, bare_client) = (traced_client.clone(), bare_client.clone());
        async move {
            let request = || {
                let mut req = http::Request::get("/price").body(()).unwrap();
                req.extensions_mut().insert(ctx.clone());
                req
            };
            let (traced, bare) = (request(), request());
            let sent = tokio::spawn(async move {
                assert!(
                    !opentelemetry::Context::current()
                        .span()
                        .span_context()
                        .is_valid(),
                    "the spawned task has no active span"
                );
                let traced = traced_client.oneshot(traced).await.unwrap().into_body();
                let bare = bare_client.oneshot(bare).await.unwrap().into_body();
                (traced, bare)
            })
            .await
            .unwrap();
            Ok::<_, WorkflowError>(sent)
        }
    })
    .named("call_pricing");
    let ctx = workflow_context("checkout").build();
    let (traced, bare) = step
        .instrumented_with(telemetry)
        .oneshot(Request::new(ctx, ()))
        .await
        .unwrap();

    let spans = exporter.get_finished_spans().unwrap();
    let step = spans.iter().find(|s| s.name == "call_pricing").unwrap();
    let client = spans
        .iter()
        .find(|s| s.span_kind == SpanKind::Client)
        .unwrap_or_else(|| panic!("no client span in {spans:#?}"));
    let (trace, step_id) = (step.span_context.trace_id(), step.span_context.span_id());
    assert_eq!(
        (client.span_context.trace_id(), client.parent_span_id),
        (trace, step_id),
        "the client span is the step's child"
    );
    let header = |sent: Option<http::HeaderValue>| sent.map(|v| v.to_str().unwrap().to_owned());
    assert_eq!(
        header(traced),
        Some(format!("00-{trace}-{}-01", client.span_context.span_id())),
        "under a client span, the client span is the remote parent"
    );
    assert_eq!(
        header(bare),
        Some(format!("00-{trace}-{step_id}-01")),
        "with no active span, the step carried in the request is"
    );
}
