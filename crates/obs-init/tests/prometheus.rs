//! End to end: a real Prometheus (Debian package `prometheus`) scrapes the
//! endpoint, and `promtool check metrics` finds nothing wrong with it.

use std::{
    path::PathBuf,
    process::{Child, Command, Stdio},
    sync::Arc,
    time::{Duration, Instant},
};

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper_util::{client::legacy::Client, rt::TokioExecutor};
use tower::ServiceExt;
use tta_obs_init::{ObservabilityConfig, initialize_observability};
use tta_primitives_core::{Request, WorkflowContext, WorkflowError, prelude::*};
use tta_primitives_obs::{InstrumentExt, Telemetry};

fn tool(name: &str) -> PathBuf {
    let path = PathBuf::from("/usr/bin").join(name);
    assert!(
        path.exists(),
        "`{name}` is missing: install the Debian package `prometheus` (apt-get install prometheus), \
         or run `cargo xtask ci`, which installs it"
    );
    path
}

async fn get(url: &str) -> (u16, String) {
    let client = Client::builder(TokioExecutor::new()).build_http::<Empty<Bytes>>();
    let resp = client.get(url.parse().unwrap()).await.unwrap();
    let status = resp.status().as_u16();
    let body = resp.into_body().collect().await.unwrap().to_bytes();
    (status, String::from_utf8_lossy(&body).into_owned())
}

/// Polls `check` until it returns `Some`, failing after `within`.
async fn eventually<T, F: std::future::Future<Output = Option<T>>>(
    what: &str,
    within: Duration,
    mut check: impl FnMut() -> F,
) -> T {
    let start = Instant::now();
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(start.elapsed() < within, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// A Prometheus server, killed when dropped.
struct Prometheus {
    child: Child,
    url: String,
    _dir: TempDir,
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn start_prometheus(target: std::net::SocketAddr) -> Prometheus {
    let dir = std::env::temp_dir().join(format!("tta-prometheus-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let config = dir.join("prometheus.yml");
    std::fs::write(
        &config,
        format!(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nscrape_configs:\n  - job_name: e2e\n    static_configs:\n      - targets: ['{target}']\n"
        ),
    )
    .unwrap();
    let port = free_port();
    let child = Command::new(tool("prometheus"))
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
    Prometheus {
        child,
        url: format!("http://127.0.0.1:{port}"),
        _dir: TempDir(dir),
    }
}

/// The series of an instant query's result.
async fn query(prometheus: &Prometheus, promql: &str) -> Vec<serde_json::Value> {
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
    let (status, body) = get(&format!("{}/api/v1/query?query={encoded}", prometheus.url)).await;
    assert_eq!(status, 200, "{body}");
    let json: serde_json::Value = serde_json::from_str(&body).unwrap();
    json["data"]["result"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_real_prometheus_scrapes_the_catalogue_metrics() {
    let config = ObservabilityConfig::builder("e2e-service")
        .service_version("9.9.9")
        .metrics_addr("127.0.0.1:0")
        .build()
        .unwrap();
    let guard = initialize_observability(config).unwrap();
    let addr = guard.metrics_addr().unwrap();

    let flaky = MockPrimitive::<u32, u32>::new()
        .then_fail(WorkflowError::msg("503"))
        .otherwise_return(1)
        .named("e2e_flaky");
    let retry = RetryPolicy::builder()
        .max_attempts(3)
        .initial_backoff(Duration::from_millis(1))
        .build()
        .unwrap();
    let wf = flaky
        .retry(retry)
        .named("e2e_retry")
        .instrumented_with(Arc::new(Telemetry::metrics_only()));
    for _ in 0..5 {
        wf.clone()
            .oneshot(Request::new(WorkflowContext::new("e2e"), 1))
            .await
            .unwrap();
    }

    let (status, health) = get(&format!("http://{addr}/healthz")).await;
    assert_eq!(status, 200);
    let health: serde_json::Value = serde_json::from_str(&health).unwrap();
    assert_eq!(
        (health["status"].as_str(), health["service"].as_str()),
        (Some("ok"), Some("e2e-service"))
    );

    // promtool's linter finds nothing in what /metrics serves.
    let (status, text) = get(&format!("http://{addr}/metrics")).await;
    assert_eq!(status, 200);
    let mut promtool = Command::new(tool("promtool"))
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(&mut promtool.stdin.take().unwrap(), text.as_bytes()).unwrap();
    let out = promtool.wait_with_output().unwrap();
    let report = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success() && report.trim().is_empty(),
        "promtool check metrics: {report}\n---\n{text}"
    );

    let prometheus = start_prometheus(addr);
    eventually(
        "Prometheus to be ready",
        Duration::from_secs(60),
        || async {
            let url = format!("{}/-/ready", prometheus.url);
            let client = Client::builder(TokioExecutor::new()).build_http::<Empty<Bytes>>();
            let ok = client
                .get(url.parse().unwrap())
                .await
                .is_ok_and(|r| r.status() == 200);
            ok.then_some(())
        },
    )
    .await;
    let build = eventually(
        "a scrape with tta_build_info",
        Duration::from_secs(60),
        || async {
            let result = query(&prometheus, "tta_build_info").await;
            (!result.is_empty()).then_some(result)
        },
    )
    .await;
    assert_eq!(build[0]["metric"]["service"], "e2e-service");
    assert_eq!(build[0]["metric"]["version"], "9.9.9");
    assert_eq!(build[0]["value"][1], "1");

    let up = query(&prometheus, "up{job=\"e2e\"}").await;
    assert_eq!(up[0]["value"][1], "1", "the target is up");
    let executions = query(
        &prometheus,
        "tta_primitive_executions_total{workflow=\"e2e\",primitive=\"e2e_retry\",outcome=\"success\"}",
    )
    .await;
    assert_eq!(executions[0]["value"][1], "5");
    let retries = query(
        &prometheus,
        "tta_retry_calls_total{primitive=\"e2e_retry\",result=\"success_after_retry\"}",
    )
    .await;
    assert_eq!(retries[0]["value"][1], "1");
    let buckets = query(&prometheus, "tta_primitive_duration_seconds_bucket{primitive=\"e2e_retry\",outcome=\"success\",le=\"+Inf\"}").await;
    assert_eq!(
        buckets[0]["value"][1], "5",
        "histograms are exported with the catalogue's buckets"
    );

    assert!(
        guard.shutdown(Duration::from_secs(5)).await,
        "the guard stops within its deadline"
    );
    let client = Client::builder(TokioExecutor::new()).build_http::<Empty<Bytes>>();
    assert!(
        client
            .get(format!("http://{addr}/metrics").parse().unwrap())
            .await
            .is_err(),
        "the endpoint is closed"
    );
}
