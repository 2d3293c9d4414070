//! `promtool test rules` unit tests, generated from each alert's cases:
//! for every alert, one test in which it fires (with its labels and
//! annotations) and one in which it stays quiet.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::{
    config::AlertConfig,
    rules::{self, Alert, Case},
};

/// The test file's name under `deploy/prometheus/rules/tests/`.
pub const TEST_FILE: &str = "tta-alerts.test.yml";

/// A promtool test file.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct TestFile {
    /// Rule files, relative to the test file.
    pub rule_files: Vec<String>,
    /// Rule evaluation interval.
    pub evaluation_interval: String,
    /// The tests.
    pub tests: Vec<TestGroup>,
}

/// One test: input series and the alerts expected at a time.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct TestGroup {
    /// The test's name, as promtool reports it.
    pub name: String,
    /// Sample interval of the input series.
    pub interval: String,
    /// Input series.
    pub input_series: Vec<InputSeries>,
    /// Alert checks.
    pub alert_rule_test: Vec<AlertRuleTest>,
}

/// An input series.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct InputSeries {
    /// The series selector, with its labels.
    pub series: String,
    /// Values in promtool's expanding notation.
    pub values: String,
}

/// An alert check.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct AlertRuleTest {
    /// How far into the series the alerts are evaluated (e.g. `30m`).
    pub eval_time: String,
    /// Which alert.
    pub alertname: String,
    /// The alerts expected to fire (empty: none).
    pub exp_alerts: Vec<ExpectedAlert>,
}

/// An expected alert.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ExpectedAlert {
    /// Its labels.
    pub exp_labels: BTreeMap<String, String>,
    /// Its annotations, rendered.
    pub exp_annotations: BTreeMap<String, String>,
}

/// Fills `{{ $labels.x }}` in an annotation template.
fn render(template: &str, labels: &BTreeMap<String, String>) -> String {
    let mut out = template.to_owned();
    for (k, v) in labels {
        out = out.replace(&format!("{{{{ $labels.{k} }}}}"), v);
    }
    out
}

fn group(alert: &Alert, case: &Case, fires: bool) -> TestGroup {
    TestGroup {
        name: format!(
            "{} {}",
            alert.name(),
            if fires { "fires" } else { "stays quiet" }
        ),
        interval: "1m".into(),
        input_series: case
            .series
            .iter()
            .map(|(series, values)| InputSeries {
                series: series.clone(),
                values: values.clone(),
            })
            .collect(),
        alert_rule_test: vec![AlertRuleTest {
            eval_time: case.eval_time.clone(),
            alertname: alert.name().into(),
            exp_alerts: case
                .expect
                .iter()
                .map(|labels| ExpectedAlert {
                    exp_labels: labels.clone(),
                    exp_annotations: alert
                        .rule
                        .annotations
                        .iter()
                        .map(|(k, v)| (k.clone(), render(v, labels)))
                        .collect(),
                })
                .collect(),
        }],
    }
}

/// The test file for `config`'s alerts.
pub fn tests(config: &AlertConfig) -> TestFile {
    TestFile {
        rule_files: vec![
            format!("../{}", rules::RECORDING_FILE),
            format!("../{}", rules::ALERTS_FILE),
        ],
        // Every 5 minutes: the ticket cases span a day of data, and
        // evaluating every minute makes the suite several times slower;
        // every `for` is checked at a time past it either way.
        evaluation_interval: "5m".into(),
        tests: rules::alerts(config)
            .iter()
            .flat_map(|a| [group(a, &a.firing, true), group(a, &a.quiet, false)])
            .collect(),
    }
}
