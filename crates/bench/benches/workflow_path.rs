//! The path users take, an instrumented workflow of primitives, against
//! hand-written floors and peer crates, in one process: interleaved rounds,
//! the median of each case, ratios from the same run.
//!
//! `cargo bench -p tta-bench --bench workflow_path` prints one table (ns per
//! execution, heap allocations per warm execution, spans per execution)
//! and every ratio the goals use. Everything runs on one current-thread
//! tokio runtime, with one Prometheus recorder (the catalogue's histogram
//! buckets, as obs-init installs it) for every case, and spans from one SDK
//! tracer provider whose processor drops finished spans (export is not
//! measured). Each workflow execution reuses one root context, as a service
//! does not (it makes one per request): the context's cost is not the
//! instrumentation's.
#![allow(clippy::print_stdout, missing_docs)] // a benchmark reports on stdout

use std::{
    hint::black_box,
    rc::Rc,
    sync::Arc,
    time::{Duration, Instant},
};

use autometrics::autometrics;
use opentelemetry::{
    Context, KeyValue,
    trace::{Span as _, SpanKind, TraceContextExt, Tracer, TracerProvider as _},
};
use opentelemetry_sdk::trace::{SdkTracer, SdkTracerProvider};
use tokio::runtime::Runtime;
use tower::{Layer, Service, ServiceExt, service_fn};
use tta_langfuse::{LlmLayer, LlmRequest, LlmResponse, Message, Usage};
use tta_primitives_core::{
    Request, WorkflowContext, WorkflowError,
    circuit_breaker::{BreakerConfig, FailurePolicy},
    observe::now,
    prelude::*,
    retry::RetryPolicy,
};
use tta_primitives_obs::{InstrumentExt, Telemetry, catalogue::Catalogue};
use tta_test_support::spans::DiscardSpans;

// Counts this thread's allocations (the benchmark runs on one thread).
#[global_allocator]
static ALLOC: tta_primitives_obs::resources::CountingAllocator =
    tta_primitives_obs::resources::CountingAllocator;

/// Rounds of a full run (each case once per round, interleaved) and
/// executions per case and round. 81 rounds keep the medians of one run
/// within a few percent of another's on the 2-core development VM, where
/// 41 left ratios moving by up to ±0.1 between runs.
const ROUNDS: u32 = 81;
const ITERS: u32 = 20_000;

/// The user's function: what every case runs.
async fn work(x: u64) -> Result<u64, WorkflowError> {
    Ok(black_box(x) + 1)
}

/// The same function, measured by autometrics.
#[autometrics]
async fn work_autometrics(x: u64) -> Result<u64, WorkflowError> {
    Ok(black_box(x) + 1)
}

/// Pre-registered handles of one node's metrics, updated by hand: the
/// metric-handles floor.
struct Handles {
    executions: metrics::Counter,
    duration: metrics::Histogram,
    in_flight: metrics::Gauge,
}

impl Handles {
    fn new(primitive: &'static str) -> Self {
        let labels = [
            ("workflow", "bench"),
            ("primitive", primitive),
            ("primitive_type", "lambda"),
        ];
        let outcome = [
            ("workflow", "bench"),
            ("primitive", primitive),
            ("primitive_type", "lambda"),
            ("outcome", "success"),
        ];
        Self {
            executions: metrics::counter!("tta_primitive_executions_total", &outcome[..]),
            duration: metrics::histogram!("tta_primitive_duration_seconds", &outcome[..]),
            in_flight: metrics::gauge!("tta_primitive_in_flight", &labels[..]),
        }
    }

    /// Runs `f` between the updates: a clock read on each side.
    async fn around<F: Future<Output = Result<u64, WorkflowError>>>(
        &self,
        f: F,
    ) -> Result<u64, WorkflowError> {
        self.in_flight.increment(1.0);
        let started = Instant::now();
        let out = f.await;
        self.executions.increment(1);
        self.duration.record(started.elapsed().as_secs_f64());
        self.in_flight.decrement(1.0);
        out
    }
}

/// The span-plus-handles floor: a span with the three attributes our nodes
/// carry, started under `parent`, around the handles floor.
struct SpanFloor {
    tracer: SdkTracer,
    handles: Handles,
    name: &'static str,
}

impl SpanFloor {
    fn new(tracer: SdkTracer, name: &'static str) -> Self {
        Self {
            tracer,
            handles: Handles::new(name),
            name,
        }
    }

    /// Runs `f` with this span's context, so `f` can parent its own.
    async fn around<F, Fut>(&self, parent: &Context, f: F) -> Result<u64, WorkflowError>
    where
        F: FnOnce(Context) -> Fut,
        Fut: Future<Output = Result<u64, WorkflowError>>,
    {
        let span = self
            .tracer
            .span_builder(self.name)
            .with_kind(SpanKind::Internal)
            .with_attributes([
                KeyValue::new("tta.workflow.name", "bench"),
                KeyValue::new("tta.primitive.name", self.name),
                KeyValue::new("tta.primitive.type", "lambda"),
            ])
            .start_with_context(&self.tracer, parent);
        let cx = parent.with_span(span);
        let out = self.handles.around(f(cx.clone())).await;
        cx.span().end();
        out
    }
}

/// One case: runs `n` executions on the runtime.
type Case = Box<dyn FnMut(&Runtime, u32)>;

/// A case that calls a tower service `n` times (readiness first, as tower
/// asks of every caller).
fn service_case<S, R>(mut svc: S, mut req: impl FnMut() -> R + 'static) -> Case
where
    S: Service<R> + 'static,
    S::Error: std::fmt::Debug,
{
    Box::new(move |rt, n| {
        rt.block_on(async {
            for _ in 0..n {
                let out = svc.ready().await.unwrap().call(req()).await.unwrap();
                black_box(&out);
            }
        })
    })
}

/// A case that awaits `f()` `n` times.
fn fn_case<F, Fut>(f: F) -> Case
where
    F: Fn() -> Fut + 'static,
    Fut: Future<Output = Result<u64, WorkflowError>>,
{
    Box::new(move |rt, n| {
        rt.block_on(async {
            for _ in 0..n {
                black_box(f().await.unwrap());
            }
        })
    })
}

fn llm_request() -> LlmRequest {
    LlmRequest::chat("openai", "gpt-4o-mini")
        .message(Message::new("user", "Summarise the order."))
        .temperature(0.2)
        .max_tokens(200)
        .user("user-7")
}

fn llm_response() -> LlmResponse {
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

/// A provider that answers at once (the response's clone is the call).
fn llm_provider() -> impl Service<LlmRequest, Response = LlmResponse, Error = std::io::Error> + Clone
{
    let resp = llm_response();
    service_fn(move |req: LlmRequest| {
        black_box(&req);
        let resp = resp.clone();
        async move { Ok(resp) }
    })
}

/// The LLM recording floor: the span and metric updates `LlmLayer` makes,
/// by hand, with handles registered once, and the same derived facts (the
/// usage split, its cost, the JSON Langfuse reads) computed by hand.
struct LlmFloor {
    tracer: SdkTracer,
    requests: metrics::Counter,
    tokens: [metrics::Counter; 3],
    cost: metrics::Histogram,
    duration: metrics::Histogram,
}

impl LlmFloor {
    fn new(tracer: SdkTracer) -> Self {
        let labels = [("provider", "openai"), ("model", "gpt-4o-mini-floor")];
        let token = |t: &'static str| metrics::counter!("tta_llm_tokens_total", "provider" => "openai", "model" => "gpt-4o-mini-floor", "token_type" => t);
        Self {
            tracer,
            requests: metrics::counter!("tta_llm_requests_total", "provider" => "openai", "model" => "gpt-4o-mini-floor", "outcome" => "success"),
            tokens: [token("input"), token("output"), token("cached")],
            cost: metrics::histogram!("tta_llm_cost_usd", &labels[..]),
            duration: metrics::histogram!("tta_llm_request_duration_seconds", &labels[..]),
        }
    }

    async fn run<S>(&self, provider: &mut S, req: LlmRequest) -> LlmResponse
    where
        S: Service<LlmRequest, Response = LlmResponse, Error = std::io::Error>,
    {
        let started = Instant::now();
        // The same facts, derived by hand: the parameters and, below, the
        // usage split and its cost at gpt-4o-mini's prices, as JSON.
        let parameters = format!(
            "{{\"temperature\":{},\"max_tokens\":{}}}",
            req.parameters.temperature.unwrap_or_default(),
            req.parameters.max_tokens.unwrap_or_default()
        );
        let mut span = self
            .tracer
            .span_builder(format!("chat {}", req.model))
            .with_kind(SpanKind::Client)
            .with_attributes(vec![
                KeyValue::new("gen_ai.operation.name", "chat"),
                KeyValue::new("gen_ai.provider.name", req.provider.clone()),
                KeyValue::new("gen_ai.request.model", req.model.clone()),
                KeyValue::new("langfuse.observation.type", "generation"),
                KeyValue::new("langfuse.observation.model.name", req.model.clone()),
                KeyValue::new("gen_ai.request.temperature", 0.2),
                KeyValue::new("gen_ai.request.max_tokens", 200),
                KeyValue::new("langfuse.observation.model.parameters", parameters),
                KeyValue::new("user.id", "user-7"),
            ])
            .start(&self.tracer);
        let resp = provider.ready().await.unwrap().call(req).await.unwrap();
        let usage = resp.usage.as_ref().unwrap();
        let uncached = usage.input_tokens - usage.cache_read_input_tokens;
        let (input, output, cached) = (
            uncached as f64 * 0.15e-6,
            usage.output_tokens as f64 * 0.6e-6,
            usage.cache_read_input_tokens as f64 * 0.075e-6,
        );
        let total = input + output + cached;
        span.set_attributes([
            KeyValue::new("gen_ai.response.id", resp.id.clone().unwrap()),
            KeyValue::new("gen_ai.response.model", resp.model.clone().unwrap()),
            KeyValue::new("gen_ai.usage.input_tokens", usage.input_tokens as i64),
            KeyValue::new("gen_ai.usage.output_tokens", usage.output_tokens as i64),
            KeyValue::new(
                "gen_ai.usage.cache_read.input_tokens",
                usage.cache_read_input_tokens as i64,
            ),
            KeyValue::new(
                "langfuse.observation.usage_details",
                format!(
                    "{{\"input\":{uncached},\"output\":{},\"input_cache_read\":{}}}",
                    usage.output_tokens, usage.cache_read_input_tokens
                ),
            ),
            KeyValue::new(
                "langfuse.observation.cost_details",
                format!(
                    "{{\"input\":{input},\"output\":{output},\"input_cache_read\":{cached},\"total\":{total}}}"
                ),
            ),
        ]);
        span.end();
        self.requests.increment(1);
        self.tokens[0].increment(usage.input_tokens);
        self.tokens[1].increment(usage.output_tokens);
        self.tokens[2].increment(usage.cache_read_input_tokens);
        self.cost.record(total);
        self.duration.record(started.elapsed().as_secs_f64());
        resp
    }
}

/// Every case, by name.
fn cases(sdk: &SdkTracerProvider) -> Vec<(&'static str, Case)> {
    let ctx = WorkflowContext::new("bench");
    let req = move || Request::new(ctx.clone(), 1_u64);
    let traced = || Arc::new(Telemetry::with_tracer(sdk.tracer("ours")));
    let policy = || RetryPolicy::builder().max_attempts(3).build().unwrap();
    let breaker = || {
        BreakerConfig::builder()
            .policy(FailurePolicy::ConsecutiveFailures(5))
            .build()
            .unwrap()
    };

    let handles = Rc::new(Handles::new("floor"));
    let span_floor = Rc::new(SpanFloor::new(sdk.tracer("floor"), "floor"));
    let floor3 = Rc::new(
        ["root", "seq", "a", "b", "c"].map(|name| SpanFloor::new(sdk.tracer("floor3"), name)),
    );

    let resilience_retry =
        tower_resilience::retry::RetryLayer::<u64, u64, WorkflowError>::builder()
            .max_attempts(3)
            .exponential_backoff(Duration::from_millis(100))
            .name("peer_retry")
            .build()
            .layer(service_fn(work));
    let resilience_breaker = tower_resilience::circuitbreaker::CircuitBreakerLayer::builder()
        .consecutive_failures(5)
        .name("peer_breaker")
        .build()
        .unwrap()
        .layer(service_fn(work));

    let llm_floor = Rc::new(LlmFloor::new(sdk.tracer("llm_floor")));

    vec![
        ("fn", fn_case(|| work(1))),
        ("fn + handles (floor)", {
            let h = Rc::clone(&handles);
            fn_case(move || {
                let h = Rc::clone(&h);
                async move { h.around(work(1)).await }
            })
        }),
        ("fn + span + handles (floor)", {
            let f = Rc::clone(&span_floor);
            fn_case(move || {
                let f = Rc::clone(&f);
                async move { f.around(&Context::new(), |_| work(1)).await }
            })
        }),
        // What the ratios are made of: one reading of the clock our nodes
        // use, and one more histogram sample (which, in
        // metrics-exporter-prometheus, reads the clock too).
        (
            "fn + clock read",
            fn_case(|| async {
                black_box(now());
                work(1).await
            }),
        ),
        ("fn + histogram sample", {
            let h = Rc::clone(&handles);
            fn_case(move || {
                let h = Rc::clone(&h);
                async move {
                    let out = work(1).await;
                    h.duration.record(black_box(1e-6));
                    out
                }
            })
        }),
        ("autometrics", fn_case(|| work_autometrics(1))),
        (
            "tower-resilience retry",
            service_case(resilience_retry, || 1_u64),
        ),
        (
            "tower-resilience circuit breaker",
            service_case(resilience_breaker, || 1_u64),
        ),
        ("lambda, bare", service_case(lambda(work), req.clone())),
        (
            "lambda, metrics",
            service_case(lambda(work).instrumented_metrics_only(), req.clone()),
        ),
        (
            "lambda.retry, metrics",
            service_case(
                lambda(work).retry(policy()).instrumented_metrics_only(),
                req.clone(),
            ),
        ),
        (
            "lambda.circuit_breaker, metrics",
            service_case(
                lambda(work)
                    .circuit_breaker(breaker())
                    .instrumented_metrics_only(),
                req.clone(),
            ),
        ),
        (
            "lambda, spans + metrics",
            service_case(lambda(work).instrumented_with(traced()), req.clone()),
        ),
        (
            "3 fns (floor)",
            fn_case(|| async { work(work(work(1).await?).await?).await }),
        ),
        (
            "3-step sequence, bare",
            service_case(lambda(work) >> lambda(work) >> lambda(work), req.clone()),
        ),
        (
            "3-step sequence, metrics",
            service_case(
                (lambda(work) >> lambda(work) >> lambda(work)).instrumented_metrics_only(),
                req.clone(),
            ),
        ),
        ("5 nested span + handles floors", {
            let f = Rc::clone(&floor3);
            fn_case(move || {
                let f = Rc::clone(&f);
                async move {
                    let [root, seq, a, b, c] = &*f;
                    root.around(&Context::new(), |cx| async move {
                        seq.around(&cx, |cx| async move {
                            let x = a.around(&cx, |_| work(1)).await?;
                            let x = b.around(&cx, |_| work(x)).await?;
                            c.around(&cx, |_| work(x)).await
                        })
                        .await
                    })
                    .await
                }
            })
        }),
        (
            "3-step sequence, spans + metrics",
            service_case(
                (lambda(work) >> lambda(work) >> lambda(work)).instrumented_with(traced()),
                req.clone(),
            ),
        ),
        (
            "llm provider, bare",
            service_case(llm_provider(), llm_request),
        ),
        (
            "llm layer, spans + metrics",
            service_case(
                LlmLayer::new()
                    .with_tracer(sdk.tracer("llm"))
                    .layer(llm_provider()),
                llm_request,
            ),
        ),
        ("llm floor", {
            let (f, mut provider) = (llm_floor, llm_provider());
            Box::new(move |rt: &Runtime, n| {
                rt.block_on(async {
                    for _ in 0..n {
                        black_box(f.run(&mut provider, llm_request()).await);
                    }
                })
            })
        }),
    ]
}

fn install_recorder() {
    tta_test_support::prometheus_recorder::install(Catalogue::global().histogram_buckets());
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// One goal of the benchmark: `value` (a ratio, or ns when `unit` says
/// so) against its `limit`.
struct Goal {
    what: String,
    value: f64,
    limit: f64,
    unit: &'static str,
}

/// The goals, from each case's time `get(name)` (one round's) and the spans
/// a case ends (`spans_of`).
fn goals(get: &dyn Fn(&str) -> f64, spans_of: &dyn Fn(&str) -> f64) -> Vec<Goal> {
    let handles_floor = get("fn + handles (floor)") - get("fn");
    let span_floor = get("fn + span + handles (floor)") - get("fn");
    let lambda_nodes = spans_of("lambda, spans + metrics");
    let seq_nodes = spans_of("3-step sequence, spans + metrics");
    let ratio = |what: String, value: f64, limit: f64| Goal {
        what,
        value,
        limit,
        unit: "x",
    };
    // What the retry's ratio is made of: ours takes three histogram samples
    // per call (the workflow's duration, which is its top-level retry's, the
    // attempt's and the attempts per call), tower-resilience's one (the
    // attempts).
    let sample = get("fn + histogram sample") - get("fn");
    // The metrics-only cost of `workflow` over its bare run, per one of
    // `per`, against the handles floor.
    let metrics_per = |workflow: &str, per: f64| {
        (get(&format!("{workflow}, metrics")) - get(&format!("{workflow}, bare")))
            / per
            / handles_floor
    };
    vec![
        ratio(
            format!("metrics per node ({lambda_nodes:.0} nodes) vs the handles floor"),
            metrics_per("lambda", lambda_nodes),
            1.0,
        ),
        ratio(
            format!(
                "metrics per node, 3-step sequence ({seq_nodes:.0} nodes) vs the handles floor"
            ),
            metrics_per("3-step sequence", seq_nodes),
            1.0,
        ),
        ratio(
            format!("spans + metrics per node ({lambda_nodes:.0} nodes) vs the span floor"),
            (get("lambda, spans + metrics") - get("lambda, bare")) / lambda_nodes / span_floor,
            1.2,
        ),
        ratio(
            format!("3-step sequence traced vs {seq_nodes:.0} span floors + 3 fns"),
            get("3-step sequence, spans + metrics")
                / (seq_nodes * span_floor + get("3 fns (floor)")),
            1.2,
        ),
        ratio(
            "3-step sequence traced vs 5 nested span floors (by hand)".into(),
            get("3-step sequence, spans + metrics") / get("5 nested span + handles floors"),
            1.2,
        ),
        ratio(
            "retry, metrics vs tower-resilience retry".into(),
            get("lambda.retry, metrics") / get("tower-resilience retry"),
            1.0,
        ),
        ratio(
            "circuit breaker, metrics vs tower-resilience circuit breaker".into(),
            get("lambda.circuit_breaker, metrics") / get("tower-resilience circuit breaker"),
            1.0,
        ),
        ratio(
            "one instrumented lambda vs autometrics".into(),
            get("lambda, metrics") / get("autometrics"),
            0.3,
        ),
        ratio(
            "llm layer vs its floor (call excluded)".into(),
            (get("llm layer, spans + metrics") - get("llm provider, bare"))
                / (get("llm floor") - get("llm provider, bare")),
            1.3,
        ),
        Goal {
            what: "added per sequence step, bare".into(),
            value: (get("3-step sequence, bare") - get("3 fns (floor)")) / 3.0,
            limit: 30.0,
            unit: "ns",
        },
        // Not goals (no limit): the cost of one histogram sample and one
        // clock read, and the retry's ratio less the samples tower-resilience
        // does not take.
        Goal {
            what: "(not a goal) one histogram sample".into(),
            value: sample,
            limit: f64::INFINITY,
            unit: "ns",
        },
        Goal {
            what: "(not a goal) one clock read".into(),
            value: get("fn + clock read") - get("fn"),
            limit: f64::INFINITY,
            unit: "ns",
        },
        ratio(
            "(not a goal) retry less the 2 histogram samples tower-resilience does not take".into(),
            (get("lambda.retry, metrics") - 2.0 * sample) / get("tower-resilience retry"),
            f64::INFINITY,
        ),
        // Per set of node series recorded rather than per node: a
        // workflow's top-level node records none of its own (its series are
        // the workflow's, see crates/primitives-obs/README.md), so a traced
        // workflow of n nodes records n - 1 sets.
        ratio(
            format!(
                "(not a goal) metrics per set of node series, one lambda ({:.0} set)",
                lambda_nodes - 1.0
            ),
            metrics_per("lambda", lambda_nodes - 1.0),
            f64::INFINITY,
        ),
        ratio(
            format!(
                "(not a goal) metrics per set of node series, 3-step sequence ({:.0} sets)",
                seq_nodes - 1.0
            ),
            metrics_per("3-step sequence", seq_nodes - 1.0),
            f64::INFINITY,
        ),
    ]
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return; // `cargo test --benches` asks for the list; nothing to list
    }
    install_recorder();
    let spans = DiscardSpans::default();
    let sdk = SdkTracerProvider::builder()
        .with_span_processor(spans.clone())
        .build();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    let quick =
        std::env::args().any(|a| a == "--quick") || !std::env::args().any(|a| a == "--bench");
    let (rounds, iters) = if quick { (3, 2_000) } else { (ROUNDS, ITERS) };

    // `--only <text>`: just the cases whose name contains it, timed and
    // printed without the goals (to compare a few cases quickly).
    let only = std::env::args()
        .skip_while(|a| a != "--only")
        .nth(1)
        .unwrap_or_default();
    let mut cases = cases(&sdk);
    if !only.is_empty() {
        cases.retain(|(name, _)| name.contains(&only));
    }
    // `--iters <n>` (with `--only`): run each case n times and nothing
    // else, for an instruction profiler such as callgrind.
    let profile_iters = std::env::args()
        .skip_while(|a| a != "--iters")
        .nth(1)
        .map(|n| n.parse::<u32>().expect("--iters takes a number"));
    if let Some(iters) = profile_iters {
        for (_, case) in &mut cases {
            case(&rt, iters);
        }
        return;
    }
    // Warm up (handles, pools, thread-locals), then count what one warm
    // execution allocates and how many spans it ends.
    let mut allocs = Vec::new();
    let mut span_counts = Vec::new();
    for (_, case) in &mut cases {
        case(&rt, 100);
        let (blocks, ended) = (
            tta_primitives_obs::resources::thread_allocations(),
            spans.ended(),
        );
        case(&rt, 1_000);
        allocs
            .push((tta_primitives_obs::resources::thread_allocations() - blocks) as f64 / 1_000.0);
        span_counts.push((spans.ended() - ended) as f64 / 1_000.0);
    }

    let mut samples: Vec<Vec<f64>> = vec![Vec::new(); cases.len()];
    for _ in 0..rounds {
        for (i, (_, case)) in cases.iter_mut().enumerate() {
            let start = Instant::now();
            case(&rt, iters);
            samples[i].push(start.elapsed().as_nanos() as f64 / f64::from(iters));
        }
    }
    let ns: Vec<f64> = samples.iter().cloned().map(median).collect();
    let at = |name: &str| {
        cases
            .iter()
            .position(|(n, _)| *n == name)
            .unwrap_or_else(|| panic!("no case {name}"))
    };
    let spans_of = |name: &str| span_counts[at(name)];

    println!("\n| case | ns per execution | allocations | spans |\n|---|---:|---:|---:|");
    for (i, (name, _)) in cases.iter().enumerate() {
        println!(
            "| {name} | {:.0} | {:.1} | {:.0} |",
            ns[i], allocs[i], span_counts[i]
        );
    }

    if !only.is_empty() {
        return; // the goals need every case
    }
    // Each goal is computed within each round, from cases that ran within
    // about a second of each other, so a change of the machine's load
    // between rounds moves both sides of a ratio; the table gives the median
    // over the rounds and the middle half of them.
    let per_round: Vec<Vec<Goal>> = (0..rounds as usize)
        .map(|r| goals(&|name: &str| samples[at(name)][r], &spans_of))
        .collect();
    println!("\n| goal | median | middle half of rounds | limit | met |\n|---|---:|---:|---:|---|");
    for (g, goal) in per_round[0].iter().enumerate() {
        let mut values: Vec<f64> = per_round.iter().map(|round| round[g].value).collect();
        values.sort_by(f64::total_cmp);
        let quartile = |q: usize| values[(values.len() - 1) * q / 4];
        let value = quartile(2);
        let (unit, digits, limit_digits) = if goal.unit == "ns" {
            (" ns", 0, 0)
        } else {
            ("x", 2, 1)
        };
        let (limit, met) = match goal.limit {
            l if l.is_infinite() => ("–".to_owned(), "–"),
            l => (
                format!("{l:.limit_digits$}{unit}"),
                if value <= l { "yes" } else { "NO" },
            ),
        };
        println!(
            "| {} | {value:.digits$}{unit} | {:.digits$}–{:.digits$}{unit} | {limit} | {met} |",
            goal.what,
            quartile(1),
            quartile(3),
        );
    }
    if quick {
        println!(
            "\n(quick run: {rounds} rounds of {iters}; `cargo bench` runs {ROUNDS} rounds of {ITERS})"
        );
    }
}
