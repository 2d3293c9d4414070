//! `tta-demo`: the demo service with its telemetry, on embedded defaults.
#![forbid(unsafe_code)]

use std::{
    net::SocketAddr,
    sync::{Arc, atomic::Ordering},
    time::Duration,
};

use clap::Parser;
use tta_demo::{LoadStats, app, generate_load, quote_workflow};
use tta_langfuse::LangfuseConfig;
use tta_obs_init::{
    ObservabilityConfig, OtlpProtocol, SpanDestination, SpanSelection, TracesExporter,
    initialize_observability,
};

#[derive(Parser)]
#[command(about = "The tta demo service: workflows using every primitive, with metrics and traces")]
struct Args {
    /// Where the API listens.
    #[arg(long, default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// Requests per second sent by the built-in load generator (0: none).
    #[arg(long, default_value_t = 10)]
    rate: u32,
    /// Stop after this many seconds (default: run until Ctrl-C).
    #[arg(long)]
    duration: Option<u64>,
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse();
    // Before the recorder starts, so /metrics knows the LLM histograms' buckets.
    tta_langfuse::register_metrics()?;
    let mut config = ObservabilityConfig::from_env(Some("tta-demo"))?;
    let langfuse = if std::env::var_os("LANGFUSE_PUBLIC_KEY").is_some() {
        let langfuse = LangfuseConfig::from_env()?;
        config = config.with_span_destination(SpanDestination::new(
            "langfuse",
            langfuse.otlp_span_exporter()?,
            SpanSelection::LlmTraces,
        ));
        format!("LLM traces also go to Langfuse at {}", langfuse.host())
    } else {
        "off (set LANGFUSE_PUBLIC_KEY, LANGFUSE_SECRET_KEY and LANGFUSE_BASE_URL to send LLM traces)"
            .to_owned()
    };
    let traces = match (config.traces_exporter(), config.otlp()) {
        (TracesExporter::Otlp, Some(otlp)) => {
            let protocol = match otlp.protocol() {
                OtlpProtocol::Grpc => "gRPC",
                _ => "HTTP",
            };
            format!("exported over OTLP/{protocol} to {}", otlp.endpoint())
        }
        (TracesExporter::None, _) => "not exported (OTEL_TRACES_EXPORTER=none)".to_owned(),
        _ => "one line per trace below".to_owned(),
    };
    let guard = initialize_observability(config)?;
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .map_err(|e| {
            format!(
                "cannot listen on --listen {}: {e}; pick a free address",
                args.listen
            )
        })?;
    let api = listener.local_addr()?;

    let (stop, stopped) = tokio::sync::watch::channel(false);
    let server = {
        let mut stopped = stopped.clone();
        tokio::spawn(async move {
            let shutdown = async move {
                let _ = stopped.wait_for(|s| *s).await;
            };
            axum::serve(
                listener,
                app(quote_workflow().expect("valid demo settings")),
            )
            .with_graceful_shutdown(shutdown)
            .await
        })
    };
    let stats = Arc::new(LoadStats::default());
    let load = (args.rate > 0).then(|| {
        tokio::spawn(generate_load(
            api,
            args.rate,
            stats.clone(),
            stopped.clone(),
        ))
    });

    let metrics = guard.metrics_addr().map_or_else(
        || "disabled (TTA_METRICS_ADDR=off)".to_owned(),
        |a| format!("http://{a}/metrics"),
    );
    let health = guard
        .metrics_addr()
        .map_or_else(String::new, |a| format!("http://{a}/healthz"));
    eprintln!(
        "tta demo: API http://{api}/quote (POST a number of items); metrics {metrics}; health {health}\n\
         load generator: {} requests/s; traces: {traces}; Langfuse: {langfuse}; Ctrl-C stops (with a final flush)",
        args.rate
    );

    match args.duration {
        Some(seconds) => tokio::time::sleep(Duration::from_secs(seconds)).await,
        None => tokio::signal::ctrl_c().await?,
    }
    let _ = stop.send(true);
    if let Some(load) = load {
        let _ = load.await;
    }
    let _ = server.await;
    let flushed = guard.shutdown(Duration::from_secs(5)).await;
    eprintln!(
        "tta demo: stopped; {} requests answered, {} failed; telemetry {}",
        stats.ok.load(Ordering::Relaxed),
        stats.failed.load(Ordering::Relaxed),
        if flushed {
            "flushed"
        } else {
            "flush timed out"
        }
    );
    Ok(())
}
