//! The in-process path as the demo uses it: obs-init hands an embedded
//! console the spans and, with the `tracing` bridge on, the log records of
//! `tracing` events, which appear on their spans. No network hop.

use std::time::Duration;

use tower::ServiceExt;
use tracing_subscriber::filter::LevelFilter;
use tta_console::{Console, ConsoleConfig};
use tta_obs_init::{
    ObservabilityConfig, SpanDestination, SpanSelection, TracesExporter, initialize_observability,
};
use tta_primitives_core::{Request, WorkflowContext, WorkflowError, prelude::*};
use tta_primitives_obs::{InstrumentExt, propagation::context_of};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spans_and_tracing_events_reach_an_embedded_console_and_events_join_their_span() {
    let console = Console::start(ConsoleConfig {
        ui_addr: "127.0.0.1:0".parse().unwrap(),
        otlp_http_addr: None,
        otlp_grpc_addr: None,
        ..ConsoleConfig::default()
    })
    .await
    .unwrap();
    let config = ObservabilityConfig::builder("in-process-service")
        .without_metrics_endpoint()
        .traces_exporter(TracesExporter::None)
        .tracing_bridge(LevelFilter::INFO)
        .span_destination(
            SpanDestination::new("console", console.span_exporter(), SpanSelection::All)
                .with_logs(console.log_exporter()),
        )
        .build()
        .unwrap();
    let guard = initialize_observability(config).unwrap();

    let price = from_fn(|ctx: WorkflowContext, items: u32| async move {
        let _step = context_of(&ctx).attach();
        let span = tracing::info_span!("user_pricing", items);
        let _entered = span.enter();
        tracing::info!(items, "priced the order");
        tracing::debug!("below the bridge's level: not exported");
        Ok::<_, WorkflowError>(items * 10)
    })
    .named("price_step")
    .instrumented();
    let ctx = WorkflowContext::new("in_process_wf");
    assert_eq!(price.oneshot(Request::new(ctx, 3)).await.unwrap(), 30);
    assert!(guard.shutdown(Duration::from_secs(10)).await.completed);

    let page = console.store().traces(&Default::default());
    assert_eq!(page.traces.len(), 1, "{:?}", page.traces);
    let summary = &page.traces[0];
    assert_eq!(summary.services, vec!["in-process-service".to_owned()]);
    assert_eq!(summary.workflow.as_deref(), Some("in_process_wf"));
    let spans = console.store().trace(&summary.trace_id).unwrap();
    let by_name = |n: &str| {
        spans
            .iter()
            .find(|s| s.name == n)
            .unwrap_or_else(|| panic!("no span {n} in {spans:?}"))
    };
    let step = by_name("price_step");
    let user = by_name("user_pricing");
    assert_eq!(user.parent_span_id.as_ref(), Some(&step.span_id));
    let logs: Vec<(&str, &str)> = spans
        .iter()
        .flat_map(|s| {
            s.logs
                .iter()
                .map(move |l| (s.name.as_str(), l.body.as_str()))
        })
        .collect();
    assert_eq!(
        logs,
        vec![("user_pricing", "priced the order")],
        "the one event at INFO or above, on its span"
    );
    let logs = console
        .counters()
        .logs
        .load(std::sync::atomic::Ordering::Relaxed);
    assert_eq!(logs, 1, "one record received");
}
