//! A planted secret never reaches a string a person reads: errors (their
//! `Display` and `Debug`), `Debug` of the configuration, the settings'
//! `Display` (what banners print), warnings, `/healthz` and the shutdown
//! report, through every form the parsers see it in.

use std::time::Duration;

use opentelemetry_sdk::{
    error::{OTelSdkError, OTelSdkResult},
    trace::{SpanData, SpanExporter},
};
use tower::ServiceExt;
use tta_obs_init::{ObservabilityConfig, SpanDestination, SpanSelection, initialize_observability};
use tta_primitives_core::{Request, WorkflowContext, WorkflowError, prelude::*};
use tta_primitives_obs::InstrumentExt;
use tta_test_support::{eventually, get};

const SECRET: &str = "pl4nted-S3CRET-value";

fn vars(pairs: Vec<(&'static str, String)>) -> impl Fn(&str) -> Option<String> {
    move |name| {
        pairs
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.clone())
    }
}

fn assert_clean(what: &str, text: &str) {
    assert!(!text.contains(SECRET), "the secret shows in {what}: {text}");
    assert!(
        !text.contains("pl4nted"),
        "part of the secret shows in {what}: {text}"
    );
}

/// An exporter whose failures quote the credentials it was given, as some
/// HTTP clients' errors quote a URL.
#[derive(Debug)]
struct Quoting;

impl SpanExporter for Quoting {
    async fn export(&self, _batch: Vec<SpanData>) -> OTelSdkResult {
        Err(OTelSdkError::InternalFailure(format!(
            "401 from http://collector/v1/traces?token={SECRET} with authorization Basic {SECRET}"
        )))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_planted_secret_shows_nowhere() {
    // Refused settings: each error, in both forms.
    let refused: Vec<Vec<(&'static str, String)>> = vec![
        vec![(
            "OTEL_EXPORTER_OTLP_ENDPOINT",
            format!("http://user:{SECRET}@collector:4318"),
        )],
        vec![(
            "OTEL_EXPORTER_OTLP_ENDPOINT",
            format!("http://{SECRET}@collector:4318"),
        )],
        vec![
            (
                "OTEL_EXPORTER_OTLP_ENDPOINT",
                "http://collector:4318".into(),
            ),
            (
                "OTEL_EXPORTER_OTLP_HEADERS",
                format!("Authorization: Basic {SECRET}="),
            ),
        ],
        vec![
            (
                "OTEL_EXPORTER_OTLP_ENDPOINT",
                "http://collector:4318".into(),
            ),
            (
                "OTEL_EXPORTER_OTLP_HEADERS",
                format!("authorization=Basic {SECRET}%ZZ"),
            ),
        ],
        vec![
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc".into()),
            (
                "OTEL_EXPORTER_OTLP_ENDPOINT",
                "http://collector:4317".into(),
            ),
            ("OTEL_EXPORTER_OTLP_HEADERS", format!("x-key-bin={SECRET}")),
        ],
        vec![
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc".into()),
            (
                "OTEL_EXPORTER_OTLP_ENDPOINT",
                format!("https://collector:4317/?key={SECRET}"),
            ),
        ],
        vec![(
            "TTA_PUSHGATEWAY_URL",
            format!("http://ops:{SECRET}@gateway:9091"),
        )],
        vec![(
            "TTA_PUSHGATEWAY_URL",
            format!("http://gateway:9091/?auth={SECRET}"),
        )],
    ];
    for pairs in refused {
        let err = ObservabilityConfig::from_vars(vars(pairs.clone()), Some("svc"))
            .expect_err(&format!("{pairs:?} is refused"));
        assert_clean("an error", &err.to_string());
        assert_clean("an error's Debug", &format!("{err:?}"));
    }
    for (url, headers) in [
        (
            format!("http://u:{SECRET}@collector:4318/v1/traces"),
            vec![],
        ),
        (
            "http://collector:4318/v1/traces".to_owned(),
            vec![("authorization".to_owned(), format!("Basic {SECRET}\n"))],
        ),
        (
            "http://collector:4318/v1/traces".to_owned(),
            vec![(format!("Authorization: Basic {SECRET}"), "x".to_owned())],
        ),
    ] {
        let headers: Vec<(&str, &str)> = headers
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let err = ObservabilityConfig::builder("svc")
            .otlp_http(&url, &headers)
            .unwrap_err();
        assert_clean("a builder error", &err.to_string());
        assert_clean("a builder error's Debug", &format!("{err:?}"));
    }

    // Accepted settings: Debug, Display and warnings.
    let accepted = ObservabilityConfig::from_vars(
        vars(vec![
            (
                "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
                // Nobody listens there: exports fail.
                format!("http://127.0.0.1:9/v1/traces?token={SECRET}"),
            ),
            (
                "OTEL_EXPORTER_OTLP_HEADERS",
                format!("authorization=Basic%20{SECRET}"),
            ),
            ("OTEL_EXPORTER_OTLP_TIMEOUT", "500".into()),
            ("TTA_METRICS_ADDR", "127.0.0.1:0".into()),
        ]),
        Some("svc"),
    )
    .unwrap();
    assert_clean("the configuration's Debug", &format!("{accepted:?}"));
    let otlp = accepted.otlp().unwrap();
    assert_clean("the OTLP settings' Display", &otlp.to_string());
    assert!(
        otlp.to_string().contains("127.0.0.1:9/v1/traces?token=***"),
        "{otlp}"
    );
    assert_clean("the warnings", &accepted.warnings().join("\n"));

    // Running: /healthz and the shutdown report, with an exporter whose
    // errors quote the credentials.
    let config = accepted.with_span_destination(SpanDestination::new(
        "quoting",
        Quoting,
        SpanSelection::All,
    ));
    let guard = initialize_observability(config).unwrap();
    assert_clean("the guard's Debug", &format!("{guard:?}"));
    let url = format!("http://{}/healthz", guard.metrics_addr().unwrap());
    let wf = lambda(|x: u32| async move { Ok::<_, WorkflowError>(x) })
        .named("step")
        .instrumented();
    let body = eventually("both pipelines to fail", Duration::from_secs(30), || {
        let (wf, url) = (wf.clone(), url.clone());
        async move {
            wf.oneshot(Request::new(WorkflowContext::new("secrets"), 1))
                .await
                .unwrap();
            let (status, body) = get(&url).await;
            (status == 503 && body.matches("\"failing\"").count() >= 3).then_some(body)
        }
    })
    .await;
    assert_clean("/healthz", &body);
    assert!(body.contains("token=***"), "{body}");
    let report = guard.shutdown(Duration::from_secs(2)).await;
    assert_clean("the shutdown report", &report.to_string());
    assert_clean("the shutdown report's Debug", &format!("{report:?}"));
}
