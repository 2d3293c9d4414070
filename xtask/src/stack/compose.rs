//! Compose mode: `docker compose` with deploy/docker-compose.yml.

use std::{
    collections::BTreeMap,
    path::PathBuf,
    process::Command,
    time::{Duration, Instant},
};

use indicatif::{MultiProgress, ProgressBar, ProgressStyle};

use super::{StackOptions, check_ports};

fn compose_file(options: &StackOptions) -> PathBuf {
    options.root().join("deploy").join("docker-compose.yml")
}

/// The services of the default profile, their published ports and URLs.
const SERVICES: &[(&str, &[u16], &str)] = &[
    (
        "otel-collector",
        &[4317, 4318, 13133],
        "http://127.0.0.1:13133 (health)",
    ),
    ("jaeger", &[16686], "http://127.0.0.1:16686 (traces)"),
    ("loki", &[3100], "http://127.0.0.1:3100/ready"),
    ("prometheus", &[9090], "http://127.0.0.1:9090"),
    ("alertmanager", &[9093], "http://127.0.0.1:9093"),
    ("pushgateway", &[9091], "http://127.0.0.1:9091"),
    (
        "grafana",
        &[3000],
        "http://127.0.0.1:3000 (user admin, GRAFANA_ADMIN_PASSWORD)",
    ),
];

/// Checks that Docker and the compose plugin are usable; says what to
/// install otherwise.
fn docker_ready() -> Result<(), String> {
    let native = "or run `cargo xtask stack-up --native` to start Prometheus, Alertmanager and the Pushgateway \
                  from Debian packages (no Grafana, collector or trace backend)";
    let version = Command::new("docker")
        .args(["version", "--format", "{{.Server.Version}}"])
        .output();
    let Ok(version) = version else {
        return Err(format!(
            "Docker is not installed: install Docker Engine and its compose plugin \
             (on Debian: `sudo apt-get install docker.io docker-compose-plugin`, or Docker's own packages), {native}"
        ));
    };
    if !Command::new("docker")
        .args(["compose", "version"])
        .output()
        .is_ok_and(|o| o.status.success())
    {
        return Err(format!(
            "`docker compose` is not available: install the compose plugin \
             (on Debian: `sudo apt-get install docker-compose-plugin`), {native}"
        ));
    }
    if !version.status.success() {
        return Err(format!(
            "the Docker engine is not reachable ({}): start it (`sudo systemctl start docker`) \
             or check that your user may use it, {native}",
            String::from_utf8_lossy(&version.stderr).trim()
        ));
    }
    Ok(())
}

fn compose(options: &StackOptions, args: &[&str]) -> Command {
    let mut command = Command::new("docker");
    command
        .args(["compose", "-f"])
        .arg(compose_file(options))
        .args(args);
    command
}

/// Each service's health as `docker compose ps` reports it.
fn health(options: &StackOptions) -> BTreeMap<String, String> {
    let Ok(out) = compose(options, &["ps", "--all", "--format", "json"]).output() else {
        return BTreeMap::new();
    };
    let text = String::from_utf8_lossy(&out.stdout);
    // One JSON object per line (recent compose) or one array (older).
    let values: Vec<serde_json::Value> = match serde_json::from_str::<serde_json::Value>(&text) {
        Ok(serde_json::Value::Array(items)) => items,
        _ => text
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect(),
    };
    values
        .into_iter()
        .filter_map(|v| {
            let service = v["Service"].as_str()?.to_owned();
            let health = match v["Health"].as_str() {
                Some(h) if !h.is_empty() => h.to_owned(),
                _ => v["State"].as_str().unwrap_or("unknown").to_owned(),
            };
            Some((service, health))
        })
        .collect()
}

pub(super) fn up(options: &StackOptions) -> Result<(), String> {
    docker_ready()?;
    if std::env::var("GRAFANA_ADMIN_PASSWORD").map_or(true, |p| p.trim().is_empty()) {
        return Err(
            "GRAFANA_ADMIN_PASSWORD is not set: export the password Grafana's admin user should have \
             (there is no default admin/admin)"
                .into(),
        );
    }
    let ports: Vec<(&str, u16)> = SERVICES
        .iter()
        .flat_map(|(service, ports, _)| ports.iter().map(move |p| (*service, *p)))
        .collect();
    check_ports(&ports)?;
    let status = compose(options, &["up", "--detach"])
        .status()
        .map_err(|e| format!("cannot run docker compose: {e}"))?;
    if !status.success() {
        return Err(format!(
            "`docker compose up` failed ({status}); `docker compose -f deploy/docker-compose.yml logs` shows why"
        ));
    }
    let bars = MultiProgress::new();
    let style =
        ProgressStyle::with_template("{spinner} {prefix:16} {msg}").expect("a valid template");
    let bars: Vec<(&str, ProgressBar)> = SERVICES
        .iter()
        .map(|(service, _, _)| {
            let bar = bars.add(
                ProgressBar::new_spinner()
                    .with_style(style.clone())
                    .with_prefix(*service),
            );
            bar.set_message("starting");
            (*service, bar)
        })
        .collect();
    let started = Instant::now();
    loop {
        let health = health(options);
        let mut pending = 0;
        for (service, bar) in &bars {
            let state = health.get(*service).map_or("missing", String::as_str);
            if state == "healthy" {
                bar.finish_with_message("healthy");
            } else {
                pending += 1;
                bar.set_message(state.to_owned());
                bar.tick();
            }
        }
        if pending == 0 {
            break;
        }
        if started.elapsed() > Duration::from_secs(300) {
            return Err("services not healthy after 5 minutes: `docker compose -f deploy/docker-compose.yml ps` and `... logs <service>` show why".into());
        }
        std::thread::sleep(Duration::from_secs(2));
    }
    println!("\nstack up:");
    for (service, _, url) in SERVICES {
        println!("  {service:16} {url}");
    }
    println!(
        "  app metrics      http://{}/metrics (run the app with TTA_METRICS_ADDR=0.0.0.0:9464 so Prometheus's container reaches it)\n\
         `cargo xtask stack-status` checks it; `cargo xtask stack-down` stops it.",
        options.app
    );
    Ok(())
}

pub(super) fn down(options: &StackOptions) -> Result<(), String> {
    docker_ready()?;
    let status = compose(
        options,
        &["--profile", "demo", "--profile", "langfuse", "down"],
    )
    .status()
    .map_err(|e| format!("cannot run docker compose: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("`docker compose down` failed ({status})"))
    }
}
