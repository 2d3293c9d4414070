//! Grafana provisioning: the datasources (Prometheus, the trace backend,
//! Loki, as the compose stack names them) and the provider that loads the
//! generated dashboards.

use std::collections::BTreeMap;

use serde::Serialize;

/// A provisioning file of datasources.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Datasources {
    /// Always 1.
    pub api_version: u32,
    /// The datasources.
    pub datasources: Vec<Datasource>,
}

/// One datasource.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Datasource {
    /// Display name.
    pub name: String,
    /// Plugin id.
    #[serde(rename = "type")]
    pub kind: String,
    /// Stable uid (dashboards refer to it).
    pub uid: String,
    /// `proxy`: Grafana's server queries it.
    pub access: String,
    /// URL inside the compose network.
    pub url: String,
    /// The default datasource.
    pub is_default: bool,
    /// Plugin settings.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub json_data: BTreeMap<String, serde_json::Value>,
}

/// The Prometheus datasource uid.
pub const PROMETHEUS_UID: &str = "prometheus";
/// The trace backend (Jaeger) datasource uid.
pub const TRACES_UID: &str = "jaeger";
/// The Loki datasource uid.
pub const LOGS_UID: &str = "loki";

/// Prometheus (default), Jaeger and Loki, with trace ids in logs linked to
/// traces.
pub fn datasources() -> Datasources {
    let ds = |name: &str, kind: &str, uid: &str, url: &str, default: bool| Datasource {
        name: name.into(),
        kind: kind.into(),
        uid: uid.into(),
        access: "proxy".into(),
        url: url.into(),
        is_default: default,
        json_data: BTreeMap::new(),
    };
    let mut prometheus = ds(
        "Prometheus",
        "prometheus",
        PROMETHEUS_UID,
        "http://prometheus:9090",
        true,
    );
    prometheus
        .json_data
        .insert("timeInterval".into(), "15s".into());
    let jaeger = ds("Jaeger", "jaeger", TRACES_UID, "http://jaeger:16686", false);
    let mut loki = ds("Loki", "loki", LOGS_UID, "http://loki:3100", false);
    loki.json_data.insert(
        "derivedFields".into(),
        serde_json::json!([{
            "name": "trace_id",
            "matcherType": "label",
            "matcherRegex": "trace_id",
            "datasourceUid": TRACES_UID,
            "url": "$${__value.raw}"
        }]),
    );
    Datasources {
        api_version: 1,
        datasources: vec![prometheus, jaeger, loki],
    }
}

/// A provisioning file of dashboard providers.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct DashboardProviders {
    /// Always 1.
    pub api_version: u32,
    /// The providers.
    pub providers: Vec<serde_json::Value>,
}

/// Where Grafana's container finds the generated dashboards.
pub const DASHBOARDS_PATH: &str = "/var/lib/grafana/dashboards";

/// Loads every dashboard under [`DASHBOARDS_PATH`] into the `tta` folder,
/// read-only (the files are the source of truth).
pub fn dashboard_provider() -> DashboardProviders {
    DashboardProviders {
        api_version: 1,
        providers: vec![serde_json::json!({
            "name": "tta",
            "folder": "tta",
            "type": "file",
            "disableDeletion": true,
            "allowUiUpdates": false,
            "updateIntervalSeconds": 30,
            "options": {"path": DASHBOARDS_PATH, "foldersFromFilesStructure": false}
        })],
    }
}
