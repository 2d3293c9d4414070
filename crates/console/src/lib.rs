#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]

mod api;
mod convert;
mod exporter;
mod ingest;
pub mod llm;
pub mod model;
pub mod overview;
mod persist;
mod server;
pub mod store;
mod ui;

pub use convert::{logs as decode_logs, spans as decode_spans};
pub use exporter::ConsoleExporter;
pub use ingest::IngestCounters;
pub use server::{
    Console, ConsoleConfig, ConsoleError, DEFAULT_MAX_BODY_BYTES, DEFAULT_OTLP_GRPC_ADDR,
    DEFAULT_OTLP_HTTP_ADDR, DEFAULT_UI_ADDR,
};

/// The default state directory: `$XDG_STATE_HOME/tta/console`, else
/// `~/.local/state/tta/console`, else `./tta-console-state`.
pub fn default_state_dir() -> std::path::PathBuf {
    std::env::var_os("XDG_STATE_HOME")
        .map(std::path::PathBuf::from)
        .or_else(|| {
            std::env::var_os("HOME").map(|h| std::path::PathBuf::from(h).join(".local/state"))
        })
        .map_or_else(
            || std::path::PathBuf::from("tta-console-state"),
            |base| base.join("tta").join("console"),
        )
}
