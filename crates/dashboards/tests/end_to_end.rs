//! End to end: a real Prometheus loads the generated rules and scrapes the
//! demo service under its own load; every dashboard panel query, every
//! variable query and every recording rule returns data, and every rule
//! loads and evaluates without error. A query without data is reported
//! with its dashboard, panel and expression.

use std::{
    path::Path,
    sync::{Arc, atomic::Ordering},
    time::Duration,
};

use tta_dashboards::{AlertConfig, CONFIG_FILE, QueryKind, expand, expressions, rules};
use tta_demo::{LoadStats, generate_load};
use tta_obs_init::{ObservabilityConfig, initialize_observability};
use tta_test_support::{Prometheus, black_hole, eventually, get};

/// Series that only appear after rarer events of the demo's traffic: the
/// load runs until each has shown up.
const RARE: &[&str] = &[
    "tta_circuit_breaker_transitions_total{",
    "tta_circuit_breaker_rejected_total{",
    "tta_timeouts_total{",
    "tta_cache_evictions_total{",
    "tta_telemetry_export_errors_total{",
    "tta_llm_requests_total{provider=\"simulated\",model=\"demo-llm-small\",outcome=\"error\"}",
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_panel_query_and_recording_rule_has_data_for_the_demo() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let config = AlertConfig::load(&root.join(CONFIG_FILE)).unwrap();
    // The committed rules, as a user deploys them (a consistency test
    // checks they are current).
    let rule_files = [rules::RECORDING_FILE, rules::ALERTS_FILE].map(|f| {
        root.join("deploy/prometheus/rules")
            .join(f)
            .canonicalize()
            .unwrap()
    });

    tta_langfuse::register_metrics().unwrap();
    // Spans go to a collector that never answers, so the telemetry
    // pipeline's own metrics (export errors, drops) have data too.
    let collector = black_hole();
    let obs = ObservabilityConfig::builder("tta-demo")
        .metrics_addr("127.0.0.1:0")
        .otlp_http(&format!("http://{collector}/v1/traces"), &[])
        .unwrap()
        .otlp_timeout(Duration::from_millis(300))
        .span_queue(64, Duration::from_millis(200))
        .build()
        .unwrap();
    let guard = initialize_observability(obs).unwrap();
    let metrics_addr = guard.metrics_addr().unwrap();
    let (api, _server) = tta_demo::serve_on_free_port().await;
    let prometheus = Prometheus::start_with_rules("tta-demo", &[metrics_addr], &rule_files).await;

    let (stop, stopped) = tokio::sync::watch::channel(false);
    let stats = Arc::new(LoadStats::default());
    let load = tokio::spawn(generate_load(
        api,
        100,
        tta_demo::DEFAULT_MAX_IN_FLIGHT as usize,
        stats.clone(),
        stopped,
    ));
    eventually(
        "the demo's rarer events",
        Duration::from_secs(120),
        || async {
            let text = guard.render();
            let missing: Vec<_> = RARE.iter().filter(|s| !text.contains(*s)).collect();
            (missing.is_empty() && stats.ok.load(Ordering::Relaxed) >= 1000).then_some(())
        },
    )
    .await;

    // Rates need two samples in their window: wait until Prometheus has
    // scraped each rarer series at least twice.
    eventually(
        "two scrapes of each rarer series",
        Duration::from_secs(60),
        || async {
            for series in RARE {
                let name = series.split('{').next().unwrap();
                let promql = format!("count_over_time({name}[1m]) >= 2");
                if prometheus.query(&promql).await.is_empty() {
                    return None;
                }
            }
            Some(())
        },
    )
    .await;

    // Every rule loaded and evaluates without error.
    let (status, body) = get(&format!("{}/api/v1/rules", prometheus.url())).await;
    assert_eq!(status, 200, "{body}");
    let rules_json: serde_json::Value = serde_json::from_str(&body).unwrap();
    let loaded: Vec<&serde_json::Value> = rules_json["data"]["groups"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|g| g["rules"].as_array().unwrap())
        .collect();
    let generated = expressions(&config);
    let expected_rules = generated
        .iter()
        .filter(|q| matches!(q.kind, QueryKind::Recording | QueryKind::Alert))
        .count();
    assert_eq!(
        loaded.len(),
        expected_rules,
        "every generated rule is loaded"
    );

    // Recording rules: each recorded series has data once the groups ran.
    let recorded: Vec<String> = rules::recording_rules(&config)
        .groups
        .iter()
        .flat_map(|g| &g.rules)
        .filter_map(|r| r.record.clone())
        .collect();
    eventually(
        "every recording rule to have data",
        Duration::from_secs(120),
        || async {
            for name in &recorded {
                if prometheus.query(name).await.is_empty() {
                    return None;
                }
            }
            Some(())
        },
    )
    .await;
    let evaluated = eventually(
        "every rule to be evaluated",
        Duration::from_secs(90),
        || async {
            let (_, body) = get(&format!("{}/api/v1/rules", prometheus.url())).await;
            let json: serde_json::Value = serde_json::from_str(&body).ok()?;
            let rules: Vec<serde_json::Value> = json["data"]["groups"]
                .as_array()?
                .iter()
                .flat_map(|g| g["rules"].as_array().cloned().unwrap_or_default())
                .collect();
            rules
                .iter()
                .all(|r| r["health"] != "unknown")
                .then_some(rules)
        },
    )
    .await;
    for rule in &evaluated {
        assert_eq!(
            rule["health"], "ok",
            "rule {} evaluates with an error: {rule:#}",
            rule["name"]
        );
    }

    // Every panel and variable query returns data. Rates over one minute
    // (the demo has run for well over that), ranges over five.
    let mut empty = Vec::new();
    let queries: Vec<_> = generated
        .iter()
        .filter(|q| matches!(q.kind, QueryKind::Panel | QueryKind::Variable))
        .collect();
    assert!(
        queries.len() > 50,
        "{} panel and variable queries",
        queries.len()
    );
    for q in queries {
        let expr = expand(&q.expr, "1m", "5m");
        if prometheus.query(&expr).await.is_empty() {
            empty.push(format!("{}: {expr}", q.location));
        }
    }
    let _ = stop.send(true);
    load.await.unwrap();
    assert!(
        empty.is_empty(),
        "queries without data for the demo's traffic:\n{}",
        empty.join("\n")
    );
}
