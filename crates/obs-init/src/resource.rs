//! Resource detection: what the service is and where it runs.

use opentelemetry::KeyValue;

use crate::{InitError, otlp::parse_pairs};

/// Attributes from the environment: `OTEL_RESOURCE_ATTRIBUTES` and the
/// Kubernetes downward-API variables (`K8S_POD_NAME`, `K8S_NAMESPACE_NAME`,
/// `K8S_NODE_NAME`, or the common `POD_NAME`, `POD_NAMESPACE`, `NODE_NAME`).
pub(crate) fn from_env(
    var: &impl Fn(&str) -> Option<String>,
) -> Result<Vec<(String, String)>, InitError> {
    let mut attributes = Vec::new();
    for (key, names) in [
        ("k8s.pod.name", ["K8S_POD_NAME", "POD_NAME"]),
        (
            "k8s.namespace.name",
            ["K8S_NAMESPACE_NAME", "POD_NAMESPACE"],
        ),
        ("k8s.node.name", ["K8S_NODE_NAME", "NODE_NAME"]),
    ] {
        if let Some(value) = names.iter().find_map(|n| var(n)).filter(|v| !v.is_empty()) {
            attributes.push((key.to_owned(), value));
        }
    }
    if let Some(raw) = var("OTEL_RESOURCE_ATTRIBUTES") {
        // Resource attributes are not secret: errors may show them.
        attributes.extend(parse_pairs("OTEL_RESOURCE_ATTRIBUTES", &raw, false)?);
    }
    Ok(attributes)
}

/// Attributes of the host and the process: `host.name`, `os.type`,
/// `process.pid`, `process.executable.name`, `process.runtime.name`, and
/// `container.id` when the process runs in a container.
pub(crate) fn detect() -> Vec<KeyValue> {
    let mut attributes = vec![
        KeyValue::new("os.type", std::env::consts::OS),
        KeyValue::new("process.pid", i64::from(std::process::id())),
        KeyValue::new("process.runtime.name", "rust"),
    ];
    if let Some(host) = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::fs::read_to_string("/etc/hostname").ok())
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
    {
        attributes.push(KeyValue::new("host.name", host));
    }
    if let Some(name) = std::env::current_exe()
        .ok()
        .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
    {
        attributes.push(KeyValue::new("process.executable.name", name));
    }
    if let Some(id) = std::fs::read_to_string("/proc/self/cgroup")
        .ok()
        .and_then(|text| container_id(&text))
    {
        attributes.push(KeyValue::new("container.id", id));
    }
    attributes
}

/// The container id in a `/proc/self/cgroup` file: the first 64-hex-digit
/// segment of a cgroup path (Docker, containerd, CRI-O and Podman layouts).
pub fn container_id(cgroup: &str) -> Option<String> {
    cgroup.lines().find_map(|line| {
        let path = line.rsplit(':').next()?;
        path.split(['/', '-', '.', ':'])
            .find(|segment| segment.len() == 64 && segment.bytes().all(|b| b.is_ascii_hexdigit()))
            .map(str::to_owned)
    })
}
