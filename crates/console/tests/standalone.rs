//! The `tta-console` binary as `cargo xtask console` runs it: it prints
//! where its UI and OTLP receivers listen, an application's own OTLP
//! exporter (opentelemetry-otlp's, over gRPC) delivers to it, the JSON API
//! shows the trace, SIGTERM stops it cleanly, and the trace is read back
//! from its state directory after a restart. Bad flags and an exposed
//! listener without a token are refused with the flag named.

use std::{process::Command, time::Duration};

use opentelemetry::{
    KeyValue,
    trace::{Tracer, TracerProvider as _},
};
use opentelemetry_otlp::WithExportConfig;
use opentelemetry_sdk::{Resource, trace::SdkTracerProvider};
use tta_test_support::process::Process;

const CONSOLE: &str = env!("CARGO_BIN_EXE_tta-console");

fn console(state: &std::path::Path, extra: &[&str]) -> Process {
    let mut command = Command::new(CONSOLE);
    command
        .args(["--ui", "127.0.0.1:0", "--otlp-http", "127.0.0.1:0"])
        .args(["--otlp-grpc", "127.0.0.1:0", "--state-dir"])
        .arg(state)
        .args(extra)
        .env_remove("TTA_CONSOLE_TOKEN");
    Process::spawn("tta-console", command)
}

/// The trace ids `/api/traces` lists.
async fn listed(ui: &str) -> Vec<String> {
    let (status, body) = tta_test_support::get(&format!("http://{ui}/api/traces")).await;
    assert_eq!(status, 200, "{body}");
    let page: serde_json::Value = serde_json::from_str(&body).unwrap();
    page["traces"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["trace_id"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_binary_receives_otlp_shows_it_stops_on_sigterm_and_reads_it_back() {
    let state = std::env::temp_dir().join(format!("tta-console-standalone-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&state);
    let mut running = console(&state, &[]);
    let ui = running.addr_after("open ");
    let grpc = running.addr_after("OTLP/gRPC on ");
    assert!(ui.starts_with("127.0.0.1:"), "{}", running.text());
    assert!(
        running
            .text()
            .contains("OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:"),
        "the banner says how to point an application at it:\n{}",
        running.text()
    );

    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_tonic()
        .with_endpoint(format!("http://{grpc}"))
        .with_timeout(Duration::from_secs(5))
        .build()
        .unwrap();
    let provider = SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        .with_resource(
            Resource::builder_empty()
                .with_attributes([KeyValue::new("service.name", "any-app")])
                .build(),
        )
        .build();
    let trace_id = tokio::task::spawn_blocking(move || {
        let tracer = provider.tracer("standalone-test");
        let trace_id = tracer.in_span("handle_order", |cx| {
            use opentelemetry::trace::TraceContextExt as _;
            cx.span().span_context().trace_id().to_string()
        });
        provider.shutdown().unwrap();
        trace_id
    })
    .await
    .unwrap();
    tta_test_support::eventually("the trace in the API", Duration::from_secs(20), || {
        let ui = ui.clone();
        let trace_id = trace_id.clone();
        async move { listed(&ui).await.contains(&trace_id).then_some(()) }
    })
    .await;

    running.signal("TERM");
    let status = running.exit(Duration::from_secs(10));
    assert!(status.success(), "{status}: {}", running.text());
    assert!(
        running.text().contains("SIGTERM received"),
        "{}",
        running.text()
    );

    let restarted = console(&state, &[]);
    let ui = restarted.addr_after("open ");
    assert!(
        restarted.text().contains("1 spans read back"),
        "{}",
        restarted.text()
    );
    assert_eq!(listed(&ui).await, vec![trace_id]);
    drop(restarted);
    let _ = std::fs::remove_dir_all(&state);
}

#[test]
fn bad_flags_and_an_exposed_listener_without_a_token_are_refused_by_name() {
    for (args, named) in [
        (
            &["--otlp-http", "localhost"][..],
            "invalid --otlp-http \"localhost\"",
        ),
        (&["--max-spans", "0"][..], "--max-spans"),
        (
            &[
                "--ui",
                "0.0.0.0:0",
                "--otlp-http",
                "off",
                "--otlp-grpc",
                "off",
            ][..],
            "listens beyond loopback: set an access token",
        ),
    ] {
        let mut command = Command::new(CONSOLE);
        command
            .arg("--in-memory")
            .args(args)
            .env_remove("TTA_CONSOLE_TOKEN");
        let mut refused = Process::spawn("tta-console", command);
        let status = refused.exit(Duration::from_secs(10));
        assert!(!status.success(), "{args:?} was accepted");
        assert!(
            refused.text().contains(named),
            "{args:?}: the error says {named:?}:\n{}",
            refused.text()
        );
    }
}
