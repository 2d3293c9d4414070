//! A wrapping node (a workflow's root around its top-level node) shares its
//! clock readings with the node it wraps, and with nothing else.

use std::sync::{Arc, Mutex};

use tta_primitives_core::{circuit_breaker::BreakerConfig, retry::RetryPolicy};

use tower::Service;
use tta_primitives_core::{
    Name, NodeFuture, Request, WorkflowContext, WorkflowError,
    observe::{Event, Instant, NodeEnd, NodeHandle, NodeInfo, Observer, PrimitiveType},
    prelude::*,
};

/// Each node's name, start and completion readings, in order of ending.
#[derive(Default)]
struct Timings(Mutex<Vec<(String, Instant, Instant)>>);

impl Observer for Timings {
    fn on_node_start(
        &self,
        node: &NodeInfo<'_>,
        _ctx: &WorkflowContext,
        started: Instant,
    ) -> Option<NodeHandle> {
        Some(NodeHandle::new((node.name.to_string(), started)))
    }

    fn on_node_end(&self, _node: &NodeInfo<'_>, handle: Option<&NodeHandle>, end: &NodeEnd<'_>) {
        let (name, started) = handle
            .and_then(|h| h.downcast_ref::<(String, Instant)>())
            .cloned()
            .expect("every node got its handle");
        self.0.lock().unwrap().push((name, started, end.completed));
    }
}

impl Timings {
    fn of(&self, name: &str) -> (Instant, Instant) {
        let all = self.0.lock().unwrap();
        let (_, start, end) = all.iter().find(|(n, ..)| n == name).expect(name);
        (*start, *end)
    }
}

fn observed(timings: &Arc<Timings>) -> WorkflowContext {
    WorkflowContext::new("wf").with_observer(timings.clone())
}

/// A step that completes in a later poll than the one that starts it.
macro_rules! yielding {
    ($name:literal) => {
        lambda(|x: u32| async move {
            tokio::task::yield_now().await;
            Ok::<_, WorkflowError>(x + 1)
        })
        .named($name)
    };
}

#[tokio::test]
async fn a_wrapper_starts_and_completes_with_the_node_it_wraps() {
    let timings = Arc::new(Timings::default());
    let mut top = yielding!("a") >> yielding!("b");
    let root = NodeFuture::wrapping(
        observed(&timings),
        &Name::from("root"),
        PrimitiveType::Workflow,
        |ctx| top.call(Request::new(ctx, 1)),
    );
    assert_eq!(root.await.unwrap(), 3);
    let (root, sequence) = (timings.of("root"), timings.of("sequence"));
    assert_eq!(root, sequence, "one interval, read once at each end");
    // Only the first node started in the call takes the wrapper's start;
    // the steps read the clock themselves.
    let (a, b) = (timings.of("a"), timings.of("b"));
    assert!(a.0 > root.0, "the first step reads its own start");
    assert!(b.0 >= a.1 && b.1 > b.0);
    assert!(sequence.1 > b.1, "the sequence reads its own completion");
}

#[tokio::test]
async fn a_wrapper_around_no_node_reads_the_clock_itself_and_leaves_no_reading_behind() {
    let timings = Arc::new(Timings::default());
    let mut inner = yielding!("inner");
    // The call starts no node itself: its future does, at its first poll,
    // and then does more (a yield) after that node completed.
    let root = NodeFuture::wrapping(
        observed(&timings),
        &Name::from("root"),
        PrimitiveType::Workflow,
        |ctx| async move {
            let out = inner.call(Request::new(ctx.child(), 1)).await;
            tokio::task::yield_now().await;
            out
        },
    );
    // Another node started after the wrapper's call is not handed its start.
    let mut later = lambda(|x: u32| async move { Ok::<_, WorkflowError>(x) }).named("later");
    let later = later.call(Request::new(observed(&timings), 0));
    assert_eq!(root.await.unwrap(), 2);
    later.await.unwrap();
    let (root, inner, later) = (timings.of("root"), timings.of("inner"), timings.of("later"));
    assert!(
        inner.0 > root.0,
        "the inner node was started by the call, not in it"
    );
    assert!(
        root.1 > inner.1,
        "the inner node completed in an earlier poll than the wrapper: not its completion"
    );
    assert!(later.0 > root.0);
}

#[tokio::test(start_paused = true)]
async fn a_retry_a_timeout_and_a_breaker_share_their_readings_with_the_step_they_run() {
    let timings = Arc::new(Timings::default());
    let policy = RetryPolicy::builder().max_attempts(2).build().unwrap();
    let breaker = BreakerConfig::builder().build().unwrap();
    let mut wf = yielding!("step")
        .timeout(std::time::Duration::from_secs(1))
        .unwrap()
        .named("bounded")
        .circuit_breaker(breaker)
        .named("guarded")
        .retry(policy)
        .named("retried");
    let root = wf.call(Request::new(observed(&timings), 1));
    assert_eq!(root.await.unwrap(), 2);
    let step = timings.of("step");
    for wrapper in ["bounded", "guarded", "retried"] {
        assert_eq!(timings.of(wrapper), step, "{wrapper}");
    }
}

#[tokio::test(start_paused = true)]
async fn a_retry_completes_with_its_last_attempt_and_a_timeout_that_fires_reads_its_own_end() {
    let timings = Arc::new(Timings::default());
    let calls = Arc::new(std::sync::atomic::AtomicU32::new(0));
    let flaky = {
        let calls = calls.clone();
        lambda(move |x: u32| {
            let calls = calls.clone();
            async move {
                tokio::task::yield_now().await;
                match calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst) {
                    0 => Err(WorkflowError::transient("flaky", "first attempt fails")),
                    _ => Ok(x),
                }
            }
        })
        .named("attempt")
    };
    let policy = RetryPolicy::builder().max_attempts(2).build().unwrap();
    let mut retried = flaky.retry(policy).named("retried");
    retried
        .call(Request::new(observed(&timings), 1))
        .await
        .unwrap();
    let attempts: Vec<_> = timings.0.lock().unwrap()[..2].to_vec();
    let retry = timings.of("retried");
    assert_eq!(retry.0, attempts[0].1, "starts with its first attempt");
    assert!(
        attempts[1].1 > attempts[0].2,
        "the second attempt reads its own start"
    );
    assert_eq!(retry.1, attempts[1].2, "completes with its last attempt");

    let timings = Arc::new(Timings::default());
    let slow = lambda(|x: u32| async move {
        tokio::time::sleep(std::time::Duration::from_secs(5)).await;
        Ok::<_, WorkflowError>(x)
    })
    .named("slow");
    let mut bounded = slow
        .timeout(std::time::Duration::from_secs(1))
        .unwrap()
        .named("bounded");
    let err = bounded
        .call(Request::new(observed(&timings), 1))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), "timeout");
    let (slow, bounded) = (timings.of("slow"), timings.of("bounded"));
    assert_eq!(bounded.0, slow.0);
    assert!(
        bounded.1 > bounded.0,
        "its own completion, the step has none"
    );
}

/// Like [`Timings`], wanting no end for the nodes named in `quiet`
/// ([`NodeHandle::events_only`]), whose events it keeps.
struct Quiet {
    timings: Timings,
    quiet: &'static [&'static str],
    events: Mutex<Vec<(String, &'static str)>>,
}

static QUIET_STATE: () = ();

impl Observer for Quiet {
    fn on_node_start(
        &self,
        node: &NodeInfo<'_>,
        ctx: &WorkflowContext,
        started: Instant,
    ) -> Option<NodeHandle> {
        if self.quiet.contains(&node.name.as_str()) {
            return Some(NodeHandle::events_only(&QUIET_STATE));
        }
        self.timings.on_node_start(node, ctx, started)
    }

    fn on_node_end(&self, node: &NodeInfo<'_>, handle: Option<&NodeHandle>, end: &NodeEnd<'_>) {
        assert!(
            !self.quiet.contains(&node.name.as_str()),
            "{} wanted no end",
            node.name
        );
        self.timings.on_node_end(node, handle, end);
    }

    fn on_event(&self, node: &NodeInfo<'_>, ctx: &WorkflowContext, event: &Event<'_>) {
        if ctx.node_handle().is_some_and(|h| !h.reports_end()) {
            self.events
                .lock()
                .unwrap()
                .push((node.name.to_string(), event.name()));
        }
    }
}

#[tokio::test(start_paused = true)]
async fn a_wrapper_that_wants_no_end_keeps_its_events_and_hands_its_start_through() {
    let observer = Arc::new(Quiet {
        timings: Timings::default(),
        quiet: &["retried"],
        events: Mutex::default(),
    });
    let policy = RetryPolicy::builder().max_attempts(2).build().unwrap();
    let mut retried = yielding!("step").retry(policy).named("retried");
    let root = NodeFuture::wrapping(
        WorkflowContext::new("wf").with_observer(observer.clone()),
        &Name::from("root"),
        PrimitiveType::Workflow,
        |ctx| retried.call(Request::new(ctx, 1)),
    );
    assert_eq!(root.await.unwrap(), 2);
    let ended: Vec<_> = observer
        .timings
        .0
        .lock()
        .unwrap()
        .iter()
        .map(|(n, ..)| n.clone())
        .collect();
    assert_eq!(ended, ["step", "root"], "no end for the quiet retry");
    assert_eq!(
        observer.timings.of("root"),
        observer.timings.of("step"),
        "the root's start reached the step through the retry, and the step's completion the root"
    );
    assert_eq!(
        *observer.events.lock().unwrap(),
        [
            ("retried".to_string(), "retry.attempt"),
            ("retried".to_string(), "retry.finished")
        ],
        "the retry's events, under its own handle"
    );
}
