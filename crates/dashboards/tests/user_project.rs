//! The generator as a user's project runs it: the installed binary, the
//! project's own SLO file, an output folder outside this repository, and
//! the output checked by the real `promtool`.

use std::{path::Path, process::Command};

const SLO: &str = r#"
runbook_base_url = "https://wiki.example.com/orders/runbooks"
error_ratio_threshold = 0.02

[[slo]]
workflow = "place_order"
availability_target = 0.995
latency_threshold_seconds = 1.0
latency_target = 0.9

[[slo]]
workflow = "order_history"
availability_target = 0.99
latency_threshold_seconds = 0.25
latency_target = 0.95
"#;

/// Runs the installed binary on the project's SLO file and output folder;
/// with `check`, writing nothing.
fn generator(check: bool, slo: &Path, out: &Path) -> std::process::Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_tta-dashboards"));
    if check {
        cmd.arg("--check");
    }
    cmd.arg("--config")
        .arg(slo)
        .arg("--out")
        .arg(out)
        .output()
        .expect("the tta-dashboards binary runs")
}

fn shown(out: &std::process::Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn promtool(args: &[&str], file: &Path) {
    let out = Command::new(tta_test_support::prometheus_tool("promtool"))
        .args(args)
        .arg(file)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "promtool {args:?} {}:\n{}",
        file.display(),
        shown(&out)
    );
}

#[test]
fn a_user_project_gets_rules_and_dashboards_for_its_own_workflows() {
    let project = std::env::temp_dir().join(format!("tta-user-project-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&project);
    std::fs::create_dir_all(&project).unwrap();
    let slo = project.join("slo.toml");
    std::fs::write(&slo, SLO).unwrap();
    let out_dir = project.join("observability");

    let out = generator(false, &slo, &out_dir);
    assert!(out.status.success(), "{}", shown(&out));

    let rules = out_dir.join("deploy/prometheus/rules");
    let recording = std::fs::read_to_string(rules.join("tta-slo-recording.yml")).unwrap();
    let alerts = std::fs::read_to_string(rules.join("tta-alerts.yml")).unwrap();
    for workflow in ["place_order", "order_history"] {
        assert!(
            recording.contains(&format!("workflow=\"{workflow}\"")),
            "recording rules for {workflow}"
        );
    }
    assert!(
        !recording.contains("workflow=\"quote\""),
        "nothing of this repository's own SLO file"
    );
    assert!(
        alerts.contains("> 0.02"),
        "the project's error-ratio threshold"
    );
    assert!(alerts.contains("https://wiki.example.com/orders/runbooks#"));
    promtool(&["check", "rules"], &rules.join("tta-slo-recording.yml"));
    promtool(&["check", "rules"], &rules.join("tta-alerts.yml"));
    promtool(&["test", "rules"], &rules.join("tests/tta-alerts.test.yml"));

    let dashboards: Vec<_> = std::fs::read_dir(out_dir.join("deploy/grafana/dashboards"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert!(dashboards.len() >= 5, "{dashboards:?}");
    for board in &dashboards {
        let json: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(board).unwrap()).unwrap();
        assert!(json["panels"].as_array().is_some_and(|p| !p.is_empty()));
    }
    assert!(out_dir.join("docs/runbooks.md").exists());

    // --check: current now, stale once the project's SLO file changes.
    let out = generator(true, &slo, &out_dir);
    assert!(out.status.success(), "{}", shown(&out));
    std::fs::write(&slo, SLO.replace("0.995", "0.999")).unwrap();
    let out = generator(true, &slo, &out_dir);
    assert!(!out.status.success());
    assert!(
        shown(&out).contains("tta-slo-recording.yml"),
        "{}",
        shown(&out)
    );

    // A bad SLO file names the file and the field.
    std::fs::write(&slo, SLO.replace("0.995", "1.5")).unwrap();
    let out = generator(false, &slo, &out_dir);
    assert!(!out.status.success());
    assert!(
        shown(&out).contains("availability_target"),
        "{}",
        shown(&out)
    );
    std::fs::remove_dir_all(&project).unwrap();
}
