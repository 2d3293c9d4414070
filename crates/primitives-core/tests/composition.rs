//! Sequence, parallel, conditional and router.

mod common;

use std::{
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicUsize, Ordering},
    },
    time::Duration,
};

use common::{DropFlag, Recorder, call};
use tower::ServiceExt;
use tta_primitives_core::{Request, WorkflowError, prelude::*};

fn add(n: u32) -> BoxPrimitive<u32, u32> {
    lambda(move |x: u32| async move { Ok::<_, WorkflowError>(x + n) }).into_boxed()
}

fn fail_with(kind: &'static str) -> BoxPrimitive<u32, u32> {
    lambda(move |_: u32| async move { Err::<u32, _>(WorkflowError::with_kind(kind, "failed")) })
        .into_boxed()
}

#[tokio::test]
async fn sequence_feeds_each_output_to_the_next_step_and_stops_at_the_first_error() {
    let reached = Arc::new(AtomicUsize::new(0));
    let counting = {
        let reached = reached.clone();
        lambda(move |x: u32| {
            reached.fetch_add(1, Ordering::SeqCst);
            async move { Ok::<_, WorkflowError>(x) }
        })
    };
    let wf = add(1) >> add(10) >> counting.clone();
    assert_eq!(call(&wf, 100).await.unwrap(), 111);
    assert_eq!(reached.load(Ordering::SeqCst), 1);

    let broken = add(1) >> fail_with("step_two") >> counting;
    assert_eq!(call(&broken, 1).await.unwrap_err().kind(), "step_two");
    assert_eq!(
        reached.load(Ordering::SeqCst),
        1,
        "steps after a failure never run"
    );
}

#[tokio::test(start_paused = true)]
async fn parallel_returns_results_in_branch_order_whatever_the_finishing_order() {
    let slow_first = lambda(|x: u32| async move {
        tokio::time::sleep(Duration::from_millis(30)).await;
        Ok::<_, WorkflowError>(x)
    });
    let medium = lambda(|x: u32| async move {
        tokio::time::sleep(Duration::from_millis(20)).await;
        Ok::<_, WorkflowError>(x + 1)
    });
    let wf = slow_first | medium | add(2);
    let start = tokio::time::Instant::now();
    assert_eq!(call(&wf, 10).await.unwrap(), vec![10, 11, 12]);
    assert_eq!(
        start.elapsed(),
        Duration::from_millis(30),
        "branches run concurrently"
    );
}

#[tokio::test(start_paused = true)]
async fn parallel_fail_fast_cancels_the_sibling_branches() {
    let cancelled = Arc::new(AtomicBool::new(false));
    let finished = Arc::new(AtomicBool::new(false));
    let long = {
        let (cancelled, finished) = (cancelled.clone(), finished.clone());
        lambda(move |x: u32| {
            let guard = DropFlag(cancelled.clone());
            let finished = finished.clone();
            async move {
                tokio::time::sleep(Duration::from_secs(60)).await;
                finished.store(true, Ordering::SeqCst);
                drop(guard);
                Ok::<_, WorkflowError>(x)
            }
        })
    };
    let failing = lambda(|_: u32| async move {
        tokio::time::sleep(Duration::from_millis(5)).await;
        Err::<u32, _>(WorkflowError::with_kind("branch_failed", "boom"))
    });
    let wf = long | failing;
    let start = tokio::time::Instant::now();
    let err = call(&wf, 1).await.unwrap_err();
    assert_eq!(err.kind(), "branch_failed");
    assert_eq!(
        start.elapsed(),
        Duration::from_millis(5),
        "fails as soon as one branch fails"
    );
    assert!(
        cancelled.load(Ordering::SeqCst),
        "the sibling's future was dropped"
    );
    tokio::time::advance(Duration::from_secs(120)).await;
    assert!(
        !finished.load(Ordering::SeqCst),
        "the sibling never ran to completion"
    );
}

#[tokio::test]
async fn parallel_collect_all_reports_every_result_and_error_in_order() {
    let wf = (add(1) | fail_with("second") | add(3) | fail_with("fourth")).collect_all();
    let results = call(&wf, 0).await.unwrap();
    let summary: Vec<_> = results
        .iter()
        .map(|r| match r {
            Ok(v) => format!("ok {v}"),
            Err(e) => format!("err {}", e.kind()),
        })
        .collect();
    assert_eq!(summary, ["ok 1", "err second", "ok 3", "err fourth"]);
}

#[tokio::test]
async fn parallel_over_a_vec_and_under_concurrency() {
    let wf = parallel((0..8).map(add).collect::<Vec<_>>());
    let mut handles = Vec::new();
    for i in 0..50u32 {
        let wf = wf.clone();
        handles.push(tokio::spawn(async move {
            (i, call(&wf, i * 100).await.unwrap())
        }));
    }
    for h in handles {
        let (i, out) = h.await.unwrap();
        assert_eq!(out, (0..8).map(|n| i * 100 + n).collect::<Vec<_>>());
    }
    let empty = parallel(Vec::<BoxPrimitive<u32, u32>>::new());
    assert_eq!(call(&empty, 1).await.unwrap(), Vec::<u32>::new());
}

#[tokio::test]
async fn conditional_runs_exactly_one_branch_or_passes_through() {
    let then_calls = MockPrimitive::<u32, u32>::new().otherwise_return(1000);
    let else_calls = MockPrimitive::<u32, u32>::new().otherwise_return(2000);
    let either = when(|_, x: &u32| x % 2 == 0, then_calls.clone()).otherwise(else_calls.clone());
    assert_eq!(call(&either, 4).await.unwrap(), 1000);
    assert_eq!(call(&either, 5).await.unwrap(), 2000);
    assert_eq!(
        (then_calls.inputs(), else_calls.inputs()),
        (vec![4], vec![5])
    );

    let only_then = when(|ctx, _: &u32| ctx.user_id() == Some("vip"), add(1));
    assert_eq!(
        call(&only_then, 7).await.unwrap(),
        7,
        "no else branch: input passes through"
    );
    let vip = WorkflowContext::builder("t").user_id("vip").build();
    assert_eq!(only_then.oneshot(Request::new(vip, 7)).await.unwrap(), 8);
}

#[tokio::test]
async fn router_picks_by_key_falls_back_to_default_and_names_missing_keys() {
    let rec = Recorder::new();
    let routes = router(|_, x: &u32| x % 3)
        .route(0, add(100))
        .route(1, add(200))
        .named("mod3");
    assert_eq!(
        routes
            .clone()
            .oneshot(Request::new(rec.ctx(), 3))
            .await
            .unwrap(),
        103
    );
    assert_eq!(
        routes
            .clone()
            .oneshot(Request::new(rec.ctx(), 4))
            .await
            .unwrap(),
        204
    );
    let err = routes
        .clone()
        .oneshot(Request::new(rec.ctx(), 5))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, WorkflowError::NoRoute { key } if key == "2"),
        "{err:?}"
    );
    assert_eq!(err.to_string(), "no route for key `2`");
    assert_eq!(
        rec.events(),
        [
            r#"router/mod3: RouteChosen { route: "0" }"#,
            r#"router/mod3: RouteChosen { route: "1" }"#
        ]
    );

    let with_default = routes.default_route(add(900));
    assert_eq!(call(&with_default, 5).await.unwrap(), 905);
    let mut names: Vec<_> = with_default.route_names().collect();
    names.sort();
    assert_eq!(names, ["0", "1"]);
}

#[tokio::test(start_paused = true)]
async fn join_returns_a_tuple_of_different_types_running_the_branches_concurrently() {
    let user = lambda(|id: u32| async move {
        tokio::time::sleep(Duration::from_millis(30)).await;
        Ok::<_, WorkflowError>(format!("user-{id}"))
    });
    let orders = lambda(|id: u32| async move {
        tokio::time::sleep(Duration::from_millis(20)).await;
        Ok::<_, WorkflowError>(vec![id; 2])
    });
    let flag = lambda(|id: u32| async move { Ok::<_, WorkflowError>(id % 2 == 0) });
    let start = tokio::time::Instant::now();
    let (name, list) = call(&join((user.clone(), orders.clone())), 7)
        .await
        .unwrap();
    assert_eq!((name.as_str(), list), ("user-7", vec![7, 7]));
    assert_eq!(
        start.elapsed(),
        Duration::from_millis(30),
        "branches run concurrently"
    );
    let five = join((user, orders, flag, add(1), add(2)));
    assert_eq!(
        call(&five, 4).await.unwrap(),
        ("user-4".to_owned(), vec![4, 4], true, 5, 6)
    );
}

#[tokio::test(start_paused = true)]
async fn join_fails_fast_cancelling_the_other_branches_and_collect_all_keeps_every_result() {
    let cancelled = Arc::new(AtomicBool::new(false));
    let long = {
        let cancelled = cancelled.clone();
        lambda(move |x: u32| {
            let guard = DropFlag(cancelled.clone());
            async move {
                tokio::time::sleep(Duration::from_secs(60)).await;
                drop(guard);
                Ok::<_, WorkflowError>(format!("{x}"))
            }
        })
    };
    let failing = lambda(|_: u32| async move {
        tokio::time::sleep(Duration::from_millis(5)).await;
        Err::<bool, _>(WorkflowError::with_kind("branch_failed", "boom"))
    });
    let start = tokio::time::Instant::now();
    let err = call(&join((long.clone(), failing.clone(), add(1))), 1)
        .await
        .unwrap_err();
    assert_eq!(err.kind(), "branch_failed");
    assert_eq!(start.elapsed(), Duration::from_millis(5), "fails at once");
    assert!(cancelled.load(Ordering::SeqCst), "the sibling was dropped");

    let (text, flag, sum) = call(&join((long, failing, add(1))).collect_all(), 1)
        .await
        .unwrap();
    assert_eq!(text.unwrap(), "1", "collect_all waits for every branch");
    assert_eq!(flag.unwrap_err().kind(), "branch_failed");
    assert_eq!(sum.unwrap(), 2);
}
