//! Catalogue metrics through a real Prometheus recorder, read back with the
//! reference exposition parser.

mod support;

use std::{sync::Arc, time::Duration};

use proptest::prelude::*;
use support::{parse_exposition, prometheus, value};
use tower::ServiceExt;
use tta_primitives_core::{Request, WorkflowContext, WorkflowError, prelude::*};
use tta_primitives_obs::{
    InstrumentExt, Telemetry,
    catalogue::{BUILTIN, Catalogue, CatalogueError, MetricDef},
    series::{CounterSeries, DEFAULT_SERIES_CAP, GaugeSeries, HistogramSeries, OVERFLOW},
};

#[test]
fn every_builtin_definition_is_valid_and_unique() {
    let mut names = std::collections::HashSet::new();
    for def in BUILTIN {
        def.validate().unwrap_or_else(|e| panic!("{e}"));
        assert!(names.insert(def.name), "{} defined twice", def.name);
        assert!(def.name.starts_with("tta_"));
    }
}

#[test]
fn conflicting_and_invalid_definitions_are_refused() {
    static A: MetricDef = MetricDef::counter("test_conflict_total", "A.", &["x"]);
    static B: MetricDef = MetricDef::gauge("test_conflict_total", "B.", &["x"]);
    static BAD_NAME: MetricDef = MetricDef::counter("test bad_total", "Bad.", &[]);
    static NO_SUFFIX: MetricDef = MetricDef::counter("test_requests", "Bad.", &[]);
    static BAD_LABEL: MetricDef = MetricDef::counter("test_labels_total", "Bad.", &["le"]);
    let catalogue = Catalogue::global();
    catalogue.register(&A).unwrap();
    let err = catalogue.register(&B).unwrap_err();
    assert!(matches!(err, CatalogueError::Conflict { .. }));
    assert!(
        err.to_string().contains("already registered as a counter"),
        "{err}"
    );
    for (def, needle) in [
        (&BAD_NAME, "must match"),
        (&NO_SUFFIX, "_total"),
        (&BAD_LABEL, "reserved"),
    ] {
        let err = catalogue.register(def).unwrap_err();
        assert!(err.to_string().contains(needle), "{err}");
    }
    assert!(
        CounterSeries::new(&B).is_err(),
        "a gauge definition cannot back a counter series"
    );
}

#[tokio::test(start_paused = true)]
async fn a_workflow_emits_the_catalogue_metrics() {
    let handle = prometheus();
    let flaky = MockPrimitive::<u32, u32>::new()
        .then_fail(WorkflowError::msg("503"))
        .otherwise_return(1)
        .named("m_flaky");
    let retry = RetryPolicy::builder()
        .max_attempts(3)
        .initial_backoff(Duration::from_millis(20))
        .jitter(Jitter::None)
        .build()
        .unwrap();
    let cached = lambda(|x: u32| async move { Ok::<_, WorkflowError>(x) })
        .named("m_load")
        .cache(|_, x: &u32| *x, CacheConfig::builder().build().unwrap())
        .named("m_cache");
    let wf = (flaky.retry(retry).named("m_retry") >> cached)
        .instrumented_with(Arc::new(Telemetry::metrics_only()));
    for _ in 0..3 {
        let ctx = WorkflowContext::new("metrics_wf");
        wf.clone().oneshot(Request::new(ctx, 0)).await.unwrap();
    }

    let text = handle.render();
    let samples = parse_exposition(&text);
    let exec = |primitive: &str, outcome: &str, error_type: &str| {
        value(
            &samples,
            "tta_primitive_executions_total",
            &[
                ("workflow", "metrics_wf"),
                ("primitive", primitive),
                ("outcome", outcome),
                ("error_type", error_type),
            ],
        )
    };
    assert_eq!(
        exec("metrics_wf", "success", ""),
        Some(3.0),
        "the workflow node"
    );
    assert_eq!(
        exec("sequence", "success", ""),
        None,
        "the top-level sequence's series are the workflow's"
    );
    assert_eq!(exec("m_flaky", "error", "downstream"), Some(1.0));
    assert_eq!(exec("m_flaky", "success", ""), Some(3.0));
    assert_eq!(exec("m_retry", "success", ""), Some(3.0));
    assert_eq!(
        exec("m_load", "success", ""),
        Some(1.0),
        "loaded once, then cached"
    );
    assert_eq!(
        value(
            &samples,
            "tta_primitive_duration_seconds_count",
            &[
                ("workflow", "metrics_wf"),
                ("primitive", "m_retry"),
                ("outcome", "success")
            ]
        ),
        Some(3.0)
    );
    // Node durations are real time (the node clock), so the first call's
    // 20 ms backoff on the paused test clock does not stretch them: all three
    // calls took microseconds.
    let bucket = |le: &str| {
        value(
            &samples,
            "tta_primitive_duration_seconds_bucket",
            &[("primitive", "m_retry"), ("outcome", "success"), ("le", le)],
        )
    };
    assert_eq!((bucket("0.01"), bucket("0.025")), (Some(3.0), Some(3.0)));
    assert_eq!(
        value(
            &samples,
            "tta_primitive_in_flight",
            &[("workflow", "metrics_wf"), ("primitive", "m_retry")]
        ),
        Some(0.0)
    );
    assert_eq!(
        value(
            &samples,
            "tta_cache_requests_total",
            &[("primitive", "m_cache"), ("result", "hit")]
        ),
        Some(2.0)
    );
    assert_eq!(
        value(
            &samples,
            "tta_cache_requests_total",
            &[("primitive", "m_cache"), ("result", "miss")]
        ),
        Some(1.0)
    );
    assert_eq!(
        value(&samples, "tta_cache_entries", &[("primitive", "m_cache")]),
        Some(1.0)
    );
    assert_eq!(
        value(
            &samples,
            "tta_retry_calls_total",
            &[("primitive", "m_retry"), ("result", "success_after_retry")]
        ),
        Some(1.0)
    );
    assert_eq!(
        value(
            &samples,
            "tta_retry_calls_total",
            &[
                ("primitive", "m_retry"),
                ("result", "success_first_attempt")
            ]
        ),
        Some(2.0)
    );
    assert_eq!(
        value(
            &samples,
            "tta_retry_backoff_seconds_count",
            &[("primitive", "m_retry")]
        ),
        Some(1.0)
    );
    assert_eq!(
        value(
            &samples,
            "tta_retry_attempts_sum",
            &[("primitive", "m_retry")]
        ),
        Some(4.0)
    );
    // HELP and TYPE come from the catalogue.
    assert!(text.contains("# TYPE tta_primitive_executions_total counter"));
    assert!(
        text.contains("# HELP tta_primitive_executions_total Executions of workflow primitives")
    );
    assert!(text.contains("# TYPE tta_primitive_duration_seconds histogram"));
}

/// A step that passes its input on: put after a node under test, it makes
/// that node a step of the workflow, not its top-level node.
fn pass_on() -> impl tta_primitives_core::Primitive
+ tower::Service<Request<u32>, Response = u32, Error = WorkflowError>
+ Clone {
    lambda(|x: u32| async move { Ok::<_, WorkflowError>(x) }).named("pass_on")
}

#[tokio::test]
async fn a_workflows_top_level_node_has_the_workflows_series_not_its_own() {
    // The root wraps the top-level node: same clock readings, same outcome.
    // Their executions, durations and in-flight counts are one set of
    // series, the workflow's; the top-level node keeps its type's own.
    let handle = prometheus();
    let policy = RetryPolicy::builder().max_attempts(2).build().unwrap();
    let wf = lambda(|x: u32| async move { Ok::<_, WorkflowError>(x) })
        .named("top_attempt")
        .retry(policy)
        .named("top_retry")
        .instrumented_with(Arc::new(Telemetry::metrics_only()));
    for _ in 0..2 {
        let ctx = WorkflowContext::new("top_wf");
        wf.clone().oneshot(Request::new(ctx, 1)).await.unwrap();
    }
    let samples = parse_exposition(&handle.render());
    let node = |metric: &str, primitive: &str| {
        let mut labels = vec![("workflow", "top_wf"), ("primitive", primitive)];
        if metric != "tta_primitive_in_flight" {
            labels.push(("outcome", "success"));
        }
        value(&samples, metric, &labels)
    };
    let generic = [
        "tta_primitive_executions_total",
        "tta_primitive_duration_seconds_count",
        "tta_primitive_in_flight",
    ];
    assert_eq!(
        generic.map(|m| node(m, "top_wf")),
        [Some(2.0), Some(2.0), Some(0.0)],
        "the workflow's series"
    );
    assert_eq!(
        generic.map(|m| node(m, "top_attempt")),
        [Some(2.0), Some(2.0), Some(0.0)],
        "the attempt, a step below the top"
    );
    let own: Vec<_> = samples
        .iter()
        .filter(|(name, l, _)| {
            name.starts_with("tta_primitive_")
                && l.get("primitive").map(String::as_str) == Some("top_retry")
        })
        .collect();
    assert!(own.is_empty(), "the top-level node's own: {own:?}");
    assert_eq!(
        value(
            &samples,
            "tta_retry_calls_total",
            &[
                ("primitive", "top_retry"),
                ("result", "success_first_attempt")
            ]
        ),
        Some(2.0),
        "the retry's own metrics stay"
    );
    assert_eq!(
        value(
            &samples,
            "tta_retry_attempts_count",
            &[("primitive", "top_retry")]
        ),
        Some(2.0)
    );
}

#[test]
fn the_cardinality_guard_folds_overflow_into_one_series_and_counts_it() {
    static USERS: MetricDef =
        MetricDef::counter("test_logins_total", "Logins.", &["user", "method"]);
    let handle = prometheus();
    let logins = CounterSeries::new(&USERS).unwrap().with_cap(3);
    for i in 0..10 {
        logins.increment(&[&format!("user-{i}"), "password"], 1);
    }
    logins.increment(&["user-0", "password"], 1);
    assert_eq!(logins.len(), 3);
    let samples = parse_exposition(&handle.render());
    let series: Vec<_> = samples
        .iter()
        .filter(|(n, _, _)| n == "test_logins_total")
        .collect();
    assert_eq!(
        series.len(),
        4,
        "3 label sets and the overflow series: {series:?}"
    );
    assert_eq!(
        value(&samples, "test_logins_total", &[("user", "user-0")]),
        Some(2.0)
    );
    assert_eq!(
        value(
            &samples,
            "test_logins_total",
            &[("user", OVERFLOW), ("method", OVERFLOW)]
        ),
        Some(7.0)
    );
    assert_eq!(
        value(
            &samples,
            "tta_metric_series_overflow_total",
            &[("metric", "test_logins_total")]
        ),
        Some(7.0)
    );
}

#[test]
fn gauge_and_histogram_series_move_by_label_set() {
    static QUEUE: MetricDef = MetricDef::gauge("test_queue_depth", "Queued jobs.", &["queue"]);
    static WAIT: MetricDef =
        MetricDef::histogram("test_wait_seconds", "Waits.", &["queue"], &[0.1, 1.0]);
    let handle = prometheus();
    let depth = GaugeSeries::new(&QUEUE).unwrap();
    let wait = HistogramSeries::new(&WAIT).unwrap();
    assert!(depth.is_empty() && wait.is_empty());
    assert_eq!(
        format!("{depth:?}"),
        format!("Series {{ metric: \"test_queue_depth\", cap: {DEFAULT_SERIES_CAP}, .. }}")
    );
    depth.set(&["mail"], 2.0);
    depth.add(&["mail"], 3.0);
    depth.add(&["print"], -1.0);
    for seconds in [0.05, 0.5, 2.0] {
        wait.record(&["mail"], seconds);
    }
    assert_eq!((depth.len(), wait.len()), (2, 1));
    assert!(!depth.is_empty());
    let samples = parse_exposition(&handle.render());
    let v = |name, queue| value(&samples, name, &[("queue", queue)]);
    assert_eq!(
        (
            v("test_queue_depth", "mail"),
            v("test_queue_depth", "print")
        ),
        (Some(5.0), Some(-1.0))
    );
    assert_eq!(
        (
            v("test_wait_seconds_count", "mail"),
            v("test_wait_seconds_sum", "mail")
        ),
        (Some(3.0), Some(2.55))
    );
}

#[test]
fn label_sets_of_the_wrong_length_are_normalised() {
    static ODD: MetricDef = MetricDef::counter("test_odd_total", "Odd.", &["a", "b"]);
    let handle = prometheus();
    let odd = CounterSeries::new(&ODD).unwrap();
    odd.increment(&["only-a"], 1);
    odd.increment(&["x", "y", "extra"], 1);
    let samples = parse_exposition(&handle.render());
    assert_eq!(
        value(&samples, "test_odd_total", &[("a", "only-a"), ("b", "")]),
        Some(1.0)
    );
    assert_eq!(
        value(&samples, "test_odd_total", &[("a", "x"), ("b", "y")]),
        Some(1.0)
    );
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_label_values_never_break_the_exposition(
        values in prop::collection::vec(
            prop_oneof![
                Just(String::new()),
                Just("\"".to_owned()),
                Just("\\".to_owned()),
                Just("\n".to_owned()),
                Just("}{,=".to_owned()),
                ".*",
                "[\\PC\"\\\\\n]{0,12}",
            ],
            1..12,
        ),
    ) {
        // One metric per case keeps the cases independent.
        static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let name: &'static str = Box::leak(format!("test_labels_{n}_total").into_boxed_str());
        let def: &'static MetricDef = Box::leak(Box::new(MetricDef::counter(name, "Label values from proptest.", &["value"])));
        let handle = prometheus();
        let series = CounterSeries::new(def).unwrap();
        for v in &values {
            series.increment(&[v.as_str()], 1);
        }
        let samples = parse_exposition(&handle.render());
        for v in &values {
            let expected = values.iter().filter(|w| *w == v).count() as f64;
            prop_assert_eq!(value(&samples, name, &[("value", v)]), Some(expected), "label value {:?}", v);
        }
    }
}

#[tokio::test]
async fn the_layer_instruments_any_service_and_classifies_http_failures() {
    use tta_primitives_obs::layer::TelemetryLayer;
    let handle = prometheus();
    let api = tower::ServiceBuilder::new()
        .layer(TelemetryLayer::http_server("layer_api", "orders").metrics_only())
        .service(tower::service_fn(|req: http::Request<()>| async move {
            let status = match req.uri().path() {
                "/boom" => 503,
                "/missing" => 404,
                _ => 200,
            };
            Ok::<_, std::convert::Infallible>(
                http::Response::builder().status(status).body(()).unwrap(),
            )
        }));
    for path in ["/ok", "/ok", "/boom", "/missing"] {
        let req = http::Request::get(path).body(()).unwrap();
        api.clone().oneshot(req).await.unwrap();
    }
    let generic = tower::ServiceBuilder::new()
        .layer(TelemetryLayer::new("layer_jobs", "parse").metrics_only())
        .service(tower::service_fn(|s: &'static str| async move {
            s.parse::<u32>()
        }));
    assert!(generic.clone().oneshot("12").await.is_ok());
    assert!(generic.oneshot("x").await.is_err());

    let samples = parse_exposition(&handle.render());
    let exec = |wf: &str, outcome: &str, error_type: &str| {
        value(
            &samples,
            "tta_primitive_executions_total",
            &[
                ("workflow", wf),
                ("primitive_type", "service"),
                ("outcome", outcome),
                ("error_type", error_type),
            ],
        )
    };
    assert_eq!(exec("layer_api", "success", ""), Some(2.0));
    assert_eq!(exec("layer_api", "error", "http_5xx"), Some(1.0));
    assert_eq!(
        exec("layer_api", "expected", "http_4xx"),
        Some(1.0),
        "a 404 is the client's error"
    );
    assert_eq!(exec("layer_jobs", "success", ""), Some(1.0));
    assert_eq!(exec("layer_jobs", "error", "error"), Some(1.0));
    assert_eq!(
        value(
            &samples,
            "tta_primitive_in_flight",
            &[("workflow", "layer_api")]
        ),
        Some(0.0)
    );
}

#[tokio::test]
async fn a_layer_call_dropped_before_it_ends_is_counted_as_cancelled() {
    use futures_util::FutureExt as _;
    use tta_primitives_obs::layer::TelemetryLayer;
    let handle = prometheus();
    let stuck = tower::ServiceBuilder::new()
        .layer(TelemetryLayer::new("layer_cancel", "stuck").metrics_only())
        .service(tower::service_fn(|_: ()| {
            std::future::pending::<Result<(), std::convert::Infallible>>()
        }));
    let call = stuck.oneshot(());
    assert!(call.now_or_never().is_none(), "the call never ends");
    let samples = parse_exposition(&handle.render());
    assert_eq!(
        value(
            &samples,
            "tta_primitive_executions_total",
            &[("workflow", "layer_cancel"), ("outcome", "cancelled")],
        ),
        Some(1.0)
    );
    assert_eq!(
        value(
            &samples,
            "tta_primitive_in_flight",
            &[("workflow", "layer_cancel")]
        ),
        Some(0.0)
    );
}

#[test]
fn backslashes_before_quotes_and_newlines_survive_the_exporter() {
    // metrics-exporter-prometheus alone turns `\"` into `"` (it takes the
    // backslash as an escape); the series pre-escapes backslashes for it.
    static TRICKY: MetricDef =
        MetricDef::counter("test_tricky_total", "Tricky label values.", &["v"]);
    let handle = prometheus();
    let tricky = CounterSeries::new(&TRICKY).unwrap();
    let values = ["\\\"", "\\\\", "a\\", "\\n", "\\\n", "\"\\", "}\\\"{"];
    for v in values {
        tricky.increment(&[v], 1);
    }
    let samples = parse_exposition(&handle.render());
    for v in values {
        assert_eq!(
            value(&samples, "test_tricky_total", &[("v", v)]),
            Some(1.0),
            "label value {v:?}"
        );
    }
}

#[tokio::test]
async fn a_workflow_named_at_run_time_is_counted_by_its_text_not_its_address() {
    // One buffer, rewritten in place between two runs: the same address and
    // length now name another workflow, which must get its own series.
    let handle = prometheus();
    let step = (lambda(|x: u32| async move { Ok::<_, WorkflowError>(x) }).named("tenant_step")
        >> pass_on())
    .instrumented_with(Arc::new(Telemetry::metrics_only()));
    let mut name: Arc<str> = Arc::from("tenant_a");
    for _ in 0..2 {
        let ctx = WorkflowContext::new(Arc::clone(&name));
        step.clone().oneshot(Request::new(ctx, 1)).await.unwrap();
        Arc::get_mut(&mut name)
            .expect("the run kept no reference to the name")
            .make_ascii_uppercase();
    }
    let samples = parse_exposition(&handle.render());
    let count = |workflow: &str| {
        value(
            &samples,
            "tta_primitive_executions_total",
            &[
                ("workflow", workflow),
                ("primitive", "tenant_step"),
                ("outcome", "success"),
            ],
        )
    };
    assert_eq!(
        (count("tenant_a"), count("TENANT_A")),
        (Some(1.0), Some(1.0))
    );
}

#[tokio::test]
async fn an_empty_node_name_is_labelled_with_its_type() {
    let handle = prometheus();
    let unnamed = (lambda(|x: u32| async move { Ok::<_, WorkflowError>(x) }).named("")
        >> pass_on())
    .instrumented_with(Arc::new(Telemetry::metrics_only()));
    unnamed
        .oneshot(Request::new(WorkflowContext::new("empty_name_wf"), 1))
        .await
        .unwrap();
    let samples = parse_exposition(&handle.render());
    assert_eq!(
        value(
            &samples,
            "tta_primitive_executions_total",
            &[
                ("workflow", "empty_name_wf"),
                ("primitive", "lambda"),
                ("primitive_type", "lambda"),
                ("outcome", "success")
            ]
        ),
        Some(1.0)
    );
}

#[tokio::test]
async fn event_counters_start_at_zero_before_their_first_event() {
    // A timeout that never fires and a cache never evicting: their
    // counters exist at 0 from the first execution, so dashboards show 0.
    let handle = prometheus();
    let wf = lambda(|x: u32| async move { Ok::<_, WorkflowError>(x) })
        .named("quick")
        .timeout(Duration::from_secs(5))
        .unwrap()
        .named("never_times_out")
        .instrumented_with(Arc::new(Telemetry::metrics_only()));
    wf.oneshot(Request::new(WorkflowContext::new("zero_wf"), 1))
        .await
        .unwrap();
    let samples = parse_exposition(&handle.render());
    assert_eq!(
        value(
            &samples,
            "tta_timeouts_total",
            &[("primitive", "never_times_out")]
        ),
        Some(0.0)
    );
    // Only node types with such events get them.
    assert_eq!(
        value(&samples, "tta_timeouts_total", &[("primitive", "quick")]),
        None
    );
}

#[tokio::test]
async fn a_healthy_breaker_shows_its_transitions_at_zero() {
    // No failure, no transition: the resilience dashboard's transitions
    // panel must still show 0 for every transition the breaker can make.
    let handle = prometheus();
    let wf = lambda(|x: u32| async move { Ok::<_, WorkflowError>(x) })
        .named("healthy_dependency")
        .circuit_breaker(BreakerConfig::builder().build().unwrap())
        .named("healthy_breaker")
        .instrumented_with(Arc::new(Telemetry::metrics_only()));
    wf.oneshot(Request::new(WorkflowContext::new("breaker_zero_wf"), 1))
        .await
        .unwrap();
    let samples = parse_exposition(&handle.render());
    let state = |state| {
        value(
            &samples,
            "tta_circuit_breaker_state",
            &[("primitive", "healthy_breaker"), ("state", state)],
        )
    };
    assert_eq!(
        (state("closed"), state("open"), state("half_open")),
        (Some(1.0), Some(0.0), Some(0.0)),
        "the admitted call shows the breaker closed"
    );
    for (from, to) in [
        ("closed", "open"),
        ("open", "half_open"),
        ("half_open", "closed"),
        ("half_open", "open"),
    ] {
        assert_eq!(
            value(
                &samples,
                "tta_circuit_breaker_transitions_total",
                &[("primitive", "healthy_breaker"), ("from", from), ("to", to)]
            ),
            Some(0.0),
            "{from} -> {to}"
        );
    }
    assert_eq!(
        value(
            &samples,
            "tta_circuit_breaker_rejected_total",
            &[("primitive", "healthy_breaker")]
        ),
        Some(0.0)
    );
}

/// The series of the exposition whose labels include every one of `labels`.
fn series_with(samples: &[tta_test_support::exposition::Sample], labels: &[(&str, &str)]) -> usize {
    samples
        .iter()
        .filter(|(_, l, _)| {
            labels
                .iter()
                .all(|(k, v)| l.get(*k).map(String::as_str) == Some(*v))
        })
        .count()
}

#[tokio::test]
async fn a_node_creates_its_series_budget_and_other_outcomes_add_series_when_they_happen() {
    let handle = prometheus();
    let lookup = lambda(|id: u32| async move {
        match id {
            0 => Err(WorkflowError::expected("not_found", "no such user")),
            1 => Err(WorkflowError::permanent("bad_row", "corrupt")),
            _ => Ok(id),
        }
    })
    .named("budget_lookup");
    let lookup = (lookup >> pass_on()).instrumented_with(Arc::new(Telemetry::metrics_only()));
    let run = |id: u32| {
        lookup
            .clone()
            .oneshot(Request::new(WorkflowContext::new("budget_wf"), id))
    };
    let node = [("workflow", "budget_wf"), ("primitive", "budget_lookup")];
    let histogram = tta_primitives_obs::catalogue::LATENCY_BUCKETS.len() + 3;

    run(7).await.unwrap();
    let samples = parse_exposition(&handle.render());
    assert_eq!(
        tta_primitives_obs::NODE_SERIES,
        20,
        "the documented budget of one node"
    );
    assert_eq!(
        series_with(&samples, &node),
        tta_primitives_obs::NODE_SERIES
    );

    // An expected error: its own outcome, never `error`, so the generated
    // error ratios leave it out; one counter and one histogram more.
    let err = run(0).await.unwrap_err();
    assert_eq!(err.kind(), "not_found");
    let samples = parse_exposition(&handle.render());
    let exec = |outcome: &str, error_type: &str| {
        let mut labels = node.to_vec();
        labels.extend([("outcome", outcome), ("error_type", error_type)]);
        value(&samples, "tta_primitive_executions_total", &labels)
    };
    assert_eq!(exec("expected", "not_found"), Some(1.0));
    assert_eq!(exec("error", "not_found"), None);
    assert_eq!(
        series_with(&samples, &node),
        tta_primitives_obs::NODE_SERIES + 1 + histogram
    );

    // A failure: the `error` outcome's counter and histogram.
    run(1).await.unwrap_err();
    let samples = parse_exposition(&handle.render());
    assert_eq!(
        value(
            &samples,
            "tta_primitive_executions_total",
            &[
                ("primitive", "budget_lookup"),
                ("outcome", "error"),
                ("error_type", "bad_row")
            ]
        ),
        Some(1.0)
    );
    assert_eq!(
        series_with(&samples, &node),
        tta_primitives_obs::NODE_SERIES + 2 * (1 + histogram)
    );
}

#[tokio::test(start_paused = true)]
async fn each_primitive_type_adds_its_documented_event_series() {
    use tta_primitives_obs::catalogue::{ATTEMPT_BUCKETS, BACKOFF_BUCKETS};
    let handle = prometheus();
    let ok =
        |name: &'static str| lambda(|x: u32| async move { Ok::<_, WorkflowError>(x) }).named(name);
    let flaky = MockPrimitive::<u32, u32>::new()
        .then_fail(WorkflowError::msg("503"))
        .otherwise_return(1)
        .named("budget_flaky");
    let policy = RetryPolicy::builder()
        .initial_backoff(Duration::from_millis(5))
        .jitter(Jitter::None)
        .build()
        .unwrap();
    let wf = (ok("budget_inner")
        .retry(policy.clone())
        .named("budget_retry")
        >> ok("budget_guarded")
            .circuit_breaker(BreakerConfig::builder().build().unwrap())
            .named("budget_breaker")
        >> ok("budget_slow")
            .timeout(Duration::from_secs(1))
            .unwrap()
            .named("budget_timeout")
        >> ok("budget_primary")
            .fallback(ok("budget_backup"))
            .named("budget_fallback")
        >> ok("budget_load")
            .cache(|_, x: &u32| *x, CacheConfig::builder().build().unwrap())
            .named("budget_cache")
        >> flaky.retry(policy).named("budget_retried")
        >> router(|_, x: &u32| *x)
            .route(1, ok("budget_one"))
            .route(2, ok("budget_two"))
            .named("budget_router"))
    .instrumented_with(Arc::new(Telemetry::metrics_only()));
    wf.oneshot(Request::new(WorkflowContext::new("budget_types_wf"), 1))
        .await
        .unwrap();
    let samples = parse_exposition(&handle.render());
    let node = tta_primitives_obs::NODE_SERIES;
    let histogram = |buckets: &[f64]| buckets.len() + 3;
    let retry = histogram(ATTEMPT_BUCKETS) + 4;
    for (primitive, extra) in [
        // attempts per call, calls per result.
        ("budget_retry", retry),
        // ... and the backoffs, once one was taken.
        ("budget_retried", retry + histogram(BACKOFF_BUCKETS)),
        // a state gauge per state, rejections, the four transitions.
        ("budget_breaker", 3 + 1 + 4),
        ("budget_timeout", 1),
        ("budget_fallback", 3),
        // hits, misses, evictions per reason, entries, bytes.
        ("budget_cache", 2 + 3 + 2),
        // the one route taken.
        ("budget_router", 1),
    ] {
        assert_eq!(
            series_with(&samples, &[("primitive", primitive)]),
            node + extra,
            "{primitive}"
        );
    }
    assert_eq!(
        series_with(&samples, &[("primitive", "budget_flaky")]),
        node + 1 + histogram(tta_primitives_obs::catalogue::LATENCY_BUCKETS),
        "an attempt that failed once adds its error counter and histogram"
    );
}

#[tokio::test(start_paused = true)]
async fn event_metrics_count_what_each_primitive_did() {
    let handle = prometheus();
    let telemetry = Arc::new(Telemetry::metrics_only());
    let fail = |name: &'static str| {
        lambda(|_: u32| async { Err::<u32, _>(WorkflowError::msg("down")) }).named(name)
    };
    let ok =
        |name: &'static str| lambda(|x: u32| async move { Ok::<_, WorkflowError>(x) }).named(name);
    let run = |wf: &'static str, x: u32| Request::new(WorkflowContext::new(wf), x);

    // A cache of one entry: 1, 2 (evicts 1), 2 (a hit).
    let cache = ok("ev_load")
        .cache(
            |_, x: &u32| *x,
            CacheConfig::builder().capacity(1).build().unwrap(),
        )
        .named("ev_cache")
        .instrumented_with(telemetry.clone());
    for x in [1, 2, 2] {
        cache.clone().oneshot(run("ev_wf", x)).await.unwrap();
    }
    // A breaker that opens at the first failure, then rejects.
    let breaker = fail("ev_down")
        .circuit_breaker(
            BreakerConfig::builder()
                .policy(FailurePolicy::ConsecutiveFailures(1))
                .build()
                .unwrap(),
        )
        .named("ev_breaker")
        .instrumented_with(telemetry.clone());
    for _ in 0..3 {
        breaker.clone().oneshot(run("ev_wf", 0)).await.unwrap_err();
    }
    // A timeout that fires; fallbacks that take each leg; a router; sagas
    // whose compensation succeeds and fails.
    let slow = lambda(|x: u32| async move {
        tokio::time::sleep(Duration::from_secs(5)).await;
        Ok::<_, WorkflowError>(x)
    })
    .named("ev_slow")
    .timeout(Duration::from_secs(1))
    .unwrap()
    .named("ev_timeout")
    .instrumented_with(telemetry.clone());
    slow.oneshot(run("ev_wf", 0)).await.unwrap_err();
    for (primary, backup, x) in [(true, true, 0), (false, true, 0), (false, false, 0)] {
        let leg = |works: bool, name| {
            if works {
                ok(name).into_boxed()
            } else {
                fail(name).into_boxed()
            }
        };
        let wf = leg(primary, "ev_primary")
            .fallback(leg(backup, "ev_backup"))
            .named("ev_fallback")
            .instrumented_with(telemetry.clone());
        let _ = wf.oneshot(run("ev_wf", x)).await;
    }
    let route = router(|_, x: &u32| if *x > 1 { "big" } else { "small" })
        .route("big", ok("ev_big"))
        .route("small", ok("ev_small"))
        .named("ev_router")
        .instrumented_with(telemetry.clone());
    for x in [5, 7, 0] {
        route.clone().oneshot(run("ev_wf", x)).await.unwrap();
    }
    for undo in [
        ok("ev_undo").into_boxed(),
        ok("ev_undo").into_boxed(),
        fail("ev_undo").into_boxed(),
    ] {
        let saga = Saga::new(ok("ev_book").with_compensation(undo).named("ev_book"))
            .then(
                fail("ev_pay")
                    .with_compensation(ok("ev_refund"))
                    .named("ev_pay"),
            )
            .named("ev_saga")
            .instrumented_with(telemetry.clone());
        saga.oneshot(run("ev_wf", 0)).await.unwrap_err();
    }

    let samples = parse_exposition(&handle.render());
    /// A metric, its node, its other labels, and the value expected.
    type Expected<'a> = (&'a str, &'a str, &'a [(&'a str, &'a str)], Option<f64>);
    let expected: &[Expected<'_>] = &[
        (
            "tta_cache_requests_total",
            "ev_cache",
            &[("result", "hit")],
            Some(1.0),
        ),
        (
            "tta_cache_requests_total",
            "ev_cache",
            &[("result", "miss")],
            Some(2.0),
        ),
        (
            "tta_cache_evictions_total",
            "ev_cache",
            &[("reason", "capacity")],
            Some(1.0),
        ),
        (
            "tta_cache_evictions_total",
            "ev_cache",
            &[("reason", "expired")],
            Some(0.0),
        ),
        ("tta_cache_entries", "ev_cache", &[], Some(1.0)),
        (
            "tta_circuit_breaker_transitions_total",
            "ev_breaker",
            &[("from", "closed"), ("to", "open")],
            Some(1.0),
        ),
        (
            "tta_circuit_breaker_transitions_total",
            "ev_breaker",
            &[("from", "open"), ("to", "half_open")],
            Some(0.0),
        ),
        (
            "tta_circuit_breaker_state",
            "ev_breaker",
            &[("state", "closed")],
            Some(0.0),
        ),
        (
            "tta_circuit_breaker_state",
            "ev_breaker",
            &[("state", "open")],
            Some(1.0),
        ),
        (
            "tta_circuit_breaker_state",
            "ev_breaker",
            &[("state", "half_open")],
            Some(0.0),
        ),
        (
            "tta_circuit_breaker_rejected_total",
            "ev_breaker",
            &[],
            Some(2.0),
        ),
        ("tta_timeouts_total", "ev_timeout", &[], Some(1.0)),
        (
            "tta_fallback_total",
            "ev_fallback",
            &[("result", "primary")],
            Some(1.0),
        ),
        (
            "tta_fallback_total",
            "ev_fallback",
            &[("result", "fallback")],
            Some(1.0),
        ),
        (
            "tta_fallback_total",
            "ev_fallback",
            &[("result", "exhausted")],
            Some(1.0),
        ),
        (
            "tta_router_decisions_total",
            "ev_router",
            &[("route", "big")],
            Some(2.0),
        ),
        (
            "tta_router_decisions_total",
            "ev_router",
            &[("route", "small")],
            Some(1.0),
        ),
        (
            "tta_saga_compensations_total",
            "ev_saga",
            &[("result", "success")],
            Some(2.0),
        ),
        (
            "tta_saga_compensations_total",
            "ev_saga",
            &[("result", "failure")],
            Some(1.0),
        ),
    ];
    let wrong: Vec<_> = expected
        .iter()
        .filter_map(|&(metric, node, labels, want)| {
            let mut all = vec![("primitive", node)];
            all.extend_from_slice(labels);
            let got = value(&samples, metric, &all);
            (got != want).then_some((metric, labels, got, want))
        })
        .collect();
    assert!(
        wrong.is_empty(),
        "(metric, labels, got, expected): {wrong:#?}"
    );
}

#[tokio::test]
async fn each_outcome_and_error_type_of_a_node_has_its_own_count() {
    // Failures of two types, and an expected error of the first type: each
    // (outcome, error type) pair counts apart, however they interleave.
    let handle = prometheus();
    let step = lambda(|n: u32| async move {
        Err::<u32, _>(match n {
            0 => WorkflowError::with_kind("kind_a", "a"),
            1 => WorkflowError::with_kind("kind_b", "b"),
            _ => WorkflowError::expected("kind_a", "not found"),
        })
    })
    .named("sorted_step");
    let step = (step >> pass_on()).instrumented_with(Arc::new(Telemetry::metrics_only()));
    for n in [0, 1, 0, 2, 1, 0] {
        let req = Request::new(WorkflowContext::new("outcomes_wf"), n);
        step.clone().oneshot(req).await.unwrap_err();
    }
    let samples = parse_exposition(&handle.render());
    let count = |outcome: &str, error_type: &str| {
        value(
            &samples,
            "tta_primitive_executions_total",
            &[
                ("primitive", "sorted_step"),
                ("outcome", outcome),
                ("error_type", error_type),
            ],
        )
    };
    assert_eq!(
        [
            count("error", "kind_a"),
            count("error", "kind_b"),
            count("expected", "kind_a"),
            count("expected", "kind_b"),
        ],
        [Some(3.0), Some(2.0), Some(1.0), None]
    );
}
