//! Prometheus text exposition read back with the reference parser (Python
//! `prometheus_client`, in the test venv).

use std::{
    collections::BTreeMap,
    io::Write,
    process::{Command, Stdio},
};

/// One parsed sample: name, labels, value.
pub type Sample = (String, BTreeMap<String, String>, f64);

/// Parses exposition text with the reference parser, failing the test on a
/// parse error.
///
/// # Panics
/// When the parser rejects the text or the test venv is missing.
pub fn parse_exposition(text: &str) -> Vec<Sample> {
    let python = crate::test_python();
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/src/parse_exposition.py");
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
        .expect("stdin is piped")
        .write_all(text.as_bytes())
        .expect("the parser reads its input");
    let out = child.wait_with_output().expect("the parser runs");
    assert!(
        out.status.success(),
        "the reference parser rejected the exposition: {}\n---\n{text}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("the parser prints JSON")
}

/// The value of the one sample `name` whose labels include `labels`.
///
/// # Panics
/// When the labels match several samples: the query is ambiguous.
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
