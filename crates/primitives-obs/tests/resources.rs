//! CPU time and allocations of measured steps: only time spent polling is
//! counted, not time spent waiting.

mod support;

use std::time::Duration;

use support::{parse_exposition, prometheus, value};
use tower::ServiceExt;
use tta_primitives_core::{Request, WorkflowContext, WorkflowError, prelude::*};
use tta_primitives_obs::resources::{
    CountingAllocator, MeasureExt, thread_allocated_bytes, thread_allocations,
};

#[global_allocator]
static ALLOC: CountingAllocator = CountingAllocator;

/// Spins until this thread has used `cpu` of CPU time (wall time would be
/// longer on a busy machine and make the figure flaky).
fn burn_cpu(cpu: Duration) -> u64 {
    let start = cpu_time::ThreadTime::now();
    let mut x = 0u64;
    while start.elapsed() < cpu {
        for i in 0..10_000u64 {
            x = x.wrapping_mul(6364136223846793005).wrapping_add(i);
        }
    }
    std::hint::black_box(x)
}

#[tokio::test(flavor = "current_thread")]
async fn cpu_time_counts_polling_not_waiting_and_allocations_are_counted() {
    let handle = prometheus();
    let step = from_fn(|_ctx: WorkflowContext, _: ()| async move {
        burn_cpu(Duration::from_millis(30));
        let buffer = vec![1u8; 1_000_000];
        // Wait for something outside this task: a thread answers after 300 ms.
        let (tx, rx) = tokio::sync::oneshot::channel();
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(300));
            let _ = tx.send(());
        });
        rx.await.unwrap();
        Ok::<_, WorkflowError>(buffer.len())
    })
    .measure_resources("heavy_step");
    let out = step
        .oneshot(Request::new(WorkflowContext::new("res"), ()))
        .await
        .unwrap();
    assert_eq!(out, 1_000_000);

    let samples = parse_exposition(&handle.render());
    let cpu = value(
        &samples,
        "tta_primitive_cpu_seconds_sum",
        &[("primitive", "heavy_step")],
    )
    .unwrap();
    assert!(cpu >= 0.03, "the 30 ms of busy work is counted: {cpu}");
    assert!(cpu < 0.2, "the 300 ms wait is not counted: {cpu}");
    assert_eq!(
        value(
            &samples,
            "tta_primitive_cpu_seconds_count",
            &[("primitive", "heavy_step")]
        ),
        Some(1.0)
    );
    let bytes = value(
        &samples,
        "tta_primitive_allocated_bytes_total",
        &[("primitive", "heavy_step")],
    )
    .unwrap();
    assert!(bytes >= 1_000_000.0, "the 1 MB buffer is counted: {bytes}");
    assert!(thread_allocated_bytes() > 0);
}

#[test]
fn the_allocator_counts_each_allocation_and_each_growing_reallocation() {
    let before = thread_allocations();
    let boxed = std::hint::black_box(Box::new(7u64));
    let mut grown: Vec<u8> = Vec::with_capacity(std::hint::black_box(4));
    grown.reserve_exact(std::hint::black_box(64));
    let counted = thread_allocations() - before;
    drop((boxed, grown));
    assert_eq!(counted, 3, "a box, a vector and its growth");
}

#[tokio::test(flavor = "current_thread")]
async fn a_step_that_allocates_nothing_gets_cpu_time_and_no_allocation_series() {
    let handle = prometheus();
    let step = lambda(|n: u64| async move { Ok::<_, WorkflowError>(n + 1) })
        .measure_resources("idle_step");
    let req = Request::new(WorkflowContext::new("res"), 1);
    assert_eq!(step.oneshot(req).await.unwrap(), 2);

    let samples = parse_exposition(&handle.render());
    assert_eq!(
        value(
            &samples,
            "tta_primitive_cpu_seconds_count",
            &[("primitive", "idle_step")]
        ),
        Some(1.0)
    );
    assert_eq!(
        value(
            &samples,
            "tta_primitive_allocated_bytes_total",
            &[("primitive", "idle_step")],
        ),
        None,
        "no zero series that reads as 'measured, allocates nothing'"
    );
}
