//! One workflow execution is exactly one trace, nested as the workflow is.

use std::{sync::Arc, time::Duration};

use opentelemetry::{
    Value,
    trace::{SpanId, Status, TracerProvider as _},
};
use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracerProvider, SpanData};
use tower::ServiceExt;
use tta_primitives_core::{Request, WorkflowContext, WorkflowError, prelude::*};
use tta_primitives_obs::{ChildSpanClock, InstrumentExt, Telemetry};

fn tracing() -> (
    InMemorySpanExporter,
    SdkTracerProvider,
    Arc<Telemetry<opentelemetry_sdk::trace::SdkTracer>>,
) {
    let (exporter, provider) = tta_test_support::spans::in_memory();
    let telemetry = Arc::new(Telemetry::with_tracer(provider.tracer("test")));
    (exporter, provider, telemetry)
}

fn attr<'a>(span: &'a SpanData, key: &str) -> Option<&'a Value> {
    span.attributes
        .iter()
        .find(|kv| kv.key.as_str() == key)
        .map(|kv| &kv.value)
}

/// Renders the span tree, children in start order, with the attributes that
/// describe the workflow's structure.
fn render(spans: &[SpanData]) -> String {
    tta_test_support::spans::render_tree(spans, |span| {
        let mut line = format!(
            "{} [{}]",
            span.name,
            attr(span, "tta.primitive.type").unwrap()
        );
        for key in [
            "tta.retry.attempt",
            "tta.retry.backoff_s",
            "tta.router.route",
            "tta.cache.hit",
            "tta.saga.phase",
            "tta.fallback.leg",
            "tta.cancelled",
            "error.type",
        ] {
            if let Some(v) = attr(span, key) {
                line.push_str(&format!(" {key}={v}"));
            }
        }
        if matches!(span.status, Status::Error { .. }) {
            line.push_str(" !error");
        }
        let events: Vec<_> = span.events.iter().map(|e| e.name.to_string()).collect();
        if !events.is_empty() {
            line.push_str(&format!(" events={}", events.join(",")));
        }
        line
    })
}

/// Every span starts no earlier and ends no later than its parent.
fn assert_nested_in_time(spans: &[SpanData]) {
    let faults = tta_test_support::spans::not_nested_in_time(spans);
    assert!(faults.is_empty(), "spans out of their parents: {faults:#?}");
}

fn ok(name: &'static str, f: fn(u32) -> u32) -> BoxPrimitive<u32, u32> {
    lambda(move |x: u32| async move { Ok::<_, WorkflowError>(f(x)) })
        .named(name)
        .into_boxed()
}

#[tokio::test(start_paused = true)]
async fn a_workflow_using_every_combinator_is_one_exactly_nested_trace() {
    let (exporter, _provider, telemetry) = tracing();

    let flaky = MockPrimitive::<u32, u32>::new()
        .then_fail(WorkflowError::msg("503"))
        .otherwise_return(10)
        .named("flaky_api");
    let retry = RetryPolicy::builder()
        .max_attempts(3)
        .initial_backoff(Duration::from_millis(10))
        .jitter(Jitter::None)
        .build()
        .unwrap();
    let fetch = flaky.retry(retry).named("fetch");
    let slow = lambda(|x: u32| async move {
        tokio::time::sleep(Duration::from_secs(5)).await;
        Ok::<_, WorkflowError>(x)
    })
    .named("slow_api");
    let price = slow
        .timeout(Duration::from_secs(1))
        .unwrap()
        .named("deadline")
        .fallback(ok("default_price", |_| 20))
        .named("price");
    let memo = ok("compute", |x| x * 3)
        .cache(|_, x: &u32| *x, CacheConfig::builder().build().unwrap())
        .named("memo");
    let gather = (fetch | price | memo).named("gather");
    let dispatch = router(|_, v: &Vec<u32>| if v.len() == 3 { "three" } else { "other" })
        .route(
            "three",
            lambda(|v: Vec<u32>| async move { Ok::<_, WorkflowError>(v.iter().sum::<u32>()) })
                .named("sum"),
        )
        .named("dispatch");
    let positive = when(|_, x: &u32| *x > 0, ok("bump", |x| x + 1)).named("positive");
    let breaker = ok("ledger", |x| x)
        .circuit_breaker(BreakerConfig::builder().build().unwrap())
        .named("breaker");
    let payment = Saga::new(
        ok("reserve", |x| x)
            .with_compensation(ok("release", |x| x))
            .named("reserve"),
    )
    .then(
        lambda(|_: u32| async {
            Err::<u32, _>(WorkflowError::with_kind("declined", "card declined"))
        })
        .named("charge")
        .with_compensation(ok("refund", |x| x))
        .named("charge"),
    )
    .named("payment");
    let pay = payment
        .fallback(ok("invoice_later", |x| x))
        .named("pay_or_invoice");

    let checkout = (ok("validate", |x| x) >> gather >> dispatch >> positive >> breaker >> pay)
        .instrumented_with(telemetry);

    let ctx = WorkflowContext::builder("checkout")
        .correlation_id("corr-42")
        .build();
    let out = checkout.oneshot(Request::new(ctx, 2)).await.unwrap();
    assert_eq!(out, 10 + 20 + 6 + 1);

    let spans = exporter.get_finished_spans().unwrap();
    let traces: std::collections::HashSet<_> =
        spans.iter().map(|s| s.span_context.trace_id()).collect();
    assert_eq!(
        traces.len(),
        1,
        "one workflow execution is exactly one trace"
    );
    let ids: std::collections::HashSet<_> =
        spans.iter().map(|s| s.span_context.span_id()).collect();
    for span in &spans {
        assert!(
            span.parent_span_id == SpanId::INVALID || ids.contains(&span.parent_span_id),
            "{} has a parent outside the trace",
            span.name
        );
    }
    let root = spans
        .iter()
        .find(|s| s.parent_span_id == SpanId::INVALID)
        .unwrap();
    assert_eq!(
        attr(root, "tta.correlation_id")
            .map(Value::to_string)
            .as_deref(),
        Some("corr-42")
    );

    let expected = "\
checkout [workflow]
  sequence [sequence]
    validate [lambda]
    gather [parallel]
      fetch [retry] events=retry.backoff
        flaky_api [mock] tta.retry.attempt=1 error.type=downstream !error events=exception
        flaky_api [mock] tta.retry.attempt=2 tta.retry.backoff_s=0.01
      price [fallback] tta.fallback.leg=1 events=fallback.finished
        deadline [timeout] error.type=timeout !error events=timeout,exception
          slow_api [lambda] tta.cancelled=true
        default_price [lambda]
      memo [cache] tta.cache.hit=false events=cache.miss
        compute [lambda]
    dispatch [router] tta.router.route=three
      sum [lambda]
    positive [conditional]
      bump [lambda]
    breaker [circuit_breaker]
      ledger [lambda]
    pay_or_invoice [fallback] tta.fallback.leg=1 events=fallback.finished
      payment [saga] error.type=compensated !error events=saga.compensating,saga.compensation,exception
        reserve [lambda] tta.saga.phase=forward
        charge [lambda] tta.saga.phase=forward error.type=declined !error events=exception
        release [lambda] tta.saga.phase=compensation
      invoice_later [lambda]
";
    assert_eq!(render(&spans), expected);
    assert_nested_in_time(&spans);
}

#[tokio::test]
async fn spans_nest_in_time_when_children_are_cancelled_after_their_parent_completes() {
    // Real time. A failing branch ends the parallel node at once; its slow
    // sibling is dropped (cancelled) only when the parallel node's future is,
    // after the node completed; a retry's second attempt runs after a
    // backoff; a timeout drops its step. Each ends within its parent.
    let (exporter, _provider, telemetry) = tracing();
    let slow = lambda(|x: u32| async move {
        tokio::time::sleep(Duration::from_millis(50)).await;
        Ok::<_, WorkflowError>(x)
    })
    .named("slow");
    let failing = lambda(|_: u32| async {
        tokio::time::sleep(Duration::from_millis(2)).await;
        Err::<u32, _>(WorkflowError::with_kind("rejected", "boom"))
    })
    .named("failing");
    let fan_out = (slow | failing).named("fan_out");
    let flaky = MockPrimitive::<u32, u32>::new()
        .then_fail(WorkflowError::msg("503"))
        .otherwise_return(1)
        .named("flaky")
        .retry(
            RetryPolicy::builder()
                .max_attempts(2)
                .initial_backoff(Duration::from_millis(1))
                .build()
                .unwrap(),
        )
        .named("again");
    let bounded = lambda(|x: u32| async move {
        tokio::time::sleep(Duration::from_millis(50)).await;
        Ok::<_, WorkflowError>(x)
    })
    .named("sleeper")
    .timeout(Duration::from_millis(3))
    .unwrap()
    .named("bounded")
    .fallback(ok("instead", |x| x));
    let recovered = lambda(|_: u32| async { Ok::<_, WorkflowError>(vec![0]) }).named("recovered");
    let wf = (flaky >> bounded >> fan_out.fallback(recovered)).instrumented_with(telemetry);
    let out = wf
        .oneshot(Request::new(WorkflowContext::new("nesting"), 1))
        .await
        .unwrap();
    assert_eq!(out, vec![0]);
    let spans = exporter.get_finished_spans().unwrap();
    assert!(
        spans.iter().any(|s| s.name == "slow"
            && attr(s, "tta.cancelled").map(Value::to_string).as_deref() == Some("true")),
        "the slow branch was cancelled"
    );
    assert_nested_in_time(&spans);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn branches_on_other_tasks_nest_under_their_parent() {
    let (exporter, _provider, telemetry) = tracing();
    // Each branch spawns its work on another task, handing over its context.
    let spawned = |name: &'static str| {
        from_fn(move |ctx: WorkflowContext, x: u32| async move {
            let inner = ok(name, |x| x + 1);
            tokio::spawn(async move { inner.oneshot(Request::new(ctx.child(), x)).await })
                .await
                .map_err(WorkflowError::downstream)?
        })
        .named("spawner")
    };
    let wf = (spawned("left") | spawned("right"))
        .named("fan")
        .instrumented_with(telemetry);
    let out = wf
        .oneshot(Request::new(WorkflowContext::new("tasks"), 1))
        .await
        .unwrap();
    assert_eq!(out, vec![2, 2]);
    let rendered = render(&exporter.get_finished_spans().unwrap());
    let mut lines: Vec<&str> = rendered.lines().collect();
    // Siblings may finish in either order on two threads: compare sorted subtrees.
    lines[2..].sort();
    assert_eq!(
        lines,
        [
            "tasks [workflow]",
            "  fan [parallel]",
            "      left [lambda]",
            "      right [lambda]",
            "    spawner [lambda]",
            "    spawner [lambda]",
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn a_typed_join_is_traced_as_a_parallel_node_with_its_branches_and_a_cancelled_sibling() {
    let (exporter, _provider, telemetry) = tracing();
    let user =
        lambda(|id: u32| async move { Ok::<_, WorkflowError>(format!("user-{id}")) }).named("user");
    let orders = lambda(|id: u32| async move {
        tokio::time::sleep(Duration::from_secs(5)).await;
        Ok::<_, WorkflowError>(vec![id])
    })
    .named("orders");
    let stock = lambda(|_: u32| async move {
        tokio::time::sleep(Duration::from_millis(10)).await;
        Err::<bool, _>(WorkflowError::with_kind("no_stock", "sold out"))
    })
    .named("stock");
    let page = join((user, orders, stock))
        .named("page")
        .instrumented_with(telemetry);
    let err = page
        .oneshot(Request::new(WorkflowContext::new("profile"), 3))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), "no_stock");
    let spans = exporter.get_finished_spans().unwrap();
    assert_eq!(
        render(&spans),
        "\
profile [workflow] error.type=no_stock !error
  page [parallel] error.type=no_stock !error
    user [lambda]
    orders [lambda] tta.cancelled=true
    stock [lambda] error.type=no_stock !error events=exception
"
    );
    assert_nested_in_time(&spans);
}

#[tokio::test(start_paused = true)]
async fn an_error_has_one_exception_event_where_it_arose_and_an_expected_error_none() {
    let (exporter, _provider, telemetry) = tracing();
    let policy = RetryPolicy::builder()
        .max_attempts(2)
        .jitter(Jitter::None)
        .build()
        .unwrap();
    let lookup = lambda(|id: u32| async move {
        match id {
            0 => Err::<u32, _>(WorkflowError::expected("not_found", "no user 0")),
            1 => Err(WorkflowError::permanent("corrupt", "bad row")),
            _ => Err(WorkflowError::transient("unavailable", "503")),
        }
    })
    .named("lookup")
    .retry(policy)
    .named("fetch");
    let wf = (ok("parse", |x| x) >> lookup).instrumented_with(telemetry);
    for id in [0, 1, 2] {
        let err = wf
            .clone()
            .oneshot(Request::new(WorkflowContext::new("user"), id))
            .await
            .unwrap_err();
        assert_eq!(
            err.kind(),
            ["not_found", "corrupt", "retries_exhausted"][id as usize]
        );
    }
    let spans = exporter.get_finished_spans().unwrap();
    let class = |kind: &str| {
        let classes: std::collections::BTreeSet<_> = spans
            .iter()
            .filter(|s| attr(s, "error.type").map(Value::to_string).as_deref() == Some(kind))
            .filter_map(|s| attr(s, "tta.error.class").map(Value::to_string))
            .collect();
        classes.into_iter().collect::<Vec<_>>()
    };
    assert_eq!(class("not_found"), ["expected"]);
    assert_eq!(class("corrupt"), ["permanent"]);
    assert_eq!(class("unavailable"), ["transient"]);
    assert_eq!(
        render(&spans),
        "\
user [workflow] error.type=not_found
  sequence [sequence] error.type=not_found
    parse [lambda]
    fetch [retry] error.type=not_found
      lookup [lambda] tta.retry.attempt=1 error.type=not_found
user [workflow] error.type=corrupt !error
  sequence [sequence] error.type=corrupt !error
    parse [lambda]
    fetch [retry] error.type=corrupt !error
      lookup [lambda] tta.retry.attempt=1 error.type=corrupt !error events=exception
user [workflow] error.type=retries_exhausted !error
  sequence [sequence] error.type=retries_exhausted !error
    parse [lambda]
    fetch [retry] error.type=retries_exhausted !error events=retry.backoff,exception
      lookup [lambda] tta.retry.attempt=1 error.type=unavailable !error events=exception
      lookup [lambda] tta.retry.attempt=2 tta.retry.backoff_s=0.1 error.type=unavailable !error events=exception
",
        "an expected error is neither retried nor an error status; the others have one \
         exception event, where they arose"
    );
}

#[tokio::test]
async fn sequence_steps_do_not_overlap() {
    // Real time (not paused): span times come from the system clock.
    let (exporter, _provider, telemetry) = tracing();
    let wf = (ok("one", |x| x + 1) >> ok("two", |x| x + 1) >> ok("three", |x| x + 1))
        .instrumented_with(telemetry);
    assert_eq!(
        wf.oneshot(Request::new(WorkflowContext::new("steps"), 0))
            .await
            .unwrap(),
        3
    );
    let spans = exporter.get_finished_spans().unwrap();
    let by_name = |n: &str| spans.iter().find(|s| s.name == n).unwrap();
    // Each step ends (at its completion) before the next starts, although a
    // finished step's end is reported only once the next one has started.
    for (a, b) in [("one", "two"), ("two", "three")] {
        assert!(
            by_name(a).end_time <= by_name(b).start_time,
            "{a} overlaps {b}"
        );
    }
}

#[tokio::test]
async fn a_spans_step_index_is_its_position_among_its_parents_children() {
    let (exporter, _provider, telemetry) = tracing();
    let wf = (ok("one", |x| x + 1) >> ok("two", |x| x + 1) >> ok("three", |x| x + 1))
        .instrumented_with(telemetry);
    wf.oneshot(Request::new(WorkflowContext::new("steps"), 0))
        .await
        .unwrap();
    let spans = exporter.get_finished_spans().unwrap();
    let index = |n: &str| {
        let span = spans.iter().find(|s| s.name == n).unwrap();
        attr(span, "tta.step.index").map(Value::to_string)
    };
    assert_eq!(index("steps"), None, "the root is nobody's child");
    for (name, at) in [
        ("sequence", "0"),
        ("one", "0"),
        ("two", "1"),
        ("three", "2"),
    ] {
        assert_eq!(index(name).as_deref(), Some(at), "{name}");
    }
}

#[tokio::test]
async fn a_failing_service_call_has_error_type_status_and_an_exception_event() {
    use tta_primitives_obs::layer::TelemetryLayer;
    let exporter = InMemorySpanExporter::default();
    let provider = SdkTracerProvider::builder()
        .with_simple_exporter(exporter.clone())
        .build();
    let api = tower::ServiceBuilder::new()
        .layer(TelemetryLayer::http_server("span_api", "orders").with_tracer_provider(&provider))
        .service(tower::service_fn(|_: http::Request<()>| async {
            Ok::<_, std::convert::Infallible>(
                http::Response::builder().status(502).body(()).unwrap(),
            )
        }));
    api.oneshot(http::Request::get("/orders/7").body(()).unwrap())
        .await
        .unwrap();
    let spans = exporter.get_finished_spans().unwrap();
    let [span] = spans.as_slice() else {
        panic!("{spans:?}")
    };
    assert_eq!(span.name, "GET");
    assert_eq!(
        attr(span, "error.type").map(Value::to_string).as_deref(),
        Some("http_5xx")
    );
    assert_eq!(
        attr(span, "http.response.status_code")
            .map(Value::to_string)
            .as_deref(),
        Some("502")
    );
    assert!(matches!(span.status, Status::Error { .. }));
    assert_eq!(
        span.events
            .iter()
            .map(|e| e.name.to_string())
            .collect::<Vec<_>>(),
        ["exception"]
    );
}

#[tokio::test]
async fn a_made_up_http_method_mints_no_span_name_or_attribute_value() {
    use tta_primitives_obs::layer::TelemetryLayer;
    let exporter = InMemorySpanExporter::default();
    let provider = SdkTracerProvider::builder()
        .with_simple_exporter(exporter.clone())
        .build();
    let api = tower::ServiceBuilder::new()
        .layer(TelemetryLayer::http_server("span_api", "orders").with_tracer_provider(&provider))
        .service(tower::service_fn(|_: http::Request<()>| async {
            Ok::<_, std::convert::Infallible>(http::Response::new(()))
        }));
    for method in ["X-CLIENT-CHOSEN-1", "X-CLIENT-CHOSEN-2", "PATCH"] {
        let request = http::Request::builder()
            .method(http::Method::from_bytes(method.as_bytes()).unwrap())
            .uri("/orders/7")
            .body(())
            .unwrap();
        api.clone().oneshot(request).await.unwrap();
    }
    let spans = exporter.get_finished_spans().unwrap();
    let shown: Vec<(String, Option<String>, Option<String>)> = spans
        .iter()
        .map(|s| {
            (
                s.name.to_string(),
                attr(s, "http.request.method").map(Value::to_string),
                attr(s, "http.request.method_original").map(Value::to_string),
            )
        })
        .collect();
    assert_eq!(
        shown,
        [
            (
                "HTTP".to_owned(),
                Some("_OTHER".to_owned()),
                Some("X-CLIENT-CHOSEN-1".to_owned())
            ),
            (
                "HTTP".to_owned(),
                Some("_OTHER".to_owned()),
                Some("X-CLIENT-CHOSEN-2".to_owned())
            ),
            ("PATCH".to_owned(), Some("PATCH".to_owned()), None),
        ]
    );
}

/// Configuring a layer after cloning it is safe: the setting applies to
/// that layer, and the clone made before keeps its own.
#[tokio::test]
async fn a_layer_configured_after_it_was_cloned_changes_alone() {
    use opentelemetry::trace::SpanKind;
    use tta_primitives_obs::layer::TelemetryLayer;

    let exporter = InMemorySpanExporter::default();
    let provider = SdkTracerProvider::builder()
        .with_simple_exporter(exporter.clone())
        .build();
    let traced = TelemetryLayer::new("cow", "svc").with_tracer_provider(&provider);
    let quiet = traced.clone().metrics_only();
    let as_client = traced.clone().span_kind(SpanKind::Client);
    let echo = tower::service_fn(|x: u32| async move { Ok::<_, std::convert::Infallible>(x) });
    for layer in [&traced, &quiet, &as_client] {
        let svc = tower::ServiceBuilder::new()
            .layer(layer.clone())
            .service(echo);
        assert_eq!(svc.oneshot(1).await.unwrap(), 1);
    }
    let kinds: Vec<SpanKind> = exporter
        .get_finished_spans()
        .unwrap()
        .into_iter()
        .map(|s| s.span_kind)
        .collect();
    assert_eq!(
        kinds,
        [SpanKind::Internal, SpanKind::Client],
        "the quiet clone made no span"
    );
}

#[tokio::test]
async fn a_layer_span_is_a_child_of_the_span_current_at_the_call() {
    use opentelemetry::trace::{
        FutureExt as _, TraceContextExt as _, Tracer as _, TracerProvider as _,
    };
    use tta_primitives_obs::layer::TelemetryLayer;
    let exporter = InMemorySpanExporter::default();
    let provider = SdkTracerProvider::builder()
        .with_simple_exporter(exporter.clone())
        .build();
    let service = tower::ServiceBuilder::new()
        .layer(TelemetryLayer::new("span_api", "lookup").with_tracer_provider(&provider))
        .service(tower::service_fn(|n: u32| async move {
            Ok::<_, std::convert::Infallible>(n)
        }));
    let outer = provider.tracer("test").start("outer");
    let cx = opentelemetry::Context::current_with_span(outer);
    let answer = service.oneshot(7).with_context(cx.clone()).await.unwrap();
    assert_eq!(answer, 7);
    cx.span().end();
    let spans = exporter.get_finished_spans().unwrap();
    let [lookup, outer] = spans.as_slice() else {
        panic!("{spans:?}")
    };
    assert_eq!(
        (lookup.name.as_ref(), outer.name.as_ref()),
        ("lookup", "outer")
    );
    assert_eq!(lookup.parent_span_id, outer.span_context.span_id());
    assert_eq!(
        lookup.span_context.trace_id(),
        outer.span_context.trace_id()
    );
}

/// Runs `open_stream >> pass` traced, where `open_stream` hands out a child
/// span's clock (as a step returning an LLM stream does); returns the spans
/// (with their provider, kept alive: the in-memory exporter forgets them
/// when it shuts down) and the clock.
async fn a_stream_left_open() -> (InMemorySpanExporter, SdkTracerProvider, ChildSpanClock) {
    let (exporter, provider, telemetry) = tracing();
    let open_stream = from_fn(|ctx: WorkflowContext, (): ()| async move {
        Ok::<_, WorkflowError>(ChildSpanClock::under(&ctx).expect("a traced step has a clock"))
    })
    .named("open_stream");
    let pass =
        lambda(|clock: ChildSpanClock| async move { Ok::<_, WorkflowError>(clock) }).named("pass");
    let wf = (open_stream >> pass).instrumented_with(telemetry);
    let clock = wf
        .oneshot(Request::new(WorkflowContext::new("streaming"), ()))
        .await
        .unwrap();
    let ended_early: Vec<_> = exporter
        .get_finished_spans()
        .unwrap()
        .into_iter()
        .map(|s| s.name.to_string())
        .collect();
    assert_eq!(ended_early, ["pass"], "the rest wait for the stream");
    (exporter, provider, clock)
}

/// The spans' names, each with whether it ended at `end`.
fn ended_at(spans: &[SpanData], end: std::time::SystemTime) -> Vec<(String, bool)> {
    spans
        .iter()
        .map(|s| (s.name.to_string(), s.end_time == end))
        .collect()
}

#[tokio::test]
async fn a_span_outliving_its_step_holds_the_step_and_its_ancestors_open_until_it_ends() {
    let (exporter, _provider, clock) = a_stream_left_open().await;
    let shown = format!("{clock:?}");
    assert!(
        shown.starts_with("ChildSpanClock { start: SystemTime {") && shown.ends_with(", .. }"),
        "{shown}"
    );
    let end = clock.end();
    let spans = exporter.get_finished_spans().unwrap();
    assert_eq!(
        ended_at(&spans, end),
        [
            ("pass".into(), false),
            ("open_stream".into(), true),
            ("sequence".into(), true),
            ("streaming".into(), true)
        ]
    );
    assert_nested_in_time(&spans);
}

#[tokio::test]
async fn a_child_clock_dropped_unended_ends_the_spans_it_held_at_the_drop() {
    let (exporter, _provider, clock) = a_stream_left_open().await;
    drop(clock);
    let spans = exporter.get_finished_spans().unwrap();
    let held = spans.iter().find(|s| s.name == "open_stream").unwrap();
    assert_eq!(
        ended_at(&spans, held.end_time),
        [
            ("pass".into(), false),
            ("open_stream".into(), true),
            ("sequence".into(), true),
            ("streaming".into(), true)
        ],
        "one end, the drop's, for every span the clock held"
    );
    assert_nested_in_time(&spans);
}

#[tokio::test]
async fn a_child_ended_inside_its_step_leaves_the_step_to_end_on_its_own() {
    let (exporter, _provider, telemetry) = tracing();
    let step = from_fn(|ctx: WorkflowContext, (): ()| async move {
        let child_end = ChildSpanClock::under(&ctx).unwrap().end();
        // The step goes on after its child ended.
        tokio::task::yield_now().await;
        Ok::<_, WorkflowError>(child_end)
    })
    .named("step");
    let child_end = step
        .instrumented_with(telemetry)
        .oneshot(Request::new(WorkflowContext::new("inside"), ()))
        .await
        .unwrap();
    let spans = exporter.get_finished_spans().unwrap();
    let step = spans.iter().find(|s| s.name == "step").unwrap();
    assert!(
        step.end_time > child_end,
        "the step ends after the work that followed its child"
    );
    assert_nested_in_time(&spans);
}

#[tokio::test]
async fn telemetry_from_a_tracer_provider_traces_into_it_under_the_crates_scope() {
    let (exporter, provider) = tta_test_support::spans::in_memory();
    let telemetry = Arc::new(Telemetry::with_tracer_provider(&provider));
    assert_eq!(format!("{telemetry:?}"), "Telemetry { traces: true }");
    assert_eq!(
        format!("{:?}", Telemetry::metrics_only()),
        "Telemetry { traces: false }"
    );
    let out = ok("only", |x| x + 1)
        .instrumented_with(telemetry)
        .oneshot(Request::new(WorkflowContext::new("provided"), 1))
        .await
        .unwrap();
    assert_eq!(out, 2);
    let spans: Vec<_> = exporter
        .get_finished_spans()
        .unwrap()
        .into_iter()
        .map(|s| {
            (
                s.name.to_string(),
                s.instrumentation_scope.name().to_owned(),
            )
        })
        .collect();
    let scope = tta_primitives_obs::INSTRUMENTATION_NAME.to_owned();
    assert_eq!(
        spans,
        [
            ("only".to_owned(), scope.clone()),
            ("provided".to_owned(), scope)
        ]
    );
}

/// Each span event of a span, as `event k=v ...`, exceptions left out.
fn events_of(spans: &[SpanData], name: &str) -> Vec<String> {
    let span = spans.iter().find(|s| s.name == name).unwrap();
    span.events
        .iter()
        .filter(|e| e.name != "exception")
        .map(|e| {
            let mut line = e.name.to_string();
            for kv in &e.attributes {
                line.push_str(&format!(" {}={}", kv.key, kv.value));
            }
            line
        })
        .collect()
}

#[tokio::test(start_paused = true)]
async fn cache_breaker_timeout_and_saga_events_carry_what_happened() {
    let (exporter, _provider, telemetry) = tracing();
    let memo = ok("compute", |x| x * 3)
        .cache(
            |_, x: &u32| *x,
            CacheConfig::builder().capacity(1).build().unwrap(),
        )
        .named("memo")
        .instrumented_with(telemetry.clone());
    let breaker = lambda(|_: u32| async { Err::<u32, _>(WorkflowError::msg("down")) })
        .named("ledger")
        .circuit_breaker(
            BreakerConfig::builder()
                .policy(FailurePolicy::ConsecutiveFailures(1))
                .build()
                .unwrap(),
        )
        .named("breaker")
        .instrumented_with(telemetry.clone());
    let bounded = lambda(|x: u32| async move {
        tokio::time::sleep(Duration::from_secs(5)).await;
        Ok::<_, WorkflowError>(x)
    })
    .named("slow")
    .timeout(Duration::from_millis(1500))
    .unwrap()
    .named("bounded")
    .instrumented_with(telemetry.clone());
    let run = |wf: &str| Request::new(WorkflowContext::new(wf.to_owned()), 0);

    for (key, wf) in [(1, "miss"), (2, "evict"), (2, "hit")] {
        let req = run(wf).map(|_| key);
        assert_eq!(memo.clone().oneshot(req).await.unwrap(), key * 3);
    }
    for wf in ["trip", "rejected"] {
        breaker.clone().oneshot(run(wf)).await.unwrap_err();
    }
    bounded.oneshot(run("late")).await.unwrap_err();
    let saga = Saga::new(
        ok("book", |x| x)
            .with_compensation(
                lambda(|_: u32| async { Err::<u32, _>(WorkflowError::with_kind("stuck", "no")) })
                    .named("unbook"),
            )
            .named("book"),
    )
    .then(
        lambda(|_: u32| async { Err::<u32, _>(WorkflowError::msg("declined")) })
            .named("pay")
            .with_compensation(ok("refund", |x| x))
            .named("pay"),
    )
    .named("trip")
    .instrumented_with(telemetry);
    saga.oneshot(run("undo")).await.unwrap_err();

    let spans = exporter.get_finished_spans().unwrap();
    let of = |workflow: &str, node: &str| {
        let only: Vec<_> = spans
            .iter()
            .filter(|s| {
                s.attributes.iter().any(|kv| {
                    kv.key.as_str() == "tta.workflow.name" && kv.value.as_str() == workflow
                })
            })
            .cloned()
            .collect();
        let hit = only
            .iter()
            .find(|s| s.name == node)
            .and_then(|s| attr(s, "tta.cache.hit"))
            .map(Value::to_string);
        (events_of(&only, node), hit)
    };
    assert_eq!(
        of("miss", "memo"),
        (
            vec!["cache.miss tta.cache.coalesced=false".to_owned()],
            Some("false".into())
        )
    );
    assert_eq!(
        of("evict", "memo"),
        (
            vec![
                "cache.miss tta.cache.coalesced=false".to_owned(),
                "cache.eviction tta.cache.eviction_reason=capacity".to_owned()
            ],
            Some("false".into())
        )
    );
    assert_eq!(
        of("hit", "memo"),
        (vec!["cache.hit".to_owned()], Some("true".into()))
    );
    assert_eq!(
        of("trip", "breaker").0,
        ["circuit_breaker.transition tta.circuit_breaker.from=closed tta.circuit_breaker.to=open"]
    );
    assert_eq!(
        of("rejected", "breaker").0,
        ["circuit_breaker.rejected tta.circuit_breaker.state=open"]
    );
    assert_eq!(of("late", "bounded").0, ["timeout tta.timeout.after_s=1.5"]);
    assert_eq!(
        of("undo", "trip").0,
        [
            "saga.compensating tta.saga.step=book",
            "saga.compensation tta.saga.step=book error.type=stuck"
        ]
    );
}
