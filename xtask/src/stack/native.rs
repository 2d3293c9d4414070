//! Native mode: Debian's Prometheus, Alertmanager and Pushgateway, bound to
//! 127.0.0.1, with the generated rules, data under target/stack; the
//! processes started are recorded so stack-down stops exactly those.

use std::{
    fs,
    path::{Path, PathBuf},
    process::{Command, Stdio},
    time::Duration,
};

use indicatif::{MultiProgress, ProgressBar, ProgressStyle};
use serde::{Deserialize, Serialize};

use super::{StackOptions, check_ports, http};

const PROMETHEUS: &str = "/usr/bin/prometheus";
const ALERTMANAGER: &str = "/usr/bin/prometheus-alertmanager";
const PUSHGATEWAY: &str = "/usr/bin/prometheus-pushgateway";

/// A process started by stack-up.
#[derive(Debug, Serialize, Deserialize)]
struct Started {
    name: String,
    pid: u32,
    program: String,
    url: String,
}

pub(super) fn state_file(options: &StackOptions) -> PathBuf {
    options.state_dir().join("stack.json")
}

fn read_state(options: &StackOptions) -> Vec<Started> {
    fs::read_to_string(state_file(options))
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok())
        .unwrap_or_default()
}

/// Whether `pid` is alive and still runs `program` (a recycled pid is not ours).
fn is_ours(started: &Started) -> bool {
    let exe = fs::read_link(format!("/proc/{}/exe", started.pid)).ok();
    let zombie = fs::read_to_string(format!("/proc/{}/stat", started.pid))
        .is_ok_and(|s| s.split_whitespace().nth(2) == Some("Z"));
    !zombie && exe.is_some_and(|e| e == Path::new(&started.program))
}

fn prometheus_config(options: &StackOptions, root: &Path) -> String {
    let rules = root.join("deploy/prometheus/rules");
    let rules = rules.canonicalize().unwrap_or(rules);
    format!(
        "# Written by `cargo xtask stack-up --native`; regenerated on every start.\n\
         global:\n  scrape_interval: 5s\n  evaluation_interval: 15s\n\
         rule_files:\n  - '{rules}/tta-slo-recording.yml'\n  - '{rules}/tta-alerts.yml'\n\
         alerting:\n  alertmanagers:\n    - static_configs:\n        - targets: ['127.0.0.1:{am}']\n\
         scrape_configs:\n\
         \x20 - job_name: tta-app\n    static_configs:\n      - targets: ['{app}']\n\
         \x20 - job_name: pushgateway\n    honor_labels: true\n    static_configs:\n      - targets: ['127.0.0.1:{pg}']\n\
         \x20 - job_name: prometheus\n    static_configs:\n      - targets: ['127.0.0.1:{prom}']\n",
        rules = rules.display(),
        am = options.alertmanager_port,
        pg = options.pushgateway_port,
        prom = options.prometheus_port,
        app = options.app,
    )
}

pub(super) fn up(options: &StackOptions) -> Result<(), String> {
    let missing: Vec<&str> = [PROMETHEUS, ALERTMANAGER, PUSHGATEWAY]
        .into_iter()
        .filter(|p| !Path::new(p).exists())
        .collect();
    if !missing.is_empty() {
        return Err(format!(
            "native mode needs {}: install the Debian packages with \
             `sudo apt-get install prometheus prometheus-alertmanager prometheus-pushgateway`",
            missing.join(", ")
        ));
    }
    let running: Vec<Started> = read_state(options).into_iter().filter(is_ours).collect();
    if !running.is_empty() {
        let names: Vec<&str> = running.iter().map(|s| s.name.as_str()).collect();
        return Err(format!(
            "a native stack is already running ({}): `cargo xtask stack-down --native` first",
            names.join(", ")
        ));
    }
    check_ports(&[
        ("prometheus", options.prometheus_port),
        ("alertmanager", options.alertmanager_port),
        ("pushgateway", options.pushgateway_port),
    ])?;
    let root = options.root();
    let dir = options.state_dir();
    fs::create_dir_all(dir.join("logs"))
        .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let prometheus_yml = dir.join("prometheus.yml");
    fs::write(&prometheus_yml, prometheus_config(options, &root))
        .map_err(|e| format!("cannot write {}: {e}", prometheus_yml.display()))?;
    let alertmanager_yml = root.join("deploy/alertmanager/alertmanager.yml");

    let prom = options.url(options.prometheus_port);
    let am = options.url(options.alertmanager_port);
    let pg = options.url(options.pushgateway_port);
    let specs: Vec<(&str, &str, Vec<String>, String)> = vec![
        (
            "alertmanager",
            ALERTMANAGER,
            vec![
                format!("--config.file={}", alertmanager_yml.display()),
                format!("--storage.path={}", dir.join("alertmanager").display()),
                format!(
                    "--web.listen-address=127.0.0.1:{}",
                    options.alertmanager_port
                ),
                // A single instance: no gossip port to bind.
                "--cluster.listen-address=".into(),
            ],
            am.clone(),
        ),
        (
            "pushgateway",
            PUSHGATEWAY,
            vec![format!(
                "--web.listen-address=127.0.0.1:{}",
                options.pushgateway_port
            )],
            pg.clone(),
        ),
        (
            "prometheus",
            PROMETHEUS,
            vec![
                format!("--config.file={}", prometheus_yml.display()),
                format!("--storage.tsdb.path={}", dir.join("prometheus").display()),
                format!("--web.listen-address=127.0.0.1:{}", options.prometheus_port),
                "--web.enable-lifecycle".into(),
            ],
            prom.clone(),
        ),
    ];
    let mut started: Vec<Started> = Vec::new();
    let bars = MultiProgress::new();
    let style =
        ProgressStyle::with_template("{spinner} {prefix:14} {msg}").expect("a valid template");
    for (name, program, args, url) in specs {
        let log = fs::File::create(dir.join("logs").join(format!("{name}.log")))
            .map_err(|e| format!("cannot create the {name} log: {e}"))?;
        let err_log = log.try_clone().map_err(|e| e.to_string())?;
        let mut command = Command::new(program);
        command
            .args(&args)
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(err_log);
        // Its own process group: Ctrl-C in this terminal does not stop it.
        std::os::unix::process::CommandExt::process_group(&mut command, 0);
        let child = command
            .spawn()
            .map_err(|e| format!("cannot start {program}: {e}"))?;
        started.push(Started {
            name: name.into(),
            pid: child.id(),
            program: program.into(),
            url: url.clone(),
        });
        // Record at once, so stack-down can stop what did start even if a
        // later step fails.
        fs::write(
            state_file(options),
            serde_json::to_string_pretty(&started).expect("the state serializes"),
        )
        .map_err(|e| format!("cannot write the process list: {e}"))?;
        let bar = bars.add(
            ProgressBar::new_spinner()
                .with_style(style.clone())
                .with_prefix(name),
        );
        bar.set_message(format!("waiting for {url}/-/ready"));
        let ready = http::wait_ready(&format!("{url}/-/ready"), Duration::from_secs(60), || {
            bar.tick()
        });
        if !ready {
            bar.abandon_with_message("not ready after 60 s");
            let log = fs::read_to_string(dir.join("logs").join(format!("{name}.log")))
                .unwrap_or_default();
            let tail: Vec<&str> = log
                .lines()
                .rev()
                .take(15)
                .collect::<Vec<_>>()
                .into_iter()
                .rev()
                .collect();
            let _ = down(options);
            return Err(format!(
                "{name} did not become ready; the last lines of its log:\n{}",
                tail.join("\n")
            ));
        }
        bar.finish_with_message(format!("ready at {url}"));
    }
    println!(
        "\nnative stack up (data and logs in {}):\n  Prometheus    {prom}  (scrapes the app at {}, rules from deploy/prometheus/rules)\n  Alertmanager  {am}\n  Pushgateway   {pg}\n  app metrics   http://{}/metrics\n  Grafana, the collector and the trace backend run only with Docker (`cargo xtask stack-up`).\n  `cargo xtask stack-status` checks it; `cargo xtask stack-down` stops it.",
        dir.display(),
        options.app,
        options.app
    );
    Ok(())
}

pub(super) fn down(options: &StackOptions) -> Result<(), String> {
    let state = read_state(options);
    if state.is_empty() {
        return Err(format!(
            "no native stack to stop: {} lists no process started by `cargo xtask stack-up --native`",
            state_file(options).display()
        ));
    }
    for process in state.iter().rev() {
        if !is_ours(process) {
            println!("{:14} not running", process.name);
            continue;
        }
        let _ = Command::new("kill")
            .args(["-TERM", &process.pid.to_string()])
            .status();
        let mut waited = Duration::ZERO;
        while is_ours(process) && waited < Duration::from_secs(10) {
            std::thread::sleep(Duration::from_millis(100));
            waited += Duration::from_millis(100);
        }
        if is_ours(process) {
            let _ = Command::new("kill")
                .args(["-KILL", &process.pid.to_string()])
                .status();
        }
        println!("{:14} stopped (pid {})", process.name, process.pid);
    }
    fs::remove_file(state_file(options))
        .map_err(|e| format!("cannot remove the process list: {e}"))?;
    Ok(())
}
