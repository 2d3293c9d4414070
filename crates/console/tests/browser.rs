//! The console as a person uses it, in headless Chromium (Debian's
//! `chromium` and `chromium-driver`, which the test command installs),
//! against a console fed by the demo's workflow through
//! `opentelemetry-otlp`'s own batch exporter. Screenshots of each view go
//! to `target/console-screenshots/`.

use std::{
    path::PathBuf,
    process::{Child, Command, Stdio},
    time::Duration,
};

use fantoccini::{Client, ClientBuilder, Locator};
use opentelemetry::KeyValue;
use opentelemetry_otlp::WithExportConfig;
use opentelemetry_sdk::{Resource, trace::SdkTracerProvider};
use tower::ServiceExt;
use tta_console::{Console, ConsoleConfig, store::StoreConfig};
use tta_primitives_core::{Request, WorkflowContext};

const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
const CHROMIUM: &str = "/usr/bin/chromium";

/// Chromedriver, and the browser it started (found by its profile folder):
/// both end with the test, even when it fails before closing the session.
struct Driver(Child, PathBuf);

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
        let _ = Command::new("pkill")
            .args(["-f", &format!("--user-data-dir={}", self.1.display())])
            .status();
        let _ = std::fs::remove_dir_all(&self.1);
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

async fn browser() -> (Driver, Client) {
    for (path, package) in [(CHROMEDRIVER, "chromium-driver"), (CHROMIUM, "chromium")] {
        assert!(
            std::path::Path::new(path).exists(),
            "{path} is missing: install Debian's {package} (apt-get install chromium chromium-driver; `cargo xtask setup` does)"
        );
    }
    let port = free_port();
    let data_dir = std::env::temp_dir().join(format!("tta-chromium-{}", std::process::id()));
    let driver = Driver(
        Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver starts"),
        data_dir.clone(),
    );
    let url = format!("http://127.0.0.1:{port}");
    tta_test_support::eventually("chromedriver to answer", Duration::from_secs(30), || {
        let status = format!("{url}/status");
        async move {
            tta_test_support::try_get(&status)
                .await
                .ok()
                .filter(|(s, _)| *s == 200)
        }
    })
    .await;
    let mut caps = serde_json::Map::new();
    caps.insert(
        "goog:chromeOptions".into(),
        serde_json::json!({
            "binary": CHROMIUM,
            "args": [
                "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--disable-dev-shm-usage", "--window-size=1400,1000",
                format!("--user-data-dir={}", data_dir.display()),
            ],
        }),
    );
    let client = ClientBuilder::rustls()
        .expect("a TLS-capable client")
        .capabilities(caps)
        .connect(&url)
        .await
        .expect("a WebDriver session");
    (driver, client)
}

fn screenshots() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/console-screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

async fn screenshot(client: &Client, name: &str) {
    let png = client.screenshot().await.unwrap();
    std::fs::write(screenshots().join(format!("{name}.png")), png).unwrap();
}

/// Polls `check` until it holds (the shared helper, with this test's bound).
async fn wait<T, F: std::future::Future<Output = Option<T>>>(
    what: &str,
    check: impl FnMut() -> F,
) -> T {
    tta_test_support::eventually(what, Duration::from_secs(20), check).await
}

/// The visible text of every element matching `css` (`None` while the page
/// is changing under the query).
async fn texts(client: &Client, css: &str) -> Option<Vec<String>> {
    let mut out = Vec::new();
    for element in client.find_all(Locator::Css(css)).await.ok()? {
        out.push(element.text().await.ok()?);
    }
    Some(out)
}

/// The visible text of the element matching `css`.
async fn text_of(client: &Client, css: &str) -> String {
    client
        .find(Locator::Css(css))
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

async fn count(client: &Client, css: &str) -> usize {
    client
        .find_all(Locator::Css(css))
        .await
        .map_or(0, |v| v.len())
}

async fn run_demo(times: u64) {
    let quote = tta_demo::quote_workflow().unwrap();
    for i in 0..times {
        let items = 1 + i % 29;
        let _ = quote
            .clone()
            .oneshot(Request::new(WorkflowContext::new("quote"), items))
            .await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_person_sees_the_demos_workflows_and_llm_calls() {
    let console = Console::start(ConsoleConfig {
        ui_addr: "127.0.0.1:0".parse().unwrap(),
        otlp_http_addr: Some("127.0.0.1:0".parse().unwrap()),
        otlp_grpc_addr: None,
        store: StoreConfig::default(),
        ..ConsoleConfig::default()
    })
    .await
    .unwrap();
    // The demo's workflow, traced through opentelemetry-otlp's exporter.
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_endpoint(format!(
            "http://{}/v1/traces",
            console.otlp_http_addr().unwrap()
        ))
        .build()
        .unwrap();
    let processor = opentelemetry_sdk::trace::BatchSpanProcessor::builder(exporter)
        .with_batch_config(
            opentelemetry_sdk::trace::BatchConfigBuilder::default()
                .with_scheduled_delay(Duration::from_millis(200))
                .build(),
        )
        .build();
    let provider = SdkTracerProvider::builder()
        .with_span_processor(processor)
        .with_resource(
            Resource::builder_empty()
                .with_attributes([KeyValue::new("service.name", "tta-demo")])
                .build(),
        )
        .build();
    opentelemetry::global::set_tracer_provider(provider.clone());
    run_demo(30).await;
    provider.force_flush().unwrap();
    wait("the first traces", || async {
        (console.store().stats().traces >= 30).then_some(())
    })
    .await;

    let (_driver, client) = browser().await;
    client.goto(&console.ui_url()).await.unwrap();
    let first = wait("the trace list", || async {
        let n = count(&client, "tr.trace-row").await;
        (n >= 30).then_some(n)
    })
    .await;
    screenshot(&client, "trace-list").await;

    // New traces appear without a reload.
    run_demo(10).await;
    provider.force_flush().unwrap();
    wait("new traces to appear live", || async {
        (count(&client, "tr.trace-row").await >= first + 10).then_some(())
    })
    .await;

    // A filter narrows the list.
    let all = count(&client, "tr.trace-row").await;
    client
        .find(Locator::Css("#filter-status"))
        .await
        .unwrap()
        .select_by_value("error")
        .await
        .unwrap();
    let errors = wait("the error filter", || async {
        let rows = texts(&client, "tr.trace-row").await?;
        (rows.len() < all && rows.iter().all(|t| !t.contains(" ok"))).then_some(rows.len())
    })
    .await;
    assert!(errors < all);
    screenshot(&client, "trace-list-errors").await;

    // A trace with a retried step: attempts nest under their retry node.
    let retried = console
        .store()
        .traces(&tta_console::store::TraceQuery {
            attr: Some("tta.retry.attempt=2".into()),
            ..Default::default()
        })
        .traces
        .into_iter()
        .find(|t| t.root_name.contains("quote"))
        .expect("a demo trace with a second tax attempt");
    let spans = console.store().trace(&retried.trace_id).unwrap();
    let retry = spans.iter().find(|s| s.name == "tax_retry").unwrap();
    let second = spans
        .iter()
        .find(|s| s.attr_str("tta.retry.attempt").as_deref() == Some("2"))
        .unwrap();
    client
        .goto(&format!("{}#/trace/{}", console.ui_url(), retried.trace_id))
        .await
        .unwrap();
    let row = wait("the waterfall", || async {
        client
            .find(Locator::Css(&format!(
                ".wf-row[data-span='{}']",
                second.span_id
            )))
            .await
            .ok()
    })
    .await;
    assert_eq!(
        row.attr("data-parent").await.unwrap().as_deref(),
        Some(retry.span_id.as_str())
    );
    let text = row.text().await.unwrap();
    assert!(
        text.contains("attempt 2") && text.contains("backoff"),
        "{text}"
    );
    let rendered = count(&client, ".wf-row").await;
    assert_eq!(rendered, spans.len(), "one row per span");
    // The LLM span sits under its step.
    if let Some(llm) = spans.iter().find(|s| s.is_llm()) {
        let step = spans
            .iter()
            .find(|s| Some(&s.span_id) == llm.parent_span_id.as_ref())
            .unwrap();
        assert_eq!(step.name, "llm_call");
        let llm_row = client
            .find(Locator::Css(&format!(
                ".wf-row[data-span='{}']",
                llm.span_id
            )))
            .await
            .unwrap();
        assert_eq!(
            llm_row.attr("data-parent").await.unwrap(),
            Some(step.span_id.clone())
        );
    }
    row.click().await.unwrap();
    let detail = text_of(&client, "#detail").await;
    assert!(detail.contains("tta.retry.attempt"), "{detail}");
    screenshot(&client, "trace-waterfall").await;

    // The LLM view: the demo's model with the tokens and cost its spans carry.
    let all_llm = console.store().llm_spans(5000);
    let model = all_llm
        .iter()
        .find(|s| s.status != "error")
        .and_then(|s| s.attr_str("gen_ai.response.model"))
        .expect("an answered LLM call");
    let input: f64 = all_llm
        .iter()
        .filter(|s| s.attr_str("gen_ai.response.model").as_deref() == Some(model.as_str()))
        .map(|s| s.attr_f64("gen_ai.usage.input_tokens").unwrap_or(0.0))
        .sum();
    client
        .goto(&format!("{}#/llm", console.ui_url()))
        .await
        .unwrap();
    let models = wait("the per-model totals", || async {
        let text = client
            .find(Locator::Css("#llm-models"))
            .await
            .ok()?
            .text()
            .await
            .ok()?;
        text.contains(&model).then_some(text)
    })
    .await;
    let line = models.lines().find(|l| l.contains(&model)).unwrap();
    assert!(
        line.contains(&format!(" {input} ")),
        "{line} has {input} input tokens"
    );
    assert!(line.contains('$'), "{line} shows a cost");
    screenshot(&client, "llm").await;

    // Compare: a trace with a second tax attempt against one without.
    let plain = console
        .store()
        .traces(&tta_console::store::TraceQuery {
            workflow: Some("quote".into()),
            limit: Some(500),
            ..Default::default()
        })
        .traces
        .into_iter()
        .find(|t| {
            console.store().trace(&t.trace_id).is_some_and(|spans| {
                spans
                    .iter()
                    .all(|s| s.attr_str("tta.retry.attempt").as_deref() != Some("2"))
            })
        })
        .expect("a trace without a retry");
    client
        .goto(&format!(
            "{}#/compare/{}/{}",
            console.ui_url(),
            retried.trace_id,
            plain.trace_id
        ))
        .await
        .unwrap();
    let only_a = wait("the comparison", || async {
        let rows = texts(&client, "tr.diff-only-a").await?;
        (!rows.is_empty()).then_some(rows.join("\n"))
    })
    .await;
    assert!(only_a.contains("tax_service #2"), "{only_a}");
    screenshot(&client, "compare").await;

    // The workflow overview: a latency bucket of a primitive lists exactly
    // the traces with such a span.
    client
        .goto(&format!("{}#/overview", console.ui_url()))
        .await
        .unwrap();
    let tax_row = wait("the overview", || async {
        client
            .find(Locator::Css(
                "tr.overview-row[data-workflow='quote'][data-primitive='tax_service']",
            ))
            .await
            .ok()
    })
    .await;
    screenshot(&client, "overview").await;
    let buckets = tax_row
        .find_all(Locator::Css(".latency-chart a"))
        .await
        .unwrap();
    let mut chosen = None;
    for (i, bucket) in buckets.iter().enumerate() {
        let tip = bucket
            .find(Locator::Css("title"))
            .await
            .unwrap()
            .html(true)
            .await
            .unwrap();
        let n: usize = tip.split(' ').next().unwrap().parse().unwrap();
        if n > 0 {
            chosen = Some((i, bucket.clone()));
            break;
        }
    }
    let (index, bucket) = chosen.expect("a latency bucket with spans");
    let (lo, hi) = {
        let b = tta_console::overview::LATENCY_BUCKETS_MS;
        (
            if index == 0 { 0.0 } else { b[index - 1] },
            b.get(index).copied().unwrap_or(f64::INFINITY),
        )
    };
    bucket
        .find(Locator::Css("rect.hit"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let expected: std::collections::BTreeSet<String> = console
        .store()
        .traces(&tta_console::store::TraceQuery {
            limit: Some(500),
            ..Default::default()
        })
        .traces
        .into_iter()
        .filter(|t| {
            console.store().trace(&t.trace_id).is_some_and(|spans| {
                spans.iter().any(|s| {
                    let ms = s.duration_ns() as f64 / 1e6;
                    s.attr_str("tta.primitive.name").as_deref() == Some("tax_service")
                        && ms >= lo
                        && ms < hi
                })
            })
        })
        .map(|t| t.trace_id)
        .collect();
    let listed = wait("the bucket's traces", || async {
        let rows = client.find_all(Locator::Css("tr.trace-row")).await.ok()?;
        let mut ids = std::collections::BTreeSet::new();
        for row in rows {
            ids.insert(row.attr("data-trace").await.ok()??);
        }
        (ids == expected).then_some(ids)
    })
    .await;
    assert!(!listed.is_empty());
    screenshot(&client, "overview-bucket-traces").await;

    // Markup in a value is shown as text and never runs.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64;
    let payload = "<img src=x onerror=\"window.__xss=1\"><script>window.__xss=2</script>";
    let trace_id = "7b8efff798038103d269b633813fc60c";
    let body = serde_json::json!({"resourceSpans": [{
        "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "<b>svc</b>"}}]},
        "scopeSpans": [{"spans": [{
            "traceId": trace_id, "spanId": "aee19b7ec3c1b174", "name": payload,
            "startTimeUnixNano": now.to_string(), "endTimeUnixNano": (now + 100_000_000).to_string(),
            "attributes": [{"key": "user.note", "value": {"stringValue": payload}}]
        }]}]
    }]});
    let response = reqwest::Client::new()
        .post(format!(
            "http://{}/v1/traces",
            console.otlp_http_addr().unwrap()
        ))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    client
        .goto(&format!("{}#/trace/{trace_id}", console.ui_url()))
        .await
        .unwrap();
    let row = wait("the markup trace", || async {
        client.find(Locator::Css(".wf-row")).await.ok()
    })
    .await;
    row.click().await.unwrap();
    let detail = text_of(&client, "#detail").await;
    assert!(
        detail.contains(payload),
        "the value is shown as text: {detail}"
    );
    assert_eq!(count(&client, "#view img").await, 0);
    assert_eq!(count(&client, "#view script").await, 0);
    let xss = client
        .execute("return window.__xss === undefined", vec![])
        .await
        .unwrap();
    assert_eq!(xss, serde_json::json!(true), "nothing ran");

    // A 1,000-span trace renders without a long task over 200 ms.
    let big = "8b8efff798038103d269b633813fc60c";
    let spans: Vec<serde_json::Value> = (0..1000u64)
        .map(|i| {
            serde_json::json!({
                "traceId": big, "spanId": format!("{:016x}", i + 1),
                "parentSpanId": if i == 0 { String::new() } else { format!("{:016x}", (i - 1) / 4 + 1) },
                "name": format!("step_{i}"),
                "startTimeUnixNano": (now + i * 1000).to_string(),
                "endTimeUnixNano": (now + i * 1000 + 500_000).to_string(),
                "attributes": [{"key": "tta.primitive.type", "value": {"stringValue": "lambda"}}]
            })
        })
        .collect();
    let body = serde_json::json!({"resourceSpans": [{"scopeSpans": [{"spans": spans}]}]});
    reqwest::Client::new()
        .post(format!(
            "http://{}/v1/traces",
            console.otlp_http_addr().unwrap()
        ))
        .json(&body)
        .send()
        .await
        .unwrap();
    client
        .goto(&format!("{}#/traces", console.ui_url()))
        .await
        .unwrap();
    client
        .execute(
            "window.__long = 0; new PerformanceObserver((l) => { for (const e of l.getEntries()) window.__long = Math.max(window.__long, e.duration); }).observe({type: 'longtask', buffered: true}); location.hash = arguments[0]; return true;",
            vec![serde_json::json!(format!("#/trace/{big}"))],
        )
        .await
        .unwrap();
    wait("the 1000-span waterfall", || async {
        (count(&client, ".wf-row").await == 1000).then_some(())
    })
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let longest = client
        .execute("return window.__long", vec![])
        .await
        .unwrap();
    let longest = longest.as_f64().unwrap_or(0.0);
    eprintln!("1000-span waterfall: longest task {longest:.0} ms");
    assert!(longest < 200.0, "a long task of {longest} ms");
    screenshot(&client, "waterfall-1000").await;
    client.close().await.unwrap();
    let _ = provider.shutdown();
}
