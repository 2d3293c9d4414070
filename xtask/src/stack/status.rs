//! `stack-status`: the health checks. Each prints a line; any failure makes
//! the command fail with the reasons.

use super::{StackOptions, http};

/// The outcome of one check.
enum Check {
    Pass(String),
    Fail(String),
    Skip(String),
}

fn app(options: &StackOptions) -> Vec<(&'static str, Check)> {
    let metrics = match http::get(&format!("http://{}/metrics", options.app)) {
        Ok((200, body)) if body.contains("tta_build_info") => Check::Pass(format!(
            "http://{}/metrics answers with the catalogue's metrics",
            options.app
        )),
        Ok((200, _)) => Check::Fail(format!(
            "http://{}/metrics answers but has no tta_build_info: is this a tta service?",
            options.app
        )),
        Ok((status, _)) => Check::Fail(format!("http://{}/metrics answered {status}", options.app)),
        Err(e) => Check::Fail(format!(
            "http://{}/metrics does not answer ({e}): start the app (`cargo xtask demo`) or pass its address with --app",
            options.app
        )),
    };
    let health = match http::get(&format!("http://{}/healthz", options.app)) {
        Ok((200, body)) => Check::Pass(format!("/healthz: {}", body.trim())),
        Ok((status, body)) => Check::Fail(format!("/healthz answered {status}: {}", body.trim())),
        Err(e) => Check::Fail(format!("/healthz does not answer ({e})")),
    };
    vec![
        ("service connectivity", metrics),
        ("service health", health),
    ]
}

fn prometheus(options: &StackOptions) -> Vec<(&'static str, Check)> {
    let prom = options.url(options.prometheus_port);
    if let Err(e) = http::get(&format!("{prom}/-/ready")) {
        let reason = format!(
            "Prometheus at {prom} does not answer ({e}): `cargo xtask stack-up` (or `--native`)"
        );
        return vec![
            ("metrics export", Check::Fail(reason.clone())),
            ("alert rules", Check::Fail(reason)),
        ];
    }
    let export = match http::query(&prom, "up{job=\"tta-app\"}") {
        Err(e) => Check::Fail(e),
        Ok(r) if r.is_empty() => Check::Fail(format!(
            "Prometheus has no tta-app target: check the scrape config (it should scrape {})",
            options.app
        )),
        Ok(r) if http::value(&r) != Some(1.0) => Check::Fail(format!(
            "the tta-app target is down: Prometheus cannot scrape {} (Status → Targets in {prom} shows the error)",
            options.app
        )),
        Ok(_) => match http::query(
            &prom,
            "time() - max(timestamp(tta_build_info{job=\"tta-app\"}))",
        ) {
            Ok(r) => match http::value(&r) {
                Some(age) if age < 60.0 => {
                    Check::Pass(format!("tta-app target up, newest sample {age:.0} s old"))
                }
                Some(age) => Check::Fail(format!(
                    "the newest tta-app sample is {age:.0} s old: scrapes stopped"
                )),
                None => Check::Fail("no tta_build_info sample from tta-app yet".into()),
            },
            Err(e) => Check::Fail(e),
        },
    };
    let rules = match http::get(&format!("{prom}/api/v1/rules")) {
        Ok((200, body)) => {
            let json: serde_json::Value = serde_json::from_str(&body).unwrap_or_default();
            let rules: Vec<&serde_json::Value> = json["data"]["groups"]
                .as_array()
                .into_iter()
                .flatten()
                .flat_map(|g| g["rules"].as_array().into_iter().flatten())
                .collect();
            let broken: Vec<String> = rules
                .iter()
                .filter(|r| r["health"] == "err")
                .map(|r| {
                    format!(
                        "{}: {}",
                        r["name"].as_str().unwrap_or("?"),
                        r["lastError"].as_str().unwrap_or("")
                    )
                })
                .collect();
            if rules.is_empty() {
                Check::Fail("no rules loaded: check rule_files in the Prometheus config (the generated files are in deploy/prometheus/rules)".into())
            } else if !broken.is_empty() {
                Check::Fail(format!("rules in error: {}", broken.join("; ")))
            } else {
                let firing = rules.iter().filter(|r| r["state"] == "firing").count();
                Check::Pass(format!(
                    "{} rules loaded, none in error, {firing} alerts firing",
                    rules.len()
                ))
            }
        }
        Ok((status, body)) => Check::Fail(format!("/api/v1/rules answered {status}: {body}")),
        Err(e) => Check::Fail(e),
    };
    vec![("metrics export", export), ("alert rules", rules)]
}

fn alertmanager(options: &StackOptions) -> (&'static str, Check) {
    let am = options.url(options.alertmanager_port);
    let check = match http::get(&format!("{am}/-/ready")) {
        Ok((200, _)) => {
            let prom = options.url(options.prometheus_port);
            match http::get(&format!("{prom}/api/v1/alertmanagers")) {
                Ok((200, body))
                    if body.contains(&format!(":{}", options.alertmanager_port))
                        || body.contains("alertmanager:9093") =>
                {
                    Check::Pass(format!("{am} ready, and Prometheus sends alerts to it"))
                }
                _ => Check::Fail(format!(
                    "{am} is ready but Prometheus does not list it as an Alertmanager"
                )),
            }
        }
        Ok((status, _)) => Check::Fail(format!("{am}/-/ready answered {status}")),
        Err(e) => Check::Fail(format!("Alertmanager at {am} does not answer ({e})")),
    };
    ("alerting", check)
}

fn grafana(options: &StackOptions) -> (&'static str, Check) {
    let url = options.url(options.grafana_port);
    if http::get(&format!("{url}/api/health")).is_err() {
        return (
            "dashboards",
            Check::Skip(format!(
                "Grafana is not running at {url} (native mode has none)"
            )),
        );
    }
    let Ok(password) = std::env::var("GRAFANA_ADMIN_PASSWORD") else {
        return (
            "dashboards",
            Check::Fail("Grafana answers but GRAFANA_ADMIN_PASSWORD is not set, so its API cannot be asked for the dashboards".into()),
        );
    };
    let check = match http::get_with(
        &format!("{url}/api/search?tag=tta"),
        Some(("admin", &password)),
    ) {
        Ok((200, body)) => {
            let found: serde_json::Value = serde_json::from_str(&body).unwrap_or_default();
            let uids: Vec<&str> = found
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|d| d["uid"].as_str())
                .collect();
            let expected = tta_dashboards::dashboards::all();
            let missing: Vec<&str> = expected
                .iter()
                .map(|d| d.uid.as_str())
                .filter(|u| !uids.contains(u))
                .collect();
            if missing.is_empty() {
                Check::Pass(format!(
                    "Grafana lists the {} tta dashboards",
                    expected.len()
                ))
            } else {
                Check::Fail(format!(
                    "Grafana lacks the dashboards {missing:?}: check the provisioning mount (deploy/grafana)"
                ))
            }
        }
        Ok((401, _)) => {
            Check::Fail("Grafana refused the admin password in GRAFANA_ADMIN_PASSWORD".into())
        }
        Ok((status, body)) => Check::Fail(format!("Grafana's search answered {status}: {body}")),
        Err(e) => Check::Fail(e),
    };
    ("dashboards", check)
}

pub(super) fn run(options: &StackOptions) -> Result<(), String> {
    let mut checks = app(options);
    checks.extend(prometheus(options));
    checks.push(alertmanager(options));
    checks.push(grafana(options));
    let mut failures = Vec::new();
    for (name, check) in &checks {
        match check {
            Check::Pass(detail) => println!("ok    {name:22} {detail}"),
            Check::Skip(detail) => println!("skip  {name:22} {detail}"),
            Check::Fail(reason) => {
                println!("FAIL  {name:22} {reason}");
                failures.push(format!("{name}: {reason}"));
            }
        }
    }
    if failures.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "{} of {} checks failed:\n  {}",
            failures.len(),
            checks.len(),
            failures.join("\n  ")
        ))
    }
}
