//! `tta-dashboards`: writes (or checks) the generated dashboards, rules,
//! promtool tests, provisioning and runbooks for an SLO file, into an output
//! folder. In this repository `cargo xtask dashboards` runs it on
//! `deploy/slo.toml`; in a user's project, after
//! `cargo install tta-dashboards`:
//! `tta-dashboards --config slo.toml --out observability`.
#![allow(clippy::print_stdout)] // a command-line tool reports on stdout

use std::{path::PathBuf, process::ExitCode};

use clap::Parser;
use tta_dashboards::{AlertConfig, CONFIG_FILE, generate};

#[derive(Parser)]
#[command(
    version,
    about = "Generate Grafana dashboards, Prometheus recording and alerting rules, their promtool tests and runbooks for your workflows, from the tta metric catalogue and your SLO file"
)]
struct Args {
    /// The folder the files are written under (`deploy/grafana/...`,
    /// `deploy/prometheus/...`, `deploy/k8s/...`, `docs/runbooks.md`).
    #[arg(long, visible_alias = "root", default_value = ".")]
    out: PathBuf,
    /// The SLO and alert settings: one `[[slo]]` per workflow (default:
    /// deploy/slo.toml under the output folder).
    #[arg(long)]
    config: Option<PathBuf>,
    /// Write nothing; fail if a generated file is missing or out of date.
    #[arg(long)]
    check: bool,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let config_path = args.config.unwrap_or_else(|| args.out.join(CONFIG_FILE));
    let config = match AlertConfig::load(&config_path) {
        Ok(config) => config,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    let generated = generate(&config);
    if args.check {
        let stale = generated.stale(&args.out);
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
        eprintln!(
            "fix: run `tta-dashboards` with the same --config and --out (in this repository: `cargo xtask dashboards`) and commit the result"
        );
        return ExitCode::FAILURE;
    }
    match generated.write(&args.out) {
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
                args.out.display()
            );
            ExitCode::FAILURE
        }
    }
}
