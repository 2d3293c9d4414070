//! Backpressure: the primitives that forward `poll_ready` (a wrapped tower
//! service, the circuit breaker, a retry, a boxed primitive) report an inner service
//! that is not ready as not ready, and ready again once it is. The inner
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
