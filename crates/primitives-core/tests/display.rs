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
