//! The primitive model: tower services inside workflows, operators, context.

mod common;

use std::{
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use common::{Recorder, call, ctx};
use tower::{
    Service, ServiceBuilder, ServiceExt, limit::ConcurrencyLimit, load_shed::LoadShed, service_fn,
};
use tta_primitives_core::{Request, WorkflowError, prelude::*};

#[tokio::test]
async fn tower_builtins_run_inside_a_workflow() {
    // A raw tower service_fn, limited by tower's ConcurrencyLimit, as the
    // middle step of a sequence, and on the right of `|`.
    let in_flight = Arc::new(AtomicUsize::new(0));
    let peak = Arc::new(AtomicUsize::new(0));
    let tracked = {
        let (in_flight, peak) = (in_flight.clone(), peak.clone());
        service_fn(move |req: Request<u32>| {
            let (in_flight, peak) = (in_flight.clone(), peak.clone());
            async move {
                let now = in_flight.fetch_add(1, Ordering::SeqCst) + 1;
                peak.fetch_max(now, Ordering::SeqCst);
                tokio::task::yield_now().await;
                in_flight.fetch_sub(1, Ordering::SeqCst);
                Ok::<_, WorkflowError>(req.input * 2)
            }
        })
    };
    let limited = ServiceBuilder::new().concurrency_limit(2).service(tracked);
    let wf = lambda(|x: u32| async move { Ok::<_, WorkflowError>(x + 1) })
        >> step(limited)
        >> lambda(|x: u32| async move { Ok::<_, WorkflowError>(x.to_string()) });

    let mut handles = Vec::new();
    for i in 0..20 {
        let wf = wf.clone();
        handles.push(tokio::spawn(async move { call(&wf, i).await }));
    }
    for (i, h) in handles.into_iter().enumerate() {
        assert_eq!(h.await.unwrap().unwrap(), ((i as u32 + 1) * 2).to_string());
    }
    // Clones of ConcurrencyLimit share one semaphore.
    assert!(
        peak.load(Ordering::SeqCst) <= 2,
        "peak {}",
        peak.load(Ordering::SeqCst)
    );

    let fan = lambda(|x: u32| async move { Ok::<_, WorkflowError>(x) })
        | ConcurrencyLimit::new(
            service_fn(|r: Request<u32>| async move { Ok::<_, WorkflowError>(r.input + 100) }),
            1,
        );
    assert_eq!(call(&fan, 1).await.unwrap(), vec![1, 101]);
}

#[tokio::test]
async fn tower_errors_keep_their_kind() {
    // LoadShed reports overload as a boxed tower error: it arrives as `overloaded`.
    let never_ready = service_fn(|_: Request<u32>| async { Ok::<u32, WorkflowError>(0) });
    let mut full = ConcurrencyLimit::new(never_ready, 1);
    // Take the only permit and keep it.
    std::future::poll_fn(|cx| full.poll_ready(cx))
        .await
        .unwrap();
    let shed = step(LoadShed::new(full.clone()));
    let err = call(&shed, 1).await.unwrap_err();
    assert_eq!(err.kind(), "overloaded");

    // A WorkflowError that went through a boxing middleware comes back as itself.
    let boxed: tta_primitives_core::BoxError = Box::new(WorkflowError::NoRoute { key: "k".into() });
    assert_eq!(WorkflowError::from(boxed).kind(), "no_route");
    let other: tta_primitives_core::BoxError = "plain".into();
    assert_eq!(WorkflowError::from(other).kind(), "downstream");
}

#[tokio::test]
async fn every_step_gets_a_child_context() {
    let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
    let record = |label: &'static str| {
        let seen = seen.clone();
        from_fn(move |ctx: WorkflowContext, x: u32| {
            seen.lock().unwrap().push((label, ctx.clone()));
            async move { Ok::<_, WorkflowError>(x) }
        })
    };
    let wf = record("a") >> (record("b") | record("c"));
    let root = WorkflowContext::builder("wf")
        .correlation_id("corr-1")
        .session_id("s")
        .build();
    wf.oneshot(Request::new(root.clone(), 1)).await.unwrap();

    let seen = seen.lock().unwrap();
    let mut ids: Vec<_> = seen.iter().map(|(_, c)| c.step_id()).collect();
    ids.push(root.step_id());
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 4, "every step has its own step id");
    let numbers: Vec<u64> = ids.iter().map(|id| id.get()).collect();
    assert!(
        numbers.iter().all(|&n| n != 0),
        "step ids are never zero: {numbers:?}"
    );
    numbers
        .windows(2)
        .for_each(|w| assert_ne!(w[0], w[1], "ids as numbers differ too"));
    assert_eq!(root.step_id().to_string(), root.step_id().get().to_string());
    for (label, c) in seen.iter() {
        assert_eq!(
            c.correlation_id(),
            "corr-1",
            "{label} inherits the correlation id"
        );
        assert_eq!(c.workflow_id(), root.workflow_id());
        assert_eq!(c.session_id(), Some("s"));
        let expected_depth = if *label == "a" { 1 } else { 2 };
        assert_eq!(
            c.depth(),
            expected_depth,
            "{label}: a under the sequence, b and c under the parallel"
        );
        assert_ne!(c.causation_id(), None);
    }
    // b and c are caused by the same parallel node.
    assert_eq!(seen[1].1.causation_id(), seen[2].1.causation_id());
}

#[tokio::test(start_paused = true)]
async fn checkpoints_record_elapsed_time_and_metadata_is_shared() {
    let root = WorkflowContext::builder("wf")
        .metadata("origin", "api")
        .tag("t1")
        .build();
    let child = root.child().child();
    tokio::time::advance(Duration::from_millis(250)).await;
    let cp = child.checkpoint("validated");
    assert_eq!(cp.elapsed, Duration::from_millis(250));
    assert_eq!(cp.step, child.step_id());
    child.set_metadata("order", "42");
    assert_eq!(root.metadata().get("order").map(String::as_str), Some("42"));
    assert_eq!(
        root.metadata().get("origin").map(String::as_str),
        Some("api")
    );
    assert_eq!(root.checkpoints(), vec![cp]);
    assert_eq!(child.tags(), ["t1".to_string()]);
    assert_eq!(child.depth(), 2);
}

#[tokio::test]
async fn contexts_without_observer_report_nothing_and_with_one_report_events() {
    let rec = Recorder::new();
    let wf = router(|_, x: &u32| if *x > 1 { "big" } else { "small" })
        .route(
            "big",
            lambda(|x: u32| async move { Ok::<_, WorkflowError>(x) }),
        )
        .route(
            "small",
            lambda(|x: u32| async move { Ok::<_, WorkflowError>(x) }),
        )
        .named("size");
    wf.clone().oneshot(Request::new(ctx(), 5)).await.unwrap();
    assert!(rec.events().is_empty());
    wf.oneshot(Request::new(rec.ctx(), 5)).await.unwrap();
    assert_eq!(
        rec.events(),
        vec![r#"router/size: RouteChosen { route: "big" }"#]
    );
}

#[tokio::test]
async fn boxed_primitives_keep_shape_and_compose() {
    let a: BoxPrimitive<u32, u32> =
        lambda(|x: u32| async move { Ok::<_, WorkflowError>(x + 1) }).into_boxed();
    let b = lambda(|x: u32| async move { Ok::<_, WorkflowError>(x * 3) }).into_boxed::<u32>();
    let wf = a >> b;
    assert_eq!(call(&wf, 1).await.unwrap(), 6);
}

#[test]
fn errors_have_stable_low_cardinality_kinds() {
    use tta_primitives_core::{Name, StepFailure, circuit_breaker::BreakerState};
    let inner = || Box::new(WorkflowError::msg("x"));
    let cases: Vec<(WorkflowError, &str)> = vec![
        (
            WorkflowError::Timeout {
                after: Duration::from_secs(1),
            },
            "timeout",
        ),
        (
            WorkflowError::CircuitOpen {
                breaker: Name::from("b"),
                state: BreakerState::Open,
            },
            "circuit_open",
        ),
        (
            WorkflowError::RetriesExhausted {
                attempts: 3,
                last: inner(),
            },
            "retries_exhausted",
        ),
        (
            WorkflowError::RetryBudgetExhausted {
                attempts: 1,
                last: inner(),
            },
            "retry_budget_exhausted",
        ),
        (
            WorkflowError::NoRoute {
                key: "user input".into(),
            },
            "no_route",
        ),
        (WorkflowError::Cancelled, "cancelled"),
        (WorkflowError::Overloaded, "overloaded"),
        (
            WorkflowError::FallbackExhausted { failures: vec![] },
            "fallback_exhausted",
        ),
        (
            WorkflowError::Compensated {
                failed_step: "s".into(),
                cause: inner(),
                compensated: vec![],
                compensation_failures: vec![],
            },
            "compensated",
        ),
        (
            WorkflowError::Compensated {
                failed_step: "s".into(),
                cause: inner(),
                compensated: vec![],
                compensation_failures: vec![StepFailure {
                    name: "a".into(),
                    error: WorkflowError::msg("y"),
                }],
            },
            "compensation_failed",
        ),
        (WorkflowError::msg("message with id 1234"), "downstream"),
    ];
    for (err, kind) in cases {
        assert_eq!(err.kind(), kind, "{err}");
        assert!(kind.chars().all(|c| c.is_ascii_lowercase() || c == '_'));
    }
}

#[tokio::test(start_paused = true)]
async fn mock_scripts_answers_delays_and_records_calls() {
    let mock = MockPrimitive::<&str, u32>::new()
        .then_return(1)
        .then_fail_after(
            Duration::from_millis(40),
            WorkflowError::with_kind("scripted", "x"),
        )
        .named("payments");
    let root = WorkflowContext::builder("t").correlation_id("c-9").build();
    assert_eq!(
        mock.clone()
            .oneshot(Request::new(root.clone(), "a"))
            .await
            .unwrap(),
        1
    );
    let start = tokio::time::Instant::now();
    let err = mock
        .clone()
        .oneshot(Request::new(root.child(), "b"))
        .await
        .unwrap_err();
    assert_eq!(
        (err.kind(), start.elapsed()),
        ("scripted", Duration::from_millis(40))
    );
    let err = mock
        .clone()
        .oneshot(Request::new(root, "c"))
        .await
        .unwrap_err();
    assert_eq!(
        err.kind(),
        "mock_exhausted",
        "calls past the script fail loudly"
    );
    assert_eq!(mock.inputs(), ["a", "b", "c"]);
    let calls = mock.calls();
    assert!(calls.iter().all(|c| c.correlation_id == "c-9"));
    assert_ne!(calls[0].step, calls[1].step);
    assert_eq!(mock.call_count(), 3);
}

/// Builds a path per node ("parent/child") through node handles.
#[derive(Default)]
struct Paths(std::sync::Mutex<Vec<String>>);

impl tta_primitives_core::observe::Observer for Paths {
    fn on_node_start(
        &self,
        node: &tta_primitives_core::observe::NodeInfo<'_>,
        ctx: &WorkflowContext,
        _started: tta_primitives_core::observe::Instant,
    ) -> Option<tta_primitives_core::observe::NodeHandle> {
        let parent = ctx
            .node_handle()
            .and_then(|h| h.downcast_ref::<String>())
            .cloned()
            .unwrap_or_default();
        let path = format!("{parent}/{}", node.name);
        self.0.lock().unwrap().push(format!("start {path}"));
        Some(tta_primitives_core::observe::NodeHandle::new(path))
    }

    fn on_node_end(
        &self,
        _node: &tta_primitives_core::observe::NodeInfo<'_>,
        handle: Option<&tta_primitives_core::observe::NodeHandle>,
        end: &tta_primitives_core::observe::NodeEnd<'_>,
    ) {
        let path = handle.and_then(|h| h.downcast_ref::<String>()).unwrap();
        let outcome = match end.outcome.error_type() {
            "" => end.outcome.as_str().to_string(),
            kind => format!("{} {kind}", end.outcome.as_str()),
        };
        self.0.lock().unwrap().push(format!("end {path} {outcome}"));
    }
}

#[tokio::test(start_paused = true)]
async fn every_node_reports_start_and_end_once_nested_through_handles() {
    let paths = Arc::new(Paths::default());
    let ok =
        |name: &'static str| lambda(|x: u32| async move { Ok::<_, WorkflowError>(x) }).named(name);
    let slow = lambda(|x: u32| async move {
        tokio::time::sleep(Duration::from_secs(5)).await;
        Ok::<_, WorkflowError>(x)
    })
    .named("slow");
    let wf = (ok("a")
        >> (ok("b")
            | slow
                .timeout(Duration::from_secs(1))
                .unwrap()
                .named("bounded")))
    .named("root");
    let ctx = WorkflowContext::builder("wf")
        .observer(paths.clone())
        .build();
    let err = wf.oneshot(Request::new(ctx, 1)).await.unwrap_err();
    assert_eq!(err.kind(), "timeout");
    assert_eq!(
        *paths.0.lock().unwrap(),
        [
            "start /root",
            "start /root/a",
            // A finished step's end is reported when the sequence drops it,
            // right after it starts the next step (timings use completion).
            "start /root/parallel",
            "end /root/a success",
            "start /root/parallel/b",
            "end /root/parallel/b success",
            "start /root/parallel/bounded",
            "start /root/parallel/bounded/slow",
            "end /root/parallel/bounded/slow cancelled cancelled",
            "end /root/parallel/bounded error timeout",
            "end /root/parallel error timeout",
            "end /root error timeout",
        ]
    );
}

#[tokio::test]
async fn a_chain_is_one_sequence_node_unless_a_part_is_named() {
    let run = |wf: BoxPrimitive<u32, u32>| async move {
        let paths = Arc::new(Paths::default());
        let ctx = WorkflowContext::builder("wf")
            .observer(paths.clone())
            .build();
        wf.oneshot(Request::new(ctx, 1)).await.unwrap();
        let starts: Vec<String> = paths
            .0
            .lock()
            .unwrap()
            .iter()
            .filter_map(|e| e.strip_prefix("start ").map(str::to_owned))
            .collect();
        starts
    };
    let ok =
        |name: &'static str| lambda(|x: u32| async move { Ok::<_, WorkflowError>(x) }).named(name);

    let chain = (ok("a") >> ok("b") >> ok("c") >> ok("d")).into_boxed();
    assert_eq!(
        run(chain).await,
        [
            "/sequence",
            "/sequence/a",
            "/sequence/b",
            "/sequence/c",
            "/sequence/d"
        ]
    );

    let nested = ((ok("a") >> ok("b")).named("first_half") >> ok("c")).into_boxed();
    assert_eq!(
        run(nested).await,
        [
            "/sequence",
            "/sequence/first_half",
            "/sequence/first_half/a",
            "/sequence/first_half/b",
            "/sequence/c"
        ]
    );
}

#[test]
fn step_ids_come_in_per_thread_blocks_and_are_unique_across_threads() {
    // Each thread takes blocks of 65,536 ids from one counter (blocks start
    // at 1 + k * 65,536) and hands out a block's ids one after another.
    const BLOCK: u64 = 1 << 16;
    let take = || {
        std::thread::spawn(|| {
            let root = WorkflowContext::new("ids");
            (0..10 * BLOCK)
                .map(|_| root.child().step_id().get())
                .collect::<Vec<_>>()
        })
    };
    let (first, second) = (take(), take());
    let (first, second) = (first.join().unwrap(), second.join().unwrap());
    for ids in [&first, &second] {
        let mut per_block = std::collections::BTreeMap::<u64, u64>::new();
        for id in ids {
            assert_ne!(*id, 0, "step ids are never zero");
            *per_block.entry((id - 1) / BLOCK).or_default() += 1;
        }
        let counts: Vec<u64> = per_block.into_values().collect();
        assert!(
            counts[1..counts.len() - 1].iter().all(|&n| n == BLOCK),
            "a thread uses every id of each block it takes: {counts:?}"
        );
    }
    // Blocks never overlap: the two threads never see the same id.
    let mut all = [first, second].concat();
    let total = all.len();
    all.sort_unstable();
    all.dedup();
    assert_eq!(all.len(), total, "a step id was handed out twice");
}

#[tokio::test]
async fn the_steps_of_a_flattened_sequence_have_their_own_step_ids() {
    let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
    let record = || {
        let seen = seen.clone();
        from_fn(move |ctx: WorkflowContext, x: u32| {
            seen.lock().unwrap().push(ctx.step_id());
            async move { Ok::<_, WorkflowError>(x) }
        })
    };
    let wf = record() >> record() >> record();
    wf.oneshot(Request::new(WorkflowContext::new("seq"), 1))
        .await
        .unwrap();
    let mut ids = seen.lock().unwrap().clone();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 3, "each step of a >> b >> c has its own id");
}

#[test]
fn the_workflow_id_is_the_one_given_or_a_fresh_one() {
    let given = WorkflowContext::builder("wf").workflow_id("wf-42").build();
    assert_eq!(given.workflow_id(), "wf-42");
    assert_eq!(given.child().workflow_id(), "wf-42");
    let (a, b) = (WorkflowContext::new("wf"), WorkflowContext::new("wf"));
    assert!(!a.workflow_id().is_empty());
    assert_ne!(a.workflow_id(), b.workflow_id(), "fresh ids differ");
}
