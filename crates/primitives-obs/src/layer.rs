//! A `tower::Layer` that instruments any service: one span and the
//! catalogue metrics per call.

use std::{
    borrow::Cow,
    future::Future,
    marker::PhantomData,
    pin::Pin,
    sync::{Arc, OnceLock},
    task::{Context as TaskContext, Poll, ready},
};

use opentelemetry::{
    Context, KeyValue,
    global::BoxedTracer,
    trace::{SpanKind, Status, TraceContextExt, Tracer, TracerProvider},
};
use pin_project_lite::pin_project;
use tower::{Layer, Service};
use tta_primitives_core::observe::{self, NodeOutcome, PrimitiveType};

pub use crate::server::{GrpcServer, HttpServer};
use crate::{
    attr,
    builtin_metrics::{NodeMetrics, instruments},
    clock::Anchor,
};

/// What a [`TelemetryLayer`] learns from a request and its result.
///
/// [`Generic`] fits any service; [`Http`] fits `http` services (axum,
/// tonic, hyper clients).
pub trait Describe<Req, Resp, E>: Clone {
    /// A low-cardinality span name for `req` (`None`: the layer's name).
    fn span_name(&self, req: &Req) -> Option<Cow<'static, str>>;
    /// The parent context of the call's span (`None`: the current context).
    fn parent(&self, req: &Req) -> Option<Context> {
        let _ = req;
        None
    }
    /// Span attributes from the request.
    fn request_attributes(&self, req: &Req, attributes: &mut Vec<KeyValue>);
    /// `None` for success, or the low-cardinality error type.
    fn classify(&self, result: &Result<Resp, E>) -> Option<&'static str>;
    /// Span attributes from a response.
    fn response_attributes(&self, resp: &Resp, attributes: &mut Vec<KeyValue>);
    /// An answer that is the client's error, not a failure of the service
    /// (an HTTP 4xx, a gRPC `NOT_FOUND`): its low-cardinality type. It is
    /// recorded with `outcome="expected"` and leaves the span's status
    /// unset. Consulted only when [`classify`](Self::classify) finds no
    /// error.
    fn client_error(&self, result: &Result<Resp, E>) -> Option<&'static str> {
        let _ = result;
        None
    }
    /// The request's labels in a per-request server metric (the HTTP
    /// method and route, the gRPC service and method); `None`: the layer
    /// records only the node's metrics.
    fn request_labels(&self, req: &Req) -> Option<RequestLabels> {
        let _ = req;
        None
    }
    /// The status label of that metric for `result` (`2xx`, `NOT_FOUND`).
    fn status_label(&self, result: &Result<Resp, E>) -> &'static str {
        let _ = result;
        ""
    }
    /// When `result` says the request named an operation that does not
    /// exist (a gRPC `UNIMPLEMENTED`), the span's name to use instead of
    /// the one the request gave: what the request named must not be kept,
    /// since anyone can send any path. The metric's request labels (and
    /// the span attributes made from them) become `_OTHER`.
    fn unknown_operation(&self, result: &Result<Resp, E>) -> Option<&'static str> {
        let _ = result;
        None
    }
}

/// A request's labels in a per-request server metric, made by the
/// describers of this crate ([`crate::server`]): the metric, and the two
/// labels the request gives (bounded by the cardinality guard); the layer
/// adds its name as `server` and the result's status.
#[derive(Debug, Clone)]
pub struct RequestLabels {
    pub(crate) series: &'static crate::series::HistogramSeries,
    pub(crate) first: Cow<'static, str>,
    pub(crate) second: Cow<'static, str>,
    /// The span attributes the two labels are also written to when the
    /// call ends (once it is known whether they name anything).
    pub(crate) span_attributes: Option<[&'static str; 2]>,
}

/// Describes any service: errors are `error`, everything else succeeds.
#[derive(Debug, Clone, Copy, Default)]
pub struct Generic;

impl<Req, Resp, E> Describe<Req, Resp, E> for Generic {
    fn span_name(&self, _req: &Req) -> Option<Cow<'static, str>> {
        None
    }
    fn request_attributes(&self, _req: &Req, _attributes: &mut Vec<KeyValue>) {}
    fn classify(&self, result: &Result<Resp, E>) -> Option<&'static str> {
        result.is_err().then_some("error")
    }
    fn response_attributes(&self, _resp: &Resp, _attributes: &mut Vec<KeyValue>) {}
}

/// Describes HTTP services (clients; servers use [`HttpServer`]) with
/// OpenTelemetry's HTTP conventions: span name `{method}` (or
/// `{method} {route}` when the request carries an [`HttpRoute`] extension
/// or axum's `MatchedPath`; `HTTP` for a method outside the standard ones),
/// `http.request.method` ([`known_method`]: unknown methods as `_OTHER`,
/// with the original in `http.request.method_original`), `url.path`,
/// `http.response.status_code`; 5xx responses are errors of type
/// `http_5xx`.
#[derive(Debug, Clone, Copy, Default)]
pub struct Http;

/// The route template of a request (e.g. `/users/{id}`), for span names,
/// `http.route` and the route label. axum's router is read directly (its
/// `MatchedPath`, with the `axum` feature, on by default); a router of
/// another framework inserts this extension before the layer runs.
#[derive(Debug, Clone)]
pub struct HttpRoute(pub Cow<'static, str>);

/// The method as OpenTelemetry's HTTP conventions record it: one of the
/// methods of RFC 9110 and RFC 5789 (`PATCH`), else `_OTHER`, so a client
/// cannot mint span names or attribute values by sending made-up methods.
///
/// ```
/// use tta_primitives_obs::layer::known_method;
///
/// assert_eq!(known_method(&http::Method::GET), "GET");
/// assert_eq!(known_method(&http::Method::from_bytes(b"BREW").unwrap()), "_OTHER");
/// ```
pub fn known_method(method: &http::Method) -> &'static str {
    match *method {
        http::Method::GET => "GET",
        http::Method::HEAD => "HEAD",
        http::Method::POST => "POST",
        http::Method::PUT => "PUT",
        http::Method::DELETE => "DELETE",
        http::Method::CONNECT => "CONNECT",
        http::Method::OPTIONS => "OPTIONS",
        http::Method::TRACE => "TRACE",
        http::Method::PATCH => "PATCH",
        _ => "_OTHER",
    }
}

impl<B, RB, E> Describe<http::Request<B>, http::Response<RB>, E> for Http {
    /// `{method}` or `{method} {route}`, with an unknown method as `HTTP`
    /// (the conventions' name when the method is `_OTHER`).
    fn span_name(&self, req: &http::Request<B>) -> Option<Cow<'static, str>> {
        let method = match known_method(req.method()) {
            "_OTHER" => "HTTP",
            known => known,
        };
        Some(match crate::server::route_of(req) {
            Some(route) => Cow::Owned(format!("{method} {route}")),
            None => Cow::Borrowed(method),
        })
    }

    /// The span of the workflow step that sends the request, when the
    /// request carries its [`WorkflowContext`](tta_primitives_core::WorkflowContext)
    /// as an extension (clients called from workflow steps).
    fn parent(&self, req: &http::Request<B>) -> Option<Context> {
        let ctx = req
            .extensions()
            .get::<tta_primitives_core::WorkflowContext>()?;
        Some(crate::propagation::context_of(ctx))
    }

    fn request_attributes(&self, req: &http::Request<B>, attributes: &mut Vec<KeyValue>) {
        let method = known_method(req.method());
        attributes.push(KeyValue::new(attr::HTTP_REQUEST_METHOD, method));
        if method == "_OTHER" {
            attributes.push(KeyValue::new(
                attr::HTTP_REQUEST_METHOD_ORIGINAL,
                req.method().as_str().to_owned(),
            ));
        }
        attributes.push(KeyValue::new(attr::URL_PATH, req.uri().path().to_owned()));
        if let Some(route) = crate::server::route_of(req) {
            attributes.push(KeyValue::new(attr::HTTP_ROUTE, route.to_owned()));
        }
    }

    fn classify(&self, result: &Result<http::Response<RB>, E>) -> Option<&'static str> {
        match result {
            Ok(resp) if resp.status().is_server_error() => Some("http_5xx"),
            Ok(_) => None,
            Err(_) => Some("transport"),
        }
    }

    fn response_attributes(&self, resp: &http::Response<RB>, attributes: &mut Vec<KeyValue>) {
        attributes.push(KeyValue::new(
            attr::HTTP_RESPONSE_STATUS_CODE,
            i64::from(resp.status().as_u16()),
        ));
    }
}

/// Instruments every call of the wrapped service: a span (child of the
/// current OpenTelemetry context, and current while the call runs, so work
/// inside nests under it) and the catalogue metrics with
/// `primitive_type="service"`.
///
/// ```
/// use tower::{ServiceBuilder, ServiceExt, service_fn};
/// use tta_primitives_obs::layer::TelemetryLayer;
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let svc = ServiceBuilder::new()
///     .layer(TelemetryLayer::new("billing", "charge"))
///     .service(service_fn(|amount: u64| async move { Ok::<_, std::convert::Infallible>(amount * 2) }));
/// assert_eq!(svc.oneshot(21).await.unwrap(), 42);
/// # }
/// ```
///
/// Spans come from the global tracer provider unless the layer is given a
/// provider ([`with_tracer_provider`](Self::with_tracer_provider), spans
/// boxed behind a trait object) or a concrete tracer
/// ([`with_tracer`](Self::with_tracer), no boxing).
pub struct TelemetryLayer<D = Generic, T = BoxedTracer> {
    config: Arc<Config<T>>,
    describe: D,
}

impl<D: Clone, T> Clone for TelemetryLayer<D, T> {
    fn clone(&self) -> Self {
        Self {
            config: Arc::clone(&self.config),
            describe: self.describe.clone(),
        }
    }
}

/// A layer's settings, shared by its clones and the services it wraps;
/// configuring a layer whose settings are shared copies them first
/// (copy-on-write), so configuring after cloning changes that layer only.
struct Config<T> {
    workflow: Cow<'static, str>,
    name: Cow<'static, str>,
    kind: SpanKind,
    tracer: Option<Arc<T>>,
    /// The node's metric handles, looked up once (on the first call, after
    /// the recorder is installed) instead of on every call.
    metrics: OnceLock<&'static NodeMetrics>,
}

impl<T> Clone for Config<T> {
    fn clone(&self) -> Self {
        Self {
            workflow: self.workflow.clone(),
            name: self.name.clone(),
            kind: self.kind.clone(),
            tracer: self.tracer.clone(),
            metrics: self.metrics.clone(),
        }
    }
}

impl<T> Config<T> {
    fn metrics(&self) -> &'static NodeMetrics {
        self.metrics.get_or_init(|| {
            instruments().node(&self.workflow, &self.name, PrimitiveType::Service, false)
        })
    }

    fn attributes(&self) -> [KeyValue; 3] {
        [
            KeyValue::new(attr::WORKFLOW_NAME, self.workflow.clone()),
            KeyValue::new(attr::PRIMITIVE_NAME, self.name.clone()),
            KeyValue::new(attr::PRIMITIVE_TYPE, PrimitiveType::Service.as_str()),
        ]
    }
}

impl TelemetryLayer<Generic> {
    /// Instruments a service as node `name` of `workflow` (the metric
    /// labels), with spans from the global tracer provider.
    pub fn new(workflow: impl Into<Cow<'static, str>>, name: impl Into<Cow<'static, str>>) -> Self {
        Self::build(workflow.into(), name.into(), SpanKind::Internal, Generic)
    }
}

impl TelemetryLayer<HttpServer> {
    /// Instruments an HTTP server (span kind `server`) as node `name` of
    /// `workflow`: continues the caller's W3C trace, names spans
    /// `{method} {route}` from the route template (axum's matched route:
    /// add the layer with `Router::layer`, after the routes), records
    /// `http.route`, tells 5xx failures from 4xx client errors, and records
    /// `tta_http_server_request_duration_seconds` by method, route and
    /// status class. See [`crate::server`].
    ///
    /// ```
    /// use axum::{Router, routing::get};
    /// use tta_primitives_obs::layer::TelemetryLayer;
    ///
    /// let app: Router = Router::new()
    ///     .route("/users/{id}", get(|| async { "a user" }))
    ///     .layer(TelemetryLayer::http_server("shop", "api"));
    /// ```
    pub fn http_server(
        workflow: impl Into<Cow<'static, str>>,
        name: impl Into<Cow<'static, str>>,
    ) -> Self {
        Self::build(workflow.into(), name.into(), SpanKind::Server, HttpServer)
    }
}

impl TelemetryLayer<GrpcServer> {
    /// Instruments a gRPC server (tonic; span kind `server`) as node `name`
    /// of `workflow`: continues the caller's trace, names spans
    /// `{service}/{method}` with `rpc.*` attributes and the status code,
    /// tells server failures from client errors by status code, and
    /// records `tta_rpc_server_duration_seconds`. Add it to the server with
    /// `tonic::transport::Server::builder().layer(..)`. See
    /// [`crate::server`].
    pub fn grpc_server(
        workflow: impl Into<Cow<'static, str>>,
        name: impl Into<Cow<'static, str>>,
    ) -> Self {
        Self::build(workflow.into(), name.into(), SpanKind::Server, GrpcServer)
    }
}

impl TelemetryLayer<Http> {
    /// Instruments an HTTP client (span kind `client`).
    pub fn http_client(
        workflow: impl Into<Cow<'static, str>>,
        name: impl Into<Cow<'static, str>>,
    ) -> Self {
        Self::build(workflow.into(), name.into(), SpanKind::Client, Http)
    }
}

impl<D> TelemetryLayer<D> {
    fn build(
        workflow: Cow<'static, str>,
        name: Cow<'static, str>,
        kind: SpanKind,
        describe: D,
    ) -> Self {
        // An empty name would make an empty label and span name.
        let name = if name.is_empty() {
            Cow::Borrowed("service")
        } else {
            name
        };
        Self {
            config: Arc::new(Config {
                workflow,
                name,
                kind,
                tracer: Some(Arc::new(opentelemetry::global::tracer(
                    crate::INSTRUMENTATION_NAME,
                ))),
                metrics: OnceLock::new(),
            }),
            describe,
        }
    }
}

impl<D, T> TelemetryLayer<D, T> {
    /// This layer's settings, copied first when clones share them.
    fn config_mut(&mut self) -> &mut Config<T> {
        Arc::make_mut(&mut self.config)
    }

    /// Takes spans from `tracer` (of any type: no boxing per span). Like
    /// every setting, it applies to this layer (and the clones made from it
    /// afterwards), never to clones made before.
    pub fn with_tracer<T2: Tracer>(self, tracer: T2) -> TelemetryLayer<D, T2> {
        let config = &*self.config;
        TelemetryLayer {
            config: Arc::new(Config {
                workflow: config.workflow.clone(),
                name: config.name.clone(),
                kind: config.kind.clone(),
                tracer: Some(Arc::new(tracer)),
                metrics: config.metrics.clone(),
            }),
            describe: self.describe,
        }
    }

    /// Takes spans from `provider` instead of the global provider.
    pub fn with_tracer_provider<P>(self, provider: &P) -> TelemetryLayer<D, BoxedTracer>
    where
        P: TracerProvider,
        P::Tracer: Send + Sync + 'static,
        <P::Tracer as Tracer>::Span: Send + Sync + 'static,
    {
        self.with_tracer(BoxedTracer::new(Box::new(
            provider.tracer(crate::INSTRUMENTATION_NAME),
        )))
    }

    /// Records metrics only, no spans.
    pub fn metrics_only(mut self) -> Self {
        self.config_mut().tracer = None;
        self
    }

    /// Sets the span kind.
    pub fn span_kind(mut self, kind: SpanKind) -> Self {
        self.config_mut().kind = kind;
        self
    }
}

impl<S, D: Clone, T> Layer<S> for TelemetryLayer<D, T> {
    type Service = TelemetryService<S, D, T>;

    fn layer(&self, inner: S) -> Self::Service {
        TelemetryService {
            inner,
            config: Arc::clone(&self.config),
            describe: self.describe.clone(),
        }
    }
}

/// A service instrumented by [`TelemetryLayer`].
pub struct TelemetryService<S, D = Generic, T = BoxedTracer> {
    inner: S,
    config: Arc<Config<T>>,
    describe: D,
}

impl<S: Clone, D: Clone, T> Clone for TelemetryService<S, D, T> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            config: Arc::clone(&self.config),
            describe: self.describe.clone(),
        }
    }
}

impl<S: std::fmt::Debug, D, T> std::fmt::Debug for TelemetryService<S, D, T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TelemetryService")
            .field("inner", &self.inner)
            .field("name", &self.config.name)
            .finish_non_exhaustive()
    }
}

impl<S, D, T, Req> Service<Req> for TelemetryService<S, D, T>
where
    S: Service<Req>,
    D: Describe<Req, S::Response, S::Error>,
    T: Tracer,
    T::Span: Send + Sync + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = TelemetryFuture<S::Future, D, Req>;

    fn poll_ready(&mut self, cx: &mut TaskContext<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Req) -> Self::Future {
        let config = &*self.config;
        let metrics = config.metrics();
        metrics.record_start();
        // The span's times and the call's duration come from one clock
        // reading each (see `clock`), like a workflow node's; without a span
        // only the duration is needed.
        let anchor = match config.tracer {
            Some(_) => Anchor::now(),
            None => Anchor::monotonic_only(),
        };
        let cx = config.tracer.as_deref().map(|tracer| {
            let name = self
                .describe
                .span_name(&req)
                .unwrap_or_else(|| config.name.clone());
            // Attributes go into the builder, where samplers see them.
            let mut attributes = Vec::with_capacity(6);
            attributes.extend(config.attributes());
            self.describe.request_attributes(&req, &mut attributes);
            let builder = tracer
                .span_builder(name)
                .with_kind(config.kind.clone())
                .with_start_time(anchor.wall(0))
                .with_attributes(attributes);
            crate::span::start(tracer, builder, self.describe.parent(&req).as_ref())
        });
        let request_labels = self
            .describe
            .request_labels(&req)
            .map(|labels| Box::new((labels, config.name.clone())));
        let inner = crate::span::in_context(cx.as_ref(), || self.inner.call(req));
        TelemetryFuture {
            inner,
            call: Call {
                metrics,
                cx,
                anchor,
                request_labels,
                done: false,
            },
            describe: self.describe.clone(),
            _request: PhantomData,
        }
    }
}

/// How a call ended, as its describer classified it.
#[derive(Clone, Copy)]
enum Ended {
    Success,
    /// The service failed, with this error type.
    Failed(&'static str),
    /// The client's error (an HTTP 4xx), with this type.
    ClientError(&'static str),
    Cancelled,
}

/// One call in flight; reports cancellation if dropped unfinished.
struct Call {
    metrics: &'static NodeMetrics,
    cx: Option<Context>,
    anchor: Anchor,
    /// The per-request server metric's labels, and the layer's name
    /// (boxed: servers only, so other calls' futures stay small).
    request_labels: Option<Box<(RequestLabels, Cow<'static, str>)>>,
    done: bool,
}

impl Call {
    fn finish(
        &mut self,
        ended: Ended,
        status: &'static str,
        mut response_attributes: Vec<KeyValue>,
        unknown: Option<&'static str>,
    ) {
        self.done = true;
        let completed = observe::now();
        let seconds = completed
            .saturating_duration_since(self.anchor.started())
            .as_secs_f64();
        match ended {
            Ended::Success => self.metrics.record_end(&NodeOutcome::Success, seconds),
            Ended::Failed(kind) => self.metrics.record_end_kind(kind, seconds),
            Ended::ClientError(kind) => self.metrics.record_end_expected(kind, seconds),
            Ended::Cancelled => self.metrics.record_end(&NodeOutcome::Cancelled, seconds),
        }
        if let Some(request) = &self.request_labels {
            let (labels, server) = &**request;
            let (first, second) = match unknown {
                Some(_) => ("_OTHER", "_OTHER"),
                None => (&*labels.first, &*labels.second),
            };
            labels
                .series
                .record(&[server, first, second, status], seconds);
            if let (Some([k1, k2]), Some(_)) = (labels.span_attributes, &self.cx) {
                response_attributes.push(KeyValue::new(k1, first.to_owned()));
                response_attributes.push(KeyValue::new(k2, second.to_owned()));
            }
        }
        if let (Some(name), Some(cx)) = (unknown, &self.cx) {
            cx.span().update_name(name);
        }
        if let Some(cx) = &self.cx {
            let span = cx.span();
            // Each span operation takes the span's lock: skip empty ones.
            if !response_attributes.is_empty() {
                span.set_attributes(response_attributes);
            }
            match ended {
                Ended::Cancelled => span.set_attribute(KeyValue::new(attr::CANCELLED, true)),
                Ended::Failed(kind) => {
                    span.set_attribute(KeyValue::new(attr::ERROR_TYPE, kind));
                    span.add_event("exception", vec![KeyValue::new(attr::EXCEPTION_TYPE, kind)]);
                    span.set_status(Status::error(kind));
                }
                Ended::Success | Ended::ClientError(_) => {}
            }
            span.end_with_timestamp(self.anchor.wall_at(completed));
        }
    }
}

impl Drop for Call {
    fn drop(&mut self) {
        if !self.done {
            self.finish(Ended::Cancelled, "cancelled", Vec::new(), None);
        }
    }
}

pin_project! {
    /// The future of a [`TelemetryService`].
    #[must_use = "futures do nothing unless polled"]
    pub struct TelemetryFuture<F, D, Req> {
        #[pin]
        inner: F,
        call: Call,
        describe: D,
        _request: PhantomData<fn(Req)>,
    }
}

impl<F, D, Req, Resp, E> Future for TelemetryFuture<F, D, Req>
where
    F: Future<Output = Result<Resp, E>>,
    D: Describe<Req, Resp, E>,
{
    type Output = Result<Resp, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let result = ready!(crate::span::in_context(this.call.cx.as_ref(), || {
            this.inner.poll(cx)
        }));
        let mut attributes = Vec::new();
        if let (Ok(resp), Some(_)) = (&result, &this.call.cx) {
            this.describe.response_attributes(resp, &mut attributes);
        }
        let ended = match this.describe.classify(&result) {
            Some(kind) => Ended::Failed(kind),
            None => this
                .describe
                .client_error(&result)
                .map_or(Ended::Success, Ended::ClientError),
        };
        let status = match this.call.request_labels {
            Some(_) => this.describe.status_label(&result),
            None => "",
        };
        let unknown = this.describe.unknown_operation(&result);
        this.call.finish(ended, status, attributes, unknown);
        Poll::Ready(result)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_method_of_the_http_rfcs_keeps_its_name_and_any_other_is_other() {
        let known = [
            "GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH",
        ];
        for name in known {
            let method = http::Method::from_bytes(name.as_bytes()).unwrap();
            assert_eq!(known_method(&method), name);
        }
        for made_up in ["BREW", "get", "PROPFIND"] {
            let method = http::Method::from_bytes(made_up.as_bytes()).unwrap();
            assert_eq!(known_method(&method), "_OTHER", "{made_up}");
        }
    }
}
