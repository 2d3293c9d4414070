//! Saga compensation.

mod common;

use std::sync::{Arc, Mutex};

use common::{Recorder, call};
use tower::ServiceExt;
use tta_primitives_core::{Request, WorkflowError, prelude::*, saga::SagaStep};

type Log = Arc<Mutex<Vec<String>>>;

fn forward(log: &Log, name: &'static str, fail: bool) -> BoxPrimitive<u32, u32> {
    let log = log.clone();
    lambda(move |x: u32| {
        log.lock().unwrap().push(format!("do {name}({x})"));
        async move {
            if fail {
                Err(WorkflowError::with_kind(
                    "step_failed",
                    format!("{name} failed"),
                ))
            } else {
                Ok(x + 1)
            }
        }
    })
    .into_boxed()
}

fn undo(log: &Log, name: &'static str, fail: bool) -> BoxPrimitive<u32, ()> {
    let log = log.clone();
    lambda(move |x: u32| {
        log.lock().unwrap().push(format!("undo {name}({x})"));
        async move {
            if fail {
                Err(WorkflowError::msg(format!("undo {name} failed")))
            } else {
                Ok(())
            }
        }
    })
    .into_boxed()
}

/// A named saga step whose forward primitive and compensation log their calls
/// and fail when told to.
fn logged_step(
    log: &Log,
    name: &'static str,
    fail: bool,
    undo_fails: bool,
) -> SagaStep<BoxPrimitive<u32, u32>, BoxPrimitive<u32, ()>> {
    forward(log, name, fail)
        .with_compensation(undo(log, name, undo_fails))
        .named(name)
}

#[tokio::test]
async fn a_failure_compensates_completed_steps_in_reverse_order() {
    let log = Log::default();
    let rec = Recorder::new();
    let saga = Saga::new(logged_step(&log, "a", false, false))
        .then(logged_step(&log, "b", false, false))
        .then(logged_step(&log, "c", false, false))
        .then(logged_step(&log, "d", true, false))
        .named("order");
    let err = saga.oneshot(Request::new(rec.ctx(), 10)).await.unwrap_err();

    // Each compensation receives its own step's output.
    assert_eq!(
        *log.lock().unwrap(),
        [
            "do a(10)",
            "do b(11)",
            "do c(12)",
            "do d(13)",
            "undo c(13)",
            "undo b(12)",
            "undo a(11)"
        ]
    );
    let WorkflowError::Compensated {
        failed_step,
        cause,
        compensated,
        compensation_failures,
    } = &err
    else {
        panic!("{err:?}")
    };
    assert_eq!(failed_step.as_str(), "d");
    assert_eq!(cause.kind(), "step_failed");
    assert_eq!(
        compensated.iter().map(|n| n.as_str()).collect::<Vec<_>>(),
        ["c", "b", "a"]
    );
    assert!(compensation_failures.is_empty());
    assert_eq!(err.kind(), "compensated");
    let events = rec.events();
    assert_eq!(events.len(), 6, "{events:?}");
    assert_eq!(events[0], r#"saga/order: Compensating { step: "c" }"#);
    assert_eq!(
        events[1],
        r#"saga/order: Compensation { step: "c", error: None }"#
    );
    assert_eq!(
        events[5],
        r#"saga/order: Compensation { step: "a", error: None }"#
    );
}

#[tokio::test]
async fn compensation_failures_are_reported_and_do_not_stop_the_others() {
    let log = Log::default();
    let saga = Saga::new(logged_step(&log, "a", false, false))
        .then(logged_step(&log, "b", false, true))
        .then(logged_step(&log, "c", true, false));
    let err = call(&saga, 0).await.unwrap_err();
    assert_eq!(
        *log.lock().unwrap(),
        ["do a(0)", "do b(1)", "do c(2)", "undo b(2)", "undo a(1)"]
    );
    assert_eq!(err.kind(), "compensation_failed");
    assert_eq!(
        err.to_string(),
        "saga aborted at `c`: step_failed: c failed; compensated 1 step(s); \
         1 compensation(s) failed: `b` failed: downstream: undo b failed"
    );
}

#[tokio::test]
async fn a_successful_saga_compensates_nothing_and_a_first_step_failure_has_nothing_to_undo() {
    let log = Log::default();
    let ok = Saga::new(forward(&log, "a", false).with_compensation(undo(&log, "a", false)))
        .then(forward(&log, "b", false).with_compensation(undo(&log, "b", false)));
    assert_eq!(call(&ok, 1).await.unwrap(), 3);
    assert_eq!(*log.lock().unwrap(), ["do a(1)", "do b(2)"]);

    let log = Log::default();
    let first_fails = Saga::new(logged_step(&log, "a", true, false))
        .then(forward(&log, "b", false).with_compensation(undo(&log, "b", false)));
    let err = call(&first_fails, 1).await.unwrap_err();
    assert_eq!(*log.lock().unwrap(), ["do a(1)"]);
    assert!(
        matches!(err, WorkflowError::Compensated { ref compensated, .. } if compensated.is_empty())
    );
    assert_eq!(first_fails.step_names().len(), 2);
}

#[tokio::test]
async fn a_saga_step_alone_runs_only_its_forward_primitive() {
    let log = Log::default();
    let step = forward(&log, "a", false).with_compensation(undo(&log, "a", false));
    assert_eq!(call(&step, 1).await.unwrap(), 2);
    assert_eq!(*log.lock().unwrap(), ["do a(1)"]);
}
