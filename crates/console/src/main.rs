//! `tta-console`: the console standalone, as a local OTLP endpoint for any
//! application.
#![forbid(unsafe_code)]

use std::{net::SocketAddr, path::PathBuf, process::ExitCode, time::Duration};

use clap::Parser;
use tta_console::{Console, ConsoleConfig, store::StoreConfig};

#[derive(Parser)]
#[command(about = "The tta console: receives OTLP traces and logs, and shows them in a browser")]
struct Args {
    /// Where the UI and its JSON API listen.
    #[arg(long, default_value = tta_console::DEFAULT_UI_ADDR)]
    ui: SocketAddr,
    /// Where OTLP/HTTP is received (`off` to disable).
    #[arg(long, default_value = tta_console::DEFAULT_OTLP_HTTP_ADDR)]
    otlp_http: String,
    /// Where OTLP/gRPC is received (`off` to disable).
    #[arg(long, default_value = tta_console::DEFAULT_OTLP_GRPC_ADDR)]
    otlp_grpc: String,
    /// The state directory holding the store (default: the user's state
    /// directory, `~/.local/state/tta/console`).
    #[arg(long)]
    state_dir: Option<PathBuf>,
    /// Keep traces in memory only (nothing survives a restart).
    #[arg(long)]
    in_memory: bool,
    /// At most this many spans are kept (the oldest traces go first).
    #[arg(long, default_value_t = 200_000, value_parser = clap::value_parser!(u64).range(1..=100_000_000))]
    max_spans: u64,
    /// At most about this many MiB of span data are kept.
    #[arg(long, default_value_t = 512, value_parser = clap::value_parser!(u64).range(1..=1_048_576))]
    max_mib: u64,
    /// Spans older than this many hours are evicted.
    #[arg(long, default_value_t = 24, value_parser = clap::value_parser!(u64).range(1..=87_600))]
    max_age_hours: u64,
    /// The access token, required when listening beyond loopback (or
    /// TTA_CONSOLE_TOKEN).
    #[arg(long, env = "TTA_CONSOLE_TOKEN", hide_env_values = true)]
    token: Option<String>,
}

fn addr(setting: &str, raw: &str) -> Result<Option<SocketAddr>, String> {
    if raw.trim().eq_ignore_ascii_case("off") {
        return Ok(None);
    }
    raw.trim()
        .parse()
        .map(Some)
        .map_err(|_| format!("invalid --{setting} {raw:?}: use host:port with an IP address, e.g. 127.0.0.1:4318, or off"))
}

fn main() -> ExitCode {
    let args = Args::parse();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("tta-console: error: cannot start the Tokio runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("tta-console: error: {message}");
            ExitCode::FAILURE
        }
    }
}

async fn run(args: Args) -> Result<(), String> {
    let path = (!args.in_memory).then(|| {
        args.state_dir
            .clone()
            .unwrap_or_else(tta_console::default_state_dir)
            .join("store.redb")
    });
    let config = ConsoleConfig {
        ui_addr: args.ui,
        otlp_http_addr: addr("otlp-http", &args.otlp_http)?,
        otlp_grpc_addr: addr("otlp-grpc", &args.otlp_grpc)?,
        store: StoreConfig {
            path,
            max_spans: usize::try_from(args.max_spans).unwrap_or(usize::MAX),
            max_bytes: usize::try_from(args.max_mib * 1024 * 1024).unwrap_or(usize::MAX),
            max_age: Duration::from_secs(args.max_age_hours * 3600),
        },
        token: args.token,
        ..ConsoleConfig::default()
    };
    let console = Console::start(config).await.map_err(|e| e.to_string())?;
    let stats = console.store().stats();
    eprintln!("tta-console: open {}", console.ui_url());
    let otlp = |a: Option<SocketAddr>| a.map_or_else(|| "off".to_owned(), |a| a.to_string());
    eprintln!(
        "tta-console: OTLP/HTTP on {} (OTEL_EXPORTER_OTLP_ENDPOINT=http://{0}), OTLP/gRPC on {}; store {} ({} spans read back, at most {} spans, {} MiB, {} h)",
        otlp(console.otlp_http_addr()),
        otlp(console.otlp_grpc_addr()),
        stats.path.as_deref().unwrap_or("in memory"),
        stats.recovery.loaded_spans,
        stats.max_spans,
        stats.max_bytes / 1024 / 1024,
        stats.max_age_seconds / 3600,
    );
    if let Some(moved) = &stats.recovery.moved_aside {
        eprintln!("tta-console: warning: {moved}");
    }
    if stats.recovery.unreadable_records > 0 {
        eprintln!(
            "tta-console: warning: {} unreadable records in the store were dropped",
            stats.recovery.unreadable_records
        );
    }
    let signal = tta_obs_init::shutdown_signal().await;
    eprintln!("tta-console: {} received: stopping", signal.name());
    console.shutdown(Duration::from_secs(3)).await;
    Ok(())
}
