//! Every config under deploy/ is checked: the compose file against the
//! official compose-spec schema and the stack's rules (loopback ports,
//! pinned images, healthchecks, named volumes, Grafana's password from the
//! environment); Prometheus with `promtool check config`; Alertmanager with
//! `amtool check-config`; each collector config's structure; and the
//! Kubernetes manifests, whose PrometheusRule holds exactly the generated
//! rules and whose dashboard ConfigMaps hold exactly the generated
//! dashboards.

use std::{
    collections::BTreeSet,
    path::{Path, PathBuf},
    process::Command,
};

use serde_json::Value;

fn deploy() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy")
}

fn yaml(path: &Path) -> Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut value: serde_norway::Value = serde_norway::from_str(&text)
        .unwrap_or_else(|e| panic!("{} does not parse: {e}", path.display()));
    value.apply_merge().unwrap();
    serde_json::to_value(value).unwrap()
}

fn yaml_documents(path: &Path) -> Vec<Value> {
    let text = std::fs::read_to_string(path).unwrap();
    serde_norway::Deserializer::from_str(&text)
        .map(|doc| {
            let value = <serde_norway::Value as serde::Deserialize>::deserialize(doc)
                .unwrap_or_else(|e| panic!("{} does not parse: {e}", path.display()));
            serde_json::to_value(value).unwrap()
        })
        .filter(|v| !v.is_null())
        .collect()
}

#[test]
fn the_compose_file_validates_against_the_compose_spec() {
    let schema = tta_test_support::specs::load_spec("compose-spec.json");
    let validator = jsonschema::draft7::options()
        .build(&schema)
        .expect("the compose schema compiles");
    let compose = yaml(&deploy().join("docker-compose.yml"));
    let errors: Vec<String> = validator
        .iter_errors(&compose)
        .map(|e| format!("{e} at {}", e.instance_path()))
        .collect();
    assert!(
        errors.is_empty(),
        "docker-compose.yml:\n{}",
        errors.join("\n")
    );
    // The validator can fail: an unknown service key is refused.
    let mut broken = compose.clone();
    broken["services"]["prometheus"]["restart_policy"] = "always".into();
    assert!(!validator.is_valid(&broken));
}

#[test]
fn the_compose_stack_is_pinned_local_healthy_and_has_no_default_password() {
    let compose = yaml(&deploy().join("docker-compose.yml"));
    let services = compose["services"].as_object().unwrap();
    for expected in [
        "otel-collector",
        "jaeger",
        "loki",
        "prometheus",
        "alertmanager",
        "pushgateway",
        "grafana",
        "demo",
        "langfuse-web",
    ] {
        assert!(services.contains_key(expected), "no service {expected}");
    }
    let declared: BTreeSet<&str> = compose["volumes"]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    for (name, service) in services {
        if let Some(image) = service["image"].as_str() {
            let tag = image.rsplit_once(':').map(|(_, t)| t);
            assert!(
                tag.is_some_and(|t| t != "latest" && !t.is_empty()),
                "{name}: image {image} is not pinned"
            );
        }
        assert!(
            service["healthcheck"]["test"].is_array(),
            "{name} has no healthcheck"
        );
        for port in service["ports"].as_array().into_iter().flatten() {
            let port = port.as_str().unwrap();
            assert!(
                port.starts_with("127.0.0.1:"),
                "{name} publishes {port} beyond loopback"
            );
        }
        for volume in service["volumes"].as_array().into_iter().flatten() {
            let source = volume.as_str().unwrap().split(':').next().unwrap();
            if !source.starts_with('.') && !source.starts_with('/') {
                assert!(
                    declared.contains(source),
                    "{name} uses the undeclared volume {source}"
                );
            }
            if source.starts_with("./") {
                assert!(
                    deploy().join(source).exists(),
                    "{name} mounts {source}, which does not exist"
                );
            }
        }
    }
    let grafana = &services["grafana"]["environment"];
    let password = grafana["GF_SECURITY_ADMIN_PASSWORD"].as_str().unwrap();
    assert!(
        password.starts_with("${GRAFANA_ADMIN_PASSWORD:?"),
        "the admin password must come from the environment: {password}"
    );
    assert_eq!(grafana["GF_AUTH_ANONYMOUS_ENABLED"], "false");
    for optional in [
        "demo",
        "langfuse-web",
        "langfuse-worker",
        "langfuse-postgres",
    ] {
        assert!(
            services[optional]["profiles"].is_array(),
            "{optional} is not behind a profile"
        );
    }
    assert_eq!(
        services["demo"]["labels"]["tta.metrics.port"], "9464",
        "the demo is found by Docker service discovery"
    );
}

#[test]
fn prometheus_config_passes_promtool_and_discovers_containers() {
    let config = deploy().join("prometheus/prometheus.yml");
    let out = Command::new(tta_test_support::prometheus_tool("promtool"))
        .args(["check", "config"])
        .arg(&config)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "promtool check config:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("tta-alerts.yml") && stdout.contains("tta-slo-recording.yml"),
        "the generated rules are loaded:\n{stdout}"
    );
    let parsed = yaml(&config);
    let jobs: Vec<&Value> = parsed["scrape_configs"]
        .as_array()
        .unwrap()
        .iter()
        .collect();
    assert!(jobs.iter().any(|j| j["job_name"] == "tta-app"
        && j["static_configs"][0]["targets"][0] == "host.docker.internal:9464"));
    assert!(
        jobs.iter().any(|j| j["docker_sd_configs"].is_array()),
        "Docker service discovery"
    );
    assert_eq!(
        parsed["alerting"]["alertmanagers"][0]["static_configs"][0]["targets"][0],
        "alertmanager:9093"
    );
}

#[test]
fn alertmanager_config_passes_amtool() {
    let amtool = Path::new("/usr/bin/amtool");
    assert!(
        amtool.exists(),
        "amtool is missing: install the Debian package prometheus-alertmanager (apt-get install prometheus-alertmanager), or run `cargo xtask ci`, which installs it"
    );
    let out = Command::new(amtool)
        .arg("check-config")
        .arg(deploy().join("alertmanager/alertmanager.yml"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "amtool check-config:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Components a collector config defines and the ones its service uses.
fn check_collector(name: &str, config: &Value) {
    let mut defined = BTreeSet::new();
    for section in [
        "receivers",
        "processors",
        "exporters",
        "extensions",
        "connectors",
    ] {
        for id in config[section]
            .as_object()
            .into_iter()
            .flatten()
            .map(|(k, _)| k)
        {
            defined.insert(format!("{section}/{id}"));
        }
    }
    let mut used = BTreeSet::new();
    for id in config["service"]["extensions"]
        .as_array()
        .into_iter()
        .flatten()
    {
        used.insert(format!("extensions/{}", id.as_str().unwrap()));
    }
    let pipelines = config["service"]["pipelines"]
        .as_object()
        .unwrap_or_else(|| panic!("{name}: no pipelines"));
    assert!(!pipelines.is_empty(), "{name}: no pipelines");
    for (pipeline, p) in pipelines {
        for section in ["receivers", "processors", "exporters"] {
            let ids = p[section].as_array();
            if section != "processors" {
                assert!(
                    ids.is_some_and(|i| !i.is_empty()),
                    "{name}: pipeline {pipeline} has no {section}"
                );
            }
            for id in ids.into_iter().flatten() {
                let id = id.as_str().unwrap();
                // A connector is used as an exporter of one pipeline and a receiver of another.
                let key = if defined.contains(&format!("connectors/{id}")) {
                    format!("connectors/{id}")
                } else {
                    format!("{section}/{id}")
                };
                assert!(
                    defined.contains(&key),
                    "{name}: pipeline {pipeline} names {section} `{id}`, which is not defined"
                );
                used.insert(key);
            }
        }
    }
    let unused: Vec<&String> = defined.difference(&used).collect();
    assert!(
        unused.is_empty(),
        "{name}: defined but never used: {unused:?}"
    );
}

fn configmap_collector(path: &Path, configmap: &str) -> Value {
    let docs = yaml_documents(path);
    let cm = docs
        .iter()
        .find(|d| d["kind"] == "ConfigMap" && d["metadata"]["name"] == configmap)
        .unwrap_or_else(|| panic!("no ConfigMap {configmap} in {}", path.display()));
    let text = cm["data"]["config.yaml"].as_str().unwrap();
    serde_json::to_value(serde_norway::from_str::<serde_norway::Value>(text).unwrap()).unwrap()
}

#[test]
fn every_collector_config_defines_what_it_uses_and_uses_what_it_defines() {
    let compose = yaml(&deploy().join("otel-collector/config.yaml"));
    check_collector("deploy/otel-collector/config.yaml", &compose);
    assert_eq!(
        compose["service"]["pipelines"]
            .as_object()
            .unwrap()
            .keys()
            .collect::<BTreeSet<_>>(),
        ["logs", "metrics", "traces"]
            .iter()
            .map(|s| s.to_string())
            .collect::<BTreeSet<_>>()
            .iter()
            .collect()
    );
    check_collector(
        "k8s agent",
        &configmap_collector(
            &deploy().join("k8s/collector-agent.yaml"),
            "otel-agent-config",
        ),
    );
    check_collector(
        "k8s gateway",
        &configmap_collector(
            &deploy().join("k8s/collector-gateway.yaml"),
            "otel-gateway-config",
        ),
    );
    // The check can fail.
    let mut broken = compose.clone();
    broken["service"]["pipelines"]["traces"]["exporters"] = serde_json::json!(["otlp/tempo"]);
    assert!(std::panic::catch_unwind(|| check_collector("broken", &broken)).is_err());
}

#[test]
fn kubernetes_manifests_are_complete_and_carry_the_generated_rules_and_dashboards() {
    let k8s = deploy().join("k8s");
    let kustomization = yaml(&k8s.join("kustomization.yaml"));
    let resources: Vec<&str> = kustomization["resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r.as_str().unwrap())
        .collect();
    let mut kinds = BTreeSet::new();
    for resource in &resources {
        for doc in yaml_documents(&k8s.join(resource)) {
            let what = format!("{resource}: {}", doc["metadata"]["name"]);
            assert!(
                doc["apiVersion"].as_str().is_some_and(|v| !v.is_empty()),
                "{what}: no apiVersion"
            );
            assert!(
                doc["kind"].as_str().is_some_and(|v| !v.is_empty()),
                "{what}: no kind"
            );
            assert!(
                doc["metadata"]["name"]
                    .as_str()
                    .is_some_and(|v| !v.is_empty()),
                "{resource}: an object without a name"
            );
            if matches!(doc["kind"].as_str(), Some("DaemonSet" | "Deployment")) {
                let selector = &doc["spec"]["selector"]["matchLabels"];
                let labels = &doc["spec"]["template"]["metadata"]["labels"];
                for (k, v) in selector.as_object().unwrap() {
                    assert_eq!(
                        &labels[k], v,
                        "{what}: the selector does not match the pod labels"
                    );
                }
                for c in doc["spec"]["template"]["spec"]["containers"]
                    .as_array()
                    .unwrap()
                {
                    assert!(
                        c["image"].as_str().unwrap().contains(':'),
                        "{what}: unpinned image"
                    );
                    assert!(
                        c["readinessProbe"].is_object()
                            && c["resources"]["limits"]["memory"].is_string(),
                        "{what}: probes and limits"
                    );
                }
            }
            kinds.insert(doc["kind"].as_str().unwrap().to_owned());
        }
    }
    for kind in [
        "DaemonSet",
        "Deployment",
        "ServiceMonitor",
        "PrometheusRule",
        "ConfigMap",
        "Service",
    ] {
        assert!(kinds.contains(kind), "no {kind} in the kustomization");
    }
    // The PrometheusRule holds exactly the generated rule groups.
    let rule = &yaml_documents(&k8s.join("prometheus-rule.yaml"))[0];
    let mut groups: Vec<Value> = Vec::new();
    for file in ["tta-slo-recording.yml", "tta-alerts.yml"] {
        groups.extend(
            yaml(&deploy().join("prometheus/rules").join(file))["groups"]
                .as_array()
                .unwrap()
                .clone(),
        );
    }
    assert_eq!(
        rule["spec"]["groups"],
        Value::Array(groups),
        "the PrometheusRule differs from deploy/prometheus/rules"
    );
    // Each dashboard ConfigMap holds the generated dashboard, labelled for the sidecar.
    let maps = yaml_documents(&k8s.join("grafana-dashboards.yaml"));
    assert_eq!(maps.len(), 7);
    for map in maps {
        assert_eq!(map["metadata"]["labels"]["grafana_dashboard"], "1");
        let (file, json) = map["data"].as_object().unwrap().iter().next().unwrap();
        let on_disk: Value = serde_json::from_str(
            &std::fs::read_to_string(deploy().join("grafana/dashboards").join(file)).unwrap(),
        )
        .unwrap();
        let in_map: Value = serde_json::from_str(json.as_str().unwrap()).unwrap();
        assert_eq!(
            in_map, on_disk,
            "{file} differs between the ConfigMap and deploy/grafana/dashboards"
        );
    }
}
