//! A warm instrumented execution (metrics only) does no heap allocation and
//! no registry lookup: handles are cached per label set. Measured with a
//! counting allocator (dhat), under a recorder whose handles are plain
//! atomics, so the count is our instrumentation's alone.

use std::sync::Arc;

use futures_util::FutureExt;
use tower::{Service, ServiceBuilder, ServiceExt, service_fn};
use tta_primitives_core::{Request, WorkflowContext, WorkflowError, prelude::*};
use tta_primitives_obs::{InstrumentExt, Telemetry, layer::TelemetryLayer};
use tta_test_support::recorder::{AtomicRecorder, registrations};

#[global_allocator]
static ALLOC: dhat::Alloc = dhat::Alloc;

fn blocks() -> u64 {
    dhat::HeapStats::get().total_blocks
}

fn warm_instrumented_executions_do_not_allocate() {
    metrics::set_global_recorder(AtomicRecorder).unwrap();
    let _profiler = dhat::Profiler::builder().testing().build();
    let ctx = WorkflowContext::new("alloc_wf");

    let step = |n: u64| lambda(move |x: u64| async move { Ok::<_, WorkflowError>(x + n) });
    let mut workflow = (step(1).named("a") >> step(2).named("b") >> step(3).named("c"))
        .instrumented_with(Arc::new(Telemetry::metrics_only()));
    let mut run = || {
        workflow
            .call(Request::new(ctx.clone(), 0))
            .now_or_never()
            .unwrap()
            .unwrap()
    };
    for _ in 0..10 {
        assert_eq!(run(), 6); // warm up: handles, pools, thread-locals
    }
    let (before, registered) = (blocks(), registrations());
    for _ in 0..1_000 {
        assert_eq!(run(), 6);
    }
    assert_eq!(
        blocks() - before,
        0,
        "a warm instrumented workflow allocated"
    );
    assert_eq!(
        registrations(),
        registered,
        "a warm execution looked up the registry"
    );

    let mut service = ServiceBuilder::new()
        .layer(TelemetryLayer::new("alloc_svc", "double").metrics_only())
        .service(service_fn(
            |x: u64| async move { Ok::<_, WorkflowError>(x * 2) },
        ));
    for _ in 0..10 {
        service.call(3).now_or_never().unwrap().unwrap();
    }
    let (before, registered) = (blocks(), registrations());
    for _ in 0..1_000 {
        assert_eq!(service.call(3).now_or_never().unwrap().unwrap(), 6);
    }
    assert_eq!(
        blocks() - before,
        0,
        "a warm instrumented service call allocated"
    );
    assert_eq!(registrations(), registered);

    // The counter does register allocations: a traced execution allocates spans.
    let before = blocks();
    let traced = step(1).named("traced").instrumented();
    traced
        .oneshot(Request::new(ctx.clone(), 0))
        .now_or_never()
        .unwrap()
        .unwrap();
    assert!(blocks() > before, "the counting allocator sees allocations");
}

/// Runs without libtest (see `Cargo.toml`): one thread, so the counts are
/// this test's alone.
fn main() {
    warm_instrumented_executions_do_not_allocate();
    #[allow(clippy::print_stdout)] // a test binary without libtest reports on stdout
    {
        println!("allocations: 1 passed, 0 failed");
    }
}
