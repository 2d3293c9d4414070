//! Shared set-up of the integration tests: a real Prometheus recorder and
//! the reference exposition parser.
#![allow(dead_code, unreachable_pub)]

use std::{
    collections::BTreeMap,
    io::Write,
    process::{Command, Stdio},
    sync::OnceLock,
};

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use tta_primitives_obs::catalogue::Catalogue;

/// The process-wide Prometheus recorder, with the catalogue's buckets.
pub fn prometheus() -> &'static PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE.get_or_init(|| {
        let mut builder = PrometheusBuilder::new();
        for (name, buckets) in Catalogue::global().histogram_buckets() {
            builder = builder
                .set_buckets_for_metric(Matcher::Full(name.to_owned()), buckets)
                .expect("catalogue buckets are valid");
        }
        let recorder = builder.build_recorder();
        let handle = recorder.handle();
        metrics::set_global_recorder(recorder).expect("the only recorder of this test binary");
        Catalogue::global().describe_all();
        handle
    })
}

/// One parsed sample: name, labels, value.
pub type Sample = (String, BTreeMap<String, String>, f64);

/// Parses exposition text with the reference parser (Python
/// `prometheus_client`), failing the test on a parse error.
pub fn parse_exposition(text: &str) -> Vec<Sample> {
    let python = tta_test_support::test_python();
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/support/parse_exposition.py"
    );
    let mut child = Command::new(&python)
        .arg(script)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| {
            panic!(
                "cannot run the test venv's Python at {} ({e}). Run `cargo xtask ci`, which creates it, \
                 or: python3 -m venv ~/.cache/tta/test-venv && ~/.cache/tta/test-venv/bin/pip install prometheus-client \
                 (or point TTA_TEST_PYTHON at a Python that has prometheus_client)",
                python.display()
            )
        });
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "the reference parser rejected the exposition: {}\n---\n{text}",
        String::from_utf8_lossy(&out.stderr)
    );
    let raw: Vec<(String, BTreeMap<String, String>, f64)> =
        serde_json::from_slice(&out.stdout).expect("the parser prints JSON");
    raw
}

/// The value of the one sample `name` whose labels include `labels`
/// (panics when the labels match several samples: the query is ambiguous).
pub fn value(samples: &[Sample], name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    let mut matching = samples.iter().filter(|(n, l, _)| {
        n == name
            && labels
                .iter()
                .all(|(k, v)| l.get(*k).map(String::as_str) == Some(*v))
    });
    let found = matching.next().map(|(_, _, v)| *v);
    assert!(
        matching.next().is_none(),
        "{name} {labels:?} matches several samples"
    );
    found
}
