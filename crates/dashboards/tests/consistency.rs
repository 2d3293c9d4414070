//! The generated files are consistent with the catalogue and with the
//! tools that read them: every PromQL expression parses and names only
//! catalogue metrics (or our recording rules, or Prometheus's own series)
//! with labels those metrics have; every dashboard validates against the
//! Grafana dashboard schema; `promtool check rules` and `promtool test
//! rules` pass; the committed files are what the generator makes now.

use std::{
    collections::{BTreeMap, BTreeSet},
    path::{Path, PathBuf},
    process::Command,
};

use promql_parser::parser::{self, Expr};
use tta_dashboards::{
    AlertConfig, CONFIG_FILE, QueryKind, dashboards, expand, expressions, generate, rules,
};
use tta_primitives_obs::catalogue::{Catalogue, MetricKind};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn config() -> AlertConfig {
    AlertConfig::load(&root().join(CONFIG_FILE)).expect("deploy/slo.toml is valid")
}

/// Every (metric name, label names used) of an expression.
fn selectors(expr: &Expr, out: &mut Vec<(String, BTreeSet<String>)>) {
    let vs = |vs: &promql_parser::parser::VectorSelector,
              out: &mut Vec<(String, BTreeSet<String>)>| {
        let name = vs.name.clone().or_else(|| {
            vs.matchers
                .matchers
                .iter()
                .find(|m| m.name == "__name__")
                .map(|m| m.value.clone())
        });
        let labels = vs
            .matchers
            .matchers
            .iter()
            .chain(vs.matchers.or_matchers.iter().flatten())
            .map(|m| m.name.clone())
            .filter(|n| n != "__name__")
            .collect();
        out.push((name.unwrap_or_default(), labels));
    };
    match expr {
        Expr::Aggregate(a) => {
            selectors(&a.expr, out);
            if let Some(p) = &a.param {
                selectors(p, out);
            }
        }
        Expr::Unary(u) => selectors(&u.expr, out),
        Expr::Binary(b) => {
            selectors(&b.lhs, out);
            selectors(&b.rhs, out);
        }
        Expr::Paren(p) => selectors(&p.expr, out),
        Expr::Subquery(s) => selectors(&s.expr, out),
        Expr::VectorSelector(v) => vs(v, out),
        Expr::MatrixSelector(m) => vs(&m.vs, out),
        Expr::Call(c) => c.args.args.iter().for_each(|a| selectors(a, out)),
        Expr::NumberLiteral(_) | Expr::StringLiteral(_) | Expr::Extension(_) => {}
    }
}

/// Series Prometheus makes itself for every target.
const PROMETHEUS_SERIES: &[&str] = &["up", "scrape_duration_seconds", "scrape_samples_scraped"];
/// Labels Prometheus adds to every scraped series.
const TARGET_LABELS: &[&str] = &["job", "instance"];

#[test]
fn every_expression_parses_and_names_only_catalogue_metrics_and_their_labels() {
    tta_langfuse::register_metrics().unwrap();
    let config = config();
    let recorded: BTreeMap<String, BTreeSet<String>> = rules::recording_rules(&config)
        .groups
        .iter()
        .flat_map(|g| &g.rules)
        .filter_map(|r| {
            let mut labels: BTreeSet<String> = r.labels.keys().cloned().collect();
            labels.insert("workflow".into());
            Some((r.record.clone()?, labels))
        })
        .collect();
    let all = expressions(&config);
    assert!(all.iter().filter(|q| q.kind == QueryKind::Panel).count() > 40);
    let mut problems = Vec::new();
    for q in &all {
        let expr = expand(&q.expr, "1m", "1h");
        let parsed = match parser::parse(&expr) {
            Ok(parsed) => parsed,
            Err(e) => {
                problems.push(format!("{}: does not parse ({e}): {}", q.location, q.expr));
                continue;
            }
        };
        let mut found = Vec::new();
        selectors(&parsed, &mut found);
        assert!(
            !found.is_empty() || q.expr.starts_with("vector("),
            "{}: selects nothing",
            q.location
        );
        for (name, labels) in found {
            let known: Option<BTreeSet<String>> = if PROMETHEUS_SERIES.contains(&name.as_str()) {
                Some(TARGET_LABELS.iter().map(|s| s.to_string()).collect())
            } else if let Some(labels) = recorded.get(&name) {
                Some(labels.clone())
            } else {
                // A catalogue metric, or a histogram's _bucket/_sum/_count series.
                let def = Catalogue::global().get(&name).or_else(|| {
                    ["_bucket", "_sum", "_count"].iter().find_map(|suffix| {
                        let def = Catalogue::global().get(name.strip_suffix(suffix)?)?;
                        (def.kind == MetricKind::Histogram).then_some(def)
                    })
                });
                def.map(|def| {
                    let mut labels: BTreeSet<String> =
                        def.labels.iter().map(|s| s.to_string()).collect();
                    labels.extend(TARGET_LABELS.iter().map(|s| s.to_string()));
                    if name.ends_with("_bucket") {
                        labels.insert("le".into());
                    }
                    labels
                })
            };
            match known {
                None => problems.push(format!(
                    "{}: `{name}` is not in the metric catalogue, not a recording rule and not a Prometheus series: {}",
                    q.location, q.expr
                )),
                Some(known) => {
                    for label in labels.difference(&known) {
                        problems.push(format!("{}: `{name}` has no label `{label}`: {}", q.location, q.expr));
                    }
                }
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn a_query_naming_an_unknown_metric_or_label_is_caught() {
    // The check above must be able to fail: feed it what a stale dashboard holds.
    tta_langfuse::register_metrics().unwrap();
    let mut found = Vec::new();
    selectors(
        &parser::parse("sum(rate(tta_workflow_requests_total{job=\"x\"}[5m]))").unwrap(),
        &mut found,
    );
    assert_eq!(found[0].0, "tta_workflow_requests_total");
    assert!(Catalogue::global().get(&found[0].0).is_none());
    let mut found = Vec::new();
    selectors(
        &parser::parse("tta_cache_entries{primitive_type=\"cache\"}").unwrap(),
        &mut found,
    );
    let def = Catalogue::global().get("tta_cache_entries").unwrap();
    assert!(!def.labels.contains(&"primitive_type"));
    assert!(found[0].1.contains("primitive_type"));
}

#[test]
fn every_dashboard_validates_against_the_grafana_schema() {
    let schema = tta_test_support::specs::load_spec("grafana-dashboard.jsonschema.json");
    let validator = jsonschema::draft7::options()
        .build(&schema)
        .expect("the Grafana schema compiles");
    let generated = generate(&config());
    let mut count = 0;
    for (path, content) in generated.files() {
        if !path.ends_with(".json") {
            continue;
        }
        count += 1;
        let mut dashboard: serde_json::Value = serde_json::from_str(content).unwrap();
        if let Some(obj) = dashboard.as_object_mut() {
            obj.remove("__inputs");
            obj.remove("__requires");
        }
        let errors: Vec<String> = validator
            .iter_errors(&dashboard)
            .map(|e| format!("{e} at {}", e.instance_path()))
            .collect();
        assert!(
            errors.is_empty(),
            "{path} does not validate:\n{}",
            errors.join("\n")
        );
    }
    assert_eq!(count, 7, "seven dashboards");
}

#[test]
fn dashboards_have_unique_ids_sane_layout_and_units() {
    let mut uids = BTreeSet::new();
    for d in dashboards::all() {
        assert!(uids.insert(d.uid.clone()), "duplicate uid {}", d.uid);
        assert!(d.tags.contains(&"tta".to_owned()));
        let mut ids = BTreeSet::new();
        for p in &d.panels {
            let (id, pos) = match p {
                tta_dashboards::grafana::PanelOrRow::Row(r) => (r.id, r.grid_pos),
                tta_dashboards::grafana::PanelOrRow::Panel(p) => {
                    assert!(
                        !p.targets.is_empty(),
                        "{} / {} has no query",
                        d.title,
                        p.title
                    );
                    assert!(
                        !p.description.is_empty(),
                        "{} / {} has no description",
                        d.title,
                        p.title
                    );
                    (p.id, p.grid_pos)
                }
            };
            assert!(ids.insert(id), "{}: duplicate panel id {id}", d.title);
            assert!(
                pos.x + pos.w <= 24,
                "{}: panel {id} overflows the grid",
                d.title
            );
        }
    }
    // Latency panels are in seconds, ratios in percent, money in dollars.
    let text = serde_json::to_string(&dashboards::all()).unwrap();
    for unit in [
        "\"unit\":\"s\"",
        "\"unit\":\"percentunit\"",
        "\"unit\":\"currencyUSD\"",
        "\"unit\":\"short\"",
    ] {
        assert!(text.contains(unit), "no panel uses {unit}");
    }
    for kind in [
        "timeseries",
        "stat",
        "gauge",
        "bargauge",
        "table",
        "heatmap",
        "state-timeline",
    ] {
        assert!(
            text.contains(&format!("\"type\":\"{kind}\"")),
            "no {kind} panel"
        );
    }
}

#[test]
fn promtool_checks_the_rules_and_their_unit_tests_cover_every_alert() {
    let dir = std::env::temp_dir().join(format!("tta-rules-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let config = config();
    let generated = generate(&config);
    generated.write(&dir).unwrap();
    let rules_dir = dir.join("deploy/prometheus/rules");
    let promtool = tta_test_support::prometheus_tool("promtool");
    let out = Command::new(&promtool)
        .arg("check")
        .arg("rules")
        .arg(rules_dir.join(rules::RECORDING_FILE))
        .arg(rules_dir.join(rules::ALERTS_FILE))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "promtool check rules:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let out = Command::new(&promtool)
        .arg("test")
        .arg("rules")
        .arg(
            rules_dir
                .join("tests")
                .join(tta_dashboards::promtool::TEST_FILE),
        )
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "promtool test rules:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );

    // Each alert has a test where it fires and one where it does not.
    let tests = tta_dashboards::promtool::tests(&config);
    let alert_names: BTreeSet<String> = rules::alerts(&config)
        .iter()
        .map(|a| a.name().to_owned())
        .collect();
    assert_eq!(alert_names.len(), 11, "{alert_names:?}");
    for name in &alert_names {
        let cases: Vec<_> = tests
            .tests
            .iter()
            .flat_map(|t| &t.alert_rule_test)
            .filter(|t| &t.alertname == name)
            .collect();
        assert!(
            cases.iter().any(|c| !c.exp_alerts.is_empty()),
            "{name} never fires in a test"
        );
        assert!(
            cases.iter().any(|c| c.exp_alerts.is_empty()),
            "{name} has no quiet test"
        );
    }
    // And the tests can fail: a quiet case that expects an alert fails.
    let mut broken = tests.clone();
    broken
        .tests
        .retain(|t| t.alert_rule_test.iter().all(|c| c.exp_alerts.is_empty()));
    broken.tests.truncate(1);
    broken.tests[0].alert_rule_test[0]
        .exp_alerts
        .push(tta_dashboards::promtool::ExpectedAlert {
            exp_labels: BTreeMap::from([("severity".to_owned(), "none".to_owned())]),
            exp_annotations: BTreeMap::new(),
        });
    let broken_path = rules_dir.join("tests").join("broken.test.yml");
    std::fs::write(&broken_path, serde_norway::to_string(&broken).unwrap()).unwrap();
    let out = Command::new(&promtool)
        .arg("test")
        .arg("rules")
        .arg(&broken_path)
        .output()
        .unwrap();
    assert!(
        !out.status.success(),
        "promtool accepted a wrong expectation"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn the_committed_files_are_what_the_generator_makes_now() {
    let generated = generate(&config());
    let stale = generated.stale(&root());
    assert!(
        stale.is_empty(),
        "generated files are missing or out of date: {stale:#?}\nrun `cargo xtask dashboards` and commit the result"
    );
    // Deterministic: a second generation is byte-identical.
    assert_eq!(generated, generate(&config()));
}

#[test]
fn bad_settings_name_the_field() {
    let err = AlertConfig::from_toml_str("error_ratio = 0.1\n").unwrap_err();
    assert!(err.to_string().contains("error_ratio"), "{err}");
    let err = AlertConfig::from_toml_str(
        "[[slo]]\nworkflow = \"quote\"\navailability_target = 0.99\nlatency_threshold_seconds = 0.3\nlatency_target = 0.9\n",
    )
    .unwrap_err();
    assert!(
        err.to_string().contains("slo[0].latency_threshold_seconds"),
        "{err}"
    );
    assert!(
        err.to_string().contains("0.25"),
        "the error lists the allowed bounds: {err}"
    );
    let err = AlertConfig::from_toml_str("llm_cost_budget_usd_per_hour = -1\n").unwrap_err();
    assert!(
        err.to_string().contains("llm_cost_budget_usd_per_hour"),
        "{err}"
    );
    let twice = "[[slo]]\nworkflow = \"a\"\navailability_target = 0.9\nlatency_threshold_seconds = 0.5\nlatency_target = 0.9\n";
    let err = AlertConfig::from_toml_str(&format!("{twice}{twice}")).unwrap_err();
    assert!(err.to_string().contains("slo[1].workflow"), "{err}");
}

/// The variable names `text` refers to, the ways Grafana interpolates them:
/// `$name`, `${name}`, `${name:format}` and `[[name]]`.
fn variable_references(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let bytes = text.as_bytes();
    let name_at = |start: usize| -> String {
        text[start..]
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect()
    };
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'$' {
            let braced = bytes.get(i + 1) == Some(&b'{');
            let name = name_at(i + 1 + usize::from(braced));
            if !name.is_empty() {
                out.push(name);
            }
        } else if bytes[i..].starts_with(b"[[") {
            let name = name_at(i + 2);
            if !name.is_empty() {
                out.push(name);
            }
        }
        i += 1;
    }
    out
}

/// Every string in a JSON value, with its path.
fn strings<'a>(value: &'a serde_json::Value, path: String, out: &mut Vec<(String, &'a str)>) {
    match value {
        serde_json::Value::String(s) => out.push((path, s)),
        serde_json::Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                strings(item, format!("{path}[{i}]"), out);
            }
        }
        serde_json::Value::Object(map) => {
            for (k, v) in map {
                strings(v, format!("{path}.{k}"), out);
            }
        }
        _ => {}
    }
}

/// Grafana's own variables, always defined.
fn built_in(name: &str) -> bool {
    name.starts_with("__")
}

#[test]
fn every_variable_a_dashboard_refers_to_is_defined_in_that_dashboard() {
    // Grafana leaves an undefined variable as literal text: `$job` in a
    // query of a dashboard without a `job` variable matches nothing, and
    // the panel (or the variable list that uses it) is empty.
    let generated = generate(&config());
    let mut checked = 0;
    for (path, content) in generated.files() {
        if !path.ends_with(".json") {
            continue;
        }
        let dashboard: serde_json::Value = serde_json::from_str(content).unwrap();
        let defined: BTreeSet<String> = dashboard["templating"]["list"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|v| v["name"].as_str().map(str::to_owned))
            .collect();
        let mut texts = Vec::new();
        strings(&dashboard, String::new(), &mut texts);
        for (at, text) in texts {
            for name in variable_references(text) {
                checked += 1;
                assert!(
                    built_in(&name) || defined.contains(&name),
                    "{path}{at} refers to ${name}, which the dashboard does not define (it defines {defined:?}): {text}"
                );
            }
        }
    }
    assert!(checked > 100, "only {checked} references found");
}

#[test]
fn an_undefined_variable_reference_is_caught() {
    // The check above is only as good as its parser: it finds each form.
    assert_eq!(
        variable_references(
            "rate(x{job=~\"$job\", a=\"${workflow:regex}\", b=\"[[model]]\"}[$__rate_interval])"
        ),
        ["job", "workflow", "model", "__rate_interval"]
    );
    assert!(variable_references("{{exporter}} 5$ off").is_empty());
}
