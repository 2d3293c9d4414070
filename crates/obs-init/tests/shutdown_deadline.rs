//! `ObservabilityGuard::shutdown` and the guard's drop keep their deadline,
//! and the process exits right after, whatever the collector does: refuses
//! connections, answers 429 or 500, or black-holes exports under a 60 s
//! exporter timeout (over HTTP and gRPC, on both runtime flavours). The
//! report tells the truth: "flushed" only when everything was delivered.
//!
//! Each scenario runs in a process of its own (one global `metrics`
//! recorder per process), this binary re-run with `TTA_SHUTDOWN_SCENARIO`
//! set; the parent checks what each child printed and how long it took to
//! exit. Runs without libtest (`harness = false`) for that reason.

#![allow(clippy::print_stdout)] // the summary line and the child's report go to stdout

use std::{
    io::{BufRead, BufReader},
    process::{Command, Stdio},
    time::{Duration, Instant},
};

use tower::ServiceExt;
use tta_obs_init::{ObservabilityConfig, initialize_observability};
use tta_primitives_core::{Request, WorkflowContext, WorkflowError, prelude::*};
use tta_primitives_obs::InstrumentExt;
use tta_test_support::collector::{Behaviour, Collector};

/// The deadline every scenario gives its shutdown.
const DEADLINE: Duration = Duration::from_millis(1500);
/// The margin the guarantee allows past the deadline.
const MARGIN: Duration = Duration::from_millis(300);
/// How long dropping the guard may wait (its documented bound).
const DROP_BOUND: Duration = Duration::from_secs(2);
/// Spans each scenario produces.
const SPANS: u32 = 3000;

const SCENARIOS: &[&str] = &[
    "accept",
    "refuse",
    "http_429",
    "http_500",
    "black_hole_http",
    "black_hole_grpc",
    "black_hole_current_thread",
    "drop_black_hole",
];

fn main() {
    if let Ok(scenario) = std::env::var("TTA_SHUTDOWN_SCENARIO") {
        child(&scenario);
        return;
    }
    let mut failed = Vec::new();
    for scenario in SCENARIOS {
        match parent(scenario) {
            Ok(()) => eprintln!("scenario {scenario}: ok"),
            Err(why) => {
                eprintln!("scenario {scenario}: FAILED: {why}");
                failed.push(*scenario);
            }
        }
    }
    println!(
        "shutdown_deadline: {} passed, {} failed",
        SCENARIOS.len() - failed.len(),
        failed.len()
    );
    if !failed.is_empty() {
        std::process::exit(1);
    }
}

/// Runs `scenario` in a child process and checks it.
fn parent(scenario: &str) -> Result<(), String> {
    let started = Instant::now();
    let mut child = Command::new(std::env::current_exe().map_err(|e| e.to_string())?)
        .env("TTA_SHUTDOWN_SCENARIO", scenario)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(|e| e.to_string())?;
    let stdout = child.stdout.take().expect("piped");
    let mut report = None;
    let mut reported_at = None;
    for line in BufReader::new(stdout).lines() {
        let line = line.map_err(|e| e.to_string())?;
        if let Some(rest) = line.strip_prefix("REPORT ") {
            report = Some(rest.to_owned());
            reported_at = Some(Instant::now());
        }
    }
    let status = child.wait().map_err(|e| e.to_string())?;
    let exited_after = reported_at.map(|at| at.elapsed());
    if !status.success() {
        return Err(format!("the child failed ({status})"));
    }
    if started.elapsed() > Duration::from_secs(30) {
        return Err(format!("the child ran {:?}", started.elapsed()));
    }
    let report = report.ok_or("the child printed no report")?;
    let field = |name: &str| -> Result<u64, String> {
        report
            .split(' ')
            .find_map(|kv| kv.strip_prefix(&format!("{name}=")))
            .and_then(|v| v.parse().ok())
            .ok_or_else(|| format!("no {name} in {report}"))
    };
    let took = Duration::from_millis(field("took_ms")?);
    let bound = if scenario.starts_with("drop_") {
        DROP_BOUND + MARGIN
    } else {
        DEADLINE + MARGIN
    };
    if took > bound {
        return Err(format!("shutdown took {took:?}, over {bound:?}: {report}"));
    }
    // The runtime and the process end right after: nothing waits on a
    // stuck export thread.
    if let Some(after) = exited_after
        && after > Duration::from_secs(1)
    {
        return Err(format!("the process exited {after:?} after its shutdown"));
    }
    if scenario.starts_with("drop_") {
        return Ok(());
    }
    let text = report.split_once("text=").map_or("", |(_, t)| t);
    let (exported, dropped, collected) =
        (field("exported")?, field("dropped")?, field("collected")?);
    if scenario == "accept" {
        // Each execution is two spans: the workflow's and its step's.
        if dropped != 0 || exported != 2 * u64::from(SPANS) || collected != exported {
            return Err(format!("a healthy collector must get every span: {report}"));
        }
        if !text.starts_with("flushed:") {
            return Err(format!("the report should say flushed: {report}"));
        }
    } else {
        if dropped == 0 || exported + dropped < u64::from(SPANS) {
            return Err(format!(
                "undelivered spans must be counted as dropped: {report}"
            ));
        }
        if text.contains("flushed") || !text.starts_with("dropped ") {
            return Err(format!("the report must not claim a flush: {report}"));
        }
    }
    Ok(())
}

/// Produces spans against a collector behaving as `scenario` says, then
/// shuts down (or drops the guard) and prints the report.
fn child(scenario: &str) {
    let current_thread = scenario.ends_with("current_thread");
    let runtime = if current_thread {
        tokio::runtime::Builder::new_current_thread()
    } else {
        tokio::runtime::Builder::new_multi_thread()
    }
    .enable_all()
    .build()
    .expect("a runtime");
    runtime.block_on(async {
        let behaviour = match scenario {
            "accept" => Some(Behaviour::Accept),
            "http_429" => Some(Behaviour::Status(429)),
            "http_500" => Some(Behaviour::Status(500)),
            "black_hole_http" | "black_hole_current_thread" | "drop_black_hole" => {
                Some(Behaviour::BlackHole)
            }
            _ => None,
        };
        let collector = behaviour.map(Collector::start);
        let builder = ObservabilityConfig::builder("shutdown-service")
            .without_metrics_endpoint()
            .span_queue(10_000, Duration::from_millis(100))
            // An exporter timeout far beyond the shutdown deadline.
            .otlp_timeout(Duration::from_secs(60));
        let builder = match (scenario, &collector) {
            ("black_hole_grpc", _) => {
                let hole = tta_test_support::black_hole();
                builder.otlp_grpc(&format!("http://{hole}"), &[])
            }
            (_, Some(collector)) => builder.otlp_http(&collector.traces_url(), &[]),
            (_, None) => {
                // Refused: a port nobody listens on.
                let free = std::net::TcpListener::bind("127.0.0.1:0")
                    .unwrap()
                    .local_addr()
                    .unwrap();
                builder.otlp_http(&format!("http://{free}/v1/traces"), &[])
            }
        };
        let guard = initialize_observability(builder.unwrap().build().unwrap()).unwrap();
        let wf = lambda(|x: u32| async move { Ok::<_, WorkflowError>(x + 1) })
            .named("step")
            .instrumented();
        for i in 0..SPANS {
            wf.clone()
                .oneshot(Request::new(WorkflowContext::new("deadline"), i))
                .await
                .unwrap();
        }
        // Let the first exports reach the collector (and get stuck there).
        tokio::time::sleep(Duration::from_millis(300)).await;
        let started = Instant::now();
        let report = if scenario.starts_with("drop_") {
            // Dropping reports nothing: only its bound is checked.
            drop(guard);
            format!("took_ms={}", started.elapsed().as_millis())
        } else {
            let report = guard.shutdown(DEADLINE).await;
            let took = started.elapsed();
            format!(
                "took_ms={} exported={} dropped={} collected={} text={report}",
                took.as_millis(),
                report.exported,
                report.dropped,
                collector.as_ref().map_or(0, Collector::spans),
            )
        };
        println!("REPORT {report}");
    });
    // An ordinary drop, as `#[tokio::main]` does: it must not wait for a
    // thread stuck on the collector.
    drop(runtime);
}
