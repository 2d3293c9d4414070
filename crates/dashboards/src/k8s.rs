//! Kubernetes forms of the generated content: a Prometheus Operator
//! `PrometheusRule` holding exactly the generated rule groups, and one
//! ConfigMap per dashboard labelled for the Grafana sidecar.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::{
    config::AlertConfig,
    grafana::Dashboard,
    rules::{self, RuleGroup},
};

/// The namespace of the manifests.
pub const NAMESPACE: &str = "tta-observability";

/// Object metadata.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Metadata {
    /// The resource's name.
    pub name: String,
    /// The namespace it is created in.
    pub namespace: String,
    /// Labels the Prometheus operator selects it by.
    pub labels: BTreeMap<String, String>,
}

/// A `monitoring.coreos.com/v1` PrometheusRule.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct PrometheusRule {
    /// `monitoring.coreos.com/v1`.
    pub api_version: String,
    /// `PrometheusRule`.
    pub kind: String,
    /// Metadata (`release: prometheus` lets a kube-prometheus-stack pick it up).
    pub metadata: Metadata,
    /// The rule groups.
    pub spec: PrometheusRuleSpec,
}

/// Its spec.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct PrometheusRuleSpec {
    /// The same groups as deploy/prometheus/rules.
    pub groups: Vec<RuleGroup>,
}

fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

/// The recording and alerting groups in one PrometheusRule.
pub fn prometheus_rule(config: &AlertConfig) -> PrometheusRule {
    let mut groups = rules::recording_rules(config).groups;
    groups.extend(rules::alert_rules(config).groups);
    PrometheusRule {
        api_version: "monitoring.coreos.com/v1".into(),
        kind: "PrometheusRule".into(),
        metadata: Metadata {
            name: "tta-rules".into(),
            namespace: NAMESPACE.into(),
            labels: labels(&[
                ("app.kubernetes.io/part-of", "tta"),
                ("release", "prometheus"),
            ]),
        },
        spec: PrometheusRuleSpec { groups },
    }
}

/// A ConfigMap.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ConfigMap {
    /// `v1`.
    pub api_version: String,
    /// `ConfigMap`.
    pub kind: String,
    /// Metadata (`grafana_dashboard: "1"` for the sidecar).
    pub metadata: Metadata,
    /// File name → content.
    pub data: BTreeMap<String, String>,
}

/// `dashboard` as a ConfigMap the Grafana sidecar loads.
pub fn dashboard_configmap(dashboard: &Dashboard) -> ConfigMap {
    let json = serde_json::to_string_pretty(dashboard).expect("dashboards serialize");
    ConfigMap {
        api_version: "v1".into(),
        kind: "ConfigMap".into(),
        metadata: Metadata {
            name: format!("grafana-dashboard-{}", dashboard.uid),
            namespace: NAMESPACE.into(),
            labels: labels(&[
                ("app.kubernetes.io/part-of", "tta"),
                ("grafana_dashboard", "1"),
            ]),
        },
        data: BTreeMap::from([(format!("{}.json", dashboard.uid), json)]),
    }
}
