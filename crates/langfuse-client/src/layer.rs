//! The LLM instrumentation layer.

use std::{
    future::Future,
    pin::Pin,
    sync::Arc,
    task::{Context as TaskContext, Poll, ready},
};

use opentelemetry::{
    global::BoxedTracer,
    trace::{SpanKind, Tracer, TracerProvider},
};
use pin_project_lite::pin_project;
use tower::{Layer, Service};
use tta_primitives_core::{Request, WorkflowContext};
use tta_primitives_obs::{ChildSpanClock, span};

use crate::{
    capture::Capture,
    pricing::PriceTable,
    record::{Outcome, Recorder, Shared, Summary, effective_langfuse},
    stream::InstrumentedStream,
    types::{LlmRequest, LlmResponse, LlmStream},
};

/// The instrumentation scope of the layer's spans.
pub const INSTRUMENTATION_NAME: &str = "tta-langfuse";

/// A request the layer can describe: a bare [`LlmRequest`], or one sent
/// from a workflow step as `Request<LlmRequest>`, whose span then nests
/// under the step's and whose Langfuse user, session, tags and trace name
/// default to the workflow's.
pub trait LlmCall {
    /// The LLM request.
    fn llm_request(&self) -> &LlmRequest;
    /// The workflow the call runs in, if any.
    fn workflow(&self) -> Option<&WorkflowContext> {
        None
    }
}

impl LlmCall for LlmRequest {
    fn llm_request(&self) -> &LlmRequest {
        self
    }
}

impl LlmCall for Request<LlmRequest> {
    fn llm_request(&self) -> &LlmRequest {
        &self.input
    }
    fn workflow(&self) -> Option<&WorkflowContext> {
        Some(&self.ctx)
    }
}

/// What an instrumented service returns: a complete [`LlmResponse`], or an
/// [`LlmStream`] whose chunks are observed as they pass.
///
/// Sealed: the layer knows how to observe exactly these two shapes.
pub trait LlmOutput: Sized + sealed::Sealed {
    /// The type handed back to the caller.
    type Instrumented;
    /// Records the output (now, or as it streams).
    #[doc(hidden)]
    fn instrument(self, recorder: Recorder) -> Self::Instrumented;
}

mod sealed {
    pub trait Sealed {}
    impl Sealed for crate::LlmResponse {}
    impl<E> Sealed for crate::LlmStream<E> {}
}

impl LlmOutput for LlmResponse {
    type Instrumented = LlmResponse;

    fn instrument(self, mut recorder: Recorder) -> LlmResponse {
        let capture = recorder.capture().is_enabled();
        recorder.finish(Outcome::Success(Summary {
            id: self.id.as_deref(),
            model: self.model.as_deref(),
            finish_reasons: &self.finish_reasons,
            usage: self.usage,
            output: capture.then_some(&self.output[..]),
        }));
        self
    }
}

impl<E: std::fmt::Display + Send + 'static> LlmOutput for LlmStream<E> {
    type Instrumented = InstrumentedStream<E>;

    fn instrument(self, recorder: Recorder) -> InstrumentedStream<E> {
        InstrumentedStream::new(self, recorder)
    }
}

/// Instruments LLM calls: one span per call with the GenAI semantic
/// conventions' and Langfuse's attributes, and the `tta_llm_*` metrics
/// (requests, tokens by type, cost, duration, time to first token).
///
/// ```
/// use tower::{ServiceBuilder, ServiceExt, service_fn};
/// use tta_langfuse::{LlmLayer, LlmRequest, LlmResponse, Message, Usage};
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let client = service_fn(|req: LlmRequest| async move {
///     // Call the provider here; adapters in `tta_langfuse::providers` map its bodies.
///     Ok::<_, std::io::Error>(LlmResponse {
///         model: Some(format!("{}-2024-07-18", req.model)),
///         usage: Some(Usage { input_tokens: 12, output_tokens: 3, ..Usage::default() }),
///         finish_reasons: vec!["stop".into()],
///         ..LlmResponse::default()
///     })
/// });
/// let llm = ServiceBuilder::new().layer(LlmLayer::new()).service(client);
/// let resp = llm
///     .oneshot(LlmRequest::chat("openai", "gpt-4o-mini").message(Message::new("user", "hi")))
///     .await
///     .unwrap();
/// assert_eq!(resp.usage.unwrap().output_tokens, 3);
/// # }
/// ```
///
/// Spans come from the global tracer provider unless the layer is given a
/// provider ([`with_tracer_provider`](Self::with_tracer_provider), spans
/// boxed behind a trait object) or a concrete tracer
/// ([`with_tracer`](Self::with_tracer), no boxing).
pub struct LlmLayer<T = BoxedTracer> {
    shared: Arc<Shared>,
    tracer: Option<Arc<T>>,
}

impl<T> Clone for LlmLayer<T> {
    fn clone(&self) -> Self {
        Self {
            shared: Arc::clone(&self.shared),
            tracer: self.tracer.clone(),
        }
    }
}

impl<T> std::fmt::Debug for LlmLayer<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LlmLayer")
            .field("capture", &self.shared.capture)
            .field("traced", &self.tracer.is_some())
            .finish_non_exhaustive()
    }
}

impl Default for LlmLayer {
    fn default() -> Self {
        Self::new()
    }
}

impl LlmLayer {
    /// A layer with the built-in prices, no prompt capture, and spans from
    /// the global tracer provider. Registers the LLM metrics.
    pub fn new() -> Self {
        let _ = crate::metrics::register_metrics();
        Self {
            shared: Arc::new(Shared::new(PriceTable::builtin(), Capture::disabled())),
            tracer: Some(Arc::new(opentelemetry::global::tracer(
                INSTRUMENTATION_NAME,
            ))),
        }
    }

    /// Takes spans from `provider` instead of the global provider.
    pub fn with_tracer_provider<P>(self, provider: &P) -> Self
    where
        P: TracerProvider,
        P::Tracer: Send + Sync + 'static,
        <P::Tracer as Tracer>::Span: Send + Sync + 'static,
    {
        self.with_tracer(BoxedTracer::new(Box::new(
            provider.tracer(INSTRUMENTATION_NAME),
        )))
    }
}

impl<T> LlmLayer<T> {
    /// Takes spans from `tracer` (of any type: no boxing per span).
    pub fn with_tracer<T2: Tracer>(self, tracer: T2) -> LlmLayer<T2> {
        LlmLayer {
            shared: self.shared,
            tracer: Some(Arc::new(tracer)),
        }
    }

    /// The settings to change: this layer's own, copied first when clones
    /// share them (the clones keep theirs).
    fn shared_mut(&mut self) -> &mut Shared {
        Arc::make_mut(&mut self.shared)
    }

    /// Prices calls with `prices` instead of the built-in table.
    pub fn prices(mut self, prices: PriceTable) -> Self {
        let shared = self.shared_mut();
        shared.prices = prices;
        shared.resolved = Default::default();
        self
    }

    /// Sets prompt and completion capture (off by default).
    pub fn capture(mut self, capture: Capture) -> Self {
        self.shared_mut().capture = capture;
        self
    }

    /// Records metrics only, no spans.
    pub fn metrics_only(mut self) -> Self {
        self.tracer = None;
        self
    }
}

impl<S, T> Layer<S> for LlmLayer<T> {
    type Service = LlmService<S, T>;

    fn layer(&self, inner: S) -> LlmService<S, T> {
        LlmService {
            inner,
            layer: self.clone(),
        }
    }
}

/// A service instrumented by [`LlmLayer`].
#[derive(Debug)]
pub struct LlmService<S, T = BoxedTracer> {
    inner: S,
    layer: LlmLayer<T>,
}

impl<S: Clone, T> Clone for LlmService<S, T> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            layer: self.layer.clone(),
        }
    }
}

impl<S, T, R> Service<R> for LlmService<S, T>
where
    T: Tracer,
    T::Span: Send + Sync + 'static,
    R: LlmCall,
    S: Service<R>,
    S::Response: LlmOutput,
    S::Error: std::fmt::Display,
{
    type Response = <S::Response as LlmOutput>::Instrumented;
    type Error = S::Error;
    type Future = LlmFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut TaskContext<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: R) -> Self::Future {
        let shared = &self.layer.shared;
        let llm = req.llm_request();
        let workflow = req.workflow();
        // Under a traced workflow node, the span is timed on the node's
        // trace clock and holds the node's span open until it ends (a
        // stream read after its step returned included).
        let mut clock = None;
        let cx = self.layer.tracer.as_deref().map(|tracer| {
            let langfuse = effective_langfuse(llm, workflow);
            let attributes = Recorder::request_attributes(shared, llm, &langfuse);
            let name = format!("{} {}", llm.operation.as_str(), llm.model);
            let mut builder = tracer
                .span_builder(name)
                .with_kind(SpanKind::Client)
                .with_attributes(attributes);
            clock = workflow.and_then(ChildSpanClock::under);
            if let Some(clock) = &clock {
                builder = builder.with_start_time(clock.start_time());
            }
            let parent = workflow.map(tta_primitives_obs::propagation::context_of);
            span::start(tracer, builder, parent.as_ref())
        });
        let recorder = Recorder::new(
            Arc::clone(shared),
            &llm.provider,
            &llm.model,
            cx.clone(),
            clock,
        );
        let inner = span::in_context(cx.as_ref(), || self.inner.call(req));
        LlmFuture {
            inner,
            recorder: Some(recorder),
        }
    }
}

pin_project! {
    /// The future of an instrumented call.
    pub struct LlmFuture<F> {
        #[pin]
        inner: F,
        recorder: Option<Recorder>,
    }
}

impl<F, T, E> Future for LlmFuture<F>
where
    F: Future<Output = Result<T, E>>,
    T: LlmOutput,
    E: std::fmt::Display,
{
    type Output = Result<T::Instrumented, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let result = ready!(this.inner.poll(cx));
        let mut recorder = this
            .recorder
            .take()
            .expect("LlmFuture polled after completion");
        Poll::Ready(match result {
            Ok(output) => Ok(output.instrument(recorder)),
            Err(error) => {
                recorder.finish(Outcome::Error(&error));
                Err(error)
            }
        })
    }
}
