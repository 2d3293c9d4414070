//! The per-thread cache of node handles: many nodes share its sets, and
//! each must still count under its own labels. Its own test binary, so the
//! nodes it creates do not grow every other test's exposition.

mod support;

use std::sync::Arc;

use support::{parse_exposition, prometheus, value};
use tower::ServiceExt;
use tta_primitives_core::{Name, Request, WorkflowContext, WorkflowError, prelude::*};
use tta_primitives_obs::{InstrumentExt, Telemetry};

/// Runs a lambda named after each of `primitives` under each of
/// `workflows` twice, in two orders, and checks that every node's successes are its own.
async fn many_nodes_count_apart(workflows: &[Name], primitives: &[Name], tag: &str) {
    let handle = prometheus();
    let telemetry = Arc::new(Telemetry::metrics_only());
    let run = |workflow: &Name, primitive: &Name| {
        // A step, not the top-level node (whose series are the workflow's).
        let wf = (lambda(|x: u32| async move { Ok::<_, WorkflowError>(x) })
            .named(primitive.clone())
            >> lambda(|x: u32| async move { Ok::<_, WorkflowError>(x) }).named("pass_on"))
        .instrumented_with(telemetry.clone());
        wf.oneshot(Request::new(WorkflowContext::new(workflow.clone()), 1))
    };
    // Two orders, so that nodes differing in each label in turn run one
    // after the other, while the other's entry is still in the cache.
    for workflow in workflows {
        for primitive in primitives {
            run(workflow, primitive).await.unwrap();
        }
    }
    for primitive in primitives {
        for workflow in workflows {
            run(workflow, primitive).await.unwrap();
        }
    }
    let samples = parse_exposition(&handle.render());
    let mut wrong = Vec::new();
    for workflow in workflows {
        for primitive in primitives {
            let labels = [
                ("workflow", workflow.as_str()),
                ("primitive", primitive.as_str()),
                ("primitive_type", "lambda"),
                ("outcome", "success"),
            ];
            let count = value(&samples, "tta_primitive_executions_total", &labels);
            if count != Some(2.0) {
                wrong.push((workflow.as_str(), primitive.as_str(), count));
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "{tag}: nodes counted under another's labels: {wrong:?}"
    );
}

#[tokio::test]
async fn many_nodes_with_static_names_count_apart_in_the_per_thread_cache() {
    // 144 nodes for the cache's 32 sets: many share a set, and a lookup
    // must tell them apart by workflow and name.
    let leak = |s: String| Name::new_static(Box::leak(s.into_boxed_str()));
    let workflows: Vec<_> = (0..12).map(|i| leak(format!("static_wf_{i:02}"))).collect();
    let primitives: Vec<_> = (0..12).map(|i| leak(format!("static_p_{i:02}"))).collect();
    many_nodes_count_apart(&workflows, &primitives, "static").await;
}

#[tokio::test]
async fn many_nodes_with_names_made_at_run_time_count_apart_in_the_per_thread_cache() {
    let workflows: Vec<Name> = (0..12)
        .map(|i| format!("shared_wf_{i:02}").into())
        .collect();
    let primitives: Vec<Name> = (0..12).map(|i| format!("shared_p_{i:02}").into()).collect();
    many_nodes_count_apart(&workflows, &primitives, "made at run time").await;
}
