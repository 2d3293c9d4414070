//! Project automation, run as `cargo xtask <command>`.
#![allow(clippy::print_stdout)] // a command-line tool reports on stdout

mod mutants;
mod setup;
mod specs;
mod stack;

use std::{
    io::{BufRead, BufReader},
    process::{Command, ExitCode, Stdio},
    time::Instant,
};

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "cargo xtask",
    about = "Project automation for the tta workspace"
)]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Install what the tests need when it is missing (the Python test venv),
    /// then run every check CI runs: formatting, clippy (-D warnings), the
    /// documentation build, and all tests (doctests last).
    Ci,
    /// Install what the tests need when it is missing, and nothing else.
    Setup,
    /// Fetch the upstream specs the contract tests validate against into
    /// the cache, when no folder holds them (part of `setup`; `--force`
    /// fetches even then).
    FetchSpecs {
        /// Fetch even when `$TTA_SPECS_DIR` or `../shared/specs` has them.
        #[arg(long)]
        force: bool,
    },
    /// Run the demo service with its telemetry (arguments after `--` go to
    /// it, e.g. `cargo xtask demo -- --rate 50`).
    Demo {
        /// Arguments for the demo service (`--listen`, `--rate`, `--duration`).
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// Run the console standalone: a local OTLP endpoint (gRPC 127.0.0.1:4317,
    /// HTTP 127.0.0.1:4318) with its UI on http://127.0.0.1:4320/ (arguments
    /// after `--` go to it, e.g. `cargo xtask console -- --in-memory`).
    Console {
        /// Arguments for the console (`--ui`, `--otlp-http`, `--otlp-grpc`,
        /// `--state-dir`, `--in-memory`, `--max-spans`, `--token`, ...).
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// Regenerate the Grafana dashboards, Prometheus rules, promtool tests,
    /// provisioning and runbooks from the metric catalogue and
    /// deploy/slo.toml (`--check` only reports stale files).
    Dashboards {
        /// Arguments for the generator (`--check`, `--config FILE`).
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// Mutation testing with cargo-mutants (installed when missing) of
    /// `primitives-core` (default), `primitives-obs` (its parts `:nodes`,
    /// `:metrics` and `:layers` in turn) or `obs-init`'s pipeline;
    /// arguments after `--` go to cargo-mutants (e.g. `--list`,
    /// `--file src/retry.rs`). Not part of `ci`: tens of minutes a crate.
    Mutants {
        /// The crate (primitives-core, primitives-obs or obs-init) or one
        /// part (primitives-obs:nodes, primitives-obs:metrics,
        /// primitives-obs:layers).
        #[arg(default_value = "primitives-core")]
        krate: String,
        /// Arguments for cargo-mutants.
        #[arg(last = true)]
        args: Vec<String>,
    },
    /// Bring the observability stack up: Docker Compose (collector, Jaeger,
    /// Loki, Prometheus with the generated rules, Alertmanager, Pushgateway,
    /// Grafana with the dashboards), or `--native` with locally installed
    /// Prometheus, Alertmanager and Pushgateway; waits for each to be
    /// healthy and prints the URLs.
    StackUp(stack::StackOptions),
    /// Stop the stack (in native mode, exactly the processes stack-up started).
    StackDown(stack::StackOptions),
    /// Check the running stack: the app's /metrics and /healthz, its target
    /// in Prometheus with fresh samples, the rules loaded without errors,
    /// Alertmanager, and Grafana's dashboards when Grafana runs. Fails with
    /// the reasons when a check fails.
    StackStatus(stack::StackOptions),
}

/// One step of a command: a program and its arguments, with extra env vars.
struct Step {
    label: &'static str,
    program: &'static str,
    args: &'static [&'static str],
    env: &'static [(&'static str, &'static str)],
}

const CI_STEPS: &[Step] = &[
    Step {
        label: "format",
        program: "cargo",
        args: &["fmt", "--all", "--", "--check"],
        env: &[],
    },
    Step {
        label: "clippy",
        program: "cargo",
        args: &[
            "clippy",
            "--workspace",
            "--all-targets",
            "--",
            "-D",
            "warnings",
        ],
        env: &[],
    },
    Step {
        label: "docs",
        program: "cargo",
        args: &["doc", "--workspace", "--no-deps"],
        env: &[("RUSTDOCFLAGS", "-D warnings")],
    },
    Step {
        label: "tests",
        program: "cargo",
        args: &["test", "--workspace", "--all-targets"],
        env: &[],
    },
    Step {
        label: "doctests",
        program: "cargo",
        args: &["test", "--workspace", "--doc"],
        env: &[],
    },
];

/// Test counts read from the test runners' summary lines.
#[derive(Default)]
struct Tally {
    passed: u64,
    failed: u64,
}

impl Tally {
    /// Counts a `test result: ok. N passed; M failed; ...` line (libtest) or
    /// an `name: N passed, M failed` line (the test binaries without libtest).
    fn read(&mut self, line: &str) {
        let number_before = |word: &str| {
            let at = line.find(word)?;
            line[..at]
                .split(|c: char| !c.is_ascii_digit())
                .rfind(|t| !t.is_empty())?
                .parse::<u64>()
                .ok()
        };
        if line.starts_with("test result:")
            || line.ends_with(" failed") && line.contains(" passed, ")
        {
            self.passed += number_before(" passed").unwrap_or(0);
            self.failed += number_before(" failed").unwrap_or(0);
        }
    }
}

fn run(steps: &[Step], extra_env: &[(&str, String)]) -> Result<(), String> {
    let mut tally = Tally::default();
    for step in steps {
        eprintln!(
            "==> {}: {} {}",
            step.label,
            step.program,
            step.args.join(" ")
        );
        let started = Instant::now();
        let mut child = Command::new(step.program)
            .args(step.args)
            .envs(step.env.iter().copied())
            .envs(extra_env.iter().map(|(k, v)| (*k, v.as_str())))
            .stdout(Stdio::piped())
            .spawn()
            .map_err(|e| format!("{}: could not start `{}`: {e}", step.label, step.program))?;
        // Pass the output through, counting the tests it reports.
        if let Some(stdout) = child.stdout.take() {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                tally.read(&line);
                println!("{line}");
            }
        }
        let status = child
            .wait()
            .map_err(|e| format!("{}: `{}` did not finish: {e}", step.label, step.program))?;
        if !status.success() {
            return Err(format!("{} failed ({status})", step.label));
        }
        eprintln!(
            "<== {} ok in {:.1}s",
            step.label,
            started.elapsed().as_secs_f64()
        );
    }
    if tally.passed + tally.failed > 0 {
        println!(
            "all checks: {} passed, {} failed",
            tally.passed, tally.failed
        );
    }
    Ok(())
}

/// Runs a workspace binary in the foreground with `args`.
fn run_package(package: &str, args: &[String]) -> Result<(), String> {
    let status = Command::new("cargo")
        .args(["run", "--quiet", "--package", package, "--"])
        .args(args)
        .status()
        .map_err(|e| format!("{package}: could not start cargo: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("{package} failed ({status})"))
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Cmd::Ci => setup::test_tools().and_then(|mut env| {
            // A CI run starts from a fresh clone: incremental state is never
            // reused there, and it costs disk and time.
            if std::env::var_os("CI").is_some() {
                env.push(("CARGO_INCREMENTAL", "0".to_owned()));
            }
            run(CI_STEPS, &env)
        }),
        Cmd::Setup => setup::test_tools().map(|_| ()),
        Cmd::FetchSpecs { force } => specs::ensure(force),
        Cmd::Demo { args } => run_package("tta-demo", &args),
        Cmd::Console { args } => run_package("tta-console", &args),
        Cmd::Dashboards { args } => run_package("tta-dashboards", &args),
        Cmd::Mutants { krate, args } => mutants::run(&krate, &args),
        Cmd::StackUp(options) => stack::up(&options),
        Cmd::StackDown(options) => stack::down(&options),
        Cmd::StackStatus(options) => stack::status(&options),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::FAILURE
        }
    }
}
