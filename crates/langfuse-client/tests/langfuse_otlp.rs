//! Langfuse's OTLP transport beside the main exporter: spans reach
//! `/api/public/otel/v1/traces` with Basic auth and the ingestion-version
//! header, decoded here with the official protobuf definitions; with
//! `SpanSelection::LlmTraces` only whole traces that contain an LLM call go
//! there, while a destination with `SpanSelection::All` gets everything.

use std::{
    collections::{BTreeMap, BTreeSet},
    time::Duration,
};

use base64::Engine as _;
use tower::{Layer, ServiceExt, service_fn};
use tta_langfuse::{LangfuseConfig, LlmLayer, LlmRequest, LlmResponse, Message, Usage};
use tta_obs_init::{
    ObservabilityConfig, SpanDestination, SpanSelection, TracesExporter, initialize_observability,
};
use tta_primitives_core::{Request, WorkflowContext, WorkflowError, prelude::*};
use tta_primitives_obs::InstrumentExt;
use tta_test_support::otlp::{Received, receiver};

/// Span names by trace id (hex).
fn traces(received: &Received) -> BTreeMap<String, BTreeSet<String>> {
    let mut out: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (_, request) in received.lock().unwrap().iter() {
        for rs in &request.resource_spans {
            for ss in &rs.scope_spans {
                for span in &ss.spans {
                    let id: String = span.trace_id.iter().map(|b| format!("{b:02x}")).collect();
                    out.entry(id).or_default().insert(span.name.clone());
                }
            }
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn langfuse_gets_whole_llm_traces_beside_a_destination_that_gets_everything() {
    let (langfuse_host, langfuse) = receiver("/api/public/otel/v1/traces").await;
    let (other_host, other) = receiver("/v1/traces").await;
    let langfuse_config =
        LangfuseConfig::new("pk-lf-otlp", "sk-lf-otlp-secret", &langfuse_host).unwrap();
    let other_exporter = {
        use opentelemetry_otlp::WithExportConfig;
        opentelemetry_otlp::SpanExporter::builder()
            .with_http()
            .with_endpoint(format!("{other_host}/v1/traces"))
            .build()
            .unwrap()
    };
    // The LLM catalogue goes through the configuration; the layer registers
    // it again when it is made, after initialisation.
    let config = ObservabilityConfig::builder("langfuse-otlp")
        .metrics_addr("127.0.0.1:0")
        .traces_exporter(TracesExporter::None)
        .metric_catalogue(tta_langfuse::LLM_METRICS)
        .span_destination(SpanDestination::new(
            "langfuse",
            langfuse_config.otlp_span_exporter().unwrap(),
            SpanSelection::LlmTraces,
        ))
        .span_destination(SpanDestination::new(
            "everything",
            other_exporter,
            SpanSelection::All,
        ))
        .build()
        .unwrap();
    let guard = initialize_observability(config).unwrap();

    let llm = LlmLayer::new().layer(service_fn(|_req: Request<LlmRequest>| async move {
        Ok::<_, WorkflowError>(LlmResponse {
            model: Some("gpt-4o-mini-2024-07-18".into()),
            usage: Some(Usage {
                input_tokens: 10,
                output_tokens: 2,
                ..Usage::default()
            }),
            ..LlmResponse::default()
        })
    }));
    let with_llm = (lambda(|q: String| async move {
        Ok::<_, WorkflowError>(
            LlmRequest::chat("openai", "gpt-4o-mini").message(Message::new("user", q)),
        )
    })
    .named("prompt")
        >> step(llm).named("ask")
        >> lambda(|r: LlmResponse| async move {
            Ok::<_, WorkflowError>(r.usage.unwrap().output_tokens)
        })
        .named("read"))
    .named("with_llm")
    .instrumented();
    let without_llm = (lambda(|x: u64| async move { Ok::<_, WorkflowError>(x + 1) }).named("add")
        >> lambda(|x: u64| async move { Ok::<_, WorkflowError>(x * 2) }).named("double"))
    .named("without_llm")
    .instrumented();
    for _ in 0..3 {
        with_llm
            .clone()
            .oneshot(Request::new(
                WorkflowContext::new("with_llm"),
                "hi".to_owned(),
            ))
            .await
            .unwrap();
        without_llm
            .clone()
            .oneshot(Request::new(WorkflowContext::new("without_llm"), 1))
            .await
            .unwrap();
    }
    // The cost histogram has its own buckets, though the layer registered
    // the LLM metrics after initialisation: the configuration listed them.
    let metrics_addr = guard.metrics_addr().unwrap();
    let (_, text) = tta_test_support::get(&format!("http://{metrics_addr}/metrics")).await;
    let prefix = format!("{}_bucket{{", tta_langfuse::LLM_COST.name);
    let bounds: Vec<&str> = text
        .lines()
        .filter(|l| l.starts_with(&prefix))
        .filter_map(|l| l.split("le=\"").nth(1)?.split('"').next())
        .collect();
    let expected: Vec<String> = tta_langfuse::LLM_COST
        .buckets
        .iter()
        .map(f64::to_string)
        .chain(["+Inf".to_owned()])
        .collect();
    assert_eq!(bounds, expected, "{text}");
    assert!(
        guard.shutdown(Duration::from_secs(10)).await.completed,
        "flushed within the deadline"
    );

    let at_langfuse = traces(&langfuse);
    let everywhere = traces(&other);
    assert_eq!(
        everywhere.len(),
        6,
        "the `All` destination got every trace: {everywhere:#?}"
    );
    assert_eq!(
        at_langfuse.len(),
        3,
        "Langfuse got the three LLM traces only: {at_langfuse:#?}"
    );
    let expected =
        BTreeSet::from(["with_llm", "prompt", "ask", "chat gpt-4o-mini", "read"].map(String::from));
    for (trace_id, names) in &at_langfuse {
        assert_eq!(names, &expected, "trace {trace_id} arrived whole");
        assert_eq!(
            everywhere.get(trace_id),
            Some(names),
            "the same trace, the same spans"
        );
    }
    let headers = &langfuse.lock().unwrap()[0].0;
    let basic = base64::engine::general_purpose::STANDARD.encode("pk-lf-otlp:sk-lf-otlp-secret");
    assert_eq!(headers["authorization"], format!("Basic {basic}").as_str());
    assert_eq!(headers["x-langfuse-ingestion-version"], "4");
    assert!(
        other
            .lock()
            .unwrap()
            .iter()
            .all(|(h, _)| !h.contains_key("authorization")),
        "the Langfuse credentials go to Langfuse only"
    );
}
