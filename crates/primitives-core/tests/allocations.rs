//! A warm sequence of lambdas performs no heap allocation per execution,
//! observed or not, measured with a counting global allocator (dhat in
//! testing mode); the node-run pool that makes observed nodes free is
//! bounded.

use std::sync::atomic::{AtomicU64, Ordering};

use futures_util::FutureExt;
use tower::{Service, ServiceExt};
use tta_primitives_core::{
    Name, Request, WorkflowContext, WorkflowError,
    observe::{NodeEnd, NodeHandle, NodeInfo, Observer, ObserverRef, PrimitiveType},
    prelude::*,
};

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

/// Counts the node ends it is told of; allocates nothing itself.
struct CountEnds(AtomicU64);

impl Observer for CountEnds {
    fn on_node_end(&self, _: &NodeInfo<'_>, _: Option<&NodeHandle>, _: &NodeEnd<'_>) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }
}

static ENDS: CountEnds = CountEnds(AtomicU64::new(0));

fn observed_ctx() -> WorkflowContext {
    WorkflowContext::new("alloc").with_observer(ObserverRef::from_static(&ENDS))
}

/// Observed node runs are boxed and the boxes recycled per thread: a warm
/// observed sequence allocates nothing, and every node's end is reported.
fn a_warm_observed_sequence_does_not_allocate() {
    let _profiler = dhat::Profiler::builder().testing().build();
    let step = |n: u64| lambda(move |x: u64| async move { Ok::<_, WorkflowError>(x + n) });
    let mut three = step(1) >> step(2) >> step(3);
    let ctx = observed_ctx();
    let mut exec = || {
        three
            .call(Request::new(ctx.clone(), 1))
            .now_or_never()
            .unwrap()
            .unwrap()
    };
    assert_eq!(exec(), 7); // warm up: the pool gets its boxes
    let (before, ends) = (blocks(), ENDS.0.load(Ordering::Relaxed));
    for _ in 0..1_000 {
        assert_eq!(exec(), 7);
    }
    assert_eq!(blocks() - before, 0, "observed 3-step sequence allocated");
    assert_eq!(
        ENDS.0.load(Ordering::Relaxed) - ends,
        4_000,
        "the sequence and its three steps each report one end per execution"
    );
}

/// The pool keeps at most 256 runs per thread: after a burst of 300 nodes
/// open at once, a burst of 257 finds 256 boxes and allocates one. A guard
/// dropped without a future reports its node (as cancelled).
fn the_run_pool_is_bounded_and_dropped_guards_report_their_node() {
    let _profiler = dhat::Profiler::builder().testing().build();
    let name = Name::from("held");
    let mut ctx = observed_ctx();
    let mut guards = Vec::with_capacity(300);
    let mut burst = |n: usize, guards: &mut Vec<_>| {
        let before = blocks();
        for _ in 0..n {
            guards.push(ctx.enter_node(&name, PrimitiveType::Service));
        }
        let allocated = blocks() - before;
        let ends = ENDS.0.load(Ordering::Relaxed);
        guards.clear();
        assert_eq!(
            ENDS.0.load(Ordering::Relaxed) - ends,
            n as u64,
            "every dropped guard reports its node"
        );
        allocated
    };
    burst(300, &mut guards); // fills the pool past its bound
    assert_eq!(burst(257, &mut guards), 1, "the pool kept 256 runs");
    assert_eq!(burst(256, &mut guards), 0, "256 runs come from the pool");
}

/// A node run returned to the pool keeps nothing of the node: a name made
/// at run time (a workflow per tenant) is released when the node ends, not
/// when its box is next taken from the pool.
fn a_pooled_run_keeps_no_name_made_at_run_time_alive() {
    let name: std::sync::Arc<str> = std::sync::Arc::from(String::from("tenant_17"));
    let ctx = WorkflowContext::new(std::sync::Arc::clone(&name))
        .with_observer(ObserverRef::from_static(&ENDS));
    let step = lambda(|x: u64| async move { Ok::<_, WorkflowError>(x) }).named("step");
    let mut wf = step >> lambda(|x: u64| async move { Ok::<_, WorkflowError>(x) });
    let out = wf
        .call(Request::new(ctx, 5))
        .now_or_never()
        .unwrap()
        .unwrap();
    assert_eq!(out, 5);
    let node_name = Name::from(format!("node_{out}"));
    let mut root = WorkflowContext::new("pooled").with_observer(ObserverRef::from_static(&ENDS));
    drop(root.enter_node(&node_name, PrimitiveType::Service));
    assert_eq!(
        (
            std::sync::Arc::strong_count(&name),
            node_name.as_shared().map(std::sync::Arc::strong_count)
        ),
        (1, Some(1)),
        "the pool holds no name made at run time"
    );
}

/// A parallel node sizes its list of branch futures once, from its count of
/// branches: each extra branch costs its own boxed future and nothing more,
/// and branches joined with `|` cost what the same number given as a `Vec`
/// cost (a miscounted list would grow, and allocate again, as it fills).
fn a_parallel_node_counts_its_branches_to_size_their_list() {
    let _profiler = dhat::Profiler::builder().testing().build();
    let step = |n: u64| lambda(move |x: u64| async move { Ok::<_, WorkflowError>(x + n) });
    let joined = (
        blocks_per_call(step(1) | step(2)),
        blocks_per_call(
            step(1) | step(2) | step(3) | step(4) | step(5) | step(6) | step(7) | step(8),
        ),
    );
    let listed = (
        blocks_per_call(parallel(vec![step(1), step(2)])),
        blocks_per_call(parallel((1..=8).map(step).collect::<Vec<_>>())),
    );
    assert_eq!(
        joined.1 - joined.0,
        6,
        "|: one box per extra branch ({joined:?})"
    );
    assert_eq!(
        listed.1 - listed.0,
        6,
        "Vec: one box per extra branch ({listed:?})"
    );
    assert_eq!(
        joined, listed,
        "joined branches count themselves as a Vec does"
    );
}

/// The heap blocks one warm call of `service` allocates.
fn blocks_per_call<S>(mut service: S) -> u64
where
    S: Service<Request<u64>, Response = Vec<u64>, Error = WorkflowError>,
{
    let ctx = WorkflowContext::new("alloc");
    let mut call = || {
        service
            .call(Request::new(ctx.clone(), 0))
            .now_or_never()
            .unwrap()
            .unwrap()
    };
    call(); // warm up
    let before = blocks();
    call();
    blocks() - before
}

/// Runs without libtest (see `Cargo.toml`): one thread, so the counts are
/// this test's alone.
fn main() {
    a_warm_sequence_of_lambdas_does_not_allocate();
    a_warm_observed_sequence_does_not_allocate();
    the_run_pool_is_bounded_and_dropped_guards_report_their_node();
    a_parallel_node_counts_its_branches_to_size_their_list();
    a_pooled_run_keeps_no_name_made_at_run_time_alive();
    #[allow(clippy::print_stdout)] // a test binary without libtest reports on stdout
    {
        println!("allocations: 5 passed, 0 failed");
    }
}
