//! Native mode and the health checks, end to end with the Debian packages:
//! `stack-up --native` starts Prometheus, Alertmanager and the Pushgateway
//! on 127.0.0.1 with the generated rules, `stack-status` passes while the
//! demo runs and fails with reasons when it does not, a taken port, a stale
//! generated file and a missing Docker get clear messages with the fix, and
//! `stack-down` stops exactly the processes it started.

use std::{
    net::{SocketAddr, TcpListener},
    path::{Path, PathBuf},
    process::{Command, Output},
    time::{Duration, Instant},
};

use tta_demo::{LoadStats, generate_load};
use tta_obs_init::{ObservabilityConfig, TracesExporter, initialize_observability};

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

struct Stack {
    state: PathBuf,
    args: Vec<String>,
}

impl Stack {
    fn new(name: &str, app: SocketAddr) -> Self {
        let state =
            std::env::temp_dir().join(format!("tta-native-stack-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&state);
        let args = vec![
            "--state-dir".into(),
            state.display().to_string(),
            "--app".into(),
            app.to_string(),
            "--prometheus-port".into(),
            free_port().to_string(),
            "--alertmanager-port".into(),
            free_port().to_string(),
            "--pushgateway-port".into(),
            free_port().to_string(),
            // No Grafana on this port: the dashboards check is skipped.
            "--grafana-port".into(),
            free_port().to_string(),
        ];
        Self { state, args }
    }

    fn run(&self, command: &str, extra: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_xtask"))
            .arg(command)
            .args(&self.args)
            .args(extra)
            .output()
            .unwrap()
    }
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn alive(pid: u64) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .is_ok_and(|s| s.split_whitespace().nth(2) != Some("Z"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn native_stack_up_status_and_down() {
    // The demo service, as the app the stack watches.
    tta_langfuse::register_metrics().unwrap();
    let guard = initialize_observability(
        ObservabilityConfig::builder("tta-demo")
            .metrics_addr("127.0.0.1:0")
            .traces_exporter(TracesExporter::None)
            .build()
            .unwrap(),
    )
    .unwrap();
    let metrics = guard.metrics_addr().unwrap();
    let (api, server) = tta_demo::serve_on_free_port().await;
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let load = tokio::spawn(generate_load(
        api,
        20,
        tta_demo::DEFAULT_MAX_IN_FLIGHT as usize,
        std::sync::Arc::new(LoadStats::default()),
        stopped,
    ));

    let stack = Stack::new("up", metrics);
    let up = tokio::task::block_in_place(|| stack.run("stack-up", &["--native"]));
    assert!(
        up.status.success(),
        "stack-up --native failed:\n{}",
        text(&up)
    );
    assert!(
        text(&up).contains("Prometheus") && text(&up).contains("Alertmanager"),
        "{}",
        text(&up)
    );
    let state: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(stack.state.join("stack.json")).unwrap())
            .unwrap();
    let pids: Vec<u64> = state
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["pid"].as_u64().unwrap())
        .collect();
    assert_eq!(pids.len(), 3);
    assert!(pids.iter().all(|p| alive(*p)));
    // Bound to loopback only.
    let prometheus_port = &stack.args[5];
    let listening = std::fs::read_to_string("/proc/net/tcp").unwrap();
    let port_hex = format!(":{:04X}", prometheus_port.parse::<u16>().unwrap());
    assert!(
        listening
            .lines()
            .any(|l| l.contains(&format!("0100007F{port_hex}"))),
        "Prometheus listens on 127.0.0.1"
    );
    assert!(
        !listening
            .lines()
            .any(|l| l.contains(&format!("00000000{port_hex}"))),
        "and not on every interface"
    );

    // The checks pass once Prometheus has scraped the app.
    let started = Instant::now();
    let status = loop {
        let status = tokio::task::block_in_place(|| stack.run("stack-status", &[]));
        if status.status.success() || started.elapsed() > Duration::from_secs(90) {
            break status;
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
    };
    let report = text(&status);
    assert!(status.status.success(), "stack-status failed:\n{report}");
    for check in [
        "service connectivity",
        "metrics export",
        "alert rules",
        "alerting",
    ] {
        assert!(
            report.contains(&format!("ok    {check}")),
            "{check} did not pass:\n{report}"
        );
    }
    assert!(
        report.contains("29 rules loaded, none in error"),
        "{report}"
    );

    // A second stack-up refuses: it is running already.
    let again = tokio::task::block_in_place(|| stack.run("stack-up", &["--native"]));
    assert!(!again.status.success());
    assert!(text(&again).contains("already running"), "{}", text(&again));

    // Without the app, stack-status fails and says why.
    let _ = stop.send(true);
    load.await.unwrap();
    server.abort();
    assert!(guard.shutdown(Duration::from_secs(5)).await.completed);
    let without_app = tokio::task::block_in_place(|| stack.run("stack-status", &[]));
    assert!(!without_app.status.success());
    assert!(
        text(&without_app).contains("FAIL  service connectivity"),
        "{}",
        text(&without_app)
    );

    // stack-down stops exactly what stack-up started.
    let down = tokio::task::block_in_place(|| stack.run("stack-down", &[]));
    assert!(down.status.success(), "stack-down failed:\n{}", text(&down));
    assert!(
        pids.iter().all(|p| !alive(*p)),
        "a started process is still running"
    );
    assert!(!stack.state.join("stack.json").exists());
    let down_again = tokio::task::block_in_place(|| stack.run("stack-down", &["--native"]));
    assert!(!down_again.status.success());
    assert!(
        text(&down_again).contains("no native stack to stop"),
        "{}",
        text(&down_again)
    );
    let _ = std::fs::remove_dir_all(&stack.state);
}

#[test]
fn a_taken_port_is_named_with_the_fix() {
    let held = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = held.local_addr().unwrap().port();
    let stack = Stack::new("port", "127.0.0.1:9".parse().unwrap());
    let mut args = stack.args.clone();
    args[5] = port.to_string();
    let out = Command::new(env!("CARGO_BIN_EXE_xtask"))
        .arg("stack-up")
        .arg("--native")
        .args(&args)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let message = text(&out);
    assert!(
        message.contains(&format!("port {port} (prometheus) is already in use")),
        "{message}"
    );
    assert!(message.contains("--prometheus-port"), "{message}");
    assert!(
        !stack.state.join("stack.json").exists(),
        "nothing was started"
    );
}

#[test]
fn a_stale_or_missing_generated_file_is_named_with_the_fix() {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let copy = std::env::temp_dir().join(format!("tta-stale-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&copy);
    std::fs::create_dir_all(&copy).unwrap();
    assert!(
        Command::new("cp")
            .arg("-r")
            .arg(repo.join("deploy"))
            .arg(&copy)
            .status()
            .unwrap()
            .success()
    );
    std::fs::create_dir_all(copy.join("docs")).unwrap();
    std::fs::copy(repo.join("docs/runbooks.md"), copy.join("docs/runbooks.md")).unwrap();
    // A dashboard older than the catalogue.
    let dashboard = copy.join("deploy/grafana/dashboards/tta-llm.json");
    let old = std::fs::read_to_string(&dashboard)
        .unwrap()
        .replace("tta_llm_tokens_total", "tta_llm_token_count");
    std::fs::write(&dashboard, old).unwrap();
    // And a missing rules file.
    std::fs::remove_file(copy.join("deploy/prometheus/rules/tta-alerts.yml")).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_xtask"))
        .args(["stack-up", "--native", "--root"])
        .arg(&copy)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let message = text(&out);
    assert!(
        message.contains("tta-llm.json") && message.contains("tta-alerts.yml"),
        "{message}"
    );
    assert!(
        message.contains("run `cargo xtask dashboards`"),
        "{message}"
    );
    let _ = std::fs::remove_dir_all(&copy);
}

#[test]
fn without_docker_stack_up_says_what_to_install_and_suggests_native_mode() {
    // A PATH without docker, whatever this machine has.
    let empty = std::env::temp_dir().join(format!("tta-no-docker-{}", std::process::id()));
    std::fs::create_dir_all(&empty).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_xtask"))
        .arg("stack-up")
        .env("PATH", &empty)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let message = text(&out);
    assert!(message.contains("Docker is not installed"), "{message}");
    assert!(message.contains("docker-compose-plugin"), "{message}");
    assert!(message.contains("stack-up --native"), "{message}");
    let _ = std::fs::remove_dir_all(&empty);
}
