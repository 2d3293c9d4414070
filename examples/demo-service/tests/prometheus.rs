//! End to end: the demo service under its own load, scraped by a real
//! Prometheus; every catalogue metric the demo exercises is there, with the
//! right labels and plausible values, and promtool finds nothing wrong.

use std::{
    sync::{Arc, atomic::Ordering},
    time::Duration,
};

use tta_demo::{LoadStats, generate_load};
use tta_obs_init::{ObservabilityConfig, TracesExporter, initialize_observability};
use tta_test_support::{Prometheus, eventually, first_value, get, promtool_check_metrics};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prometheus_finds_every_metric_the_demo_exercises() {
    let config = ObservabilityConfig::builder("tta-demo")
        .metrics_addr("127.0.0.1:0")
        .traces_exporter(TracesExporter::None)
        .metric_catalogue(tta_langfuse::LLM_METRICS)
        .build()
        .unwrap();
    let guard = initialize_observability(config).unwrap();
    let metrics_addr = guard.metrics_addr().unwrap();

    let (api, _server) = tta_demo::serve_on_free_port().await;
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let stats = Arc::new(LoadStats::default());
    let load = tokio::spawn(generate_load(
        api,
        100,
        tta_demo::DEFAULT_MAX_IN_FLIGHT as usize,
        stats.clone(),
        stopped,
    ));
    eventually("300 answered requests", Duration::from_secs(60), || async {
        (stats.ok.load(Ordering::Relaxed) >= 300).then_some(())
    })
    .await;
    let _ = stop.send(true);
    load.await.unwrap();
    // Let the requests still in flight finish, so every scrape sees whole quotes.
    let idle = "tta_primitive_in_flight{workflow=\"quote\",primitive=\"quote\",primitive_type=\"workflow\"} 0\n";
    eventually(
        "the last quotes to finish",
        Duration::from_secs(30),
        || async { guard.render().contains(idle).then_some(()) },
    )
    .await;

    let (_, text) = get(&format!("http://{metrics_addr}/metrics")).await;
    let findings = promtool_check_metrics(&text);
    assert!(findings.is_empty(), "promtool check metrics: {findings}");

    let prometheus = Prometheus::start("demo", &[metrics_addr]).await;
    prometheus
        .wait_for("tta_build_info{service=\"tta-demo\"}")
        .await;
    let value = |r: &[serde_json::Value]| first_value(r);
    let answered = stats.ok.load(Ordering::Relaxed) as f64;

    // Workflow and node executions, by outcome.
    let quotes = prometheus
        .query("sum(tta_primitive_executions_total{workflow=\"quote\",primitive=\"quote\",primitive_type=\"workflow\",outcome=\"success\"})")
        .await;
    assert!(value(&quotes) >= answered, "{quotes:?}");
    let invalid = prometheus
        .query("sum(tta_primitive_executions_total{workflow=\"quote\",primitive=\"validate\",outcome=\"error\",error_type=\"invalid_order\"})")
        .await;
    assert!(value(&invalid) > 0.0, "some generated orders are empty");
    for (metric, labels) in [
        (
            "tta_primitive_duration_seconds_count",
            "workflow=\"quote\",primitive=\"llm_summary\",primitive_type=\"fallback\"",
        ),
        (
            "tta_primitive_in_flight",
            "workflow=\"quote\",primitive=\"gather\",primitive_type=\"parallel\"",
        ),
        (
            "tta_primitive_executions_total",
            "workflow=\"tta-demo\",primitive=\"http\",primitive_type=\"service\"",
        ),
        (
            "tta_primitive_executions_total",
            "workflow=\"tta-demo-load\",primitive=\"quote_client\",primitive_type=\"service\"",
        ),
        (
            "tta_cache_requests_total",
            "primitive=\"tax_cache\",result=\"hit\"",
        ),
        (
            "tta_cache_requests_total",
            "primitive=\"tax_cache\",result=\"miss\"",
        ),
        ("tta_cache_entries", "primitive=\"tax_cache\""),
        ("tta_cache_memory_bytes", "primitive=\"tax_cache\""),
        (
            "tta_retry_calls_total",
            "primitive=\"tax_retry\",result=\"success_after_retry\"",
        ),
        ("tta_retry_attempts_count", "primitive=\"tax_retry\""),
        ("tta_retry_backoff_seconds_count", "primitive=\"tax_retry\""),
        (
            "tta_circuit_breaker_state",
            "primitive=\"stock_breaker\",state=\"closed\"",
        ),
        (
            "tta_fallback_total",
            "primitive=\"stock\",result=\"primary\"",
        ),
        (
            "tta_fallback_total",
            "primitive=\"stock\",result=\"fallback\"",
        ),
        (
            "tta_router_decisions_total",
            "primitive=\"shipping\",route=\"parcel\"",
        ),
        (
            "tta_router_decisions_total",
            "primitive=\"shipping\",route=\"freight\"",
        ),
        (
            "tta_saga_compensations_total",
            "primitive=\"payment\",result=\"success\"",
        ),
        (
            "tta_fallback_total",
            "primitive=\"pay_or_invoice\",result=\"fallback\"",
        ),
        (
            "tta_llm_requests_total",
            "provider=\"simulated\",model=\"demo-llm-small\",outcome=\"success\"",
        ),
        (
            "tta_llm_tokens_total",
            "provider=\"simulated\",model=\"demo-llm-small\",token_type=\"input\"",
        ),
        (
            "tta_llm_tokens_total",
            "provider=\"simulated\",model=\"demo-llm-small\",token_type=\"output\"",
        ),
        (
            "tta_llm_tokens_total",
            "provider=\"simulated\",model=\"demo-llm-small\",token_type=\"cached\"",
        ),
        ("tta_llm_cost_usd_sum", "model=\"demo-llm-small\""),
        (
            "tta_llm_request_duration_seconds_count",
            "model=\"demo-llm-small\"",
        ),
        (
            "tta_llm_time_to_first_token_seconds_bucket",
            "model=\"demo-llm-small\",le=\"0.25\"",
        ),
    ] {
        let result = prometheus.query(&format!("{metric}{{{labels}}}")).await;
        assert!(!result.is_empty(), "no {metric}{{{labels}}} in Prometheus");
        let v = value(&result);
        assert!(v.is_finite() && v >= 0.0, "{metric}{{{labels}}} = {v}");
    }
    // The LLM's spend: priced at $0.5/M input (cached $0.25/M) and $1.5/M
    // output, a summary of at most ~250 prompt and 220 completion tokens
    // costs well under a tenth of a cent.
    let calls = value(&prometheus.query("sum(tta_llm_cost_usd_count)").await);
    let spend = value(&prometheus.query("sum(tta_llm_cost_usd_sum)").await);
    assert!(
        calls > 0.0 && spend > 0.0 && spend / calls < 0.001,
        "{spend} USD over {calls} calls"
    );
    // Plausible values: the tax cache holds at most its capacity, and every
    // cache lookup is either a hit or a miss of a quote that got that far.
    let entries = value(
        &prometheus
            .query("tta_cache_entries{primitive=\"tax_cache\"}")
            .await,
    );
    assert!((1.0..=20.0).contains(&entries), "cache entries {entries}");
    let lookups = value(
        &prometheus
            .query("sum(tta_cache_requests_total{primitive=\"tax_cache\"})")
            .await,
    );
    let gathered = value(
        &prometheus
            .query("sum(tta_primitive_executions_total{workflow=\"quote\",primitive=\"gather\"})")
            .await,
    );
    assert_eq!(lookups, gathered, "one tax lookup per gather");
    assert!(guard.shutdown(Duration::from_secs(5)).await.completed);
}
