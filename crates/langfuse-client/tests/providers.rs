//! The adapters on bodies shaped exactly as OpenAI and Anthropic document
//! them (their API references' examples, with cached and reasoning token
//! details filled in), complete and streamed, through the layer.

use futures_util::StreamExt;
use opentelemetry::Value;
use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracerProvider, SpanData};
use tower::{Layer, ServiceExt, service_fn};
use tta_langfuse::{
    LlmChunk, LlmLayer, LlmRequest, LlmResponse, LlmStream, Operation, Usage,
    providers::{anthropic, openai},
};

const OPENAI_CHAT_REQUEST: &str = r#"{
  "model": "gpt-4o",
  "messages": [
    {"role": "developer", "content": "You are a helpful assistant."},
    {"role": "user", "content": [{"type": "text", "text": "Hello!"}]}
  ],
  "temperature": 0.7,
  "top_p": 1,
  "max_completion_tokens": 256,
  "frequency_penalty": 0,
  "presence_penalty": 0.5,
  "stop": ["\n\n"],
  "seed": 42,
  "user": "user-123",
  "stream": true,
  "stream_options": {"include_usage": true}
}"#;

const OPENAI_CHAT_RESPONSE: &str = r#"{
  "id": "chatcmpl-B9MHDbslfkBeAs8l4bebGdFOJ6PeG",
  "object": "chat.completion",
  "created": 1741570283,
  "model": "gpt-4o-2024-08-06",
  "choices": [
    {
      "index": 0,
      "message": {"role": "assistant", "content": "Hello! How can I assist you today?", "refusal": null, "annotations": []},
      "logprobs": null,
      "finish_reason": "stop"
    }
  ],
  "usage": {
    "prompt_tokens": 1117,
    "completion_tokens": 46,
    "total_tokens": 1163,
    "prompt_tokens_details": {"cached_tokens": 1024, "audio_tokens": 0},
    "completion_tokens_details": {"reasoning_tokens": 12, "audio_tokens": 0, "accepted_prediction_tokens": 0, "rejected_prediction_tokens": 0}
  },
  "service_tier": "default",
  "system_fingerprint": "fp_fc9f1d7035"
}"#;

const OPENAI_CHAT_STREAM: &[&str] = &[
    r#"{"id":"chatcmpl-123","object":"chat.completion.chunk","created":1694268190,"model":"gpt-4o-mini-2024-07-18","system_fingerprint":"fp_44709d6fcb","choices":[{"index":0,"delta":{"role":"assistant","content":""},"logprobs":null,"finish_reason":null}],"usage":null}"#,
    r#"{"id":"chatcmpl-123","object":"chat.completion.chunk","created":1694268190,"model":"gpt-4o-mini-2024-07-18","system_fingerprint":"fp_44709d6fcb","choices":[{"index":0,"delta":{"content":"Hello"},"logprobs":null,"finish_reason":null}],"usage":null}"#,
    r#"{"id":"chatcmpl-123","object":"chat.completion.chunk","created":1694268190,"model":"gpt-4o-mini-2024-07-18","system_fingerprint":"fp_44709d6fcb","choices":[{"index":0,"delta":{},"logprobs":null,"finish_reason":"stop"}],"usage":null}"#,
    r#"{"id":"chatcmpl-123","object":"chat.completion.chunk","created":1694268190,"model":"gpt-4o-mini-2024-07-18","system_fingerprint":"fp_44709d6fcb","choices":[],"usage":{"prompt_tokens":9,"completion_tokens":12,"total_tokens":21,"prompt_tokens_details":{"cached_tokens":0},"completion_tokens_details":{"reasoning_tokens":0}}}"#,
];

const OPENAI_RESPONSES_REQUEST: &str = r#"{
  "model": "o4-mini",
  "instructions": "Answer briefly.",
  "input": [{"role": "user", "content": [{"type": "input_text", "text": "Tell me a three sentence bedtime story about a unicorn."}]}],
  "max_output_tokens": 500,
  "reasoning": {"effort": "medium"},
  "stream": false
}"#;

const OPENAI_RESPONSE: &str = r#"{
  "id": "resp_67ccd2bed1ec8190b14f964abc0542670bb6a6b452d3795b",
  "object": "response",
  "created_at": 1741476542,
  "status": "completed",
  "error": null,
  "incomplete_details": null,
  "instructions": null,
  "max_output_tokens": null,
  "model": "o4-mini-2025-04-16",
  "output": [
    {"type": "reasoning", "id": "rs_1", "summary": []},
    {
      "type": "message",
      "id": "msg_67ccd2bf17f0819081ff3bb2cf6508e60bb6a6b452d3795b",
      "status": "completed",
      "role": "assistant",
      "content": [{"type": "output_text", "text": "In a peaceful grove beneath a silver moon...", "annotations": []}]
    }
  ],
  "parallel_tool_calls": true,
  "usage": {
    "input_tokens": 36,
    "input_tokens_details": {"cached_tokens": 0},
    "output_tokens": 87,
    "output_tokens_details": {"reasoning_tokens": 64},
    "total_tokens": 123
  }
}"#;

const OPENAI_RESPONSES_STREAM: &[&str] = &[
    r#"{"type":"response.created","sequence_number":0,"response":{"id":"resp_1","object":"response","created_at":1741290958,"status":"in_progress","model":"gpt-4.1-2025-04-14","output":[],"usage":null}}"#,
    r#"{"type":"response.in_progress","sequence_number":1,"response":{"id":"resp_1","object":"response","created_at":1741290958,"status":"in_progress","model":"gpt-4.1-2025-04-14","output":[],"usage":null}}"#,
    r#"{"type":"response.output_item.added","sequence_number":2,"output_index":0,"item":{"id":"msg_1","type":"message","status":"in_progress","role":"assistant","content":[]}}"#,
    r#"{"type":"response.output_text.delta","sequence_number":3,"item_id":"msg_1","output_index":0,"content_index":0,"delta":"Hi"}"#,
    r#"{"type":"response.output_text.delta","sequence_number":4,"item_id":"msg_1","output_index":0,"content_index":0,"delta":" there!"}"#,
    r#"{"type":"response.output_text.done","sequence_number":5,"item_id":"msg_1","output_index":0,"content_index":0,"text":"Hi there!"}"#,
    r#"{"type":"response.completed","sequence_number":6,"response":{"id":"resp_1","object":"response","created_at":1741290958,"status":"completed","model":"gpt-4.1-2025-04-14","output":[{"id":"msg_1","type":"message","status":"completed","role":"assistant","content":[{"type":"output_text","text":"Hi there!","annotations":[]}]}],"usage":{"input_tokens":37,"input_tokens_details":{"cached_tokens":32},"output_tokens":11,"output_tokens_details":{"reasoning_tokens":0},"total_tokens":48}}}"#,
];

const ANTHROPIC_REQUEST: &str = r#"{
  "model": "claude-sonnet-4-20250514",
  "max_tokens": 1024,
  "system": [{"type": "text", "text": "You are a pirate.", "cache_control": {"type": "ephemeral"}}],
  "messages": [{"role": "user", "content": "Hello, world"}],
  "temperature": 1.0,
  "top_k": 5,
  "stop_sequences": ["END"],
  "metadata": {"user_id": "13803d75-b4b5-4c3e-b2a2-6f21399b021b"},
  "stream": true
}"#;

const ANTHROPIC_RESPONSE: &str = r#"{
  "id": "msg_013Zva2CMHLNnXjNJJKqJ2EF",
  "type": "message",
  "role": "assistant",
  "model": "claude-sonnet-4-20250514",
  "content": [{"type": "text", "text": "Ahoy, world!"}],
  "stop_reason": "end_turn",
  "stop_sequence": null,
  "usage": {
    "input_tokens": 21,
    "cache_creation_input_tokens": 188,
    "cache_read_input_tokens": 1800,
    "output_tokens": 393,
    "service_tier": "standard"
  }
}"#;

const ANTHROPIC_STREAM: &[&str] = &[
    r#"{"type":"message_start","message":{"id":"msg_1nZdL29xx5MUA1yADyHTEsnR8uuvGzszyY","type":"message","role":"assistant","content":[],"model":"claude-sonnet-4-20250514","stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":25,"cache_creation_input_tokens":0,"cache_read_input_tokens":100,"output_tokens":1}}}"#,
    r#"{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}"#,
    r#"{"type":"ping"}"#,
    r#"{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Hello"}}"#,
    r#"{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"!"}}"#,
    r#"{"type":"content_block_stop","index":0}"#,
    r#"{"type":"message_delta","delta":{"stop_reason":"end_turn","stop_sequence":null},"usage":{"output_tokens":15}}"#,
    r#"{"type":"message_stop"}"#,
];

#[test]
fn openai_chat_completion_bodies_map_onto_the_common_types() {
    let req: openai::ChatCompletionRequest = serde_json::from_str(OPENAI_CHAT_REQUEST).unwrap();
    let req = req.to_llm_request();
    assert_eq!(req.provider, "openai");
    assert_eq!(req.operation, Operation::Chat);
    assert_eq!(req.model, "gpt-4o");
    assert_eq!(req.messages.len(), 2);
    assert_eq!(req.messages[0].role, "developer");
    assert_eq!(req.messages[1].content, "Hello!");
    assert_eq!(req.parameters.temperature, Some(0.7));
    assert_eq!(req.parameters.max_tokens, Some(256));
    assert_eq!(req.parameters.presence_penalty, Some(0.5));
    assert_eq!(req.parameters.stop_sequences, ["\n\n"]);
    assert_eq!(req.parameters.seed, Some(42));
    assert!(req.stream);
    assert_eq!(req.langfuse.user_id.as_deref(), Some("user-123"));

    let resp: openai::ChatCompletion = serde_json::from_str(OPENAI_CHAT_RESPONSE).unwrap();
    let resp = resp.to_llm_response();
    assert_eq!(resp.model.as_deref(), Some("gpt-4o-2024-08-06"));
    assert_eq!(resp.finish_reasons, ["stop"]);
    assert_eq!(resp.output[0].content, "Hello! How can I assist you today?");
    assert_eq!(
        resp.usage,
        Some(Usage {
            input_tokens: 1117,
            output_tokens: 46,
            cache_read_input_tokens: 1024,
            cache_creation_input_tokens: 0,
            reasoning_tokens: 12,
        })
    );
}

#[test]
fn openai_responses_bodies_map_onto_the_common_types() {
    let req: openai::ResponsesRequest = serde_json::from_str(OPENAI_RESPONSES_REQUEST).unwrap();
    let req = req.to_llm_request();
    assert_eq!(req.operation, Operation::GenerateContent);
    assert_eq!(req.messages[0].role, "system");
    assert_eq!(req.messages[0].content, "Answer briefly.");
    assert!(
        req.messages[1]
            .content
            .starts_with("Tell me a three sentence")
    );
    assert_eq!(req.parameters.max_tokens, Some(500));

    let resp: openai::Response = serde_json::from_str(OPENAI_RESPONSE).unwrap();
    let resp = resp.to_llm_response();
    assert_eq!(resp.finish_reasons, ["stop"]);
    assert_eq!(resp.output.len(), 1, "reasoning items are not messages");
    assert_eq!(
        resp.usage,
        Some(Usage {
            input_tokens: 36,
            output_tokens: 87,
            reasoning_tokens: 64,
            ..Usage::default()
        })
    );
    let incomplete: openai::Response = serde_json::from_str(
        r#"{"id":"resp_2","model":"o4-mini","status":"incomplete","incomplete_details":{"reason":"max_output_tokens"},"output":[]}"#,
    )
    .unwrap();
    assert_eq!(incomplete.to_llm_response().finish_reasons, ["length"]);
}

#[test]
fn anthropic_message_bodies_map_onto_the_common_types() {
    let req: anthropic::MessagesRequest = serde_json::from_str(ANTHROPIC_REQUEST).unwrap();
    let req = req.to_llm_request();
    assert_eq!(req.provider, "anthropic");
    assert_eq!(req.messages[0].role, "system");
    assert_eq!(req.messages[0].content, "You are a pirate.");
    assert_eq!(req.messages[1].content, "Hello, world");
    assert_eq!(req.parameters.max_tokens, Some(1024));
    assert_eq!(req.parameters.top_k, Some(5.0));
    assert_eq!(req.parameters.stop_sequences, ["END"]);
    assert_eq!(
        req.langfuse.user_id.as_deref(),
        Some("13803d75-b4b5-4c3e-b2a2-6f21399b021b")
    );

    let resp: anthropic::MessagesResponse = serde_json::from_str(ANTHROPIC_RESPONSE).unwrap();
    let resp = resp.to_llm_response();
    assert_eq!(resp.finish_reasons, ["end_turn"]);
    assert_eq!(resp.output[0].content, "Ahoy, world!");
    // Anthropic's input_tokens excludes cache reads and writes; ours includes them.
    assert_eq!(
        resp.usage,
        Some(Usage {
            input_tokens: 21 + 188 + 1800,
            output_tokens: 393,
            cache_read_input_tokens: 1800,
            cache_creation_input_tokens: 188,
            reasoning_tokens: 0,
        })
    );
    let error: anthropic::StreamEvent = serde_json::from_str(
        r#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#,
    )
    .unwrap();
    assert!(
        matches!(&error, anthropic::StreamEvent::Error { error } if error.kind == "overloaded_error")
    );
    assert_eq!(error.to_llm_chunk(), None);
}

fn span<'a>(spans: &'a [SpanData], name: &str) -> &'a SpanData {
    spans
        .iter()
        .find(|s| s.name == name)
        .unwrap_or_else(|| panic!("no span {name}"))
}

fn int(span: &SpanData, key: &str) -> Option<i64> {
    span.attributes
        .iter()
        .find(|kv| kv.key.as_str() == key)
        .map(|kv| match kv.value {
            Value::I64(i) => i,
            ref other => panic!("{key}: {other:?}"),
        })
}

/// Streams `chunks` through the layer and returns the finished LLM span.
async fn stream_through_layer(request: LlmRequest, chunks: Vec<LlmChunk>) -> (SpanData, String) {
    let exporter = InMemorySpanExporter::default();
    let provider = SdkTracerProvider::builder()
        .with_simple_exporter(exporter.clone())
        .build();
    let name = format!("{} {}", request.operation.as_str(), request.model);
    let llm = LlmLayer::new()
        .with_tracer_provider(&provider)
        .layer(service_fn(move |_req: LlmRequest| {
            let chunks = chunks.clone();
            async move {
                Ok::<_, std::io::Error>(LlmStream::new(futures_util::stream::iter(
                    chunks.into_iter().map(Ok::<_, std::io::Error>),
                )))
            }
        }));
    let stream = llm.oneshot(request).await.unwrap();
    let text: String = stream
        .map(|c| c.unwrap().delta)
        .collect::<Vec<_>>()
        .await
        .concat();
    let spans = exporter.get_finished_spans().unwrap();
    (span(&spans, &name).clone(), text)
}

/// Parses each sample of a provider's stream and keeps the chunks it carries.
fn parse_stream<T: serde::de::DeserializeOwned>(
    samples: &[&str],
    to_chunk: impl Fn(T) -> Option<LlmChunk>,
) -> Vec<LlmChunk> {
    samples
        .iter()
        .filter_map(|c| to_chunk(serde_json::from_str(c).unwrap()))
        .collect()
}

#[tokio::test]
async fn streams_of_every_provider_yield_their_usage_on_the_span() {
    // OpenAI chat completions: usage in the last chunk.
    let req: openai::ChatCompletionRequest = serde_json::from_str(OPENAI_CHAT_REQUEST).unwrap();
    let chunks = parse_stream(OPENAI_CHAT_STREAM, |c: openai::ChatCompletionChunk| {
        Some(c.to_llm_chunk())
    });
    let (span, text) = stream_through_layer(req.to_llm_request(), chunks).await;
    assert_eq!(text, "Hello");
    assert_eq!(int(&span, "gen_ai.usage.input_tokens"), Some(9));
    assert_eq!(int(&span, "gen_ai.usage.output_tokens"), Some(12));

    // OpenAI responses: usage in `response.completed`; other events carry nothing.
    let req: openai::ResponsesRequest = serde_json::from_str(OPENAI_RESPONSES_REQUEST).unwrap();
    let chunks = parse_stream(OPENAI_RESPONSES_STREAM, |e: openai::ResponseStreamEvent| {
        e.to_llm_chunk()
    });
    let (span, text) = stream_through_layer(req.to_llm_request(), chunks).await;
    assert_eq!(text, "Hi there!");
    assert_eq!(int(&span, "gen_ai.usage.input_tokens"), Some(37));
    assert_eq!(int(&span, "gen_ai.usage.cache_read.input_tokens"), Some(32));
    assert_eq!(int(&span, "gen_ai.usage.output_tokens"), Some(11));

    // Anthropic: input usage in `message_start`, cumulative output in `message_delta`.
    let req: anthropic::MessagesRequest = serde_json::from_str(ANTHROPIC_REQUEST).unwrap();
    let chunks = parse_stream(ANTHROPIC_STREAM, |e: anthropic::StreamEvent| {
        e.to_llm_chunk()
    });
    let (span, text) = stream_through_layer(req.to_llm_request(), chunks).await;
    assert_eq!(text, "Hello!");
    assert_eq!(int(&span, "gen_ai.usage.input_tokens"), Some(125));
    assert_eq!(
        int(&span, "gen_ai.usage.cache_read.input_tokens"),
        Some(100)
    );
    assert_eq!(int(&span, "gen_ai.usage.output_tokens"), Some(15));
    let reasons = span
        .attributes
        .iter()
        .find(|kv| kv.key.as_str() == "gen_ai.response.finish_reasons")
        .map(|kv| kv.value.to_string());
    assert!(
        reasons.as_deref().is_some_and(|r| r.contains("end_turn")),
        "{reasons:?}"
    );
}

#[test]
fn a_complete_response_passes_through_unchanged() {
    let resp: openai::ChatCompletion = serde_json::from_str(OPENAI_CHAT_RESPONSE).unwrap();
    let expected: LlmResponse = resp.to_llm_response();
    let llm = LlmLayer::new()
        .metrics_only()
        .layer(service_fn(move |_req: LlmRequest| {
            let resp = resp.clone();
            async move { Ok::<_, std::io::Error>(resp.to_llm_response()) }
        }));
    let got = tta_test_support::runtime()
        .block_on(llm.oneshot(LlmRequest::chat("openai", "gpt-4o")))
        .unwrap();
    assert_eq!(got, expected);
}
