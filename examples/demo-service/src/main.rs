//! `tta-demo`: the demo service with its telemetry, on embedded defaults.
#![forbid(unsafe_code)]

use std::{
    net::SocketAddr,
    process::ExitCode,
    sync::{Arc, atomic::Ordering},
    time::Duration,
};

use clap::Parser;
use tta_demo::{LoadStats, app, generate_load, quote_workflow};
use tta_langfuse::LangfuseConfig;
use tta_obs_init::{
    ObservabilityConfig, SpanDestination, SpanSelection, TracesExporter, initialize_observability,
    shutdown_signal,
};

/// How long the final flush of telemetry may take.
const FLUSH_DEADLINE: Duration = Duration::from_secs(5);

/// How long in-flight requests may take to finish after a shutdown signal.
const DRAIN_DEADLINE: Duration = Duration::from_secs(5);

#[derive(Parser)]
#[command(about = "The tta demo service: workflows using every primitive, with metrics and traces")]
struct Args {
    /// Where the API listens.
    #[arg(long, default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// Requests per second sent by the built-in load generator (0: none;
    /// at most 10000).
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u32).range(0..=10_000))]
    rate: u32,
    /// Stop after this many seconds (default: run until SIGTERM or Ctrl-C;
    /// at most a year).
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..=31_536_000))]
    duration: Option<u64>,
    /// Requests the API serves at once; more are answered 503 at once
    /// (load shedding) instead of queueing without bound.
    #[arg(long, default_value_t = tta_demo::DEFAULT_MAX_CONCURRENCY, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    max_concurrency: u32,
    /// Requests the load generator keeps in flight at most; a tick that
    /// finds them all busy is skipped and counted.
    #[arg(long, default_value_t = tta_demo::DEFAULT_MAX_IN_FLIGHT, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    max_in_flight: u32,
    /// Do not start the built-in console (or TTA_DEMO_NO_CONSOLE=true).
    #[arg(long, env = "TTA_DEMO_NO_CONSOLE")]
    no_console: bool,
    /// Where the built-in console's UI listens.
    #[arg(long, default_value = tta_console::DEFAULT_UI_ADDR)]
    console_ui: SocketAddr,
    /// The console's state directory (default: the user's state
    /// directory, `~/.local/state/tta/console`).
    #[arg(long)]
    console_state: Option<std::path::PathBuf>,
    /// Keep the console's traces in memory only.
    #[arg(long)]
    console_in_memory: bool,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("tta demo: error: cannot start the Tokio runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(run(args));
    // Threads still blocked on an unreachable collector are not waited for.
    runtime.shutdown_background();
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("tta demo: error: {message}");
            ExitCode::FAILURE
        }
    }
}

/// Runs the demo; errors come back in their `Display` form.
async fn run(args: Args) -> Result<(), String> {
    // The LLM metrics join the catalogue before the recorder reads its
    // buckets, so /metrics knows the LLM histograms' buckets.
    // The code's defaults first, the deployment's environment over them.
    let mut config = ObservabilityConfig::builder("tta-demo")
        .service_version(env!("CARGO_PKG_VERSION"))
        .metric_catalogue(tta_langfuse::LLM_METRICS)
        .with_env()
        .and_then(|b| b.build())
        .map_err(|e| e.to_string())?;
    // The console, in-process: spans reach it through a span destination
    // (its own bounded queue), with no network hop and no OTLP port taken.
    let console = if args.no_console {
        None
    } else {
        let store = tta_console::store::StoreConfig {
            path: (!args.console_in_memory).then(|| {
                args.console_state
                    .clone()
                    .unwrap_or_else(tta_console::default_state_dir)
                    .join("store.redb")
            }),
            ..tta_console::store::StoreConfig::default()
        };
        let console = tta_console::Console::start(tta_console::ConsoleConfig {
            ui_addr: args.console_ui,
            otlp_http_addr: None,
            otlp_grpc_addr: None,
            store,
            ..tta_console::ConsoleConfig::default()
        })
        .await
        .map_err(|e| format!("{e} (--console-ui; --no-console runs without it)"))?;
        eprintln!(
            "tta demo: console {} : open it to see each request as a workflow (retries, breakers, sagas, LLM calls)",
            console.ui_url()
        );
        // With TTA_TRACING_BRIDGE set, `tracing` events join their spans.
        config = config.with_span_destination(
            SpanDestination::new("console", console.span_exporter(), SpanSelection::All)
                .with_logs(console.log_exporter()),
        );
        Some(console)
    };
    let langfuse = match LangfuseConfig::from_env_if_set().map_err(|e| e.to_string())? {
        Some(langfuse) => {
            config = config.with_span_destination(SpanDestination::new(
                "langfuse",
                langfuse.otlp_span_exporter().map_err(|e| e.to_string())?,
                SpanSelection::LlmTraces,
            ));
            format!("LLM traces also go to Langfuse at {}", langfuse.host())
        }
        None => "off (set LANGFUSE_PUBLIC_KEY, LANGFUSE_SECRET_KEY and LANGFUSE_BASE_URL to send LLM traces)"
            .to_owned(),
    };
    let traces = match (config.traces_exporter(), config.otlp()) {
        // The settings' Display form masks the endpoint's credentials.
        (TracesExporter::Otlp, Some(otlp)) => format!("exported over {otlp}"),
        (TracesExporter::None, _) => "not exported (OTEL_TRACES_EXPORTER=none)".to_owned(),
        _ => "one line per trace below".to_owned(),
    };
    let guard = initialize_observability(config).map_err(|e| e.to_string())?;
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .map_err(|e| {
            format!(
                "cannot listen on --listen {}: {e}; pick a free address",
                args.listen
            )
        })?;
    let api = listener.local_addr().map_err(|e| e.to_string())?;

    let (stop, stopped) = tokio::sync::watch::channel(false);
    let workflow = quote_workflow().map_err(|e| e.to_string())?;
    let server = {
        let mut stopped = stopped.clone();
        tokio::spawn(async move {
            let shutdown = async move {
                let _ = stopped.wait_for(|s| *s).await;
            };
            axum::serve(listener, app(workflow, args.max_concurrency as usize))
                .with_graceful_shutdown(shutdown)
                .await
        })
    };
    let stats = Arc::new(LoadStats::default());
    let load = (args.rate > 0).then(|| {
        tokio::spawn(generate_load(
            api,
            args.rate,
            args.max_in_flight as usize,
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
        "tta demo: API http://{api}/quote (POST a number of items, at most {}); metrics {metrics}; health {health}\n\
         load generator: {} requests/s (at most {} in flight); API concurrency limit {} (more are shed with 503)\n\
         traces: {traces}; Langfuse: {langfuse}; SIGTERM or Ctrl-C stops (with a final flush; a second one exits at once)",
        tta_demo::MAX_ITEMS,
        args.rate,
        args.max_in_flight,
        args.max_concurrency,
    );

    let why = match args.duration {
        Some(seconds) => tokio::select! {
            () = tokio::time::sleep(Duration::from_secs(seconds)) => "the --duration elapsed".to_owned(),
            signal = shutdown_signal() => format!("{} received", signal.name()),
        },
        None => format!("{} received", shutdown_signal().await.name()),
    };
    eprintln!(
        "tta demo: {why}: stopping (in-flight requests get {DRAIN_DEADLINE:?}, telemetry {FLUSH_DEADLINE:?})"
    );
    let _ = stop.send(true);
    if let Some(load) = load {
        let _ = load.await;
    }
    if tokio::time::timeout(DRAIN_DEADLINE, server).await.is_err() {
        eprintln!(
            "tta demo: in-flight requests did not finish in {DRAIN_DEADLINE:?}; stopping anyway"
        );
    }
    let report = guard.shutdown(FLUSH_DEADLINE).await;
    if let Some(console) = console {
        console.shutdown(Duration::from_secs(1)).await;
    }
    eprintln!(
        "tta demo: stopped; {} requests answered, {} failed, {} shed by the API, {} not sent (generator at its in-flight limit or behind its rate); telemetry {report}",
        stats.ok.load(Ordering::Relaxed),
        stats.failed.load(Ordering::Relaxed),
        stats.shed.load(Ordering::Relaxed),
        stats.skipped.load(Ordering::Relaxed),
    );
    Ok(())
}
