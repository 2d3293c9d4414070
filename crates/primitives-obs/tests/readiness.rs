//! Backpressure through the instrumentation: every tower layer of this crate
//! (the telemetry layer with each describer, W3C extract and inject, the
//! resource meter) is exactly as ready as the service it wraps, so a load
//! shedder or a concurrency limit behind it still pushes back on the caller.

use std::{
    convert::Infallible,
    future::{Ready, ready},
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    task::{Context, Poll},
};

use futures_util::task::noop_waker_ref;
use tower::{Layer, Service};
use tta_primitives_core::Request;
use tta_primitives_obs::{
    layer::TelemetryLayer,
    propagation::{ExtractLayer, InjectLayer},
    resources::MeasureExt as _,
};

/// A service that is ready only while its gate is open.
#[derive(Debug, Clone, Default)]
struct Gated {
    open: Arc<AtomicBool>,
}

impl<Req> Service<Req> for Gated {
    type Response = http::Response<()>;
    type Error = Infallible;
    type Future = Ready<Result<http::Response<()>, Infallible>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        if self.open.load(Ordering::SeqCst) {
            Poll::Ready(Ok(()))
        } else {
            Poll::Pending
        }
    }

    fn call(&mut self, _req: Req) -> Self::Future {
        ready(Ok(http::Response::new(())))
    }
}

impl tta_primitives_core::Primitive for Gated {}

/// Checks that `wrap(inner)` is pending while `inner` is, and ready once it
/// is.
fn follows_the_inner_service<Req, S>(what: &str, wrap: impl FnOnce(Gated) -> S)
where
    S: Service<Req>,
{
    let inner = Gated::default();
    let mut service = wrap(inner.clone());
    let mut cx = Context::from_waker(noop_waker_ref());
    assert!(
        service.poll_ready(&mut cx).is_pending(),
        "{what}: not ready while the inner service is not"
    );
    inner.open.store(true, Ordering::SeqCst);
    assert!(
        matches!(service.poll_ready(&mut cx), Poll::Ready(Ok(()))),
        "{what}: ready once the inner service is"
    );
}

#[test]
fn every_layer_is_as_ready_as_the_service_it_wraps() {
    follows_the_inner_service::<u32, _>("telemetry layer", |inner| {
        TelemetryLayer::new("readiness", "generic")
            .metrics_only()
            .layer(inner)
    });
    follows_the_inner_service::<http::Request<()>, _>("http server layer", |inner| {
        TelemetryLayer::http_server("readiness", "server").layer(inner)
    });
    follows_the_inner_service::<http::Request<()>, _>("grpc server layer", |inner| {
        TelemetryLayer::grpc_server("readiness", "grpc").layer(inner)
    });
    follows_the_inner_service::<http::Request<()>, _>("http client layer", |inner| {
        TelemetryLayer::http_client("readiness", "client").layer(inner)
    });
    follows_the_inner_service::<http::Request<()>, _>("extract", |inner| ExtractLayer.layer(inner));
    follows_the_inner_service::<http::Request<()>, _>("inject", |inner| InjectLayer.layer(inner));
    follows_the_inner_service::<Request<u32>, _>("measured", |inner| {
        inner.measure_resources("readiness")
    });
}
