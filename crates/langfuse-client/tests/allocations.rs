//! A warm LLM call through the layer in metrics-only mode does no heap
//! allocation and no registry lookup of its own: the metric handles are
//! cached per (provider, model) and the price per model name. Measured with
//! a counting allocator (dhat) under a recorder of plain atomics; requests
//! are built before the measured window (building one allocates its model
//! name), and the mock provider's response owns no heap data.

use futures_util::FutureExt;
use tower::{Layer, Service, service_fn};
use tta_langfuse::{LlmLayer, LlmRequest, LlmResponse, Usage};
use tta_test_support::recorder::{AtomicRecorder, registrations};

#[global_allocator]
static ALLOC: dhat::Alloc = dhat::Alloc;

fn blocks() -> u64 {
    dhat::HeapStats::get().total_blocks
}

fn warm_metrics_only_llm_calls_do_not_allocate() {
    metrics::set_global_recorder(AtomicRecorder).unwrap();
    let _profiler = dhat::Profiler::builder().testing().build();
    let mut llm = LlmLayer::new()
        .metrics_only()
        .layer(service_fn(|_req: LlmRequest| async {
            Ok::<_, std::io::Error>(LlmResponse {
                usage: Some(Usage {
                    input_tokens: 1200,
                    output_tokens: 300,
                    cache_read_input_tokens: 200,
                    ..Usage::default()
                }),
                ..LlmResponse::default()
            })
        }));
    let mut requests: Vec<LlmRequest> = (0..1_010)
        .map(|_| LlmRequest::chat("openai", "gpt-4o-mini"))
        .collect();
    let mut call = |req: LlmRequest| llm.call(req).now_or_never().unwrap().unwrap();
    for req in requests.drain(..10) {
        call(req); // warm up: handles, price cache, thread-locals
    }
    let (before, registered) = (blocks(), registrations());
    for req in requests.drain(..) {
        // Dropping the request frees its model name; freeing is not allocating.
        assert_eq!(call(req).usage.unwrap().output_tokens, 300);
    }
    assert_eq!(
        blocks() - before,
        0,
        "a warm metrics-only LLM call allocated"
    );
    assert_eq!(
        registrations(),
        registered,
        "a warm call looked up the registry"
    );

    // The counter does see allocations: a traced call allocates its span.
    let before = blocks();
    let mut traced = LlmLayer::new().layer(service_fn(|_req: LlmRequest| async {
        Ok::<_, std::io::Error>(LlmResponse::default())
    }));
    let req = LlmRequest::chat("openai", "gpt-4o-mini");
    traced.call(req).now_or_never().unwrap().unwrap();
    assert!(blocks() > before, "the counting allocator sees allocations");
}

/// Runs without libtest (see `Cargo.toml`): one thread, so the counts are
/// this test's alone.
fn main() {
    warm_metrics_only_llm_calls_do_not_allocate();
    #[allow(clippy::print_stdout)] // a test binary without libtest reports on stdout
    {
        println!("allocations: 1 passed, 0 failed");
    }
}
