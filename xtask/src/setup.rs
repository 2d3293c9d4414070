//! Installs what the tests need when it is missing: the Debian packages and
//! the Python venv of test-only tools.

use std::{
    env,
    path::{Path, PathBuf},
    process::Command,
};

/// The test venv, outside the clone so CI runs can reuse it.
fn venv_dir() -> PathBuf {
    if let Some(dir) = env::var_os("TTA_TEST_VENV") {
        return PathBuf::from(dir);
    }
    let cache = env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
        .unwrap_or_else(|| PathBuf::from("/tmp"));
    cache.join("tta").join("test-venv")
}

fn requirements() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("test-requirements.txt")
}

fn succeeds(program: &str, args: &[&str]) -> bool {
    Command::new(program)
        .args(args)
        .output()
        .is_ok_and(|o| o.status.success())
}

fn run(program: &str, args: &[&str]) -> Result<(), String> {
    eprintln!("    $ {program} {}", args.join(" "));
    let status = Command::new(program)
        .args(args)
        .status()
        .map_err(|e| format!("could not start `{program}`: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("`{program} {}` failed ({status})", args.join(" ")))
    }
}

/// Installs Debian packages with apt-get (as root, or through sudo).
fn apt_install(packages: &[&str]) -> Result<(), String> {
    let is_root = Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0");
    let (program, prefix): (&str, &[&str]) = if is_root {
        ("apt-get", &[])
    } else {
        ("sudo", &["apt-get"])
    };
    let mut update = prefix.to_vec();
    update.push("update");
    run(program, &update)?;
    let mut install = prefix.to_vec();
    install.extend(["install", "-y", "--no-install-recommends"]);
    install.extend_from_slice(packages);
    run(program, &install)
        .map_err(|e| format!("{e}; install the Debian packages {packages:?} and retry"))
}

/// Ensures the test venv exists with the pinned tools; returns the
/// environment the tests need to find it.
pub(crate) fn test_tools() -> Result<Vec<(&'static str, String)>, String> {
    // Prometheus, promtool and the Pushgateway, for the end-to-end metrics tests.
    let missing: Vec<&str> = [
        ("/usr/bin/prometheus", "prometheus"),
        ("/usr/bin/promtool", "prometheus"),
        ("/usr/bin/prometheus-pushgateway", "prometheus-pushgateway"),
        // Alertmanager and amtool: the native stack and the config checks.
        (
            "/usr/bin/prometheus-alertmanager",
            "prometheus-alertmanager",
        ),
        ("/usr/bin/amtool", "prometheus-alertmanager"),
        // Headless Chromium and its WebDriver: the console's browser tests.
        ("/usr/bin/chromium", "chromium"),
        ("/usr/bin/chromedriver", "chromium-driver"),
        // `unshare` and `ip`: the trace backend's tests run in a private network namespace.
        ("/usr/bin/unshare", "util-linux"),
        ("/usr/sbin/ip", "iproute2"),
    ]
    .iter()
    .filter(|(path, _)| !Path::new(path).exists())
    .map(|(_, package)| *package)
    .collect();
    if !missing.is_empty() {
        let mut packages = missing.clone();
        packages.sort_unstable();
        packages.dedup();
        eprintln!("==> setup: installing the Debian packages {packages:?}");
        apt_install(&packages)?;
    }
    let venv = venv_dir();
    let python = venv.join("bin").join("python");
    let python_str = python.to_string_lossy().into_owned();
    if !python.exists() {
        eprintln!("==> setup: creating the test venv at {}", venv.display());
        if !succeeds("python3", &["-c", "import ensurepip, venv"]) {
            apt_install(&["python3", "python3-venv"])?;
        }
        run("python3", &["-m", "venv", &venv.to_string_lossy()])?;
    }
    if !succeeds(&python_str, &["-c", "import prometheus_client, phoenix"]) {
        eprintln!("==> setup: installing the test tools into the venv");
        run(
            &python_str,
            &[
                "-m",
                "pip",
                "install",
                "--quiet",
                "--disable-pip-version-check",
                "-r",
                &requirements().to_string_lossy(),
            ],
        )?;
    }
    // The upstream specs of the contract tests, when no folder holds them.
    crate::specs::ensure(false)?;
    eprintln!("==> setup: test tools ready ({})", venv.display());
    Ok(vec![("TTA_TEST_PYTHON", python_str)])
}
