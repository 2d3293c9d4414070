//! Cost of composition: a 3-step sequence and a 3-branch parallel of trivial
//! async functions, against the same code written by hand, in the same run.
//!
//! `cargo bench -p tta-primitives-core --bench composition` runs the criterion
//! groups, then prints ns per execution, the overhead per step and the ratio
//! from an interleaved measurement of both variants.
#![allow(clippy::print_stdout)] // a benchmark reports on stdout

use std::{future::Future, hint::black_box, time::Instant};

use criterion::{Criterion, criterion_group};
use futures_util::FutureExt;
use tower::{Service, ServiceExt};
use tta_primitives_core::prelude::*;

async fn add(x: u64, n: u64) -> Result<u64, WorkflowError> {
    Ok(black_box(x).wrapping_add(n))
}

/// Runs a future that completes without waiting, as both variants do.
fn run<F: Future>(future: F) -> F::Output {
    future
        .now_or_never()
        .expect("trivial futures complete at once")
}

fn sequence_workflow() -> impl Service<Request<u64>, Response = u64, Error = WorkflowError> + Clone
{
    lambda(|x: u64| add(x, 1)) >> lambda(|x: u64| add(x, 2)) >> lambda(|x: u64| add(x, 3))
}

async fn sequence_by_hand(x: u64) -> Result<u64, WorkflowError> {
    let a = add(x, 1).await?;
    let b = add(a, 2).await?;
    add(b, 3).await
}

fn parallel_workflow()
-> impl Service<Request<u64>, Response = Vec<u64>, Error = WorkflowError> + Clone {
    lambda(|x: u64| add(x, 1)) | lambda(|x: u64| add(x, 2)) | lambda(|x: u64| add(x, 3))
}

async fn parallel_by_hand(x: u64) -> Result<Vec<u64>, WorkflowError> {
    let (a, b, c) = futures_util::join!(add(x, 1), add(x, 2), add(x, 3));
    Ok(vec![a?, b?, c?])
}

fn bench(c: &mut Criterion) {
    let ctx = WorkflowContext::new("bench");

    let mut group = c.benchmark_group("sequence_3");
    let mut workflow = sequence_workflow();
    group.bench_function("hand_written", |b| {
        b.iter(|| run(sequence_by_hand(black_box(7))))
    });
    group.bench_function("workflow", |b| {
        b.iter(|| run(workflow.call(Request::new(ctx.clone(), black_box(7)))))
    });
    group.finish();

    let mut group = c.benchmark_group("parallel_3");
    let workflow = parallel_workflow();
    group.bench_function("hand_written", |b| {
        b.iter(|| run(parallel_by_hand(black_box(7))))
    });
    group.bench_function("workflow", |b| {
        b.iter(|| {
            run(workflow
                .clone()
                .oneshot(Request::new(ctx.clone(), black_box(7))))
        })
    });
    group.finish();
}

criterion_group!(benches, bench);

/// Median ns per call of `f` over interleaved rounds.
fn ns_per_call(
    rounds: &mut [Vec<f64>; 2],
    iters: u32,
    mut a: impl FnMut(),
    mut b: impl FnMut(),
) -> (f64, f64) {
    for _ in 0..41 {
        for (slot, f) in rounds.iter_mut().zip([&mut a as &mut dyn FnMut(), &mut b]) {
            let start = Instant::now();
            for _ in 0..iters {
                f();
            }
            slot.push(start.elapsed().as_nanos() as f64 / f64::from(iters));
        }
    }
    let median = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let [x, y] = rounds;
    (median(x), median(y))
}

fn report(label: &str, steps: f64, (floor, ours): (f64, f64)) {
    println!(
        "{label}: hand-written {floor:.1} ns, workflow {ours:.1} ns, +{:.1} ns per step, ratio {:.2}x",
        (ours - floor) / steps,
        ours / floor
    );
}

fn main() {
    benches();
    Criterion::default().configure_from_args().final_summary();
    // Only under `cargo bench`; `cargo test --all-targets` runs benches once as tests.
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let ctx = WorkflowContext::new("bench");
    let mut seq = sequence_workflow();
    let par = parallel_workflow();
    println!("\nOverhead against the hand-written floor (median of 41 interleaved rounds):");
    let seq_result = ns_per_call(
        &mut [Vec::new(), Vec::new()],
        40_000,
        || {
            black_box(run(sequence_by_hand(black_box(7)))).ok();
        },
        || {
            black_box(run(seq.call(Request::new(ctx.clone(), black_box(7))))).ok();
        },
    );
    report("sequence of 3 lambdas", 3.0, seq_result);
    let par_result = ns_per_call(
        &mut [Vec::new(), Vec::new()],
        20_000,
        || {
            black_box(run(parallel_by_hand(black_box(7)))).ok();
        },
        || {
            black_box(run(par
                .clone()
                .oneshot(Request::new(ctx.clone(), black_box(7)))))
            .ok();
        },
    );
    report("parallel of 3 lambdas", 3.0, par_result);
}
