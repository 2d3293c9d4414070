//! The LLM layer: spans nested in workflows with GenAI and Langfuse
//! attributes, streaming with time to first token, capture and masking, and
//! the `tta_llm_*` metrics through the real Prometheus endpoint set up by
//! obs-init, read back with the reference parser.

use std::{
    sync::{Arc, OnceLock},
    time::Duration,
};

use futures_util::StreamExt;
use opentelemetry::{
    Value,
    trace::{SpanKind, Status, TracerProvider as _},
};
use opentelemetry_sdk::trace::SpanData;
use tower::{Layer, ServiceExt, service_fn};
use tta_langfuse::{
    Capture, LlmChunk, LlmLayer, LlmRequest, LlmResponse, LlmStream, Message, ModelPrice,
    PriceTable, TRUNCATION_MARKER, Usage,
};
use tta_obs_init::{
    ObservabilityConfig, ObservabilityGuard, TracesExporter, initialize_observability,
};
use tta_primitives_core::{Request, WorkflowContext, WorkflowError, prelude::*};
use tta_primitives_obs::{InstrumentExt, Telemetry};
use tta_test_support::exposition::{parse_exposition, value};
use tta_test_support::spans::{attribute as attr, in_memory as tracing};

/// The process's observability, as an application sets it up.
fn observability() -> &'static ObservabilityGuard {
    static GUARD: OnceLock<ObservabilityGuard> = OnceLock::new();
    static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    GUARD.get_or_init(|| {
        tta_langfuse::register_metrics().unwrap();
        let runtime = RUNTIME.get_or_init(tta_test_support::runtime);
        let _entered = runtime.enter();
        let config = ObservabilityConfig::builder("llm-tests")
            .metrics_addr("127.0.0.1:0")
            .traces_exporter(TracesExporter::None)
            .build()
            .unwrap();
        initialize_observability(config).unwrap()
    })
}

fn str_attr(span: &SpanData, key: &str) -> Option<String> {
    attr(span, key).map(|v| v.as_str().into_owned())
}

fn int_attr(span: &SpanData, key: &str) -> Option<i64> {
    match attr(span, key)? {
        Value::I64(i) => Some(*i),
        other => panic!("{key} is not an integer: {other:?}"),
    }
}

fn metric(name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    let samples = parse_exposition(&observability().render());
    value(&samples, name, labels)
}

fn response(model: &str, input: u64, output: u64) -> LlmResponse {
    LlmResponse {
        id: Some("resp-1".into()),
        model: Some(model.into()),
        finish_reasons: vec!["stop".into()],
        usage: Some(Usage {
            input_tokens: input,
            output_tokens: output,
            ..Usage::default()
        }),
        output: vec![Message::new("assistant", "The total is 42.")],
    }
}

#[tokio::test]
async fn the_llm_span_nests_under_its_workflow_step_with_genai_and_langfuse_attributes() {
    observability();
    let (exporter, provider) = tracing();
    let llm = LlmLayer::new()
        .with_tracer_provider(&provider)
        .layer(service_fn(|req: Request<LlmRequest>| async move {
            assert_eq!(req.input.model, "gpt-4o-mini");
            Ok::<_, WorkflowError>(response("gpt-4o-mini-2024-07-18", 1200, 300))
        }));
    let workflow = (lambda(|question: String| async move {
        Ok::<_, WorkflowError>(
            LlmRequest::chat("openai", "gpt-4o-mini")
                .message(Message::new("user", question))
                .temperature(0.2)
                .max_tokens(200)
                .prompt("quote-summary", 3),
        )
    })
    .named("build_prompt")
        >> step(llm).named("summarise")
        >> lambda(|resp: LlmResponse| async move {
            Ok::<_, WorkflowError>(resp.output[0].content.clone())
        })
        .named("answer"))
    .named("support")
    .instrumented_with(Arc::new(Telemetry::with_tracer(provider.tracer("test"))));

    let ctx = WorkflowContext::builder("support")
        .user_id("user-7")
        .session_id("session-3")
        .tag("beta")
        .build();
    let answer = workflow
        .oneshot(Request::new(ctx, "What is the total?".to_owned()))
        .await
        .unwrap();
    assert_eq!(answer, "The total is 42.");

    let spans = exporter.get_finished_spans().unwrap();
    let llm = spans
        .iter()
        .find(|s| s.name == "chat gpt-4o-mini")
        .expect("an LLM span named `{operation} {model}`");
    let step = spans.iter().find(|s| s.name == "summarise").unwrap();
    let root = spans.iter().find(|s| s.name == "support").unwrap();
    assert_eq!(llm.parent_span_id, step.span_context.span_id());
    assert_eq!(llm.span_context.trace_id(), root.span_context.trace_id());
    assert_eq!(llm.span_kind, SpanKind::Client);
    assert_eq!(llm.status, Status::Ok);

    for (key, expected) in [
        ("gen_ai.operation.name", "chat"),
        ("gen_ai.provider.name", "openai"),
        ("gen_ai.request.model", "gpt-4o-mini"),
        ("gen_ai.response.model", "gpt-4o-mini-2024-07-18"),
        ("gen_ai.response.id", "resp-1"),
        ("langfuse.observation.type", "generation"),
        ("langfuse.trace.name", "support"),
        ("user.id", "user-7"),
        ("session.id", "session-3"),
        ("langfuse.observation.prompt.name", "quote-summary"),
    ] {
        assert_eq!(str_attr(llm, key).as_deref(), Some(expected), "{key}");
    }
    assert_eq!(int_attr(llm, "gen_ai.usage.input_tokens"), Some(1200));
    assert_eq!(int_attr(llm, "gen_ai.usage.output_tokens"), Some(300));
    assert_eq!(int_attr(llm, "gen_ai.request.max_tokens"), Some(200));
    assert_eq!(
        int_attr(llm, "langfuse.observation.prompt.version"),
        Some(3)
    );
    assert_eq!(
        attr(llm, "gen_ai.request.temperature"),
        Some(&Value::F64(0.2))
    );
    assert!(matches!(
        attr(llm, "gen_ai.response.finish_reasons"),
        Some(Value::Array(opentelemetry::Array::String(v))) if v.len() == 1 && v[0].as_str() == "stop"
    ));
    assert!(matches!(
        attr(llm, "langfuse.trace.tags"),
        Some(Value::Array(opentelemetry::Array::String(v))) if v.iter().any(|t| t.as_str() == "beta")
    ));
    let usage: serde_json::Value =
        serde_json::from_str(&str_attr(llm, "langfuse.observation.usage_details").unwrap())
            .unwrap();
    assert_eq!(usage, serde_json::json!({"input": 1200, "output": 300}));
    // gpt-4o-mini: $0.15 / M input, $0.60 / M output.
    let cost: serde_json::Value =
        serde_json::from_str(&str_attr(llm, "langfuse.observation.cost_details").unwrap()).unwrap();
    let total = cost["total"].as_f64().unwrap();
    assert!(
        (total - (1200.0 * 0.15 + 300.0 * 0.6) / 1e6).abs() < 1e-12,
        "{cost}"
    );
    let params: serde_json::Value =
        serde_json::from_str(&str_attr(llm, "langfuse.observation.model.parameters").unwrap())
            .unwrap();
    assert_eq!(
        params,
        serde_json::json!({"temperature": 0.2, "max_tokens": 200})
    );
    // Capture is off by default: no prompt or completion anywhere.
    for key in [
        "gen_ai.input.messages",
        "gen_ai.output.messages",
        "langfuse.observation.input",
        "langfuse.observation.output",
    ] {
        assert!(attr(llm, key).is_none(), "{key} recorded without capture");
    }
    assert!(
        !llm.attributes
            .iter()
            .any(|kv| kv.value.as_str().contains("What is the total")),
        "prompt text leaked into an attribute"
    );
}

#[tokio::test]
async fn metrics_count_requests_tokens_cost_and_unpriced_models() {
    observability();
    let llm = LlmLayer::new()
        .metrics_only()
        .layer(service_fn(|req: LlmRequest| async move {
            let model = req.model.clone();
            Ok::<_, std::io::Error>(LlmResponse {
                usage: Some(Usage {
                    input_tokens: 1000,
                    output_tokens: 400,
                    cache_read_input_tokens: 600,
                    reasoning_tokens: 100,
                    ..Usage::default()
                }),
                model: Some(model),
                ..LlmResponse::default()
            })
        }));
    for _ in 0..3 {
        llm.clone()
            .oneshot(LlmRequest::chat("openai", "gpt-4.1-metrics-test"))
            .await
            .unwrap();
    }
    // An unknown model: counted, no cost.
    let unpriced = LlmLayer::new()
        .metrics_only()
        .prices(PriceTable::empty())
        .layer(service_fn(|_req: LlmRequest| async move {
            Ok::<_, std::io::Error>(response("mystery-model", 10, 5))
        }));
    unpriced
        .oneshot(LlmRequest::chat("acme", "mystery-model"))
        .await
        .unwrap();

    // A priced model: the test prices it itself so the expected cost is known.
    let mut prices = PriceTable::empty();
    prices.insert(
        "priced-model",
        ModelPrice::new(2.0, 8.0)
            .unwrap()
            .with_cached_input(0.5)
            .unwrap(),
    );
    let priced = LlmLayer::new()
        .metrics_only()
        .prices(prices)
        .layer(service_fn(|_req: LlmRequest| async move {
            Ok::<_, std::io::Error>(LlmResponse {
                model: Some("priced-model-2025-04-14".into()),
                usage: Some(Usage {
                    input_tokens: 1_000_000,
                    output_tokens: 100_000,
                    cache_read_input_tokens: 400_000,
                    ..Usage::default()
                }),
                ..LlmResponse::default()
            })
        }));
    priced
        .oneshot(LlmRequest::chat("acme", "priced-model"))
        .await
        .unwrap();

    let p = ("provider", "openai");
    let m = ("model", "gpt-4.1-metrics-test");
    assert_eq!(
        metric("tta_llm_requests_total", &[p, m, ("outcome", "success")]),
        Some(3.0)
    );
    for (token_type, per_call) in [
        ("input", 1000.0),
        ("output", 400.0),
        ("cached", 600.0),
        ("reasoning", 100.0),
    ] {
        assert_eq!(
            metric("tta_llm_tokens_total", &[p, m, ("token_type", token_type)]),
            Some(3.0 * per_call),
            "{token_type}"
        );
    }
    assert_eq!(
        metric("tta_llm_request_duration_seconds_count", &[p, m]),
        Some(3.0)
    );
    // `gpt-4.1-metrics-test` is not a snapshot of `gpt-4.1`: never priced as it.
    assert_eq!(
        metric("tta_llm_unpriced_requests_total", &[p, m]),
        Some(3.0)
    );
    assert_eq!(
        metric(
            "tta_llm_unpriced_requests_total",
            &[("model", "mystery-model")]
        ),
        Some(1.0)
    );
    // No cost recorded for it (the series exists, empty).
    assert_eq!(
        metric("tta_llm_cost_usd_count", &[("model", "mystery-model")]),
        Some(0.0)
    );
    assert_eq!(
        metric("tta_llm_cost_usd_sum", &[("model", "mystery-model")]),
        Some(0.0)
    );
    // 600k uncached input at $2, 400k cached at $0.5, 100k output at $8.
    let expected = 0.6 * 2.0 + 0.4 * 0.5 + 0.1 * 8.0;
    let cost = metric("tta_llm_cost_usd_sum", &[("model", "priced-model")]).unwrap();
    assert!((cost - expected).abs() < 1e-9, "cost {cost} != {expected}");
}

#[tokio::test(start_paused = true)]
async fn a_stream_records_time_to_first_token_usage_and_finish_reason() {
    observability();
    let (exporter, provider) = tracing();
    let llm = LlmLayer::new()
        .with_tracer_provider(&provider)
        .layer(service_fn(|_req: LlmRequest| async move {
            let chunks = vec![
                (
                    0,
                    LlmChunk {
                        id: Some("s-1".into()),
                        model: Some("claude-3-5-haiku-20241022".into()),
                        usage: Some(Usage {
                            input_tokens: 50,
                            ..Usage::default()
                        }),
                        ..LlmChunk::default()
                    },
                ),
                (
                    300,
                    LlmChunk {
                        delta: "Hel".into(),
                        ..LlmChunk::default()
                    },
                ),
                (
                    100,
                    LlmChunk {
                        delta: "lo".into(),
                        ..LlmChunk::default()
                    },
                ),
                (
                    100,
                    LlmChunk {
                        finish_reason: Some("end_turn".into()),
                        usage: Some(Usage {
                            output_tokens: 7,
                            ..Usage::default()
                        }),
                        ..LlmChunk::default()
                    },
                ),
            ];
            let stream = futures_util::stream::iter(chunks).then(|(ms, chunk)| async move {
                tokio::time::sleep(Duration::from_millis(ms)).await;
                Ok::<_, std::io::Error>(chunk)
            });
            Ok::<_, std::io::Error>(LlmStream::new(stream))
        }));
    let stream = llm
        .oneshot(LlmRequest::chat("anthropic", "claude-3-5-haiku-stream-test").streaming())
        .await
        .unwrap();
    let text: Vec<String> = stream.map(|c| c.unwrap().delta).collect().await;
    assert_eq!(text.concat(), "Hello");

    let spans = exporter.get_finished_spans().unwrap();
    let span = spans
        .iter()
        .find(|s| s.name == "chat claude-3-5-haiku-stream-test")
        .unwrap();
    assert_eq!(
        attr(span, "gen_ai.response.time_to_first_chunk"),
        Some(&Value::F64(0.3))
    );
    assert!(str_attr(span, "langfuse.observation.completion_start_time").is_some());
    assert_eq!(int_attr(span, "gen_ai.usage.input_tokens"), Some(50));
    assert_eq!(int_attr(span, "gen_ai.usage.output_tokens"), Some(7));
    assert_eq!(
        str_attr(span, "gen_ai.response.model").as_deref(),
        Some("claude-3-5-haiku-20241022")
    );
    assert_eq!(
        attr(span, "gen_ai.request.stream"),
        Some(&Value::Bool(true))
    );
    let labels = [("model", "claude-3-5-haiku-stream-test")];
    assert_eq!(
        metric("tta_llm_time_to_first_token_seconds_count", &labels),
        Some(1.0)
    );
    assert_eq!(
        metric("tta_llm_time_to_first_token_seconds_sum", &labels),
        Some(0.3)
    );
    assert_eq!(
        metric("tta_llm_request_duration_seconds_sum", &labels),
        Some(0.5)
    );
}

#[tokio::test]
async fn errors_and_cancellations_are_recorded() {
    observability();
    let (exporter, provider) = tracing();
    let failing = LlmLayer::new()
        .with_tracer_provider(&provider)
        .layer(service_fn(|_req: LlmRequest| async move {
            Err::<LlmResponse, _>(std::io::Error::other("429 from provider"))
        }));
    let err = failing
        .oneshot(LlmRequest::chat("openai", "error-test-model"))
        .await
        .unwrap_err();
    assert_eq!(err.to_string(), "429 from provider");
    let spans = exporter.get_finished_spans().unwrap();
    let span = spans
        .iter()
        .find(|s| s.name == "chat error-test-model")
        .unwrap();
    assert!(matches!(&span.status, Status::Error { description } if description.contains("429")));
    assert_eq!(str_attr(span, "error.type").as_deref(), Some("llm_error"));
    assert_eq!(
        str_attr(span, "langfuse.observation.level").as_deref(),
        Some("ERROR")
    );

    let hanging = LlmLayer::new()
        .with_tracer_provider(&provider)
        .layer(service_fn(|_req: LlmRequest| {
            std::future::pending::<Result<LlmResponse, std::io::Error>>()
        }));
    let call = hanging.oneshot(LlmRequest::chat("openai", "cancel-test-model"));
    assert!(
        tokio::time::timeout(Duration::from_millis(10), call)
            .await
            .is_err()
    );
    let spans = exporter.get_finished_spans().unwrap();
    let span = spans
        .iter()
        .find(|s| s.name == "chat cancel-test-model")
        .unwrap();
    assert_eq!(str_attr(span, "error.type").as_deref(), Some("cancelled"));
    assert_eq!(
        metric(
            "tta_llm_requests_total",
            &[("model", "error-test-model"), ("outcome", "error")]
        ),
        Some(1.0)
    );
    assert_eq!(
        metric(
            "tta_llm_requests_total",
            &[("model", "cancel-test-model"), ("outcome", "cancelled")]
        ),
        Some(1.0)
    );
}

#[tokio::test]
async fn capture_is_masked_before_recording_and_capped() {
    observability();
    let (exporter, provider) = tracing();
    let capture = Capture::enabled()
        .mask(|text| text.replace("4111-1111-1111-1111", "[CARD]"))
        .max_field_bytes(200);
    let llm = LlmLayer::new()
        .with_tracer_provider(&provider)
        .capture(capture)
        .layer(service_fn(|_req: LlmRequest| async move {
            Ok::<_, std::io::Error>(LlmResponse {
                output: vec![Message::new("assistant", "x".repeat(1000))],
                ..LlmResponse::default()
            })
        }));
    llm.oneshot(
        LlmRequest::chat("openai", "capture-test-model")
            .message(Message::new("system", "You are terse."))
            .message(Message::new("user", "Charge 4111-1111-1111-1111 please")),
    )
    .await
    .unwrap();
    let spans = exporter.get_finished_spans().unwrap();
    let span = spans
        .iter()
        .find(|s| s.name == "chat capture-test-model")
        .unwrap();
    let input = str_attr(span, "gen_ai.input.messages").unwrap();
    assert!(input.contains("[CARD]"), "{input}");
    assert!(
        !input.contains("4111"),
        "the unmasked card number was recorded: {input}"
    );
    let messages: serde_json::Value = serde_json::from_str(&input).unwrap();
    assert_eq!(messages[1]["role"], "user");
    assert_eq!(messages[1]["parts"][0]["content"], "Charge [CARD] please");
    assert_eq!(str_attr(span, "langfuse.observation.input").unwrap(), input);
    let output = str_attr(span, "gen_ai.output.messages").unwrap();
    assert!(output.len() <= 200, "{} bytes", output.len());
    assert!(output.ends_with(TRUNCATION_MARKER));
    // Nothing else carries the unmasked text.
    assert!(
        !span
            .attributes
            .iter()
            .any(|kv| kv.value.as_str().contains("4111"))
    );
}

#[tokio::test]
async fn a_stream_read_after_its_step_returned_keeps_the_steps_span_open() {
    observability();
    let (exporter, provider) = tracing();
    let llm = LlmLayer::new()
        .with_tracer_provider(&provider)
        .layer(service_fn(|_req: Request<LlmRequest>| async move {
            let chunks = [("Hel", 20), ("lo", 20)].map(|(delta, ms)| {
                (
                    ms,
                    LlmChunk {
                        delta: delta.into(),
                        ..LlmChunk::default()
                    },
                )
            });
            let stream = futures_util::stream::iter(chunks).then(|(ms, chunk)| async move {
                tokio::time::sleep(Duration::from_millis(ms)).await;
                Ok::<_, std::io::Error>(chunk)
            });
            Ok::<_, WorkflowError>(LlmStream::new(stream))
        }));
    let workflow = step(llm)
        .named("ask")
        .instrumented_with(Arc::new(Telemetry::with_tracer(provider.tracer("test"))));
    let stream = workflow
        .oneshot(Request::new(
            WorkflowContext::new("chat"),
            LlmRequest::chat("anthropic", "claude-nesting-test").streaming(),
        ))
        .await
        .unwrap();
    // The workflow has returned: its step completed. Read the stream now.
    let text: Vec<String> = stream.map(|c| c.unwrap().delta).collect().await;
    assert_eq!(text.concat(), "Hello");

    let spans = exporter.get_finished_spans().unwrap();
    let by_name = |n: &str| spans.iter().find(|s| s.name == n).unwrap();
    let (llm, ask, root) = (
        by_name("chat claude-nesting-test"),
        by_name("ask"),
        by_name("chat"),
    );
    assert_eq!(llm.parent_span_id, ask.span_context.span_id());
    assert_eq!(ask.parent_span_id, root.span_context.span_id());
    // The LLM span keeps the stream's real duration ...
    assert!(
        llm.end_time.duration_since(llm.start_time).unwrap() >= Duration::from_millis(40),
        "the LLM span covers the stream"
    );
    // ... and every span nests in time: the step's span (and the root's)
    // stays open until the stream's span ends.
    assert_eq!(
        tta_test_support::spans::not_nested_in_time(&spans),
        Vec::<String>::new()
    );
}
