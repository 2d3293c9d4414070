//! `tta-dashboards`: writes (or checks) the generated dashboards, rules,
//! promtool tests, provisioning and runbooks. Run it as
//! `cargo xtask dashboards` (or `cargo xtask dashboards --check`).
#![allow(clippy::print_stdout)] // a command-line tool reports on stdout

use std::{path::PathBuf, process::ExitCode};

use clap::Parser;
use tta_dashboards::{AlertConfig, CONFIG_FILE, generate};

#[derive(Parser)]
#[command(
    about = "Generate the tta Grafana dashboards and Prometheus rules from the metric catalogue"
)]
struct Args {
    /// The repository root (default: the current directory).
    #[arg(long, default_value = ".")]
    root: PathBuf,
    /// SLO and alert settings (default: deploy/slo.toml under the root).
    #[arg(long)]
    config: Option<PathBuf>,
    /// Write nothing; fail if a generated file is missing or out of date.
    #[arg(long)]
    check: bool,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let config_path = args.config.unwrap_or_else(|| args.root.join(CONFIG_FILE));
    let config = match AlertConfig::load(&config_path) {
        Ok(config) => config,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    let generated = generate(&config);
    if args.check {
        let stale = generated.stale(&args.root);
        if stale.is_empty() {
            println!(
                "generated files are current ({} files)",
                generated.files().len()
            );
            return ExitCode::SUCCESS;
        }
        eprintln!(
            "error: these generated files are missing or out of date with the metric catalogue and {}:",
            config_path.display()
        );
        for path in stale {
            eprintln!("  {}", path.display());
        }
        eprintln!("fix: run `cargo xtask dashboards` and commit the result");
        return ExitCode::FAILURE;
    }
    match generated.write(&args.root) {
        Ok(written) => {
            for path in &written {
                println!("wrote {}", path.display());
            }
            println!(
                "{} generated files, {} changed (settings: {})",
                generated.files().len(),
                written.len(),
                config_path.display()
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!(
                "error: cannot write the generated files under {}: {e}",
                args.root.display()
            );
            ExitCode::FAILURE
        }
    }
}
