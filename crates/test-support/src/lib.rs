//! Test-only helpers shared by the end-to-end tests: a real Prometheus server
//! (Debian package `prometheus`), `promtool`, and HTTP polling. Tools that are
//! missing fail the test with the command that installs them.
#![forbid(unsafe_code)]

pub mod collector;
pub mod exposition;
pub mod generated;
pub mod otlp;
pub mod process;
pub mod prometheus_recorder;
pub mod recorder;
pub mod spans;
pub mod specs;

use std::{
    future::Future,
    net::SocketAddr,
    path::PathBuf,
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper_util::{client::legacy::Client, rt::TokioExecutor};

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

/// `GET url`: the status and the body (panics on a transport error).
pub async fn get(url: &str) -> (u16, String) {
    try_get(url)
        .await
        .unwrap_or_else(|e| panic!("GET {url}: {e}"))
}

/// `GET url`: the status and the body, or the transport error.
pub async fn try_get(url: &str) -> Result<(u16, String), String> {
    let client = Client::builder(TokioExecutor::new()).build_http::<Empty<Bytes>>();
    let uri = url.parse().map_err(|e| format!("{e}"))?;
    let resp = client.get(uri).await.map_err(|e| format!("{e}"))?;
    let status = resp.status().as_u16();
    let body = resp
        .into_body()
        .collect()
        .await
        .map_err(|e| format!("{e}"))?
        .to_bytes();
    Ok((status, String::from_utf8_lossy(&body).into_owned()))
}

/// Polls `check` every 200 ms until it returns `Some`.
///
/// # Panics
/// After `within`, naming `what` was awaited.
pub async fn eventually<T, F: Future<Output = Option<T>>>(
    what: &str,
    within: Duration,
    mut check: impl FnMut() -> F,
) -> T {
    let start = Instant::now();
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(
            start.elapsed() < within,
            "timed out after {within:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
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

/// The test venv's Python: `TTA_TEST_PYTHON`, set by `cargo xtask ci`, or
/// the venv it creates at `~/.cache/tta/test-venv`.
pub fn test_python() -> PathBuf {
    std::env::var_os("TTA_TEST_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            let home = std::env::var_os("HOME")
                .map(PathBuf::from)
                .unwrap_or_default();
            let cache = std::env::var_os("XDG_CACHE_HOME")
                .map(PathBuf::from)
                .unwrap_or(home.join(".cache"));
            cache.join("tta/test-venv/bin/python")
        })
}

fn test_venv_bin() -> PathBuf {
    test_python()
        .parent()
        .map(PathBuf::from)
        .unwrap_or_default()
}

/// A multi-thread runtime with two workers, for tests that drive their own.
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a test runtime")
}

/// A collector that accepts connections and never answers (a black hole);
/// its address.
pub fn black_hole() -> SocketAddr {
    let hole = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
    let addr = hole.local_addr().expect("its address");
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for stream in hole.incoming().flatten() {
            held.push(stream);
        }
    });
    addr
}

/// An Arize Phoenix server (an OTLP trace backend, from the test venv) on
/// free 127.0.0.1 ports; killed and its data removed when dropped. Its gRPC
/// port binds every interface: run it inside a private network namespace
/// (see [`in_private_network`]).
pub struct Phoenix {
    child: Child,
    dir: PathBuf,
    /// The HTTP base URL (OTLP/HTTP at `/v1/traces`, REST API at `/v1/...`).
    pub url: String,
    /// The OTLP/gRPC endpoint.
    pub grpc: String,
}

impl Phoenix {
    /// Starts Phoenix on free ports and waits until it answers `/healthz`.
    pub async fn start() -> Self {
        let free = || {
            std::net::TcpListener::bind("127.0.0.1:0")
                .and_then(|l| l.local_addr())
                .expect("a free port")
                .port()
        };
        Self::start_on(free(), free()).await
    }

    /// Starts Phoenix on the given ports and waits until it answers
    /// `/healthz`.
    pub async fn start_on(port: u16, grpc_port: u16) -> Self {
        let phoenix = test_venv_bin().join("phoenix");
        assert!(
            phoenix.exists(),
            "Arize Phoenix is missing from the test venv ({}): run `cargo xtask ci`, which installs it, \
             or `pip install arize-phoenix` into the venv TTA_TEST_PYTHON points at",
            phoenix.display()
        );
        let dir = std::env::temp_dir().join(format!("tta-phoenix-{}-{port}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("a temporary directory");
        let child = Command::new(phoenix)
            .arg("serve")
            .env("PHOENIX_HOST", "127.0.0.1")
            .env("PHOENIX_PORT", port.to_string())
            .env("PHOENIX_GRPC_PORT", grpc_port.to_string())
            .env("PHOENIX_WORKING_DIR", &dir)
            .env("PHOENIX_TELEMETRY_ENABLED", "false")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("phoenix starts");
        let server = Self {
            child,
            dir,
            url: format!("http://127.0.0.1:{port}"),
            grpc: format!("http://127.0.0.1:{grpc_port}"),
        };
        let health = format!("{}/healthz", server.url);
        eventually("Phoenix to be ready", Duration::from_secs(180), || async {
            matches!(try_get(&health).await, Ok((200, _))).then_some(())
        })
        .await;
        server
    }

    /// The spans of `project` (Phoenix files spans under the resource
    /// attribute `openinference.project.name`, else under `default`).
    pub async fn spans(&self, project: &str) -> Vec<serde_json::Value> {
        let (status, body) = get(&format!(
            "{}/v1/projects/{project}/spans?limit=1000",
            self.url
        ))
        .await;
        if status == 404 {
            // The project appears with its first span.
            return Vec::new();
        }
        assert_eq!(status, 200, "{body}");
        let json: serde_json::Value = serde_json::from_str(&body).expect("Phoenix answers JSON");
        json["data"].as_array().cloned().unwrap_or_default()
    }
}

impl Drop for Phoenix {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Runs the test `name` of the current test binary again, alone, inside a
/// private network namespace (`unshare -n` with loopback up), and returns
/// `true` there (where the caller runs the test's body); outside, it waits
/// for that run, asserts it passed, and returns `false`. The inner run's
/// report goes to stderr so the outer test's result is the only one counted.
pub fn in_private_network(name: &str) -> bool {
    if std::env::var_os("TTA_IN_PRIVATE_NETWORK").is_some() {
        return true;
    }
    let exe = std::env::current_exe().expect("the test binary's path");
    let script = format!(
        "ip link set lo up && TTA_IN_PRIVATE_NETWORK=1 exec '{}' --exact '{name}' --nocapture --test-threads=1 1>&2",
        exe.display()
    );
    let status = Command::new("unshare")
        .args(["-n", "--", "sh", "-c", &script])
        .status()
        .expect("`unshare` (util-linux) and `ip` (iproute2) run: `cargo xtask ci` installs them; this needs root");
    assert!(
        status.success(),
        "`{name}` failed inside its private network namespace ({status})"
    );
    false
}

/// The value of a query result's first series, as a number.
pub fn first_value(result: &[serde_json::Value]) -> f64 {
    result
        .first()
        .and_then(|s| s["value"][1].as_str())
        .and_then(|v| v.parse().ok())
        .unwrap_or(f64::NAN)
}
