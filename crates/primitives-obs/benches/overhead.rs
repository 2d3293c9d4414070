//! Per-execution cost of the instrumentation, against floors measured in the
//! same run:
//!
//! * `bare`: the service alone;
//! * `metrics_only`: our layer without spans;
//! * `floor`: a hand-written OpenTelemetry span start/end plus pre-registered
//!   `metrics` handle updates for the same data;
//! * `ours_sampled` / `ours_unsampled`: our layer with spans, sampled or not
//!   (`floor_unsampled`: the floor with a tracer that samples nothing);
//! * `tracing_otel`: the same spans made with `tracing` +
//!   `tracing-opentelemetry`, plus the same metric updates;
//! * `workflow_*`: a 3-step workflow of lambdas, bare and instrumented.
//!
//! `cargo bench -p tta-primitives-obs --bench overhead` prints criterion's
//! report, then a table of ns per execution and the ratios the goals use.
#![allow(clippy::print_stdout)] // a benchmark reports on stdout

use std::{hint::black_box, sync::Arc, time::Instant};

use criterion::{Criterion, criterion_group};
use futures_util::FutureExt;
use opentelemetry::{
    KeyValue,
    trace::{Span as _, SpanKind, Tracer, TracerProvider as _},
};
use opentelemetry_sdk::trace::{Sampler, SdkTracer, SdkTracerProvider};
use tower::{Service, ServiceBuilder, service_fn};
use tracing_subscriber::layer::SubscriberExt;
use tta_primitives_core::{Request, WorkflowContext, WorkflowError, prelude::*};
use tta_primitives_obs::{InstrumentExt, Telemetry, catalogue::Catalogue, layer::TelemetryLayer};

type Svc = Box<dyn FnMut() -> u64>;

fn service() -> impl Service<
    u64,
    Response = u64,
    Error = WorkflowError,
    Future = impl Future<Output = Result<u64, WorkflowError>>,
> + Clone {
    service_fn(|x: u64| async move { Ok::<_, WorkflowError>(black_box(x) + 1) })
}

fn call<S: Service<u64, Response = u64>>(svc: &mut S) -> u64
where
    S::Error: std::fmt::Debug,
{
    match svc.call(black_box(1)).now_or_never() {
        Some(Ok(v)) => v,
        _ => unreachable!("the service answers at once"),
    }
}

/// Pre-registered handles of the node metrics, updated by hand.
struct HandWrittenMetrics {
    executions: metrics::Counter,
    duration: metrics::Histogram,
    in_flight: metrics::Gauge,
}

impl HandWrittenMetrics {
    fn new(primitive: &'static str) -> Self {
        let labels = [
            ("workflow", "bench"),
            ("primitive", primitive),
            ("primitive_type", "service"),
        ];
        Self {
            executions: metrics::counter!("tta_primitive_executions_total", &labels[..]),
            duration: metrics::histogram!("tta_primitive_duration_seconds", &labels[..]),
            in_flight: metrics::gauge!("tta_primitive_in_flight", &labels[..]),
        }
    }

    fn start(&self) -> Instant {
        self.in_flight.increment(1.0);
        Instant::now()
    }

    fn end(&self, started: Instant) {
        self.executions.increment(1);
        self.duration.record(started.elapsed().as_secs_f64());
        self.in_flight.decrement(1.0);
    }
}

/// The floor: a hand-written span start/end around the service, plus the
/// same metric updates.
fn hand_written(tracer: SdkTracer, name: &'static str) -> Svc {
    let metrics = HandWrittenMetrics::new(name);
    let mut svc = service();
    Box::new(move || {
        let started = metrics.start();
        let mut span = tracer
            .span_builder(name)
            .with_kind(SpanKind::Internal)
            .with_attributes([
                KeyValue::new("tta.workflow.name", "bench"),
                KeyValue::new("tta.primitive.name", name),
                KeyValue::new("tta.primitive.type", "service"),
            ])
            .start(&tracer);
        let out = call(&mut svc);
        span.end();
        metrics.end(started);
        out
    })
}

/// Every variant, by name, as a closure running one execution.
fn variants() -> Vec<(&'static str, Svc)> {
    let sampled = SdkTracerProvider::builder().build();
    let unsampled = SdkTracerProvider::builder()
        .with_sampler(Sampler::AlwaysOff)
        .build();

    let mut bare = service();
    let mut metrics_only = ServiceBuilder::new()
        .layer(TelemetryLayer::new("bench", "metrics_only").metrics_only())
        .service(service());
    let mut ours_sampled = ServiceBuilder::new()
        .layer(TelemetryLayer::new("bench", "sampled").with_tracer(sampled.tracer("ours")))
        .service(service());
    let mut ours_unsampled = ServiceBuilder::new()
        .layer(TelemetryLayer::new("bench", "unsampled").with_tracer(unsampled.tracer("ours")))
        .service(service());

    // The floor: the same span and the same metric updates, by hand.
    let floor = hand_written(sampled.tracer("floor"), "floor");
    // The same floor with spans that are not sampled.
    let floor_unsampled = hand_written(unsampled.tracer("floor_unsampled"), "floor_unsampled");

    // The same with tracing + tracing-opentelemetry.
    let subscriber = tracing_subscriber::registry()
        .with(tracing_opentelemetry::layer().with_tracer(sampled.tracer("tracing")));
    let dispatch = tracing::Dispatch::new(subscriber);
    let metrics = HandWrittenMetrics::new("tracing");
    let mut tracing_svc = service();
    let tracing_otel = move || {
        tracing::dispatcher::with_default(&dispatch, || {
            let started = metrics.start();
            let span = tracing::info_span!(
                "tracing",
                tta.workflow.name = "bench",
                tta.primitive.name = "tracing",
                tta.primitive.type = "service"
            );
            let out = span.in_scope(|| call(&mut tracing_svc));
            drop(span);
            metrics.end(started);
            out
        })
    };

    let ctx = WorkflowContext::new("bench_wf");
    let step =
        |n: u64| lambda(move |x: u64| async move { Ok::<_, WorkflowError>(black_box(x) + n) });
    let workflow = || step(1).named("a") >> step(2).named("b") >> step(3).named("c");
    let mut wf_bare = workflow();
    let mut wf_metrics = workflow().instrumented_with(Arc::new(Telemetry::metrics_only()));
    let mut wf_traced =
        workflow().instrumented_with(Arc::new(Telemetry::with_tracer(sampled.tracer("wf"))));
    let (c1, c2, c3) = (ctx.clone(), ctx.clone(), ctx);

    vec![
        ("bare", Box::new(move || call(&mut bare)) as Svc),
        ("metrics_only", Box::new(move || call(&mut metrics_only))),
        ("floor", floor),
        ("ours_sampled", Box::new(move || call(&mut ours_sampled))),
        (
            "ours_unsampled",
            Box::new(move || call(&mut ours_unsampled)),
        ),
        ("floor_unsampled", floor_unsampled),
        ("tracing_otel", Box::new(tracing_otel)),
        (
            "workflow_bare",
            Box::new(move || {
                wf_bare
                    .call(Request::new(c1.clone(), 1))
                    .now_or_never()
                    .unwrap()
                    .unwrap()
            }),
        ),
        (
            "workflow_metrics_only",
            Box::new(move || {
                wf_metrics
                    .call(Request::new(c2.clone(), 1))
                    .now_or_never()
                    .unwrap()
                    .unwrap()
            }),
        ),
        (
            "workflow_traced",
            Box::new(move || {
                wf_traced
                    .call(Request::new(c3.clone(), 1))
                    .now_or_never()
                    .unwrap()
                    .unwrap()
            }),
        ),
    ]
}

fn install_recorder() {
    tta_test_support::prometheus_recorder::install(Catalogue::global().histogram_buckets());
}

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("per_execution");
    for (name, mut f) in variants() {
        group.bench_function(name, |b| b.iter(&mut f));
    }
    group.finish();
}

criterion_group!(benches, bench);

fn main() {
    install_recorder();
    benches();
    Criterion::default().configure_from_args().final_summary();
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    // Interleaved rounds, median per variant, so the ratios come from one run.
    let mut variants = variants();
    let mut rounds: Vec<Vec<f64>> = vec![Vec::new(); variants.len()];
    for _ in 0..41 {
        for (i, (_, f)) in variants.iter_mut().enumerate() {
            let iters = 20_000;
            let start = Instant::now();
            for _ in 0..iters {
                black_box(f());
            }
            rounds[i].push(start.elapsed().as_nanos() as f64 / f64::from(iters));
        }
    }
    let ns: Vec<f64> = rounds
        .iter_mut()
        .map(|r| {
            r.sort_by(f64::total_cmp);
            r[r.len() / 2]
        })
        .collect();
    let get = |name: &str| ns[variants.iter().position(|(n, _)| *n == name).unwrap()];
    println!("\n| variant | ns per execution |\n|---|---|");
    for ((name, _), v) in variants.iter().zip(&ns) {
        println!("| {name} | {v:.0} |");
    }
    let metrics_cost = get("metrics_only") - get("bare");
    println!("\nmetrics-only overhead: {metrics_cost:.0} ns per execution (goal: at most 150)");
    println!(
        "span + metrics vs hand-written floor: {:.2}x (goal: at most 1.3x)",
        get("ours_sampled") / get("floor")
    );
    println!(
        "unsampled vs metrics-only: {:.2}x (goal: at most 1.3x); unsampled vs the unsampled hand-written floor: {:.2}x",
        get("ours_unsampled") / get("metrics_only"),
        get("ours_unsampled") / get("floor_unsampled")
    );
    println!(
        "tracing + tracing-opentelemetry vs floor: {:.2}x",
        get("tracing_otel") / get("floor")
    );
    println!(
        "workflow of 3 lambdas: bare {:.0} ns, metrics-only {:.0} ns, traced {:.0} ns",
        get("workflow_bare"),
        get("workflow_metrics_only"),
        get("workflow_traced")
    );
}
