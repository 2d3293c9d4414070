//! A real Prometheus server and Pushgateway (Debian packages `prometheus` and `prometheus-pushgateway`), and `promtool`.

use std::{
    net::SocketAddr,
    path::PathBuf,
    process::{Child, Command, Stdio},
    time::Duration,
};

use crate::{eventually, get, try_get};

/// The path of a tool from the Debian package `prometheus`.
///
/// # Panics
/// When it is not installed, with the command that installs it.
pub fn prometheus_tool(name: &str) -> PathBuf {
    let path = PathBuf::from("/usr/bin").join(name);
    assert!(
        path.exists(),
        "`{name}` is missing: install the Debian package `prometheus` (apt-get install prometheus), \
         or run `cargo xtask ci`, which installs it"
    );
    path
}

/// Runs `promtool check metrics` on exposition text; returns its findings
/// (empty when it has nothing to say).
pub fn promtool_check_metrics(text: &str) -> String {
    let mut promtool = Command::new(prometheus_tool("promtool"))
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promtool starts");
    std::io::Write::write_all(
        &mut promtool.stdin.take().expect("piped stdin"),
        text.as_bytes(),
    )
    .expect("promtool reads");
    let out = promtool.wait_with_output().expect("promtool ends");
    let report = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    if out.status.success() {
        report.trim().to_owned()
    } else {
        format!("exit {}: {report}", out.status)
    }
}

/// A Prometheus server on a free 127.0.0.1 port, scraping `targets` every
/// second; killed (and its data removed) when dropped.
pub struct Prometheus {
    child: Child,
    url: String,
    dir: PathBuf,
}

impl Prometheus {
    /// Starts Prometheus and waits until it is ready.
    pub async fn start(job: &str, targets: &[SocketAddr]) -> Self {
        Self::start_with_rules(job, targets, &[]).await
    }

    /// Starts Prometheus with `rule_files` loaded (evaluated every second)
    /// and waits until it is ready.
    pub async fn start_with_rules(
        job: &str,
        targets: &[SocketAddr],
        rule_files: &[PathBuf],
    ) -> Self {
        let dir = std::env::temp_dir().join(format!("tta-prometheus-{}-{job}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("a temporary directory");
        let config = dir.join("prometheus.yml");
        let targets: Vec<String> = targets.iter().map(|t| format!("'{t}'")).collect();
        let rules: Vec<String> = rule_files
            .iter()
            .map(|r| format!("'{}'", r.display()))
            .collect();
        std::fs::write(
            &config,
            format!(
                "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nrule_files: [{}]\nscrape_configs:\n  - job_name: {job}\n    static_configs:\n      - targets: [{}]\n",
                rules.join(", "),
                targets.join(", ")
            ),
        )
        .expect("the configuration is written");
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let child = Command::new(prometheus_tool("prometheus"))
            .arg(format!("--config.file={}", config.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.join("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("prometheus starts");
        let prometheus = Self {
            child,
            url: format!("http://127.0.0.1:{port}"),
            dir,
        };
        let ready = format!("{}/-/ready", prometheus.url);
        eventually(
            "Prometheus to be ready",
            Duration::from_secs(60),
            || async { matches!(try_get(&ready).await, Ok((200, _))).then_some(()) },
        )
        .await;
        prometheus
    }

    /// The HTTP base URL.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The series of an instant query's result.
    pub async fn query(&self, promql: &str) -> Vec<serde_json::Value> {
        let encoded: String = promql
            .bytes()
            .map(|b| {
                if b.is_ascii_alphanumeric() || b == b'_' {
                    (b as char).to_string()
                } else {
                    format!("%{b:02X}")
                }
            })
            .collect();
        let (status, body) = get(&format!("{}/api/v1/query?query={encoded}", self.url)).await;
        assert_eq!(status, 200, "query {promql}: {body}");
        let json: serde_json::Value = serde_json::from_str(&body).expect("Prometheus answers JSON");
        json["data"]["result"]
            .as_array()
            .cloned()
            .unwrap_or_default()
    }

    /// Waits until `promql` returns at least one series; returns them.
    pub async fn wait_for(&self, promql: &str) -> Vec<serde_json::Value> {
        eventually(
            &format!("data for {promql}"),
            Duration::from_secs(60),
            || async {
                let result = self.query(promql).await;
                (!result.is_empty()).then_some(result)
            },
        )
        .await
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A Pushgateway (Debian package `prometheus-pushgateway`) on a free
/// 127.0.0.1 port; killed when dropped.
pub struct Pushgateway {
    child: Child,
    /// Its base URL.
    pub url: String,
}

impl Pushgateway {
    /// Starts a Pushgateway and waits until it is ready.
    pub async fn start() -> Self {
        let path = PathBuf::from("/usr/bin/prometheus-pushgateway");
        assert!(
            path.exists(),
            "`prometheus-pushgateway` is missing: install the Debian package `prometheus-pushgateway` \
             (apt-get install prometheus-pushgateway), or run `cargo xtask ci`, which installs it"
        );
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let child = Command::new(path)
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("the pushgateway starts");
        let gateway = Self {
            child,
            url: format!("http://127.0.0.1:{port}"),
        };
        let ready = format!("{}/-/ready", gateway.url);
        eventually(
            "the Pushgateway to be ready",
            Duration::from_secs(60),
            || async { matches!(try_get(&ready).await, Ok((200, _))).then_some(()) },
        )
        .await;
        gateway
    }
}

impl Drop for Pushgateway {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The value of a query result's first series, as a number.
pub fn first_value(result: &[serde_json::Value]) -> f64 {
    result
        .first()
        .and_then(|s| s["value"][1].as_str())
        .and_then(|v| v.parse().ok())
        .unwrap_or(f64::NAN)
}
