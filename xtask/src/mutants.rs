//! `cargo xtask mutants`: mutation testing with cargo-mutants, the way this
//! workspace needs it. Every mutant is first judged by the crate's own tests
//! (fast: one test binary set to rebuild). The mutants that survive are then
//! judged again by the tests of the crate that reads the mutated accessors,
//! where that crate is their honest owner (cargo-mutants' `--iterate` skips
//! the mutants already caught or unviable). The timeout fits the slowest
//! test binaries on a 2-core machine. Not part of `ci`: a crate takes tens
//! of minutes.

use std::{path::Path, process::Command};

/// The cargo-mutants release this command was written against.
const VERSION: &str = "27";

/// What one run mutates and which tests judge it: a crate, or one part of
/// a crate too large for one run (`primitives-obs:layers`).
struct Target {
    /// `crate` or `crate:part`; `cargo xtask mutants crate` runs every part.
    name: &'static str,
    package: &'static str,
    /// Packages whose tests judge the mutants the crate's own tests missed.
    reader_packages: &'static [&'static str],
    /// Files to mutate (all of the crate's when empty).
    files: &'static [&'static str],
    /// Arguments for `cargo test` (the test targets that judge the mutated
    /// files, when the crate's others are slow and test something else).
    test_args: &'static [&'static str],
}

impl Target {
    /// The crate's name, without the part.
    fn krate(&self) -> &'static str {
        self.name.split(':').next().unwrap_or(self.name)
    }

    /// The report folder under `target/mutants/` (`crate` or `crate-part`).
    fn folder(&self) -> String {
        self.name.replace(':', "-")
    }
}

/// The tests of primitives-obs that judge its parts: unit tests and
/// integration tests, never the doctests (each one a binary to build for
/// every mutant; the unit tests pin what the examples show).
const TARGETS: &[Target] = &[
    Target {
        name: "primitives-core",
        package: "tta-primitives-core",
        // primitives-obs reads the algebra's accessors (names, step ids,
        // breaker state) to build spans and metrics.
        reader_packages: &["tta-primitives-obs"],
        files: &[],
        test_args: &[],
    },
    Target {
        // How workflow nodes become spans and metrics.
        name: "primitives-obs:nodes",
        package: "tta-primitives-obs",
        reader_packages: &[],
        files: &[
            "crates/primitives-obs/src/telemetry.rs",
            "crates/primitives-obs/src/span.rs",
            "crates/primitives-obs/src/clock.rs",
            "crates/primitives-obs/src/attr.rs",
            "crates/primitives-obs/src/instrumented.rs",
        ],
        test_args: &[
            "--lib",
            "--test=spans",
            "--test=metrics",
            "--test=current_context",
            // A traced node's context, read by the clients it calls.
            "--test=propagation",
        ],
    },
    Target {
        // The metric catalogue and the series it makes.
        name: "primitives-obs:metrics",
        package: "tta-primitives-obs",
        reader_packages: &[],
        files: &[
            "crates/primitives-obs/src/builtin_metrics.rs",
            "crates/primitives-obs/src/series.rs",
            "crates/primitives-obs/src/catalogue/**",
            "crates/primitives-obs/src/handle_cache.rs",
        ],
        test_args: &[
            "--lib",
            "--test=metrics",
            "--test=node_cache",
            "--test=catalogue",
        ],
    },
    Target {
        // Tower layers: the telemetry layer and its describers, context
        // propagation, redaction and resource metering.
        name: "primitives-obs:layers",
        package: "tta-primitives-obs",
        reader_packages: &[],
        files: &[
            "crates/primitives-obs/src/layer.rs",
            "crates/primitives-obs/src/server.rs",
            "crates/primitives-obs/src/propagation.rs",
            "crates/primitives-obs/src/redact.rs",
            "crates/primitives-obs/src/resources.rs",
        ],
        test_args: &[
            "--lib",
            "--test=server",
            "--test=propagation",
            "--test=readiness",
            "--test=resources",
            "--test=current_context",
            "--test=spans",
            "--test=metrics",
        ],
    },
    Target {
        name: "obs-init",
        package: "tta-obs-init",
        reader_packages: &[],
        // The pipeline: queue, drops, health and shutdown.
        files: &[
            "crates/obs-init/src/pipeline/**",
            "crates/obs-init/src/health.rs",
            "crates/obs-init/src/report.rs",
        ],
        // The pipeline's own tests: its unit tests, the collector faults,
        // health, shutdown and the runtimes (the OTLP, Prometheus and
        // Pushgateway end-to-end tests judge other files).
        test_args: &[
            "--lib",
            "--test=collector_blackhole",
            "--test=collector_down",
            "--test=guard_drop",
            "--test=health",
            "--test=runtime_current_thread",
            "--test=shutdown_deadline",
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

/// Runs cargo-mutants on `name`: a crate (`primitives-core`,
/// `primitives-obs`, every part in turn, or `obs-init`) or one part
/// (`primitives-obs:layers`), passing `extra` on (e.g. `--list`,
/// `--file src/retry.rs`). Each report goes to
/// `target/mutants/<crate or crate-part>/mutants.out` (after the second
/// stage, the first stage's report is kept as `mutants.own`).
pub(crate) fn run(name: &str, extra: &[String]) -> Result<(), String> {
    let selected: Vec<&Target> = TARGETS
        .iter()
        .filter(|t| t.name == name || t.krate() == name)
        .collect();
    if selected.is_empty() {
        let names: Vec<&str> = TARGETS.iter().map(|t| t.name).collect();
        return Err(format!(
            "unknown crate {name:?} for mutants: use one of {} (a crate runs all its parts)",
            names.join(", ")
        ));
    }
    ensure_installed()?;
    // Run every part, then report what any part missed.
    let mut failures = Vec::new();
    for target in selected {
        if let Err(error) = run_target(target, extra) {
            failures.push(error);
        }
    }
    if failures.is_empty() {
        Ok(())
    } else {
        Err(failures.join("; "))
    }
}

/// One target's run: its own tests, then its readers' tests on the
/// survivors.
fn run_target(target: &Target, extra: &[String]) -> Result<(), String> {
    // Paths are the workspace's, wherever the command is started.
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let root = root.canonicalize().unwrap_or(root);
    let output = root.join("target/mutants").join(target.folder());
    std::fs::create_dir_all(&output)
        .map_err(|e| format!("cannot create {}: {e}", output.display()))?;
    let listing = extra.iter().any(|a| a.starts_with("--list"));

    let own = stage(&root, &output, target, &[target.package], false, extra)?;
    if listing || target.reader_packages.is_empty() || own == Outcome::AllCaught {
        return own.into_result(target);
    }
    // Keep the first stage's report beside the second's.
    let report = output.join("mutants.out");
    let kept = output.join("mutants.own");
    let _ = std::fs::remove_dir_all(&kept);
    copy_dir(&report, &kept).map_err(|e| {
        format!(
            "cannot keep {} as {}: {e}",
            report.display(),
            kept.display()
        )
    })?;
    let mut packages = vec![target.package];
    packages.extend_from_slice(target.reader_packages);
    stage(&root, &output, target, &packages, true, extra)?.into_result(target)
}

/// What one cargo-mutants run found.
#[derive(Debug, PartialEq, Eq)]
enum Outcome {
    AllCaught,
    Missed,
}

impl Outcome {
    fn into_result(self, target: &Target) -> Result<(), String> {
        match self {
            Self::AllCaught => Ok(()),
            Self::Missed => Err(format!(
                "missed mutants: see target/mutants/{}/mutants.out/missed.txt",
                target.folder()
            )),
        }
    }
}

/// One cargo-mutants run judged by the tests of `packages`; `iterate`
/// retests only what the previous run in `output` did not catch.
fn stage(
    root: &Path,
    output: &Path,
    target: &Target,
    packages: &[&str],
    iterate: bool,
    extra: &[String],
) -> Result<Outcome, String> {
    let mut command = Command::new("cargo");
    command
        .current_dir(root)
        .args(["mutants", "--package", target.package])
        .args(["--timeout", "300", "--build-timeout", "600", "--output"])
        .arg(output);
    if iterate {
        command.arg("--iterate");
    }
    for package in packages {
        command.args(["--test-package", package]);
    }
    for file in target.files {
        command.args(["--file", file]);
    }
    for arg in target.test_args {
        command.arg(format!("--cargo-test-arg={arg}"));
    }
    command.args(extra);
    // Each mutant relinks every test binary it runs; mold, when installed,
    // links several times faster than the default linker.
    if which("mold") {
        command.env("RUSTFLAGS", "-C link-arg=-fuse-ld=mold");
    } else {
        eprintln!("note: installing mold (apt-get install mold) makes each mutant's links faster");
    }
    eprintln!("==> {command:?}");
    let status = command
        .status()
        .map_err(|e| format!("cannot start cargo mutants: {e}"))?;
    // cargo-mutants exits 2 when mutants were missed, 3 when some timed out.
    match status.code() {
        Some(0) => Ok(Outcome::AllCaught),
        Some(2 | 3) => Ok(Outcome::Missed),
        _ => Err(format!("cargo mutants failed ({status})")),
    }
}

/// Whether `program` is on the `PATH`.
fn which(program: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|path| std::env::split_paths(&path).any(|dir| dir.join(program).is_file()))
}

/// Copies a directory tree (cargo-mutants' report: a few small files).
fn copy_dir(from: &Path, to: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let dest = to.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            copy_dir(&entry.path(), &dest)?;
        } else {
            std::fs::copy(entry.path(), dest)?;
        }
    }
    Ok(())
}
