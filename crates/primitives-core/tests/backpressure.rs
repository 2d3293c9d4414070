//! Backpressure, as the crate README's table says: the primitives that
//! forward `poll_ready` (a wrapped tower service, timeout, circuit breaker,
//! retry, sequence, a boxed primitive, a saga step) report an inner service that is not
//! ready as not ready, and ready again once it is; those that decide inside
//! the call (cache, fallback, router, conditional, parallel, saga) are ready at
//! once and their call waits for the inner service. The inner
//! service here is tower's own `ConcurrencyLimit` with one slot, held by a
//! call that waits on a gate.

use std::sync::Arc;

use futures_util::FutureExt as _;
use tokio::sync::Notify;
use tower::{Service, ServiceExt, limit::ConcurrencyLimit, service_fn};
use tta_primitives_core::{Request, WorkflowContext, WorkflowError, prelude::*};

/// A one-slot service whose calls wait until `gate` is notified.
fn one_slot(
    gate: Arc<Notify>,
) -> impl Service<
    Request<u32>,
    Response = u32,
    Error = WorkflowError,
    Future = impl Future<Output = Result<u32, WorkflowError>> + Send,
> + Clone
+ Send {
    let slow = service_fn(move |r: Request<u32>| {
        let gate = Arc::clone(&gate);
        async move {
            gate.notified().await;
            Ok::<_, WorkflowError>(r.input)
        }
    });
    ConcurrencyLimit::new(slow, 1)
}

/// Holds the only slot of `service` with one call, checks that a clone is
/// then not ready, releases the slot and checks that it is ready again.
async fn forwards_readiness<S>(service: S, gate: Arc<Notify>, what: &str)
where
    S: Service<Request<u32>, Response = u32, Error = WorkflowError> + Clone + Send + 'static,
    S::Future: Send + 'static,
{
    let mut holder = service.clone();
    holder.ready().await.unwrap();
    let held = tokio::spawn(holder.call(Request::new(WorkflowContext::new("bp"), 7)));
    tokio::task::yield_now().await;
    let mut waiting = service.clone();
    assert!(
        waiting.ready().now_or_never().is_none(),
        "{what}: not ready while the inner service's only slot is taken"
    );
    gate.notify_one();
    assert_eq!(held.await.unwrap().unwrap(), 7);
    assert!(
        waiting.ready().now_or_never().is_some(),
        "{what}: ready again once the slot is free"
    );
}

#[tokio::test]
async fn a_wrapped_service_reports_the_inner_services_readiness() {
    let gate = Arc::new(Notify::new());
    forwards_readiness(step(one_slot(Arc::clone(&gate))), gate, "step").await;
}

#[tokio::test]
async fn the_circuit_breaker_reports_the_inner_services_readiness() {
    let gate = Arc::new(Notify::new());
    let breaker = step(one_slot(Arc::clone(&gate)))
        .circuit_breaker(BreakerConfig::builder().build().unwrap());
    forwards_readiness(breaker, gate, "circuit_breaker").await;
}

#[tokio::test]
async fn a_boxed_primitive_reports_the_inner_services_readiness() {
    let gate = Arc::new(Notify::new());
    let boxed = step(one_slot(Arc::clone(&gate))).into_boxed();
    forwards_readiness(boxed, gate, "boxed").await;
}

#[tokio::test]
async fn a_retry_reports_the_inner_services_readiness() {
    let gate = Arc::new(Notify::new());
    let retry = step(one_slot(Arc::clone(&gate)))
        .retry(RetryPolicy::builder().max_attempts(3).build().unwrap());
    forwards_readiness(retry, gate, "retry").await;
}

#[tokio::test]
async fn a_saga_step_reports_its_forward_services_readiness() {
    let gate = Arc::new(Notify::new());
    let undo = lambda(|_: u32| async { Ok::<_, WorkflowError>(()) });
    let saga_step = step(one_slot(Arc::clone(&gate))).with_compensation(undo);
    forwards_readiness(saga_step, gate, "saga step").await;
}

#[tokio::test]
async fn a_timeout_reports_the_inner_services_readiness() {
    let gate = Arc::new(Notify::new());
    let timeout = step(one_slot(Arc::clone(&gate)))
        .timeout(std::time::Duration::from_secs(60))
        .unwrap();
    forwards_readiness(timeout, gate, "timeout").await;
}

#[tokio::test]
async fn a_sequence_reports_its_first_steps_readiness() {
    let gate = Arc::new(Notify::new());
    let sequence = step(one_slot(Arc::clone(&gate)))
        >> lambda(|x: u32| async move { Ok::<_, WorkflowError>(x) });
    forwards_readiness(sequence, gate, "sequence").await;
}

/// Holds the only slot of the inner service with a direct call, then checks
/// that `service` is ready at once (it decides inside the call), that its
/// call waits for the slot, and that it completes once the slot is free.
async fn decides_inside_the_call<S>(
    mut service: S,
    inner: impl Service<
        Request<u32>,
        Response = u32,
        Error = WorkflowError,
        Future = impl Future<Output = Result<u32, WorkflowError>> + Send + 'static,
    > + Send
    + 'static,
    gate: Arc<Notify>,
    what: &str,
) where
    S: Service<Request<u32>, Response = u32, Error = WorkflowError> + Send + 'static,
    S::Future: Send + 'static,
{
    let mut holder = inner;
    holder.ready().await.unwrap();
    let held = tokio::spawn(holder.call(Request::new(WorkflowContext::new("bp"), 7)));
    tokio::task::yield_now().await;
    assert!(
        service.ready().now_or_never().is_some(),
        "{what}: ready although the inner service's only slot is taken"
    );
    let mut waiting = tokio::spawn(service.call(Request::new(WorkflowContext::new("bp"), 8)));
    tokio::task::yield_now().await;
    assert!(
        (&mut waiting).now_or_never().is_none(),
        "{what}: the call waits for the inner service's slot"
    );
    gate.notify_one();
    assert_eq!(held.await.unwrap().unwrap(), 7);
    gate.notify_one();
    assert_eq!(
        waiting.await.unwrap().unwrap(),
        8,
        "{what}: the call completes"
    );
}

#[tokio::test]
async fn a_cache_fallback_router_conditional_parallel_and_saga_decide_inside_the_call() {
    let gate = Arc::new(Notify::new());
    // Clones of one `ConcurrencyLimit` share its one slot.
    let base = step(one_slot(Arc::clone(&gate)));
    let inner = || base.clone();
    let cache = inner().cache(|_, x: &u32| *x, CacheConfig::builder().build().unwrap());
    decides_inside_the_call(cache, inner(), Arc::clone(&gate), "cache").await;
    let fallback = inner().fallback(inner());
    decides_inside_the_call(fallback, inner(), Arc::clone(&gate), "fallback").await;
    let routed = router(|_, _: &u32| "only").route("only", inner());
    decides_inside_the_call(routed, inner(), Arc::clone(&gate), "router").await;
    let conditional = when(|_, _: &u32| true, inner());
    decides_inside_the_call(conditional, inner(), Arc::clone(&gate), "conditional").await;
    let parallel = (inner() | lambda(|x: u32| async move { Ok::<_, WorkflowError>(x) }))
        >> lambda(|v: Vec<u32>| async move { Ok::<_, WorkflowError>(v[0]) });
    decides_inside_the_call(parallel, inner(), Arc::clone(&gate), "parallel").await;
    let saga = Saga::new(
        inner().with_compensation(lambda(|x: u32| async move { Ok::<_, WorkflowError>(x) })),
    );
    decides_inside_the_call(saga, inner(), Arc::clone(&gate), "saga").await;
}
