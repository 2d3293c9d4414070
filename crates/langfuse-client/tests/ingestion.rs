//! The batch ingestion client against a fault-injecting local server (429
//! with Retry-After, 500, slow answers, connections cut mid-request, 207
//! with partial errors): nothing accepted is lost, nothing is duplicated,
//! every body validates against the official Langfuse OpenAPI spec.
//!
//! The server speaks HTTP/1.1 over a raw socket, so it can cut a request
//! in the middle.

use std::{
    collections::{BTreeSet, HashMap, VecDeque},
    io::Read as _,
    net::SocketAddr,
    sync::{Arc, Mutex, OnceLock},
    time::{Duration, Instant},
};

use base64::Engine as _;
use opentelemetry::trace::{Span as _, Status, TraceContextExt, Tracer, TracerProvider as _};
use opentelemetry_sdk::trace::SdkTracerProvider;
use serde_json::Value;
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::{TcpListener, TcpStream},
};
use tower::{Layer, ServiceExt, service_fn};
use tta_langfuse::{
    LangfuseConfig, LlmLayer, LlmRequest, LlmResponse, Message, Usage,
    ingestion::{
        DeliveryError, EnqueueError, GenerationBody, IngestionClient, IngestionEvent,
        IngestionSettings, IngestionSpanExporter, Level, ObservationEventBody, ScoreBody, SpanBody,
        TraceBody,
    },
};
use tta_test_support::specs::OpenApiSchemas;

const PUBLIC: &str = "pk-lf-test";
const SECRET: &str = "sk-lf-do-not-print-me";

#[derive(Debug, Clone)]
enum Fault {
    /// 429 with `Retry-After: n` seconds; nothing accepted.
    TooManyRequests(u64),
    /// A plain status; nothing accepted.
    Status(u16),
    /// Reads half the body, then closes the connection.
    CutMidRequest,
    /// Accepts everything, answers after the delay.
    Slow(Duration),
    /// Rejects the first `rejected` events with 400 and fails the next
    /// `failed` with 500; accepts the rest.
    Partial { rejected: usize, failed: usize },
}

#[derive(Debug)]
struct Received {
    at: Instant,
    uncompressed_len: usize,
    gzip: bool,
    authorization: Option<String>,
    body: Value,
}

#[derive(Default)]
struct State {
    script: VecDeque<Fault>,
    always: Option<u16>,
    requests: Vec<Received>,
    /// Event id -> the event, for every event the server accepted.
    accepted: HashMap<String, Value>,
    /// Accepted event ids that arrived again (deduplicated by id).
    redelivered: Vec<String>,
    rejected: BTreeSet<String>,
    /// The index in `requests` of the request whose events were rejected.
    rejecting_request: Option<usize>,
}

struct FakeLangfuse {
    addr: SocketAddr,
    state: Arc<Mutex<State>>,
}

impl FakeLangfuse {
    async fn start(script: Vec<Fault>) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let state = Arc::new(Mutex::new(State {
            script: script.into(),
            ..State::default()
        }));
        let shared = Arc::clone(&state);
        tokio::spawn(async move {
            loop {
                let (socket, _) = listener.accept().await.unwrap();
                tokio::spawn(serve(socket, Arc::clone(&shared)));
            }
        });
        Self { addr, state }
    }

    fn config(&self) -> LangfuseConfig {
        LangfuseConfig::new(PUBLIC, SECRET, format!("http://{}", self.addr))
            .unwrap()
            .timeout(Duration::from_millis(700))
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap()
    }
}

async fn serve(mut socket: TcpStream, state: Arc<Mutex<State>>) {
    let mut buffer = Vec::new();
    loop {
        // Headers.
        let header_end = loop {
            if let Some(end) = find(&buffer, b"\r\n\r\n") {
                break end + 4;
            }
            let mut chunk = [0u8; 8192];
            match socket.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => buffer.extend_from_slice(&chunk[..n]),
            }
        };
        let head = String::from_utf8_lossy(&buffer[..header_end]).to_string();
        let header = |name: &str| {
            head.lines().find_map(|l| {
                let (k, v) = l.split_once(':')?;
                k.trim()
                    .eq_ignore_ascii_case(name)
                    .then(|| v.trim().to_owned())
            })
        };
        assert!(
            head.starts_with("POST /api/public/ingestion HTTP/1.1"),
            "{head}"
        );
        let length: usize = header("content-length").unwrap().parse().unwrap();
        let fault = {
            let mut s = state.lock().unwrap();
            s.script.pop_front()
        };
        if matches!(fault, Some(Fault::CutMidRequest)) {
            while buffer.len() < header_end + length / 2 {
                let mut chunk = [0u8; 8192];
                match socket.read(&mut chunk).await {
                    Ok(0) | Err(_) => return,
                    Ok(n) => buffer.extend_from_slice(&chunk[..n]),
                }
            }
            return; // the connection drops with the request half read
        }
        while buffer.len() < header_end + length {
            let mut chunk = [0u8; 65536];
            match socket.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => buffer.extend_from_slice(&chunk[..n]),
            }
        }
        let raw: Vec<u8> = buffer
            .drain(..header_end + length)
            .skip(header_end)
            .collect();
        let gzip = header("content-encoding").as_deref() == Some("gzip");
        let bytes = if gzip {
            let mut out = Vec::new();
            flate2::read::GzDecoder::new(&raw[..])
                .read_to_end(&mut out)
                .unwrap();
            out
        } else {
            raw
        };
        let body: Value = serde_json::from_slice(&bytes).expect("the body is JSON");
        let events = body["batch"].as_array().cloned().unwrap_or_default();
        let (status, extra_headers, answer, delay) = {
            let mut s = state.lock().unwrap();
            s.requests.push(Received {
                at: Instant::now(),
                uncompressed_len: bytes.len(),
                gzip,
                authorization: header("authorization"),
                body: body.clone(),
            });
            let accept = |s: &mut State, events: &[Value]| {
                for e in events {
                    let id = e["id"].as_str().unwrap().to_owned();
                    match s.accepted.get(&id) {
                        Some(previous) => {
                            assert_eq!(previous, e, "event {id} came back with other content");
                            s.redelivered.push(id);
                        }
                        None => {
                            s.accepted.insert(id, e.clone());
                        }
                    }
                }
            };
            let fault = fault.or(s.always.map(Fault::Status));
            match fault {
                None => {
                    accept(&mut s, &events);
                    (207, String::new(), success(&events, 0, 0), None)
                }
                Some(Fault::TooManyRequests(secs)) => {
                    (429, format!("retry-after: {secs}\r\n"), "{}".into(), None)
                }
                Some(Fault::Status(code)) => (code, String::new(), "{}".into(), None),
                Some(Fault::Slow(delay)) => {
                    accept(&mut s, &events);
                    (207, String::new(), success(&events, 0, 0), Some(delay))
                }
                Some(Fault::Partial { rejected, failed }) => {
                    accept(&mut s, &events[rejected + failed..]);
                    for e in &events[..rejected] {
                        s.rejected.insert(e["id"].as_str().unwrap().to_owned());
                    }
                    s.rejecting_request = Some(s.requests.len() - 1);
                    (207, String::new(), success(&events, rejected, failed), None)
                }
                Some(Fault::CutMidRequest) => unreachable!(),
            }
        };
        if let Some(delay) = delay {
            tokio::time::sleep(delay).await;
        }
        let response = format!(
            "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\n{extra_headers}content-length: {}\r\n\r\n{answer}",
            answer.len()
        );
        if socket.write_all(response.as_bytes()).await.is_err() {
            return;
        }
    }
}

/// A 207 body: the first `rejected` events fail with 400, the next
/// `failed` with 500, the rest succeed.
fn success(events: &[Value], rejected: usize, failed: usize) -> String {
    let mut successes = Vec::new();
    let mut errors = Vec::new();
    for (i, e) in events.iter().enumerate() {
        let id = e["id"].clone();
        if i < rejected {
            errors.push(serde_json::json!({"id": id, "status": 400, "message": "Invalid request data", "error": "bad score"}));
        } else if i < rejected + failed {
            errors.push(serde_json::json!({"id": id, "status": 500, "message": "Internal error"}));
        } else {
            successes.push(serde_json::json!({"id": id, "status": 201}));
        }
    }
    serde_json::json!({"successes": successes, "errors": errors}).to_string()
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

fn fast_retries() -> IngestionSettings {
    IngestionSettings {
        backoff_base: Duration::from_millis(20),
        backoff_max: Duration::from_secs(2),
        flush_interval: Duration::from_millis(50),
        ..IngestionSettings::default()
    }
}

fn score(i: usize) -> IngestionEvent {
    IngestionEvent::score_create(
        ScoreBody::numeric("accuracy", i as f64 / 100.0)
            .on_trace(format!("{i:032x}"))
            .comment(format!("score {i}")),
    )
}

/// The spec's schemas, loaded once.
fn spec() -> &'static OpenApiSchemas {
    static SPEC: OnceLock<OpenApiSchemas> = OnceLock::new();
    SPEC.get_or_init(|| OpenApiSchemas::load("langfuse-openapi.yml"))
}

/// Validates a request body against the spec's request schema of
/// `POST /api/public/ingestion`, and checks that every field we send is one
/// the spec defines (the schemas allow extra fields; a misspelt one would
/// pass validation and be ignored by the server).
fn assert_valid_request(body: &Value) {
    let document = tta_test_support::specs::load_spec("langfuse-openapi.yml");
    let schema = &document["paths"]["/api/public/ingestion"]["post"]["requestBody"]["content"]["application/json"]
        ["schema"];
    assert!(
        schema.is_object(),
        "the spec has no ingestion request schema"
    );
    let validator = spec().validator_for(schema);
    let errors: Vec<String> = validator
        .iter_errors(body)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect();
    assert!(
        errors.is_empty(),
        "the body does not validate: {errors:#?}\n{body:#}"
    );
    for event in body["batch"].as_array().unwrap() {
        let envelope: BTreeSet<&str> = event
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        assert!(
            envelope.is_subset(&BTreeSet::from([
                "id",
                "timestamp",
                "type",
                "body",
                "metadata"
            ])),
            "{envelope:?}"
        );
        let schema = match event["type"].as_str().unwrap() {
            "trace-create" => "TraceBody",
            "span-create" => "CreateSpanBody",
            "generation-create" => "CreateGenerationBody",
            "event-create" => "CreateEventBody",
            "score-create" => "ScoreBody",
            other => panic!("unexpected event type {other}"),
        };
        let known = spec().properties(schema);
        for key in event["body"].as_object().unwrap().keys() {
            assert!(
                known.contains(key),
                "{schema} has no field `{key}`: {event:#}"
            );
        }
    }
}

#[tokio::test]
async fn every_body_sent_validates_against_the_langfuse_spec() {
    let server = FakeLangfuse::start(vec![]).await;
    let client = IngestionClient::start(&server.config(), fast_retries()).unwrap();
    let trace_id = "4bf92f3577b34da6a3ce929d0e0e4736";

    // Every event type built by hand, with every field filled.
    client
        .enqueue(IngestionEvent::trace_create(TraceBody {
            id: Some(trace_id.into()),
            timestamp: Some("2026-11-28T10:00:00.000000Z".into()),
            name: Some("support".into()),
            user_id: Some("user-7".into()),
            session_id: Some("session-3".into()),
            release: Some("1.4.2".into()),
            version: Some("v2".into()),
            environment: Some("production".into()),
            tags: vec!["beta".into()],
            metadata: Some(serde_json::json!({"team": "payments"})),
            input: Some(serde_json::json!("question")),
            output: Some(serde_json::json!({"answer": 42})),
        }))
        .unwrap();
    let observation = ObservationEventBody {
        id: Some("00f067aa0ba902b7".into()),
        trace_id: Some(trace_id.into()),
        name: Some("summarise".into()),
        start_time: Some("2026-11-28T10:00:00.100000Z".into()),
        metadata: Some(serde_json::json!({"k": "v"})),
        input: Some(serde_json::json!([{"role": "user", "content": "hi"}])),
        output: Some(serde_json::json!("hello")),
        level: Some(Level::Warning),
        status_message: Some("slow".into()),
        parent_observation_id: Some("00f067aa0ba902b8".into()),
        environment: Some("production".into()),
    };
    let span = SpanBody {
        observation: observation.clone(),
        end_time: Some("2026-11-28T10:00:01.000000Z".into()),
    };
    client
        .enqueue(IngestionEvent::span_create(span.clone()))
        .unwrap();
    client
        .enqueue(IngestionEvent::generation_create(GenerationBody {
            span,
            completion_start_time: Some("2026-11-28T10:00:00.400000Z".into()),
            model: Some("gpt-4o-2024-08-06".into()),
            model_parameters: [
                ("temperature".to_owned(), "0.2".to_owned()),
                ("max_tokens".to_owned(), "200".to_owned()),
            ]
            .into(),
            usage_details: [
                ("input".to_owned(), 100),
                ("output".to_owned(), 20),
                ("input_cache_read".to_owned(), 50),
            ]
            .into(),
            cost_details: [("input".to_owned(), 0.00025), ("total".to_owned(), 0.00045)].into(),
            prompt_name: Some("summary".into()),
            prompt_version: Some(3),
        }))
        .unwrap();
    client
        .enqueue(IngestionEvent::event_create(observation))
        .unwrap();
    client
        .enqueue(IngestionEvent::score_create(
            ScoreBody::numeric("accuracy", 0.75)
                .on_trace(trace_id)
                .comment("ok"),
        ))
        .unwrap();
    client
        .enqueue(IngestionEvent::score_create(
            ScoreBody::boolean("correct", true).on_observation(trace_id, "00f067aa0ba902b7"),
        ))
        .unwrap();
    client
        .enqueue(IngestionEvent::score_create(
            ScoreBody::categorical("tone", "friendly").on_trace(trace_id),
        ))
        .unwrap();

    // And the events the span exporter makes from a real LLM workflow's
    // spans: a root span, a generation, a failed span with its exception event.
    let provider = SdkTracerProvider::builder()
        .with_simple_exporter(IngestionSpanExporter::new(client.clone()))
        .build();
    let tracer = provider.tracer("test");
    let llm = LlmLayer::new()
        .with_tracer_provider(&provider)
        .layer(service_fn(|_req: LlmRequest| async move {
            Ok::<_, std::io::Error>(LlmResponse {
                model: Some("gpt-4o-mini-2024-07-18".into()),
                usage: Some(Usage {
                    input_tokens: 300,
                    output_tokens: 40,
                    cache_read_input_tokens: 100,
                    ..Usage::default()
                }),
                finish_reasons: vec!["stop".into()],
                ..LlmResponse::default()
            })
        }));
    let root = tracer.start("handle_request");
    let cx = opentelemetry::Context::current_with_span(root);
    {
        let _guard = cx.clone().attach();
        llm.oneshot(
            LlmRequest::chat("openai", "gpt-4o-mini")
                .message(Message::new("user", "hi"))
                .temperature(0.5)
                .max_tokens(64)
                .user("user-9")
                .session("session-9")
                .prompt("greeting", 2),
        )
        .await
        .unwrap();
        let mut failed = tracer.start("charge_card");
        failed.record_error(&std::io::Error::other("card declined"));
        failed.set_status(Status::error("card declined"));
        failed.end();
    }
    cx.span().end();
    client.flush().await.unwrap();

    let state = server.state();
    let mut types = BTreeSet::new();
    for request in &state.requests {
        assert_valid_request(&request.body);
        for e in request.body["batch"].as_array().unwrap() {
            types.insert(e["type"].as_str().unwrap().to_owned());
        }
    }
    assert_eq!(
        types,
        BTreeSet::from(
            [
                "trace-create",
                "span-create",
                "generation-create",
                "event-create",
                "score-create"
            ]
            .map(String::from)
        )
    );
    // The generation from the layer's span carries model, usage and cost.
    let generation = state
        .accepted
        .values()
        .find(|e| e["type"] == "generation-create" && e["body"]["name"] == "chat gpt-4o-mini")
        .expect("the LLM span became a generation");
    let body = &generation["body"];
    assert_eq!(body["model"], "gpt-4o-mini-2024-07-18");
    assert_eq!(
        body["usageDetails"],
        serde_json::json!({"input": 200, "input_cache_read": 100, "output": 40})
    );
    assert!(body["costDetails"]["total"].as_f64().unwrap() > 0.0);
    assert_eq!(
        body["modelParameters"],
        serde_json::json!({"temperature": "0.5", "max_tokens": "64"})
    );
    assert_eq!(body["promptName"], "greeting");
    assert_eq!(body["promptVersion"], 2);
    let trace_user = state.accepted.values().any(|e| {
        e["type"] == "trace-create"
            && e["body"]["userId"] == "user-9"
            && e["body"]["sessionId"] == "session-9"
    });
    assert!(
        trace_user,
        "the generation's trace attributes became a trace-create"
    );
    let error_span = state
        .accepted
        .values()
        .find(|e| e["type"] == "span-create" && e["body"]["name"] == "charge_card")
        .unwrap();
    assert_eq!(error_span["body"]["level"], "ERROR");
    assert!(
        state
            .accepted
            .values()
            .any(|e| e["type"] == "event-create" && e["body"]["name"] == "exception")
    );
    // Basic auth with the project's keys, gzip bodies.
    let expected = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{PUBLIC}:{SECRET}"))
    );
    assert!(
        state
            .requests
            .iter()
            .all(|r| r.authorization.as_deref() == Some(expected.as_str()) && r.gzip)
    );
}

#[tokio::test]
async fn faults_lose_nothing_accepted_and_duplicate_nothing() {
    let server = FakeLangfuse::start(vec![
        Fault::TooManyRequests(1),
        Fault::Status(500),
        Fault::CutMidRequest,
        Fault::Partial {
            rejected: 2,
            failed: 3,
        },
        Fault::Slow(Duration::from_millis(1500)),
        Fault::Status(503),
    ])
    .await;
    let settings = IngestionSettings {
        flush_at_events: 10,
        ..fast_retries()
    };
    let client = IngestionClient::start(&server.config(), settings).unwrap();
    let mut ids = BTreeSet::new();
    for i in 0..60 {
        let event = score(i);
        ids.insert(event.id().to_owned());
        client.enqueue(event).unwrap();
        if i % 7 == 0 {
            tokio::task::yield_now().await;
        }
    }
    client.flush().await.unwrap();

    let state = server.state();
    assert_eq!(state.rejected.len(), 2, "the 207 rejected two events");
    let delivered: BTreeSet<String> = state.accepted.keys().cloned().collect();
    let expected: BTreeSet<String> = ids.difference(&state.rejected).cloned().collect();
    assert_eq!(
        delivered, expected,
        "every event not rejected was delivered"
    );
    // A 4xx event error is not retried: no later request carries those ids.
    let partial = state.rejecting_request.unwrap();
    for later in &state.requests[partial + 1..] {
        for e in later.body["batch"].as_array().unwrap() {
            assert!(
                !state.rejected.contains(e["id"].as_str().unwrap()),
                "a rejected event was sent again"
            );
        }
    }
    // The slow answer made the client retry what the server had accepted:
    // those came back with the same ids (and content), so they deduplicate.
    assert!(
        !state.redelivered.is_empty(),
        "the slow response caused a retry"
    );
    let stats = client.stats();
    assert_eq!(stats.sent.load(std::sync::atomic::Ordering::Relaxed), 58);
    assert_eq!(
        stats
            .dropped_rejected
            .load(std::sync::atomic::Ordering::Relaxed),
        2
    );
    assert_eq!(stats.dropped(), 2);
    // Retry-After: 1 was honoured.
    let first = &state.requests[0];
    let second = &state.requests[1];
    assert!(
        second.at.duration_since(first.at) >= Duration::from_millis(950),
        "retried {:?} after a 429 with Retry-After: 1",
        second.at.duration_since(first.at)
    );
    for request in &state.requests {
        assert_valid_request(&request.body);
    }
}

#[tokio::test]
async fn batches_stay_under_the_size_limit_and_an_oversized_event_is_refused_alone() {
    let server = FakeLangfuse::start(vec![]).await;
    let settings = IngestionSettings {
        max_batch_bytes: 40_000,
        max_event_bytes: 20_000,
        flush_at_events: 1000,
        flush_interval: Duration::from_secs(3600),
        ..fast_retries()
    };
    let client = IngestionClient::start(&server.config(), settings).unwrap();
    let mut ids = BTreeSet::new();
    for i in 0..20 {
        let event = IngestionEvent::score_create(
            ScoreBody::numeric("long", 1.0)
                .on_trace(format!("{i:032x}"))
                .comment("x".repeat(5000)),
        );
        ids.insert(event.id().to_owned());
        client.enqueue(event).unwrap();
        if i == 10 {
            let huge = IngestionEvent::score_create(
                ScoreBody::numeric("huge", 1.0).comment("y".repeat(30_000)),
            );
            let huge_id = huge.id().to_owned();
            let err = client.enqueue(huge).unwrap_err();
            assert!(matches!(&err, EnqueueError::TooLarge { id, .. } if *id == huge_id));
            assert!(err.to_string().contains("max_event_bytes"), "{err}");
        }
    }
    client.flush().await.unwrap();
    let state = server.state();
    assert!(
        state.requests.len() >= 3,
        "20 events of 5 kB need several 40 kB batches"
    );
    assert!(state.requests.iter().all(|r| r.uncompressed_len <= 40_000));
    assert_eq!(state.accepted.keys().cloned().collect::<BTreeSet<_>>(), ids);
    assert_eq!(
        client
            .stats()
            .dropped_too_large
            .load(std::sync::atomic::Ordering::Relaxed),
        1
    );
}

#[tokio::test]
async fn a_full_queue_drops_and_counts_instead_of_blocking() {
    let server = FakeLangfuse::start(vec![Fault::Slow(Duration::from_millis(300)); 50]).await;
    let settings = IngestionSettings {
        max_queue_events: 10,
        flush_at_events: 5,
        ..fast_retries()
    };
    let client = IngestionClient::start(&server.config(), settings).unwrap();
    let started = Instant::now();
    let mut full = 0u64;
    let mut queued = BTreeSet::new();
    for i in 0..500 {
        let event = score(i);
        let id = event.id().to_owned();
        match client.enqueue(event) {
            Ok(()) => {
                queued.insert(id);
            }
            Err(EnqueueError::QueueFull { capacity: 10 }) => full += 1,
            Err(other) => panic!("{other}"),
        }
    }
    assert!(
        started.elapsed() < Duration::from_millis(250),
        "enqueueing waited on the network"
    );
    assert!(full > 0, "the queue never filled");
    assert_eq!(
        client
            .stats()
            .dropped_queue_full
            .load(std::sync::atomic::Ordering::Relaxed),
        full
    );
    client.shutdown(Duration::from_secs(30)).await.unwrap();
    let state = server.state();
    assert_eq!(
        state.accepted.keys().cloned().collect::<BTreeSet<_>>(),
        queued,
        "everything queued was delivered"
    );
}

#[tokio::test]
async fn shutdown_delivers_everything_queued_then_refuses_new_events() {
    let server = FakeLangfuse::start(vec![Fault::Status(502)]).await;
    let settings = IngestionSettings {
        flush_interval: Duration::from_secs(3600),
        ..fast_retries()
    };
    let client = IngestionClient::start(&server.config(), settings).unwrap();
    for i in 0..50 {
        client.enqueue(score(i)).unwrap();
    }
    client.shutdown(Duration::from_secs(10)).await.unwrap();
    assert_eq!(server.state().accepted.len(), 50);
    assert_eq!(client.enqueue(score(99)).unwrap_err(), EnqueueError::Closed);
}

#[tokio::test]
async fn the_shutdown_deadline_counts_what_was_not_delivered() {
    let server = FakeLangfuse::start(vec![]).await;
    server.state().always = Some(500);
    let client = IngestionClient::start(&server.config(), fast_retries()).unwrap();
    for i in 0..10 {
        client.enqueue(score(i)).unwrap();
    }
    let started = Instant::now();
    let err = client
        .shutdown(Duration::from_millis(400))
        .await
        .unwrap_err();
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "the deadline was not kept: {:?}",
        started.elapsed()
    );
    assert_eq!(err, DeliveryError::Deadline { undelivered: 10 });
    assert_eq!(
        client
            .stats()
            .dropped_shutdown
            .load(std::sync::atomic::Ordering::Relaxed),
        10
    );
}

#[tokio::test]
async fn an_unauthorized_batch_is_dropped_not_retried_and_keys_never_show() {
    let server = FakeLangfuse::start(vec![Fault::Status(401)]).await;
    let client = IngestionClient::start(&server.config(), fast_retries()).unwrap();
    for i in 0..3 {
        client.enqueue(score(i)).unwrap();
    }
    client.flush().await.unwrap();
    assert_eq!(server.state().requests.len(), 1, "a 401 is not retried");
    assert_eq!(
        client
            .stats()
            .dropped_rejected
            .load(std::sync::atomic::Ordering::Relaxed),
        3
    );
    let shown = format!("{client:?} {:?}", server.config());
    assert!(
        !shown.contains(SECRET) && !shown.contains(PUBLIC),
        "{shown}"
    );
}
