//! The store: survives a restart (log records with their spans), holds its bounds (oldest traces first,
//! evictions counted), recovers from a corrupt or truncated file with a
//! report instead of a crash, and answers filtered, paged queries.

use std::{path::PathBuf, time::Duration};

use tta_console::{
    model::{LogRecord, Span},
    store::{Store, StoreConfig, TraceQuery},
};

fn temp(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("tta-console-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn now_ns() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
}

fn span(trace: u32, span: u32, parent: Option<u32>, start: u64, service: &str) -> Span {
    Span {
        trace_id: format!("{trace:032x}"),
        span_id: format!("{:016x}", u64::from(trace) << 16 | u64::from(span)),
        parent_span_id: parent.map(|p| format!("{:016x}", u64::from(trace) << 16 | u64::from(p))),
        name: if parent.is_none() {
            "root".into()
        } else {
            format!("step_{span}")
        },
        kind: "internal".into(),
        start_ns: start,
        end_ns: start + 1_000_000 * u64::from(trace % 7 + 1),
        status: if trace % 5 == 0 {
            "error".into()
        } else {
            "ok".into()
        },
        status_message: String::new(),
        service: service.into(),
        scope: "test".into(),
        attributes: vec![
            (
                "tta.workflow.name".into(),
                serde_json::json!(if trace % 2 == 0 { "even" } else { "odd" }),
            ),
            (
                "order.id".into(),
                serde_json::json!(format!("order-{trace}")),
            ),
        ],
        resource: Default::default(),
        events: vec![],
        links: vec![],
        logs: vec![],
    }
}

fn trace(trace: u32, start: u64) -> Vec<Span> {
    (0..5)
        .map(|i| {
            span(
                trace,
                i,
                (i > 0).then_some(0),
                start + u64::from(i) * 1000,
                if i < 3 { "api" } else { "worker" },
            )
        })
        .collect()
}

#[test]
fn traces_survive_a_restart() {
    let dir = temp("restart");
    let config = StoreConfig {
        path: Some(dir.join("store.redb")),
        ..StoreConfig::default()
    };
    let base = now_ns();
    {
        let store = Store::open(config.clone()).unwrap();
        for t in 1..=10 {
            store.ingest(trace(t, base + u64::from(t) * 1_000_000));
        }
    }
    let store = Store::open(config).unwrap();
    let stats = store.stats();
    assert_eq!((stats.spans, stats.traces), (50, 10));
    assert_eq!(stats.recovery.loaded_spans, 50);
    assert_eq!(store.trace(&format!("{:032x}", 3)).unwrap(), {
        let mut spans = trace(3, base + 3_000_000);
        spans.sort_by_key(|s| s.start_ns);
        spans
    });
}

#[test]
fn log_records_join_their_span_before_or_after_it_and_survive_a_restart() {
    let dir = temp("logs");
    let config = StoreConfig {
        path: Some(dir.join("store.redb")),
        ..StoreConfig::default()
    };
    let base = now_ns();
    let record = |body: &str| LogRecord {
        time_ns: base,
        severity: "INFO".into(),
        body: body.into(),
        attributes: Vec::new(),
    };
    let (t1, t2) = (format!("{:032x}", 1), format!("{:032x}", 2));
    {
        let store = Store::open(config.clone()).unwrap();
        // Trace 1's log arrives after its span, trace 2's before.
        store.ingest(trace(1, base));
        store.ingest_logs(vec![(
            t1.clone(),
            format!("{:016x}", 1 << 16 | 2),
            record("after"),
        )]);
        store.ingest_logs(vec![(
            t2.clone(),
            format!("{:016x}", 2 << 16 | 3),
            record("before"),
        )]);
        store.ingest(trace(2, base + 1_000_000));
    }
    let store = Store::open(config).unwrap();
    let bodies = |trace_id: &str| -> Vec<(String, Vec<String>)> {
        store
            .trace(trace_id)
            .unwrap()
            .into_iter()
            .filter(|s| !s.logs.is_empty())
            .map(|s| (s.span_id, s.logs.into_iter().map(|l| l.body).collect()))
            .collect()
    };
    assert_eq!(
        bodies(&t1),
        vec![(format!("{:016x}", 1 << 16 | 2), vec!["after".to_owned()])]
    );
    assert_eq!(
        bodies(&t2),
        vec![(format!("{:016x}", 2 << 16 | 3), vec!["before".to_owned()])]
    );
}

#[test]
fn the_bounds_hold_oldest_traces_first_and_evictions_are_counted() {
    let dir = temp("bounds");
    let config = StoreConfig {
        path: Some(dir.join("store.redb")),
        max_spans: 100,
        max_bytes: usize::MAX,
        max_age: Duration::from_secs(3600),
    };
    let base = now_ns();
    let store = Store::open(config.clone()).unwrap();
    for t in 1..=30 {
        store.ingest(trace(t, base + u64::from(t) * 1_000_000));
    }
    let stats = store.stats();
    assert_eq!(stats.spans, 100);
    assert_eq!((stats.evicted_traces, stats.evicted_spans), (10, 50));
    assert!(
        store.trace(&format!("{:032x}", 10)).is_none(),
        "the oldest went first"
    );
    assert!(store.trace(&format!("{:032x}", 11)).is_some());
    // Spans older than the age bound go too.
    store.ingest(trace(99, base - 2 * 3600 * 1_000_000_000));
    assert!(store.trace(&format!("{:032x}", 99)).is_none());
    // What was evicted is gone from the file as well.
    drop(store);
    assert_eq!(Store::open(config).unwrap().stats().spans, 100);

    let bytes = Store::open(StoreConfig {
        path: None,
        max_spans: usize::MAX,
        max_bytes: 20_000,
        max_age: Duration::from_secs(3600),
    })
    .unwrap();
    for t in 1..=30 {
        bytes.ingest(trace(t, base + u64::from(t) * 1_000_000));
    }
    assert!(bytes.stats().bytes <= 20_000);
    assert!(bytes.stats().evicted_traces > 0);
}

#[test]
fn a_corrupt_or_truncated_file_is_recovered_with_a_report_never_a_crash() {
    let dir = temp("corrupt");
    let path = dir.join("store.redb");
    std::fs::write(&path, b"this is not a redb file at all, just bytes").unwrap();
    let store = Store::open(StoreConfig {
        path: Some(path.clone()),
        ..StoreConfig::default()
    })
    .unwrap();
    let recovery = store.stats().recovery;
    assert!(
        recovery
            .moved_aside
            .as_deref()
            .unwrap()
            .contains("moved to"),
        "{recovery:?}"
    );
    store.ingest(trace(1, now_ns()));
    assert_eq!(store.stats().spans, 5, "the new store works");
    drop(store);

    // A store cut short (a crash while writing, a full disk).
    let len = std::fs::metadata(&path).unwrap().len();
    let file = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
    file.set_len(len / 3).unwrap();
    drop(file);
    let store = Store::open(StoreConfig {
        path: Some(path),
        ..StoreConfig::default()
    })
    .unwrap();
    let recovery = store.stats().recovery;
    assert!(
        recovery.moved_aside.is_some(),
        "the damage is reported: {recovery:?}"
    );
    store.ingest(trace(2, now_ns()));
    assert!(store.trace(&format!("{:032x}", 2)).is_some());
}

#[test]
fn queries_filter_page_and_read_the_indexes() {
    let store = Store::open(StoreConfig::default()).unwrap();
    let base = now_ns();
    for t in 1..=40 {
        store.ingest(trace(t, base + u64::from(t) * 1_000_000));
    }
    let ids = |query: TraceQuery| -> Vec<String> {
        store
            .traces(&query)
            .traces
            .into_iter()
            .map(|t| t.trace_id)
            .collect()
    };
    let all = ids(TraceQuery {
        limit: Some(500),
        ..TraceQuery::default()
    });
    assert_eq!(all.len(), 40);
    assert_eq!(all[0], format!("{:032x}", 40), "newest first");
    let even = ids(TraceQuery {
        workflow: Some("even".into()),
        limit: Some(500),
        ..TraceQuery::default()
    });
    assert_eq!(even.len(), 20);
    let errors = ids(TraceQuery {
        status: Some("error".into()),
        limit: Some(500),
        ..TraceQuery::default()
    });
    assert_eq!(errors.len(), 8);
    let slow = ids(TraceQuery {
        min_duration_ms: Some(6.0),
        limit: Some(500),
        ..TraceQuery::default()
    });
    assert!(!slow.is_empty() && slow.len() < 40);
    let by_attr = ids(TraceQuery {
        attr: Some("order.id=order-7".into()),
        ..TraceQuery::default()
    });
    assert_eq!(by_attr, [format!("{:032x}", 7)]);
    let by_text = ids(TraceQuery {
        q: Some("ORDER-13".into()),
        ..TraceQuery::default()
    });
    assert_eq!(by_text, [format!("{:032x}", 13)]);
    assert_eq!(
        ids(TraceQuery {
            service: Some("worker".into()),
            limit: Some(500),
            ..TraceQuery::default()
        })
        .len(),
        40
    );
    let first = store.traces(&TraceQuery {
        limit: Some(15),
        ..TraceQuery::default()
    });
    assert!(first.has_more);
    let second = ids(TraceQuery {
        offset: 15,
        limit: Some(15),
        ..TraceQuery::default()
    });
    assert_eq!(second[0], all[15]);
    let window = ids(TraceQuery {
        from_ns: Some(base + 10 * 1_000_000),
        to_ns: Some(base + 20 * 1_000_000),
        limit: Some(500),
        ..TraceQuery::default()
    });
    assert_eq!(window.len(), 10);
}
