//! An observer that scopes polls gets one `exit_poll` for every
//! `enter_poll`, nested, on the thread of the poll: also when the work
//! inside panics, and never when it does not ask for scopes.

use std::{
    cell::RefCell,
    panic::AssertUnwindSafe,
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
};

use futures_util::FutureExt;
use tower::ServiceExt;
use tta_primitives_core::{
    observe::{Instant, NodeHandle, NodeInfo, Observer},
    prelude::*,
};

thread_local! {
    /// The names of the nodes whose scope is open, innermost last.
    static OPEN: RefCell<Vec<String>> = const { RefCell::new(Vec::new()) };
}

struct Scopes {
    scoped: bool,
    calls: AtomicUsize,
}

impl Observer for Scopes {
    fn on_node_start(
        &self,
        node: &NodeInfo<'_>,
        _: &WorkflowContext,
        _: Instant,
    ) -> Option<NodeHandle> {
        Some(NodeHandle::new(node.name.as_str().to_owned()))
    }

    fn scopes_polls(&self, _: &NodeInfo<'_>) -> bool {
        self.scoped
    }

    fn enter_poll(&self, handle: &NodeHandle) {
        self.calls.fetch_add(1, Ordering::Relaxed);
        let name = handle.downcast_ref::<String>().unwrap().clone();
        OPEN.with(|open| open.borrow_mut().push(name));
    }

    fn exit_poll(&self, handle: &NodeHandle) {
        let name = handle.downcast_ref::<String>().unwrap();
        let popped = OPEN.with(|open| open.borrow_mut().pop());
        assert_eq!(popped.as_ref(), Some(name), "scopes exit innermost first");
    }
}

fn open_scopes() -> Vec<String> {
    OPEN.with(|open| open.borrow().clone())
}

#[test]
fn each_step_runs_inside_its_own_scope_and_its_parents() {
    let seen = |name: &'static str| {
        lambda(move |_: u32| async move {
            tokio::task::yield_now().await; // a second poll
            Ok::<_, WorkflowError>(open_scopes())
        })
        .named(name)
    };
    let wf = (lambda(|x: u32| async move { Ok::<_, WorkflowError>(x) }).named("first")
        >> seen("second"))
    .named("pipeline");
    let observer = Arc::new(Scopes {
        scoped: true,
        calls: AtomicUsize::new(0),
    });
    let ctx = WorkflowContext::new("wf").with_observer(observer.clone());
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let inside = rt.block_on(wf.oneshot(Request::new(ctx, 1))).unwrap();
    assert_eq!(inside, ["pipeline", "second"]);
    assert!(open_scopes().is_empty(), "every scope was exited");
    assert!(
        observer.calls.load(Ordering::Relaxed) >= 4,
        "polls were scoped"
    );
}

#[test]
fn a_panicking_step_still_exits_every_scope() {
    let boom = lambda(|_: u32| async move {
        if open_scopes().len() == 2 {
            panic!("the step panics inside two scopes");
        }
        Ok::<_, WorkflowError>(0)
    })
    .named("boom");
    let wf = (lambda(|x: u32| async move { Ok::<_, WorkflowError>(x) }).named("first") >> boom)
        .named("pipeline");
    let observer = Arc::new(Scopes {
        scoped: true,
        calls: AtomicUsize::new(0),
    });
    let ctx = WorkflowContext::new("wf").with_observer(observer);
    let future = wf.oneshot(Request::new(ctx, 1));
    let panicked = std::panic::catch_unwind(AssertUnwindSafe(|| future.now_or_never()));
    assert!(panicked.is_err(), "the step panicked");
    assert!(
        open_scopes().is_empty(),
        "no scope is left open by the panic"
    );
}

#[test]
fn an_observer_that_asks_for_no_scopes_gets_no_calls() {
    let observer = Arc::new(Scopes {
        scoped: false,
        calls: AtomicUsize::new(0),
    });
    let wf = lambda(|x: u32| async move { Ok::<_, WorkflowError>(x) }).named("only");
    let ctx = WorkflowContext::new("wf").with_observer(observer.clone());
    let out = wf.oneshot(Request::new(ctx, 3)).now_or_never().unwrap();
    assert_eq!(out.unwrap(), 3);
    assert_eq!(observer.calls.load(Ordering::Relaxed), 0);
}
