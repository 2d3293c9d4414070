//! The test venv's Python, and a real Arize Phoenix (an OTLP trace backend) started from it.

use std::{
    path::PathBuf,
    process::{Child, Command, Stdio},
    time::Duration,
};

use crate::{eventually, get, try_get};

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

/// An Arize Phoenix server (an OTLP trace backend, from the test venv) on
/// free 127.0.0.1 ports; killed and its data removed when dropped. Its gRPC
/// port binds every interface: run it inside a private network namespace
/// (see [`in_private_network`](crate::in_private_network)).
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
