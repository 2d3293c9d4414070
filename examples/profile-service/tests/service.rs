//! The example service as its team would test it: its real telemetry set-up
//! (`observability()`, with spans also sent to an in-memory exporter), its
//! router served over TCP, its trace trees and HTTP metrics read back; and
//! the binary stopped by SIGTERM.

use std::{
    process::Command,
    time::{Duration, Instant},
};

use opentelemetry_sdk::{
    error::OTelSdkResult,
    trace::{InMemorySpanExporter, SpanData, SpanExporter},
};
use tta_example_profile::{Store, app, observability, workflows};
use tta_obs_init::{SpanDestination, SpanSelection, TracesExporter, initialize_observability};
use tta_test_support::{
    exposition::{parse_exposition, value},
    get, post,
    process::Process,
    spans::{attribute, render_tree},
};

/// The in-memory exporter, kept readable after the shutdown that flushes it
/// (its own shutdown clears it).
#[derive(Debug)]
struct KeepOnShutdown(InMemorySpanExporter);

impl SpanExporter for KeepOnShutdown {
    async fn export(&self, batch: Vec<SpanData>) -> OTelSdkResult {
        self.0.export(batch).await
    }
}

/// The span tree under each root, one line per span: its name, primitive
/// type and, where they say something, retry attempt, error type and class.
fn render(spans: &[SpanData]) -> String {
    render_tree(spans, |span| {
        let mut line = span.name.to_string();
        if let Some(t) = attribute(span, "tta.primitive.type") {
            line.push_str(&format!(" [{t}]"));
        }
        for key in [
            "tta.retry.attempt",
            "error.type",
            "tta.error.class",
            "http.response.status_code",
            "gen_ai.usage.output_tokens",
        ] {
            if let Some(v) = attribute(span, key) {
                line.push_str(&format!(" {key}={v}"));
            }
        }
        line
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_endpoints_give_exact_trace_trees_and_route_metrics() {
    let memory = InMemorySpanExporter::default();
    let config = observability()
        .unwrap()
        .metrics_addr("127.0.0.1:0")
        .traces_exporter(TracesExporter::None)
        .span_destination(SpanDestination::new(
            "memory",
            KeepOnShutdown(memory.clone()),
            SpanSelection::All,
        ))
        .build()
        .unwrap();
    let telemetry = initialize_observability(config).unwrap();
    // The first user lookup of every two fails and is retried.
    let app = app(workflows(Store::new(2)).unwrap());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });

    let (status, body) = get(&format!("{base}/users/7")).await;
    assert_eq!(status, 200, "{body}");
    let profile: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(profile["user"]["name"], "user-7");
    assert_eq!(profile["orders"].as_array().unwrap().len(), 3);
    let (status, body) = get(&format!("{base}/users/0")).await;
    assert_eq!((status, body.as_str()), (404, "not_found\n"));
    let summary = post(&format!("{base}/users/5/summary"), "").await;
    assert_eq!(
        summary,
        (200, "A loyal customer with recent orders.".to_owned())
    );

    let samples = parse_exposition(&telemetry.render());
    let requests = |method: &str, route: &str, class: &str| {
        value(
            &samples,
            "tta_http_server_request_duration_seconds_count",
            &[
                ("server", "http"),
                ("method", method),
                ("route", route),
                ("status_class", class),
            ],
        )
    };
    assert_eq!(requests("GET", "/users/{id}", "2xx"), Some(1.0));
    assert_eq!(requests("GET", "/users/{id}", "4xx"), Some(1.0));
    assert_eq!(requests("POST", "/users/{id}/summary", "2xx"), Some(1.0));
    let workflow = |name: &str, outcome: &str, error_type: &str| {
        value(
            &samples,
            "tta_primitive_executions_total",
            &[
                ("workflow", name),
                ("primitive_type", "workflow"),
                ("outcome", outcome),
                ("error_type", error_type),
            ],
        )
    };
    assert_eq!(workflow("profile", "success", ""), Some(1.0));
    assert_eq!(
        workflow("profile", "expected", "not_found"),
        Some(1.0),
        "a missing user is not a failure of the service"
    );
    assert_eq!(workflow("profile", "error", "not_found"), None);
    assert_eq!(workflow("summary", "success", ""), Some(1.0));
    assert_eq!(
        value(
            &samples,
            "tta_llm_tokens_total",
            &[
                ("provider", "simulated"),
                ("model", "profile-writer"),
                ("token_type", "output")
            ]
        ),
        Some(12.0)
    );
    assert!(
        telemetry.render().contains(&format!(
            "tta_build_info{{version=\"{}\",service=\"profile-service\"}} 1",
            env!("CARGO_PKG_VERSION")
        )),
        "the crate's version, from env!(\"CARGO_PKG_VERSION\")"
    );

    let report = telemetry.shutdown(Duration::from_secs(5)).await;
    assert!(report.is_clean(), "{report}");
    let spans = memory.get_finished_spans().unwrap();
    assert_eq!(
        render(&spans),
        "\
GET /users/{id} [service] http.response.status_code=200
  profile [workflow]
    profile [sequence]
      join [parallel]
        fetch_user [cache]
          user_deadline [timeout]
            retry_user [retry]
              load_user [lambda] tta.retry.attempt=1 error.type=db_unavailable tta.error.class=transient
              load_user [lambda] tta.retry.attempt=2
        fetch_orders [lambda]
      render [lambda]
GET /users/{id} [service] http.response.status_code=404
  profile [workflow] error.type=not_found tta.error.class=expected
    profile [sequence] error.type=not_found tta.error.class=expected
      join [parallel] error.type=not_found tta.error.class=expected
        fetch_user [cache] error.type=not_found tta.error.class=expected
          user_deadline [timeout] error.type=not_found tta.error.class=expected
            retry_user [retry] error.type=not_found tta.error.class=expected
              load_user [lambda] tta.retry.attempt=1 error.type=db_unavailable tta.error.class=transient
              load_user [lambda] tta.retry.attempt=2 error.type=not_found tta.error.class=expected
        fetch_orders [lambda]
POST /users/{id}/summary [service] http.response.status_code=200
  summary [workflow]
    summary [sequence]
      join [parallel]
        fetch_user [cache]
          user_deadline [timeout]
            retry_user [retry]
              load_user [lambda] tta.retry.attempt=1 error.type=db_unavailable tta.error.class=transient
              load_user [lambda] tta.retry.attempt=2
        fetch_orders [lambda]
      render [lambda]
      prompt [lambda]
      summarise [service]
        chat profile-writer gen_ai.usage.output_tokens=12
      answer [lambda]
",
        "the HTTP span holds the workflow; a missing user is expected all the way up and never \
         retried; the LLM call nests under its step"
    );
    assert!(
        tta_test_support::spans::not_nested_in_time(&spans).is_empty(),
        "{:?}",
        tta_test_support::spans::not_nested_in_time(&spans)
    );
}

#[test]
fn sigterm_stops_the_binary_with_its_telemetry_flushed() {
    let mut command = Command::new(env!("CARGO_BIN_EXE_profile-service"));
    command
        .env("PORT", "0")
        .env("TTA_METRICS_ADDR", "127.0.0.1:0")
        .env("OTEL_TRACES_EXPORTER", "none")
        .env_remove("OTEL_EXPORTER_OTLP_ENDPOINT");
    let mut service = Process::spawn("profile-service", command);
    let line = service.wait_for("listening on http://", Duration::from_secs(30));
    let base = line
        .split("listening on ")
        .nth(1)
        .unwrap()
        .trim()
        .to_owned();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let (status, _) = runtime.block_on(get(&format!("{base}/users/3")));
    assert_eq!(status, 200);
    let start = Instant::now();
    service.signal("TERM");
    let exit = service.exit(Duration::from_secs(10));
    assert!(exit.success(), "{exit}: {}", service.text());
    assert!(
        start.elapsed() < Duration::from_secs(6),
        "the 5 s deadline holds"
    );
    let text = service.text();
    assert!(text.contains("SIGTERM received, stopping"), "{text}");
    assert!(text.contains("stopped; telemetry"), "{text}");
}
