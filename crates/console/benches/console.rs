//! The console's costs: ingest (decode plus store) against decoding alone,
//! the bytes a span takes, trace-list and search queries over 1,000,000
//! stored spans, and opening a 1,000-span trace. Prints its own table after
//! criterion's report.
//!
//! `cargo bench -p tta-console --bench console`
#![allow(clippy::print_stdout, missing_docs)] // a benchmark reports on stdout

use std::time::{Duration, Instant};

use criterion::{BatchSize, Criterion, Throughput};
use opentelemetry_proto::tonic::{
    collector::trace::v1::ExportTraceServiceRequest,
    common::v1::{AnyValue, KeyValue, any_value},
    resource::v1::Resource,
    trace::v1::{ResourceSpans, ScopeSpans, Span, Status},
};
use prost::Message as _;
use tta_console::{
    decode_spans,
    store::{Store, StoreConfig, TraceQuery},
};

fn kv(key: &str, value: any_value::Value) -> KeyValue {
    KeyValue {
        key: key.to_owned(),
        value: Some(AnyValue { value: Some(value) }),
        ..Default::default()
    }
}

fn text(key: &str, value: &str) -> KeyValue {
    kv(key, any_value::Value::StringValue(value.to_owned()))
}

fn now_ns() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
}

/// `traces` traces of `per_trace` spans each, shaped like our workflow
/// spans (six `tta.*` attributes, an error now and then), starting at
/// `start` plus `seq` microseconds per trace.
fn request(traces: u64, per_trace: u64, start: u64, seq: u64) -> ExportTraceServiceRequest {
    let mut spans = Vec::with_capacity((traces * per_trace) as usize);
    for t in 0..traces {
        let trace_id = (seq + t + 1).to_be_bytes().repeat(2);
        for s in 0..per_trace {
            let begin = start + (seq + t) * 1000 + s * 10;
            spans.push(Span {
                trace_id: trace_id.clone(),
                span_id: (((seq + t) << 16) | (s + 1)).to_be_bytes().to_vec(),
                parent_span_id: if s == 0 {
                    Vec::new()
                } else {
                    (((seq + t) << 16) | ((s - 1) / 4 + 1))
                        .to_be_bytes()
                        .to_vec()
                },
                name: format!("step_{}", s % 16),
                kind: 1,
                start_time_unix_nano: begin,
                end_time_unix_nano: begin + 5_000 + s * 100,
                attributes: vec![
                    text(
                        "tta.workflow.name",
                        if t % 2 == 0 { "quote" } else { "checkout" },
                    ),
                    text("tta.primitive.name", &format!("step_{}", s % 16)),
                    text("tta.primitive.type", "lambda"),
                    kv("tta.step.id", any_value::Value::IntValue((s + 1) as i64)),
                    text("tta.correlation_id", &format!("corr-{}", seq + t)),
                    kv("tta.retry.attempt", any_value::Value::IntValue(1)),
                ],
                status: (s == 3 && t % 10 == 0).then(|| Status {
                    code: 2,
                    message: "declined".into(),
                }),
                ..Default::default()
            });
        }
    }
    ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: Some(Resource {
                attributes: vec![
                    text("service.name", "bench"),
                    text("host.name", "bench-host"),
                ],
                ..Default::default()
            }),
            scope_spans: vec![ScopeSpans {
                spans,
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}

fn memory_store(max_spans: usize) -> Store {
    Store::open(StoreConfig {
        path: None,
        max_spans,
        max_bytes: usize::MAX,
        max_age: Duration::from_secs(3600),
    })
    .unwrap()
}

/// The median of `runs` timings of `f`.
fn median(runs: usize, mut f: impl FnMut()) -> Duration {
    let mut samples: Vec<Duration> = (0..runs)
        .map(|_| {
            let start = Instant::now();
            f();
            start.elapsed()
        })
        .collect();
    samples.sort();
    samples[runs / 2]
}

fn main() {
    let mut criterion = Criterion::default()
        .configure_from_args()
        .measurement_time(Duration::from_secs(3))
        .warm_up_time(Duration::from_secs(1));
    let start = now_ns();
    let batch = request(10, 100, start, 0).encode_to_vec();
    let spans_per_batch = 1000u64;

    let mut group = criterion.benchmark_group("ingest");
    group.throughput(Throughput::Elements(spans_per_batch));
    group.bench_function("decode only (floor)", |b| {
        b.iter(|| ExportTraceServiceRequest::decode(batch.as_slice()).unwrap())
    });
    let store = memory_store(200_000);
    let mut seq = 0;
    group.bench_function("decode + store (memory)", |b| {
        b.iter_batched(
            || {
                seq += 10;
                request(10, 100, start, seq).encode_to_vec()
            },
            |bytes| {
                let request = ExportTraceServiceRequest::decode(bytes.as_slice()).unwrap();
                store.ingest(decode_spans(request).0);
            },
            BatchSize::SmallInput,
        )
    });
    group.finish();
    criterion.final_summary();

    // Our own table, from timings taken in this run.
    let decode = median(51, || {
        ExportTraceServiceRequest::decode(batch.as_slice()).unwrap();
    });
    // Ingest in memory and file-backed, in interleaved rounds (each round
    // a fresh store of each kind, their order swapped every round), so
    // neither case is measured on a heap the other one left behind; the
    // figure is the median batch over all rounds.
    let dir = std::env::temp_dir().join(format!("tta-console-bench-{}", std::process::id()));
    let (mut memory_times, mut file_times) = (Vec::new(), Vec::new());
    let (mut file_stats, mut file_bytes) = (None, 0);
    for round in 0..6u64 {
        for case in [round % 2, 1 - round % 2] {
            let batches: Vec<Vec<u8>> = (0..40)
                .map(|i| request(10, 100, start, 1_000_000 + (round * 40 + i) * 10).encode_to_vec())
                .collect();
            let _ = std::fs::remove_dir_all(&dir);
            let store = if case == 0 {
                memory_store(200_000)
            } else {
                Store::open(StoreConfig {
                    path: Some(dir.join("store.redb")),
                    max_spans: 200_000,
                    max_bytes: usize::MAX,
                    max_age: Duration::from_secs(3600),
                })
                .unwrap()
            };
            let times = if case == 0 {
                &mut memory_times
            } else {
                &mut file_times
            };
            for bytes in &batches {
                let begin = Instant::now();
                let request = ExportTraceServiceRequest::decode(bytes.as_slice()).unwrap();
                store.ingest(decode_spans(request).0);
                times.push(begin.elapsed());
            }
            if case == 1 {
                // Dropping the store waits for its writer: the file is complete.
                let stats = store.stats();
                drop(store);
                file_bytes = std::fs::metadata(dir.join("store.redb")).map_or(0, |m| m.len());
                file_stats = Some(stats);
            }
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
    let middle = |times: &mut Vec<Duration>| {
        times.sort();
        times[times.len() / 2]
    };
    let ingest = middle(&mut memory_times);
    let ingest_file = middle(&mut file_times);
    let file_stats = file_stats.unwrap();
    let per_s = |d: Duration| spans_per_batch as f64 / d.as_secs_f64();

    // 1,000,000 spans: 10,000 traces of 100.
    let big = memory_store(2_000_000);
    for chunk in 0..100 {
        let request = request(100, 100, start, 2_000_000 + chunk * 100);
        big.ingest(decode_spans(request).0);
    }
    let stats = big.stats();
    assert_eq!(stats.spans, 1_000_000);
    let query = |q: TraceQuery| {
        let d = median(21, || {
            let _ = big.traces(&q);
        });
        (d, big.traces(&q).traces.len())
    };
    let newest = query(TraceQuery::default());
    let workflow = query(TraceQuery {
        workflow: Some("checkout".into()),
        ..TraceQuery::default()
    });
    let errors = query(TraceQuery {
        status: Some("error".into()),
        ..TraceQuery::default()
    });
    let attr = query(TraceQuery {
        attr: Some("tta.correlation_id=corr-2000050".into()),
        ..TraceQuery::default()
    });
    let text_hit = query(TraceQuery {
        q: Some("corr-2009990".into()),
        ..TraceQuery::default()
    });
    let text_miss = query(TraceQuery {
        q: Some("no-such-text".into()),
        ..TraceQuery::default()
    });
    // Opening a 1,000-span trace: the spans, by start, as the API's JSON.
    let open_store = memory_store(200_000);
    open_store.ingest(decode_spans(request(1, 1000, start, 9_000_000)).0);
    let trace_id = format!("{:016x}{:016x}", 9_000_001u64, 9_000_001u64);
    let open = median(51, || {
        let spans = open_store.trace(&trace_id).unwrap();
        let _ = serde_json::to_vec(&spans).unwrap();
    });

    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    println!("\ntta-console, measured in this run (medians):");
    println!("| case | figure |");
    println!("|---|---|");
    println!(
        "| decode only (floor), 1,000 spans | {:.0} spans/s |",
        per_s(decode)
    );
    println!(
        "| decode + store, in memory | {:.0} spans/s ({:.1}x the floor's time) |",
        per_s(ingest),
        ingest.as_secs_f64() / decode.as_secs_f64()
    );
    println!(
        "| decode + store, file-backed (redb) | {:.0} spans/s ({:.1}x the floor's time) |",
        per_s(ingest_file),
        ingest_file.as_secs_f64() / decode.as_secs_f64()
    );
    println!(
        "| span writes the file's writer dropped (behind) | {} of {} |",
        file_stats.persist_dropped, file_stats.spans
    );
    println!(
        "| bytes per span held (estimate) | {} |",
        stats.bytes / stats.spans.max(1)
    );
    println!(
        "| bytes per span on disk | {} |",
        file_bytes / file_stats.spans.max(1) as u64
    );
    println!(
        "| newest 50 of 1,000,000 spans | {:.2} ms ({} traces) |",
        ms(newest.0),
        newest.1
    );
    println!(
        "| workflow filter over 1,000,000 spans | {:.2} ms ({} traces) |",
        ms(workflow.0),
        workflow.1
    );
    println!(
        "| status=error over 1,000,000 spans | {:.2} ms ({} traces) |",
        ms(errors.0),
        errors.1
    );
    println!(
        "| attribute key=value over 1,000,000 spans | {:.2} ms ({} traces) |",
        ms(attr.0),
        attr.1
    );
    println!(
        "| free text, one match, over 1,000,000 spans | {:.2} ms ({} traces) |",
        ms(text_hit.0),
        text_hit.1
    );
    println!(
        "| free text, no match, over 1,000,000 spans | {:.2} ms ({} traces) |",
        ms(text_miss.0),
        text_miss.1
    );
    println!(
        "| open a 1,000-span trace (spans + JSON) | {:.2} ms |",
        ms(open)
    );
}
