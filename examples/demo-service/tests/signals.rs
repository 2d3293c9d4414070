//! The demo binary as containers run it: SIGTERM stops it like Ctrl-C, with
//! the queued spans delivered, also as PID 1 of a PID namespace; a second
//! signal during shutdown exits at once; an overload is shed while
//! `/metrics` and `/healthz` keep answering; bad input gets a readable
//! error; a planted secret shows in none of its output.

use std::{
    process::{Command, Stdio},
    time::{Duration, Instant},
};

use tta_test_support::{
    collector::{Behaviour, Collector},
    process::{Process, signal},
};

const DEMO: &str = env!("CARGO_BIN_EXE_tta-demo");

/// Starts `program` (the demo, or a wrapper running it) with the demo's
/// test environment: no console, no Langfuse, metrics on a free port.
fn start_demo(program: &str, args: &[&str], env: &[(&str, String)]) -> Process {
    let mut command = Command::new(program);
    command
        .args(args)
        .env_remove("OTEL_EXPORTER_OTLP_ENDPOINT")
        .env_remove("LANGFUSE_PUBLIC_KEY")
        .env_remove("LANGFUSE_SECRET_KEY")
        .env("TTA_METRICS_ADDR", "127.0.0.1:0")
        .env("TTA_DEMO_NO_CONSOLE", "true")
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())));
    Process::spawn("demo", command)
}

/// Starts the demo binary itself.
fn demo(args: &[&str], env: &[(&str, String)]) -> Process {
    start_demo(DEMO, args, env)
}

/// The number in the final line before `word` (`... 12 spans exported`).
fn number_before(text: &str, word: &str) -> u64 {
    let at = text
        .find(word)
        .unwrap_or_else(|| panic!("no {word:?} in {text}"));
    text[..at]
        .split_whitespace()
        .last()
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no number before {word:?} in {text}"))
}

fn otlp_env(collector: &Collector) -> Vec<(&'static str, String)> {
    vec![
        ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", collector.traces_url()),
        ("TTA_METRICS_ADDR", "127.0.0.1:0".to_owned()),
    ]
}

/// SIGTERM under load: graceful stop, every queued span delivered, and a
/// report that says so.
fn sigterm_delivers_the_queued_spans(demo: &mut Process, collector: &Collector, pid: u32) {
    demo.wait_for("tta demo: API", Duration::from_secs(30));
    let start = Instant::now();
    while collector.spans() == 0 {
        assert!(start.elapsed() < Duration::from_secs(30), "no span arrived");
        std::thread::sleep(Duration::from_millis(100));
    }
    // Queued spans wait for the next batch (every second): signal now.
    signal(pid, "TERM");
    let status = demo.exit(Duration::from_secs(15));
    assert!(status.success(), "{status}: {}", demo.text());
    let last = demo.wait_for("tta demo: stopped", Duration::from_secs(1));
    assert!(demo.text().contains("SIGTERM received"), "{}", demo.text());
    assert!(last.contains("telemetry flushed:"), "{last}");
    let exported = number_before(&last, "spans exported");
    assert_eq!(
        exported,
        collector.spans(),
        "every span the demo says it exported reached the collector"
    );
    assert!(number_before(&last, "requests answered") > 0, "{last}");
}

#[test]
fn sigterm_stops_the_demo_with_its_spans_delivered() {
    let collector = Collector::start(Behaviour::Accept);
    let mut demo = demo(
        &["--listen", "127.0.0.1:0", "--rate", "100"],
        &otlp_env(&collector),
    );
    let pid = demo.child.id();
    sigterm_delivers_the_queued_spans(&mut demo, &collector, pid);
}

#[test]
fn sigterm_stops_the_demo_as_pid_1_of_a_pid_namespace() {
    let collector = Collector::start(Behaviour::Accept);
    let mut demo = start_demo(
        "unshare",
        &[
            "--pid",
            "--fork",
            "--kill-child",
            DEMO,
            "--listen",
            "127.0.0.1:0",
            "--rate",
            "100",
        ],
        &otlp_env(&collector),
    );
    demo.wait_for("tta demo: API", Duration::from_secs(30));
    // The demo is the child of `unshare`, PID 1 inside the namespace.
    let unshare = demo.child.id();
    let children =
        std::fs::read_to_string(format!("/proc/{unshare}/task/{unshare}/children")).unwrap();
    let pid: u32 = children
        .split_whitespace()
        .next()
        .and_then(|p| p.parse().ok())
        .expect("unshare has forked the demo");
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let ns_pid = status
        .lines()
        .find(|l| l.starts_with("NSpid:"))
        .and_then(|l| l.split_whitespace().last())
        .unwrap();
    assert_eq!(ns_pid, "1", "the demo runs as PID 1 of its namespace");
    sigterm_delivers_the_queued_spans(&mut demo, &collector, pid);
}

#[test]
fn a_second_signal_during_shutdown_exits_at_once() {
    // A black hole with a long exporter timeout: the final flush would
    // wait its whole deadline.
    let collector = Collector::start(Behaviour::BlackHole);
    let mut env = otlp_env(&collector);
    env.push(("OTEL_EXPORTER_OTLP_TIMEOUT", "60000".to_owned()));
    let mut demo = demo(&["--listen", "127.0.0.1:0", "--rate", "50"], &env);
    demo.wait_for("tta demo: API", Duration::from_secs(30));
    std::thread::sleep(Duration::from_millis(1500));
    let pid = demo.child.id();
    signal(pid, "TERM");
    demo.wait_for("SIGTERM received: stopping", Duration::from_secs(5));
    let second = Instant::now();
    signal(pid, "INT");
    let status = demo.exit(Duration::from_secs(3));
    assert!(
        second.elapsed() < Duration::from_secs(2),
        "{:?}",
        second.elapsed()
    );
    assert_eq!(status.code(), Some(130), "{}", demo.text());
    assert!(demo.text().contains("exiting now"), "{}", demo.text());
}

#[test]
fn without_a_second_signal_a_stuck_collector_still_lets_the_demo_stop_in_time() {
    let collector = Collector::start(Behaviour::BlackHole);
    let mut env = otlp_env(&collector);
    env.push(("OTEL_EXPORTER_OTLP_TIMEOUT", "60000".to_owned()));
    let mut demo = demo(&["--listen", "127.0.0.1:0", "--rate", "50"], &env);
    demo.wait_for("tta demo: API", Duration::from_secs(30));
    std::thread::sleep(Duration::from_millis(1500));
    let signalled = Instant::now();
    signal(demo.child.id(), "TERM");
    let status = demo.exit(Duration::from_secs(20));
    // Drain (at most 5 s, but requests finish in well under 1 s) plus the
    // 5 s flush deadline, plus a margin.
    assert!(
        signalled.elapsed() < Duration::from_secs(8),
        "{:?}",
        signalled.elapsed()
    );
    assert!(status.success(), "{}", demo.text());
    let last = demo.wait_for("tta demo: stopped", Duration::from_secs(1));
    assert!(!last.contains("flushed"), "{last}");
    assert!(last.contains("telemetry dropped"), "{last}");
}

#[test]
fn an_overload_is_shed_while_metrics_and_health_keep_answering() {
    let collector = Collector::start(Behaviour::Accept);
    let mut demo = demo(
        &["--listen", "127.0.0.1:0", "--rate", "2000"],
        &otlp_env(&collector),
    );
    let metrics = demo.addr_after("metrics http://");
    let pid = demo.child.id();
    let runtime = tta_test_support::runtime();
    let mut max_fds = 0;
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(6) {
        for page in ["metrics", "healthz"] {
            let asked = Instant::now();
            let url = format!("http://{metrics}/{page}");
            let (status, _) = runtime
                .block_on(async {
                    tokio::time::timeout(Duration::from_secs(2), tta_test_support::get(&url)).await
                })
                .unwrap_or_else(|_| panic!("/{page} did not answer within 2 s under overload"));
            assert_eq!(status, 200, "/{page} under overload");
            assert!(asked.elapsed() < Duration::from_secs(2));
        }
        let fds = std::fs::read_dir(format!("/proc/{pid}/fd"))
            .unwrap()
            .count();
        max_fds = max_fds.max(fds);
        std::thread::sleep(Duration::from_millis(250));
    }
    // Bounded: the generator's 256 in flight and the API's 256 at most,
    // each a socket on both ends, plus the process's own.
    assert!(
        max_fds < 1400,
        "{max_fds} file descriptors open under overload"
    );
    signal(pid, "TERM");
    assert!(
        demo.exit(Duration::from_secs(20)).success(),
        "{}",
        demo.text()
    );
    let last = demo.wait_for("tta demo: stopped", Duration::from_secs(1));
    let shed = number_before(&last, "shed by the API");
    let skipped = number_before(&last, "not sent");
    assert!(
        shed + skipped > 0,
        "a rate the machine cannot serve is shed or skipped: {last}"
    );
}

#[test]
fn bad_input_gets_a_readable_error_naming_the_setting() {
    let run = |args: &[&str], env: &[(&str, String)]| {
        let mut demo = demo(args, env);
        let status = demo.exit(Duration::from_secs(20));
        (status, demo.text())
    };
    let (status, text) = run(&["--rate", "99999"], &[]);
    assert!(!status.success());
    assert!(text.contains("--rate") && text.contains("99999"), "{text}");

    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let (status, text) = run(
        &["--listen", "127.0.0.1:0"],
        &[("TTA_METRICS_ADDR", taken.local_addr().unwrap().to_string())],
    );
    assert!(!status.success());
    assert!(
        text.contains("error: cannot listen") && text.contains("TTA_METRICS_ADDR"),
        "{text}"
    );
    assert!(
        !text.contains("Bind {") && !text.contains("source:"),
        "a Debug struct: {text}"
    );

    let (status, text) = run(
        &["--listen", "127.0.0.1:0"],
        &[("LANGFUSE_SECRET_KEY", "sk-lf-only-one".to_owned())],
    );
    assert!(!status.success());
    assert!(text.contains("LANGFUSE_PUBLIC_KEY"), "{text}");
    assert!(!text.contains("sk-lf-only-one"), "{text}");

    let (status, text) = run(
        &["--listen", "127.0.0.1:0"],
        &[
            ("OTEL_EXPORTER_OTLP_TIMEOUT", "99999999".to_owned()),
            (
                "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
                "http://127.0.0.1:9/v1/traces".to_owned(),
            ),
        ],
    );
    assert!(!status.success());
    assert!(text.contains("OTEL_EXPORTER_OTLP_TIMEOUT"), "{text}");
}

#[test]
fn a_planted_secret_shows_in_none_of_the_demos_output() {
    const SECRET: &str = "pl4nted-demo-S3CRET";
    let mut demo = Command::new(DEMO)
        .args([
            "--listen",
            "127.0.0.1:0",
            "--rate",
            "20",
            "--duration",
            "2",
            "--no-console",
        ])
        .env("TTA_METRICS_ADDR", "127.0.0.1:0")
        .env(
            "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
            format!("http://127.0.0.1:9/v1/traces?api_key={SECRET}"),
        )
        .env(
            "OTEL_EXPORTER_OTLP_HEADERS",
            format!("authorization=Bearer%20{SECRET}"),
        )
        .env("LANGFUSE_PUBLIC_KEY", format!("pk-{SECRET}"))
        .env("LANGFUSE_SECRET_KEY", format!("sk-{SECRET}"))
        .env("LANGFUSE_BASE_URL", "http://127.0.0.1:9")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let started = Instant::now();
    while demo.try_wait().unwrap().is_none() {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "the demo did not stop"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let output = demo.wait_with_output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(output.status.success(), "{text}");
    assert!(
        text.contains("api_key=***"),
        "the banner shows the masked endpoint: {text}"
    );
    assert!(
        !text.contains(SECRET) && !text.contains("pl4nted"),
        "{text}"
    );
}

#[test]
fn the_demos_console_shows_its_traces_in_process() {
    let mut demo = start_demo(
        DEMO,
        &[
            "--listen",
            "127.0.0.1:0",
            "--rate",
            "50",
            "--console-ui",
            "127.0.0.1:0",
            "--console-in-memory",
        ],
        &[
            ("TTA_DEMO_NO_CONSOLE", "false".to_owned()),
            ("OTEL_TRACES_EXPORTER", "none".to_owned()),
        ],
    );
    let first = demo.wait_for("tta demo: console http://", Duration::from_secs(30));
    assert!(
        demo.text()
            .lines()
            .next()
            .unwrap()
            .contains("console http://"),
        "the console's URL comes first: {}",
        demo.text()
    );
    let ui = first
        .split("console http://")
        .nth(1)
        .and_then(|rest| rest.split([' ', '/']).next())
        .unwrap()
        .to_owned();
    let runtime = tta_test_support::runtime();
    let traces = runtime.block_on(tta_test_support::eventually(
        "the demo's traces in its console",
        Duration::from_secs(30),
        || {
            let url = format!("http://{ui}/api/traces?workflow=quote");
            async move {
                let (status, body) = tta_test_support::get(&url).await;
                let page: serde_json::Value = serde_json::from_str(&body).ok()?;
                let n = page["traces"].as_array()?.len();
                (status == 200 && n >= 5).then_some(n)
            }
        },
    ));
    assert!(traces >= 5);
    signal(demo.child.id(), "TERM");
    assert!(
        demo.exit(Duration::from_secs(20)).success(),
        "{}",
        demo.text()
    );
}
