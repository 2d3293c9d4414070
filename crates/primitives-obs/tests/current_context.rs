//! While a traced step's future is polled, its span's context is current:
//! `tracing` spans (through the bridge), OpenTelemetry's
//! `Context::current()` and a `TelemetryLayer` client inside the step nest
//! under the step, with nothing to attach by hand.

use std::{
    collections::HashMap,
    sync::{
        Arc, Mutex,
        atomic::{AtomicU32, Ordering},
    },
    time::Duration,
};

use opentelemetry_sdk::trace::SpanData;
use tower::{Layer, Service, ServiceExt};
use tracing_subscriber::layer::SubscriberExt;
use tta_primitives_core::{Request, WorkflowContext, WorkflowError, prelude::*};
use tta_test_support::spans::{attribute as attr, in_memory as provider};
// The re-export is what a user's step code reaches for.
use tta_primitives_obs::opentelemetry::{
    Context, Value,
    trace::{SpanId, TraceContextExt, TracerProvider as _},
};
use tta_primitives_obs::{InstrumentExt, Telemetry, layer::TelemetryLayer};

fn by_id(spans: &[SpanData]) -> HashMap<SpanId, &SpanData> {
    spans
        .iter()
        .map(|s| (s.span_context.span_id(), s))
        .collect()
}

fn three_attempts() -> RetryPolicy {
    RetryPolicy::builder()
        .max_attempts(3)
        .initial_backoff(Duration::from_millis(10))
        .jitter(Jitter::None)
        .build()
        .unwrap()
}

#[tokio::test(start_paused = true)]
async fn a_tracing_span_inside_a_retried_lambda_lands_under_its_attempt() {
    let (exporter, provider) = provider();
    let subscriber = tracing_subscriber::registry()
        .with(tracing_opentelemetry::layer().with_tracer(provider.tracer("bridge")));
    let _default = tracing::subscriber::set_default(subscriber);

    let calls = Arc::new(AtomicU32::new(0));
    let step = {
        let calls = calls.clone();
        lambda(move |x: u32| {
            let calls = calls.clone();
            async move {
                // A yield first: the span below is made on a later poll, not
                // in the call that created the future.
                tokio::task::yield_now().await;
                // Attempts count from 1, as `tta.retry.attempt` does.
                let attempt = calls.fetch_add(1, Ordering::SeqCst) + 1;
                tracing::info_span!("decode", call = attempt).in_scope(|| {
                    if attempt < 3 {
                        Err(WorkflowError::msg("flaky"))
                    } else {
                        Ok(x)
                    }
                })
            }
        })
        .named("fetch_user")
    };
    let wf = step
        .retry(three_attempts())
        .named("fetch")
        .instrumented_with(Arc::new(Telemetry::with_tracer(provider.tracer("wf"))))
        .into_boxed(); // the future stays `Send`
    let out = wf
        .oneshot(Request::new(WorkflowContext::new("users"), 7))
        .await
        .unwrap();
    assert_eq!(out, 7);

    let spans = exporter.get_finished_spans().unwrap();
    let ids = by_id(&spans);
    let decodes: Vec<&SpanData> = spans.iter().filter(|s| s.name == "decode").collect();
    assert_eq!(decodes.len(), 3, "one bridged span per attempt");
    for decode in decodes {
        let parent = ids
            .get(&decode.parent_span_id)
            .unwrap_or_else(|| panic!("`decode` has no parent in the trace: {decode:?}"));
        assert_eq!(parent.name, "fetch_user", "decode nests under the attempt");
        assert_eq!(
            attr(parent, "tta.retry.attempt").map(Value::to_string),
            attr(decode, "call").map(Value::to_string),
            "each decode is under the attempt that made it"
        );
        assert!(parent.start_time <= decode.start_time && decode.end_time <= parent.end_time);
    }
}

#[tokio::test]
async fn context_current_inside_a_step_is_the_step_and_outside_it_is_not() {
    let (exporter, provider) = provider();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let record = |name: &'static str| {
        let seen = seen.clone();
        lambda(move |x: u32| {
            let seen = seen.clone();
            async move {
                let cx = Context::current();
                seen.lock()
                    .unwrap()
                    .push((name, cx.span().span_context().span_id()));
                Ok::<_, WorkflowError>(x + 1)
            }
        })
        .named(name)
    };
    let wf = (record("first") >> record("second"))
        .named("pipeline")
        .instrumented_with(Arc::new(Telemetry::with_tracer(provider.tracer("wf"))));
    assert_eq!(
        wf.oneshot(Request::new(WorkflowContext::new("ctx"), 1))
            .await
            .unwrap(),
        3
    );
    assert!(
        !Context::current().has_active_span(),
        "nothing stays current after the workflow"
    );
    let spans = exporter.get_finished_spans().unwrap();
    for (name, id) in seen.lock().unwrap().iter() {
        let span = spans
            .iter()
            .find(|s| s.span_context.span_id() == *id)
            .unwrap_or_else(|| panic!("the current span inside {name} is not in the trace"));
        assert_eq!(span.name, *name);
    }
}

#[tokio::test]
async fn a_telemetry_layer_client_inside_a_step_nests_under_the_step_in_time() {
    let (exporter, provider) = provider();
    let client = TelemetryLayer::http_client("items", "inventory")
        .with_tracer_provider(&provider)
        .layer(tower::service_fn(|req: http::Request<()>| async move {
            tokio::task::yield_now().await;
            Ok::<_, std::convert::Infallible>(
                http::Response::builder()
                    .status(200)
                    .body(format!("{}", req.uri()))
                    .unwrap(),
            )
        }));
    let step = from_fn(move |_ctx: WorkflowContext, x: u32| {
        let mut client = client.clone();
        async move {
            let req = http::Request::get("http://inventory.local/items")
                .body(())
                .unwrap();
            let resp = client.ready().await.unwrap().call(req).await.unwrap();
            assert_eq!(resp.status(), 200);
            Ok::<_, WorkflowError>(x)
        }
    })
    .named("load_items");
    let wf = step.instrumented_with(Arc::new(Telemetry::with_tracer(provider.tracer("wf"))));
    wf.oneshot(Request::new(WorkflowContext::new("items"), 1))
        .await
        .unwrap();

    let spans = exporter.get_finished_spans().unwrap();
    let ids = by_id(&spans);
    let http = spans
        .iter()
        .find(|s| s.name == "GET")
        .unwrap_or_else(|| panic!("no client span in {spans:#?}"));
    assert_eq!(ids[&http.parent_span_id].name, "load_items");
    let faults = tta_test_support::spans::not_nested_in_time(&spans);
    assert!(faults.is_empty(), "spans out of their parents: {faults:#?}");
}

#[tokio::test]
async fn a_tracing_span_around_the_request_does_not_capture_spans_inside_a_step() {
    let (exporter, provider) = provider();
    let subscriber = tracing_subscriber::registry()
        .with(tracing_opentelemetry::layer().with_tracer(provider.tracer("bridge")));
    let _default = tracing::subscriber::set_default(subscriber);
    let step = lambda(|x: u32| async move {
        tracing::info_span!("decode").in_scope(|| Ok::<_, WorkflowError>(x))
    })
    .named("parse");
    let wf = step.instrumented_with(Arc::new(Telemetry::with_tracer(provider.tracer("wf"))));
    // As tower-http's TraceLayer does: a `tracing` span entered around the
    // whole request.
    let request = tracing::info_span!("request");
    tracing::Instrument::instrument(
        wf.oneshot(Request::new(WorkflowContext::new("parsing"), 1)),
        request,
    )
    .await
    .unwrap();

    let spans = exporter.get_finished_spans().unwrap();
    let ids = by_id(&spans);
    let parent_of = |name: &str| {
        let span = spans.iter().find(|s| s.name == name).unwrap();
        ids.get(&span.parent_span_id).map(|p| p.name.to_string())
    };
    assert_eq!(parent_of("decode").as_deref(), Some("parse"));
    assert_eq!(parent_of("parsing").as_deref(), Some("request"));
}
