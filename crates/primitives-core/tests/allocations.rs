//! A warm sequence of lambdas performs no heap allocation per execution,
//! measured with a counting global allocator (dhat in testing mode).

use futures_util::FutureExt;
use tower::{Service, ServiceExt};
use tta_primitives_core::{Request, WorkflowContext, WorkflowError, prelude::*};

#[global_allocator]
static ALLOC: dhat::Alloc = dhat::Alloc;

fn blocks() -> u64 {
    dhat::HeapStats::get().total_blocks
}

fn a_warm_sequence_of_lambdas_does_not_allocate() {
    let _profiler = dhat::Profiler::builder().testing().build();
    let ctx = WorkflowContext::new("alloc");

    let step = |n: u64| lambda(move |x: u64| async move { Ok::<_, WorkflowError>(x + n) });
    let mut three = step(1) >> step(2) >> step(3);
    let mut six = step(1) >> step(2) >> step(3) >> step(4) >> step(5) >> step(6);
    let with_ctx = from_fn(|ctx: WorkflowContext, x: u64| async move {
        Ok::<_, WorkflowError>(x + u64::from(ctx.depth()))
    });
    let mut mixed = step(1) >> with_ctx >> step(1);

    let mut exec_three = || {
        three
            .call(Request::new(ctx.clone(), 1))
            .now_or_never()
            .unwrap()
            .unwrap()
    };
    // Warm up (thread-local id blocks, lazy statics).
    assert_eq!(exec_three(), 7);

    let before = blocks();
    for _ in 0..1_000 {
        assert_eq!(exec_three(), 7);
    }
    assert_eq!(blocks() - before, 0, "3-step sequence allocated");

    let before = blocks();
    for _ in 0..1_000 {
        let out = six
            .call(Request::new(ctx.clone(), 0))
            .now_or_never()
            .unwrap()
            .unwrap();
        assert_eq!(out, 21);
    }
    assert_eq!(blocks() - before, 0, "6-step sequence allocated");

    let before = blocks();
    for _ in 0..1_000 {
        let out = mixed
            .call(Request::new(ctx.clone(), 0))
            .now_or_never()
            .unwrap()
            .unwrap();
        assert_eq!(
            out, 3,
            "0 + 1, + depth 1 (a step of the flattened sequence), + 1"
        );
    }
    assert_eq!(
        blocks() - before,
        0,
        "sequence with a context-reading step allocated"
    );

    // The counter does see allocations: a parallel node boxes its branches.
    let fan = step(1) | step(2);
    let before = blocks();
    let out = fan
        .oneshot(Request::new(ctx.clone(), 0))
        .now_or_never()
        .unwrap()
        .unwrap();
    assert_eq!(out, vec![1, 2]);
    assert!(
        blocks() - before >= 2,
        "the counting allocator must register boxed branches"
    );
}

/// Runs without libtest (see `Cargo.toml`): one thread, so the counts are
/// this test's alone.
fn main() {
    a_warm_sequence_of_lambdas_does_not_allocate();
    #[allow(clippy::print_stdout)] // a test binary without libtest reports on stdout
    {
        println!("allocations: 1 passed, 0 failed");
    }
}
