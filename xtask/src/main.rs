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
    /// Run the composed example workflow of primitives-core.
    Demo,
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

const DEMO_STEPS: &[Step] = &[Step {
    label: "demo",
    program: "cargo",
    args: &[
        "run",
        "--package",
        "tta-primitives-core",
        "--example",
        "order_pipeline",
    ],
    env: &[],
}];

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

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Cmd::Ci => setup::test_tools().and_then(|env| run(CI_STEPS, &env)),
        Cmd::Setup => setup::test_tools().map(|_| ()),
        Cmd::Demo => run(DEMO_STEPS, &[]),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::FAILURE
        }
    }
}
