//! Project automation, run as `cargo xtask <command>`.

mod setup;

use std::{
    process::{Command, ExitCode},
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
    /// Run the demo service with its telemetry (arguments after `--` go to
    /// it, e.g. `cargo xtask demo -- --rate 50`).
    Demo {
        /// Arguments for the demo service (`--listen`, `--rate`, `--duration`).
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
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

fn run(steps: &[Step], extra_env: &[(&str, String)]) -> Result<(), String> {
    for step in steps {
        eprintln!(
            "==> {}: {} {}",
            step.label,
            step.program,
            step.args.join(" ")
        );
        let started = Instant::now();
        let status = Command::new(step.program)
            .args(step.args)
            .envs(step.env.iter().copied())
            .envs(extra_env.iter().map(|(k, v)| (*k, v.as_str())))
            .status()
            .map_err(|e| format!("{}: could not start `{}`: {e}", step.label, step.program))?;
        if !status.success() {
            return Err(format!("{} failed ({status})", step.label));
        }
        eprintln!(
            "<== {} ok in {:.1}s",
            step.label,
            started.elapsed().as_secs_f64()
        );
    }
    Ok(())
}

/// Runs the demo service in the foreground (Ctrl-C stops it).
fn demo(args: &[String]) -> Result<(), String> {
    let status = Command::new("cargo")
        .args(["run", "--quiet", "--package", "tta-demo", "--"])
        .args(args)
        .status()
        .map_err(|e| format!("demo: could not start cargo: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("demo failed ({status})"))
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Cmd::Ci => setup::test_tools().and_then(|env| run(CI_STEPS, &env)),
        Cmd::Setup => setup::test_tools().map(|_| ()),
        Cmd::Demo { args } => demo(&args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::FAILURE
        }
    }
}
