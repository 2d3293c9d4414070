//! How values read and compare: node names (static or shared, usable as
//! map keys looked up by `&str`), the breaker's state labels, and the
//! `Debug` output of the types a user prints while debugging a workflow.

use std::{
    collections::HashMap,
    hash::{BuildHasher, RandomState},
    sync::Arc,
    time::Duration,
};

use tta_primitives_core::{
    Name, NodeFuture, WorkflowContext, WorkflowError,
    circuit_breaker::BreakerState,
    observe::{ObserverRef, PrimitiveType},
    prelude::*,
};

#[test]
fn a_name_is_static_or_shared_and_says_which() {
    let fixed = Name::from("fetch");
    assert_eq!(fixed.as_static(), Some("fetch"));
    assert!(fixed.as_shared().is_none());

    let text: Arc<str> = Arc::from("fetch");
    let shared = Name::from(Arc::clone(&text));
    assert!(shared.as_static().is_none());
    assert!(
        Arc::ptr_eq(shared.as_shared().unwrap(), &text),
        "not copied"
    );
    assert!(Name::from(String::from("fetch")).as_static().is_none());
}

#[test]
fn names_compare_hash_and_borrow_by_their_text() {
    let (fixed, owned) = (Name::from("fetch"), Name::from(String::from("fetch")));
    assert_eq!(fixed, owned);
    assert_ne!(fixed, Name::from("render"));
    let hasher = RandomState::new();
    assert_eq!(hasher.hash_one(&fixed), hasher.hash_one(&owned));
    assert_eq!(hasher.hash_one(&fixed), hasher.hash_one("fetch"), "as str");
    assert_ne!(hasher.hash_one(&fixed), hasher.hash_one("render"));

    let mut by_name = HashMap::new();
    by_name.insert(owned.clone(), 1);
    by_name.insert(Name::from("render"), 2);
    assert_eq!(
        (by_name.get("fetch"), by_name.get("render")),
        (Some(&1), Some(&2))
    );
    assert_eq!(AsRef::<str>::as_ref(&owned), "fetch");
    assert_eq!(format!("{fixed:?} {owned}"), "\"fetch\" fetch");
}

#[test]
fn breaker_states_have_stable_labels() {
    let labels: Vec<String> = BreakerState::ALL
        .iter()
        .map(|s| format!("{}={s}", s.as_str()))
        .collect();
    assert_eq!(
        labels,
        ["closed=closed", "open=open", "half_open=half_open"]
    );
}

#[test]
fn a_breaker_config_reports_and_prints_its_settings() {
    let config = BreakerConfig::builder()
        .open_duration(Duration::from_secs(7))
        .half_open_probes(3)
        .build()
        .unwrap();
    assert_eq!(config.open_duration(), Duration::from_secs(7));
    assert_eq!(config.half_open_probes(), 3);
    assert_eq!(
        format!("{config:?}"),
        "BreakerConfig { policy: ConsecutiveFailures(5), open_duration: 7s, half_open_probes: 3, .. }"
    );
}

/// Observes nothing: only makes contexts observed.
struct Silent;
impl tta_primitives_core::observe::Observer for Silent {}
static SILENT: Silent = Silent;

#[test]
fn debug_output_names_the_type_and_what_matters() {
    let ctx = WorkflowContext::builder("checkout")
        .workflow_id("wf-1")
        .correlation_id("corr-1")
        .build();
    let text = format!("{ctx:?}");
    for part in [
        "WorkflowContext {",
        "workflow_name: \"checkout\"",
        "workflow_id: \"wf-1\"",
        "correlation_id: \"corr-1\"",
        "observed: false",
    ] {
        assert!(text.contains(part), "{part} not in {text}");
    }

    let mut observed = ctx.with_observer(ObserverRef::from_static(&SILENT));
    assert!(format!("{observed:?}").contains("observed: true"));
    let guard = observed.enter_node(&Name::from("step"), PrimitiveType::Service);
    assert_eq!(format!("{guard:?}"), "NodeGuard { observed: true }");
    let future = NodeFuture::new(async { Ok::<_, WorkflowError>(1) }, guard);
    assert_eq!(format!("{future:?}"), "NodeFuture { observed: true, .. }");

    let boxed = lambda(|x: u32| async move { Ok::<_, WorkflowError>(x) }).into_boxed();
    assert_eq!(format!("{boxed:?}"), "BoxPrimitive { .. }");
    let cached = boxed
        .cache(
            |_, x: &u32| *x,
            CacheConfig::builder().capacity(5).build().unwrap(),
        )
        .named("users");
    let text = format!("{cached:?}");
    assert!(
        text.starts_with("Cache { name: \"users\", config: ") && text.contains("capacity: 5"),
        "{text}"
    );
}

#[test]
fn outcome_reason_and_event_labels_are_stable() {
    use tta_primitives_core::observe::{Event, EvictionReason, RetryOutcome};
    let outcomes: Vec<&str> = RetryOutcome::ALL.iter().map(|o| o.as_str()).collect();
    assert_eq!(
        outcomes,
        [
            "success_first_attempt",
            "success_after_retry",
            "exhausted",
            "not_retryable"
        ]
    );
    let reasons: Vec<&str> = EvictionReason::ALL.iter().map(|r| r.as_str()).collect();
    assert_eq!(reasons, ["expired", "capacity", "invalidated"]);
    let events = [
        Event::RetryAttempt { attempt: 1 }.name(),
        Event::CacheHit.name(),
        Event::CacheSize {
            entries: 1,
            bytes: 8,
        }
        .name(),
        Event::BreakerAdmitted {
            state: BreakerState::Closed,
        }
        .name(),
        Event::TimedOut {
            after: Duration::from_secs(1),
        }
        .name(),
        Event::RouteChosen { route: "eu" }.name(),
    ];
    assert_eq!(
        events,
        [
            "retry.attempt",
            "cache.hit",
            "cache.size",
            "circuit_breaker.admitted",
            "timeout",
            "router.route"
        ]
    );
}

#[test]
fn a_node_handle_gives_back_its_shared_value_and_says_what_it_holds() {
    use tta_primitives_core::observe::NodeHandle;
    let shared = NodeHandle::new(String::from("span"));
    let first = shared.downcast_arc::<String>().unwrap();
    let second = shared.clone().downcast_arc::<String>().unwrap();
    assert!(Arc::ptr_eq(&first, &second), "one value, not copies");
    assert!(shared.downcast_arc::<u32>().is_none(), "another type");
    static FIXED: u32 = 7;
    let fixed = NodeHandle::from_static(&FIXED);
    assert!(
        fixed.downcast_arc::<u32>().is_none(),
        "a static value is not shared"
    );
    assert_eq!(
        format!("{shared:?} {fixed:?}"),
        "NodeHandle(shared) NodeHandle(static)"
    );
    let observers = [
        ObserverRef::from(Arc::new(Silent) as Arc<dyn tta_primitives_core::observe::Observer>),
        ObserverRef::from_static(&SILENT),
    ];
    assert_eq!(
        format!("{observers:?}"),
        "[ObserverRef(shared), ObserverRef(static)]"
    );
}

#[test]
fn primitives_print_their_name_and_shape() {
    let ok = |x: u32| async move { Ok::<_, WorkflowError>(x) };
    let fallback = lambda(ok)
        .fallback(lambda(ok))
        .or_named("cached", lambda(ok))
        .named("resilient");
    assert_eq!(
        fallback.leg_names().collect::<Vec<_>>(),
        ["primary", "fallback_1", "cached"]
    );
    assert_eq!(
        format!("{fallback:?}"),
        "Fallback { name: \"resilient\", legs: [\"primary\", \"fallback_1\", \"cached\"], only_on: false }"
    );

    let mock = MockPrimitive::<u32, u32>::new()
        .then_return(1)
        .named("stub");
    assert_eq!(
        format!("{mock:?}"),
        "MockPrimitive { name: \"stub\", scripted: 1, calls: 0 }"
    );

    let routes = router(|_, x: &u32| *x).route(1, lambda(ok)).named("by_id");
    assert_eq!(
        format!("{routes:?}"),
        "Router { name: \"by_id\", routes: [1], default: false, .. }"
    );

    let undo = || lambda(|_: u32| async { Ok::<_, WorkflowError>(()) });
    let saga = Saga::new(lambda(ok).with_compensation(undo()).named("reserve"))
        .then(lambda(ok).with_compensation(undo()).named("charge"))
        .named("checkout");
    assert_eq!(
        format!("{saga:?}"),
        "Saga { name: \"checkout\", steps: [\"reserve\", \"charge\"], .. }"
    );

    let policy = RetryPolicy::builder().max_attempts(4).build().unwrap();
    assert_eq!(policy.max_attempts(), 4);
    let text = format!("{policy:?}");
    assert!(
        text.starts_with("RetryPolicy { max_attempts: 4, initial_backoff: 100ms,")
            && text.ends_with("jitter: Full, budget: false, .. }"),
        "{text}"
    );
    let bounded = lambda(ok).timeout(Duration::from_millis(250)).unwrap();
    assert_eq!(bounded.after(), Duration::from_millis(250));
}

#[test]
fn a_collect_all_parallel_keeps_its_name_and_takes_a_new_one() {
    let ok = |x: u32| async move { Ok::<_, WorkflowError>(x) };
    let settled = (lambda(ok) | lambda(ok)).named("both").collect_all();
    assert_eq!(settled.name().as_str(), "both");
    assert_eq!(settled.named("either").name().as_str(), "either");
}
