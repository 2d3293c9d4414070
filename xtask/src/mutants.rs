//! `cargo xtask mutants`: mutation testing with cargo-mutants, the way this
//! workspace needs it. Each crate is tested by its own tests, plus the
//! crate that reads its accessors where that crate is their honest owner,
//! with a timeout that fits the slowest test binaries on a 2-core machine.
//! Not part of `ci`: a crate takes tens of minutes.

use std::{path::Path, process::Command};

/// The cargo-mutants release this command was written against.
const VERSION: &str = "27";

/// What one crate's run mutates and which tests judge it.
struct Target {
    name: &'static str,
    package: &'static str,
    /// Packages whose tests run against each mutant (the crate's own first).
    test_packages: &'static [&'static str],
    /// Files to mutate (all of the crate's when empty).
    files: &'static [&'static str],
}

const TARGETS: &[Target] = &[
    Target {
        name: "primitives-core",
        package: "tta-primitives-core",
        // primitives-obs reads the algebra's accessors (names, step ids,
        // breaker state) to build spans and metrics.
        test_packages: &["tta-primitives-core", "tta-primitives-obs"],
        files: &[],
    },
    Target {
        name: "primitives-obs",
        package: "tta-primitives-obs",
        test_packages: &["tta-primitives-obs"],
        files: &[],
    },
    Target {
        name: "obs-init",
        package: "tta-obs-init",
        test_packages: &["tta-obs-init"],
        // The pipeline: queue, drops, health and shutdown.
        files: &[
            "crates/obs-init/src/pipeline/**",
            "crates/obs-init/src/health.rs",
            "crates/obs-init/src/report.rs",
        ],
    },
];

/// Installs cargo-mutants when `cargo mutants` is not available.
fn ensure_installed() -> Result<(), String> {
    let present = Command::new("cargo")
        .args(["mutants", "--version"])
        .output()
        .is_ok_and(|o| o.status.success());
    if present {
        return Ok(());
    }
    eprintln!("==> installing cargo-mutants {VERSION} (cargo install --locked)");
    let status = Command::new("cargo")
        .args(["install", "--locked", "cargo-mutants", "--version"])
        .arg(format!("^{VERSION}"))
        .status()
        .map_err(|e| format!("cannot start cargo install: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!(
            "cargo install cargo-mutants failed ({status}); install it by hand: cargo install --locked cargo-mutants"
        ))
    }
}

/// Runs cargo-mutants on `crate_name` (`primitives-core`, `primitives-obs`
/// or `obs-init`), passing `extra` on (e.g. `--list`, `--file src/retry.rs`).
/// The report goes to `target/mutants/<crate>/mutants.out`.
pub(crate) fn run(crate_name: &str, extra: &[String]) -> Result<(), String> {
    let target = TARGETS
        .iter()
        .find(|t| t.name == crate_name)
        .ok_or_else(|| {
            let names: Vec<&str> = TARGETS.iter().map(|t| t.name).collect();
            format!(
                "unknown crate {crate_name:?} for mutants: use one of {}",
                names.join(", ")
            )
        })?;
    ensure_installed()?;
    // Paths are the workspace's, wherever the command is started.
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let root = root.canonicalize().unwrap_or(root);
    let output = root.join("target/mutants").join(target.name);
    std::fs::create_dir_all(&output)
        .map_err(|e| format!("cannot create {}: {e}", output.display()))?;
    let mut command = Command::new("cargo");
    command
        .current_dir(&root)
        .args(["mutants", "--package", target.package])
        .args(["--timeout", "300", "--build-timeout", "600", "--output"])
        .arg(&output);
    for package in target.test_packages {
        command.args(["--test-package", package]);
    }
    for file in target.files {
        command.args(["--file", file]);
    }
    command.args(extra);
    eprintln!("==> {command:?}");
    let status = command
        .status()
        .map_err(|e| format!("cannot start cargo mutants: {e}"))?;
    // cargo-mutants exits 2 when mutants were missed: the report says which.
    match status.code() {
        Some(0) => Ok(()),
        Some(2) => Err(format!(
            "missed mutants: see target/mutants/{}/mutants.out/missed.txt",
            target.name
        )),
        _ => Err(format!("cargo mutants failed ({status})")),
    }
}
