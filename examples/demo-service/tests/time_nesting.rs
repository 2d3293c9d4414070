//! Whole demo traces nest in time: under real load (the load generator's
//! HTTP client spans, the server's spans, every workflow node, the retries,
//! the breaker, the cache, the streamed LLM call and the saga), no span of
//! any trace starts before its parent or ends after it.

use std::{
    collections::HashSet,
    sync::{Arc, atomic::Ordering},
    time::Duration,
};

use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracerProvider};
use tta_demo::{LoadStats, generate_load, serve_on_free_port};
use tta_test_support::spans::not_nested_in_time;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_span_of_every_demo_trace_nests_in_time_under_its_parent() {
    let exporter = InMemorySpanExporter::default();
    let provider = SdkTracerProvider::builder()
        .with_simple_exporter(exporter.clone())
        .build();
    opentelemetry::global::set_tracer_provider(provider.clone());

    let (addr, server) = serve_on_free_port().await;
    let stats = Arc::new(LoadStats::default());
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let load = tokio::spawn(generate_load(addr, 100, 32, Arc::clone(&stats), stopped));
    tokio::time::sleep(Duration::from_secs(3)).await;
    stop.send(true).unwrap();
    load.await.unwrap();
    let answered = || stats.ok.load(Ordering::Relaxed) + stats.failed.load(Ordering::Relaxed);
    // The requests still in flight finish (each client span ends with its
    // answer); then no span is open.
    tta_test_support::eventually("the last answers", Duration::from_secs(30), || async {
        let before = answered();
        tokio::time::sleep(Duration::from_millis(300)).await;
        (answered() == before).then_some(())
    })
    .await;
    server.abort();
    provider.force_flush().unwrap();

    let spans = exporter.get_finished_spans().unwrap();
    let traces: HashSet<_> = spans.iter().map(|s| s.span_context.trace_id()).collect();
    let names: HashSet<&str> = spans.iter().map(|s| s.name.as_ref()).collect();
    assert!(
        stats.ok.load(Ordering::Relaxed) >= 50 && traces.len() >= 50,
        "enough load: {} answered, {} traces",
        answered(),
        traces.len()
    );
    for name in [
        "quote",
        "tax_retry",
        "stock_breaker",
        "tax_cache",
        "llm_read",
        "payment",
    ] {
        assert!(names.contains(name), "no {name} span among {names:?}");
    }
    assert!(
        names.iter().any(|n| n.starts_with("chat ")),
        "no LLM span among {names:?}"
    );
    let faults = not_nested_in_time(&spans);
    assert!(
        faults.is_empty(),
        "{} of {} spans out of their parents in time, e.g. {:#?}",
        faults.len(),
        spans.len(),
        &faults[..faults.len().min(10)]
    );
}
