//! `cargo xtask stack-up | stack-down | stack-status`: the observability
//! stack with Docker Compose, or natively (Debian's Prometheus, Alertmanager
//! and Pushgateway), and its health checks.

mod compose;
mod http;
mod native;
mod status;

use std::{
    net::{SocketAddr, TcpListener},
    path::{Path, PathBuf},
};

use clap::Args;

/// Options shared by the stack commands.
#[derive(Args, Debug, Clone)]
pub(crate) struct StackOptions {
    /// Use locally installed Prometheus, Alertmanager and Pushgateway
    /// instead of Docker (no Grafana, collector or trace backend).
    #[arg(long)]
    pub(crate) native: bool,
    /// The repository root (default: this workspace).
    #[arg(long)]
    pub(crate) root: Option<PathBuf>,
    /// Where native mode keeps its configs, data, logs and process list
    /// (default: target/stack under the root).
    #[arg(long)]
    pub(crate) state_dir: Option<PathBuf>,
    /// The application's metrics endpoint (host:port).
    #[arg(long, default_value = "127.0.0.1:9464")]
    pub(crate) app: SocketAddr,
    /// Prometheus's port.
    #[arg(long, default_value_t = 9090)]
    pub(crate) prometheus_port: u16,
    /// Alertmanager's port.
    #[arg(long, default_value_t = 9093)]
    pub(crate) alertmanager_port: u16,
    /// The Pushgateway's port.
    #[arg(long, default_value_t = 9091)]
    pub(crate) pushgateway_port: u16,
    /// Grafana's port (compose mode).
    #[arg(long, default_value_t = 3000)]
    pub(crate) grafana_port: u16,
}

impl StackOptions {
    pub(crate) fn root(&self) -> PathBuf {
        self.root
            .clone()
            .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join(".."))
    }

    pub(crate) fn state_dir(&self) -> PathBuf {
        self.state_dir
            .clone()
            .unwrap_or_else(|| self.root().join("target").join("stack"))
    }

    fn url(&self, port: u16) -> String {
        format!("http://127.0.0.1:{port}")
    }
}

/// Fails, with the command that fixes it, when a generated file is missing
/// or older than what the catalogue and deploy/slo.toml give now.
fn check_generated(root: &Path) -> Result<(), String> {
    let config_path = root.join(tta_dashboards::CONFIG_FILE);
    let config = tta_dashboards::AlertConfig::load(&config_path).map_err(|e| {
        format!(
            "{e}\nfix: correct {} (see its comments)",
            config_path.display()
        )
    })?;
    let stale = tta_dashboards::generate(&config).stale(root);
    if stale.is_empty() {
        return Ok(());
    }
    let list: Vec<String> = stale.iter().map(|p| format!("  {}", p.display())).collect();
    Err(format!(
        "generated dashboards or rules are missing or out of date with the metric catalogue:\n{}\nfix: run `cargo xtask dashboards` (and commit the result)",
        list.join("\n")
    ))
}

/// Fails when one of `ports` is already taken on 127.0.0.1.
fn check_ports(ports: &[(&str, u16)]) -> Result<(), String> {
    for (service, port) in ports {
        if TcpListener::bind(("127.0.0.1", *port)).is_err() {
            return Err(format!(
                "port {port} ({service}) is already in use on 127.0.0.1: stop what listens there \
                 (`ss -ltnp 'sport = :{port}'` shows it; `cargo xtask stack-down` if it is an earlier stack), \
                 or pick another port (`--{}-port`)",
                service
                    .split_whitespace()
                    .next()
                    .unwrap_or(service)
                    .to_lowercase()
            ));
        }
    }
    Ok(())
}

pub(crate) fn up(options: &StackOptions) -> Result<(), String> {
    let root = options.root();
    check_generated(&root)?;
    if options.native {
        native::up(options)
    } else {
        compose::up(options)
    }
}

pub(crate) fn down(options: &StackOptions) -> Result<(), String> {
    // Native mode leaves a process list; without one, the stack is compose's.
    if options.native || native::state_file(options).exists() {
        native::down(options)
    } else {
        compose::down(options)
    }
}

pub(crate) fn status(options: &StackOptions) -> Result<(), String> {
    status::run(options)
}
