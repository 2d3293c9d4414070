//! The cost of recording one instrumented LLM call (the call itself
//! excluded: the mock provider answers at once), and the batch client's
//! enqueue throughput against a floor measured in the same run:
//!
//! * `bare`: the mock provider alone;
//! * `metrics_only`: the layer without spans;
//! * `traced`: the layer with a sampled span (SDK provider, a processor that
//!   drops finished spans, so export is not measured), with a concrete and
//!   with the global (boxed) tracer;
//! * `enqueue` vs `serialize`: queuing one score event, against serializing
//!   it alone (the part no queue can avoid).
//!
//! The layer against a hand-written floor of the same span, metric updates
//! and derived facts is measured with the rest of the workflow path:
//! `cargo bench -p tta-bench --bench workflow_path`.
//!
//! `cargo bench -p tta-langfuse --bench llm` prints criterion's report,
//! then the table and ratios.
#![allow(clippy::print_stdout, missing_docs)] // a benchmark reports on stdout

use std::{
    hint::black_box,
    time::{Duration, Instant},
};

use criterion::{Criterion, criterion_group};
use futures_util::FutureExt;
use metrics_exporter_prometheus::PrometheusBuilder;
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tower::{Layer, Service, service_fn};
use tta_langfuse::{
    LangfuseConfig, LlmLayer, LlmRequest, LlmResponse, Message, Usage,
    ingestion::{IngestionClient, IngestionEvent, IngestionSettings, ScoreBody},
};

fn response() -> LlmResponse {
    LlmResponse {
        id: Some("chatcmpl-1".into()),
        model: Some("gpt-4o-mini-2024-07-18".into()),
        finish_reasons: vec!["stop".into()],
        usage: Some(Usage {
            input_tokens: 1200,
            output_tokens: 300,
            cache_read_input_tokens: 256,
            ..Usage::default()
        }),
        output: vec![Message::new("assistant", "ok")],
    }
}

fn request() -> LlmRequest {
    LlmRequest::chat("openai", "gpt-4o-mini")
        .message(Message::new("user", "Summarise the order."))
        .temperature(0.2)
        .max_tokens(200)
        .user("user-7")
}

fn provider() -> impl Service<
    LlmRequest,
    Response = LlmResponse,
    Error = std::io::Error,
    Future = impl Future<Output = Result<LlmResponse, std::io::Error>>,
> + Clone {
    let resp = response();
    service_fn(move |req: LlmRequest| {
        black_box(&req);
        let resp = resp.clone();
        async move { Ok(resp) }
    })
}

fn call<S: Service<LlmRequest>>(svc: &mut S, req: &LlmRequest) -> usize
where
    S::Response: std::fmt::Debug,
    S::Error: std::fmt::Debug,
{
    match svc.call(req.clone()).now_or_never() {
        Some(Ok(v)) => black_box(std::mem::size_of_val(&v)),
        _ => unreachable!("the provider answers at once"),
    }
}

/// A local ingestion endpoint that accepts every batch.
fn ingestion_server() -> std::net::SocketAddr {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    listener.set_nonblocking(true).unwrap();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async move {
            let listener = tokio::net::TcpListener::from_std(listener).unwrap();
            loop {
                let (mut socket, _) = listener.accept().await.unwrap();
                tokio::spawn(async move {
                    let mut buf = vec![0u8; 1 << 20];
                    let mut pending = Vec::new();
                    loop {
                        let Ok(n) = socket.read(&mut buf).await else {
                            return;
                        };
                        if n == 0 {
                            return;
                        }
                        pending.extend_from_slice(&buf[..n]);
                        // One response per complete request (headers + content-length).
                        while let Some(end) = pending.windows(4).position(|w| w == b"\r\n\r\n") {
                            let head = String::from_utf8_lossy(&pending[..end]).to_lowercase();
                            let len: usize = head
                                .lines()
                                .find_map(|l| l.strip_prefix("content-length:"))
                                .and_then(|v| v.trim().parse().ok())
                                .unwrap_or(0);
                            if pending.len() < end + 4 + len {
                                break;
                            }
                            pending.drain(..end + 4 + len);
                            let body = "{\"successes\":[],\"errors\":[]}";
                            let resp = format!(
                                "HTTP/1.1 207 Multi-Status\r\ncontent-length: {}\r\n\r\n{body}",
                                body.len()
                            );
                            if socket.write_all(resp.as_bytes()).await.is_err() {
                                return;
                            }
                        }
                    }
                });
            }
        });
    });
    addr
}

fn score(i: u64) -> IngestionEvent {
    IngestionEvent::score_create(
        ScoreBody::numeric("accuracy", 0.5)
            .on_trace("4bf92f3577b34da6a3ce929d0e0e4736")
            .comment(if i % 2 == 0 { "even" } else { "odd" }),
    )
}

/// The services measured, built once per use. A tuple of `impl` types:
/// naming them would need boxing, which would change what is measured.
#[allow(clippy::type_complexity)]
fn variants(
    sdk: &SdkTracerProvider,
) -> (
    impl Service<LlmRequest, Response = LlmResponse, Error = std::io::Error>,
    impl Service<LlmRequest, Response = LlmResponse, Error = std::io::Error>,
    impl Service<LlmRequest, Response = LlmResponse, Error = std::io::Error>,
    impl Service<LlmRequest, Response = LlmResponse, Error = std::io::Error>,
) {
    (
        provider(),
        LlmLayer::new().metrics_only().layer(provider()),
        LlmLayer::new()
            .with_tracer(sdk.tracer("bench"))
            .layer(provider()),
        LlmLayer::new().with_tracer_provider(sdk).layer(provider()),
    )
}

fn discarding_provider() -> SdkTracerProvider {
    SdkTracerProvider::builder()
        .with_span_processor(tta_test_support::spans::DiscardSpans::default())
        .build()
}

fn bench(c: &mut Criterion) {
    let sdk = discarding_provider();
    let req = request();
    let (mut bare, mut metrics_only, mut traced, _) = variants(&sdk);
    c.bench_function("llm/bare", |b| b.iter(|| call(&mut bare, &req)));
    c.bench_function("llm/metrics_only", |b| {
        b.iter(|| call(&mut metrics_only, &req))
    });
    c.bench_function("llm/traced", |b| b.iter(|| call(&mut traced, &req)));
}

criterion_group!(benches, bench);

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    let _ = PrometheusBuilder::new()
        .set_buckets(tta_langfuse::LLM_LATENCY_BUCKETS)
        .unwrap()
        .install_recorder()
        .unwrap();
    tta_langfuse::register_metrics().unwrap();
    benches();
    Criterion::default().configure_from_args().final_summary();
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }

    // Recording cost: interleaved rounds, medians.
    let sdk = discarding_provider();
    let req = request();
    let (mut bare, mut metrics_only, mut traced, mut boxed) = variants(&sdk);
    let mut rounds = [Vec::new(), Vec::new(), Vec::new(), Vec::new()];
    for _ in 0..31 {
        let iters = 5_000;
        let time = |f: &mut dyn FnMut() -> usize| {
            let start = Instant::now();
            for _ in 0..iters {
                black_box(f());
            }
            start.elapsed().as_nanos() as f64 / f64::from(iters)
        };
        rounds[0].push(time(&mut || call(&mut bare, &req)));
        rounds[1].push(time(&mut || call(&mut metrics_only, &req)));
        rounds[2].push(time(&mut || call(&mut traced, &req)));
        rounds[3].push(time(&mut || call(&mut boxed, &req)));
    }
    let [bare, metrics_only, traced, boxed] = rounds.map(median);
    println!("\n| variant | ns per call |\n|---|---|");
    for (name, v) in [
        ("bare", bare),
        ("metrics_only", metrics_only),
        ("traced", traced),
        ("traced_boxed_tracer", boxed),
    ] {
        println!("| {name} | {v:.0} |");
    }
    println!(
        "\nrecording one LLM call (span + metrics): {:.0} ns with a concrete tracer, {:.0} ns with the global (boxed) one (goal: at most 2000); metrics only: {:.0} ns",
        traced - bare,
        boxed - bare,
        metrics_only - bare
    );

    // Enqueue throughput, against serializing the same event alone.
    let addr = ingestion_server();
    let config =
        LangfuseConfig::new("pk-lf-bench", "sk-lf-bench", format!("http://{addr}")).unwrap();
    let settings = IngestionSettings {
        max_queue_events: 100_000,
        flush_at_events: 1000,
        ..IngestionSettings::default()
    };
    let client = IngestionClient::start(&config, settings).unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let n = 50_000u64;
    let mut enqueue = Vec::new();
    let mut serialize = Vec::new();
    let mut dropped = 0;
    for _ in 0..11 {
        let start = Instant::now();
        for i in 0..n {
            if client.enqueue(score(i)).is_err() {
                dropped += 1;
            }
        }
        enqueue.push(n as f64 / start.elapsed().as_secs_f64());
        runtime.block_on(client.flush()).unwrap();
        let start = Instant::now();
        for i in 0..n {
            black_box(serde_json::to_string(&score(i)).unwrap());
        }
        serialize.push(n as f64 / start.elapsed().as_secs_f64());
    }
    let (enqueue, serialize) = (median(enqueue), median(serialize));
    println!(
        "\nenqueue: {:.0} events/s on the calling thread (goal: at least 200000); building + serializing alone: {:.0} events/s ({:.2}x the enqueue cost); {dropped} dropped (queue bound {} events)",
        enqueue,
        serialize,
        serialize / enqueue,
        client.settings().max_queue_events
    );
    runtime
        .block_on(client.shutdown(Duration::from_secs(10)))
        .unwrap();
}
