//! End to end: the demo's traces reach a real OTLP trace backend (Arize
//! Phoenix, from the test venv) over HTTP and over gRPC; read back, one quote
//! is one trace with the expected tree, GenAI attributes on the LLM step,
//! and the resource (Phoenix files the spans under the project the resource
//! names). Each test runs in a private network namespace.

use std::time::Duration;

use tower::ServiceExt;
use tta_demo::quote_workflow;
use tta_obs_init::{ObservabilityConfig, TracesExporter, initialize_observability};
use tta_primitives_core::{Request, WorkflowContext};
use tta_test_support::{Phoenix, eventually, in_private_network};

fn text<'a>(v: &'a serde_json::Value, path: &[&str]) -> Option<&'a str> {
    path.iter().try_fold(v, |v, key| v.get(key))?.as_str()
}

fn quote_to_phoenix(grpc: bool) {
    let runtime = tta_test_support::runtime();
    runtime.block_on(async {
        let phoenix = Phoenix::start().await;
        let project = if grpc { "demo-grpc" } else { "demo-http" };
        let builder = ObservabilityConfig::builder("tta-demo")
            .without_metrics_endpoint()
            .resource_attribute("openinference.project.name", project);
        let builder = if grpc {
            builder.otlp_grpc(&phoenix.grpc, &[])
        } else {
            builder.otlp_http(&format!("{}/v1/traces", phoenix.url), &[])
        }
        .unwrap();
        let config = builder.build().unwrap();
        assert_eq!(config.traces_exporter(), TracesExporter::Otlp);
        let guard = initialize_observability(config).unwrap();

        // Quotes of 4 items until one succeeds (the simulated services fail
        // now and then), so every step of that one ran.
        let quote = quote_workflow().unwrap();
        let mut workflow_id = None;
        for _ in 0..20 {
            let ctx = WorkflowContext::new("quote");
            let id = ctx.workflow_id().to_owned();
            if quote.clone().oneshot(Request::new(ctx, 4)).await.is_ok() {
                workflow_id = Some(id);
                break;
            }
        }
        let workflow_id = workflow_id.expect("one of 20 quotes succeeds");
        assert!(
            guard.shutdown(Duration::from_secs(20)).await.completed,
            "flushed within the deadline"
        );

        let parent = |s: &serde_json::Value| text(s, &["parent_id"]).map(str::to_owned);
        let spans = eventually(
            "the quote's root span in Phoenix",
            Duration::from_secs(60),
            || async {
                let spans = phoenix.spans(project).await;
                // The root ends last: wait for it, then keep that quote's trace.
                let root = spans.iter().find(|s| {
                    parent(s).is_none()
                        && text(s, &["attributes", "tta.workflow.id"]) == Some(workflow_id.as_str())
                })?;
                let trace = text(root, &["context", "trace_id"])?.to_owned();
                let of_trace: Vec<_> = spans
                    .iter()
                    .filter(|s| text(s, &["context", "trace_id"]) == Some(trace.as_str()))
                    .cloned()
                    .collect();
                Some(of_trace)
            },
        )
        .await;
        assert!(
            spans.iter().all(|s| {
                text(s, &["context", "span_id"]).is_some()
                    && text(s, &["context", "trace_id"]).is_some()
            }),
            "every span has its ids: {spans:#?}"
        );
        let find = |n: &str| {
            spans
                .iter()
                .find(|s| text(s, &["name"]) == Some(n))
                .unwrap_or_else(|| panic!("no span {n} among {spans:#?}"))
        };
        let id = |s: &serde_json::Value| text(s, &["context", "span_id"]).map(str::to_owned);
        // The workflow's root span and its sequence node are both named `quote`.
        let named_quote = |root: bool| {
            spans
                .iter()
                .find(|s| text(s, &["name"]) == Some("quote") && parent(s).is_none() == root)
                .unwrap_or_else(|| panic!("no quote span (root: {root}) among {spans:#?}"))
        };
        let (root, sequence) = (named_quote(true), named_quote(false));
        assert_eq!(
            text(root, &["attributes", "tta.primitive.type"]),
            Some("workflow"),
            "{root:#}"
        );
        assert_eq!(
            parent(sequence),
            id(root),
            "the quote's sequence hangs under the workflow"
        );
        for step in [
            "validate",
            "gather",
            "shipping",
            "discount",
            "llm_summary",
            "pay_or_invoice",
        ] {
            assert_eq!(
                parent(find(step)),
                id(sequence),
                "{step} is a step of the sequence"
            );
        }
        for branch in ["price", "stock", "tax_cache"] {
            assert_eq!(
                parent(find(branch)),
                id(find("gather")),
                "{branch} is a branch of gather"
            );
        }
        let roots = spans.iter().filter(|s| parent(s).is_none()).count();
        assert_eq!(
            roots, 1,
            "the quote's trace has one root: every span of the quote is in it"
        );
        // The LLM call nests under its step, and Phoenix derived its
        // OpenInference view (model, token counts) from our gen_ai attributes.
        let llm = find("chat demo-llm-small");
        assert_eq!(parent(llm), id(find("llm_call")), "{llm:#}");
        assert_eq!(
            text(llm, &["attributes", "gen_ai.request.model"]),
            Some("demo-llm-small"),
            "{llm:#}"
        );
        assert_eq!(
            text(llm, &["attributes", "llm.model_name"]),
            Some("demo-llm-small"),
            "Phoenix's model name, derived from gen_ai.request.model: {llm:#}"
        );
        assert_eq!(
            text(llm, &["span_kind"]),
            Some("LLM"),
            "Phoenix classified the span as an LLM call: {llm:#}"
        );
        let tokens = |key: &str| llm["attributes"][key].as_i64();
        let (prompt, completion) = (
            tokens("llm.token_count.prompt"),
            tokens("llm.token_count.completion"),
        );
        assert_eq!(prompt, tokens("gen_ai.usage.input_tokens"), "{llm:#}");
        assert_eq!(completion, tokens("gen_ai.usage.output_tokens"), "{llm:#}");
        assert!(
            prompt.is_some_and(|t| t > 0) && completion.is_some_and(|t| t > 0),
            "{llm:#}"
        );
        assert_eq!(
            tokens("llm.token_count.total"),
            Some(prompt.unwrap() + completion.unwrap()),
            "{llm:#}"
        );
    });
}

#[test]
fn the_demo_traces_reach_phoenix_over_http() {
    if in_private_network("the_demo_traces_reach_phoenix_over_http") {
        quote_to_phoenix(false);
    }
}

#[test]
fn the_demo_traces_reach_phoenix_over_grpc() {
    if in_private_network("the_demo_traces_reach_phoenix_over_grpc") {
        quote_to_phoenix(true);
    }
}
