//! The demo service: an axum API whose `/quote` endpoint runs a workflow that
//! uses every primitive (including a simulated LLM step with token counts),
//! plus a built-in load generator, so metrics and traces flow with no other
//! tool.
#![forbid(unsafe_code)]

use std::{
    net::SocketAddr,
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use axum::{Router, extract::State, http::StatusCode, routing::post};
use bytes::Bytes;
use futures_util::StreamExt;
use http_body_util::Full;
use hyper_util::{client::legacy::Client, rt::TokioExecutor};
use tower::{Layer, ServiceBuilder, ServiceExt};
use tta_langfuse::{
    InstrumentedStream, LlmChunk, LlmLayer, LlmRequest, LlmStream, Message, ModelPrice, PriceTable,
    Usage,
};
use tta_primitives_core::{BoxPrimitive, Request, WorkflowError, prelude::*};
use tta_primitives_obs::{
    InstrumentExt,
    layer::TelemetryLayer,
    propagation::{ExtractLayer, InjectLayer, workflow_context},
};

/// The simulated LLM provider's name.
pub const SIMULATED_PROVIDER: &str = "simulated";
/// The simulated model (priced in [`llm_layer`]).
pub const SIMULATED_MODEL: &str = "demo-llm-small";

/// The LLM layer of the demo: the built-in prices plus the simulated model's.
pub fn llm_layer() -> LlmLayer {
    let mut prices = PriceTable::builtin();
    prices.insert(
        SIMULATED_MODEL,
        ModelPrice::new(0.5, 1.5)
            .and_then(|p| p.with_cached_input(0.25))
            .expect("valid prices"),
    );
    LlmLayer::new().prices(prices)
}

/// A simulated model: streams a one-line summary after a short wait (the
/// time to first token), reports token counts like a real provider, and is
/// "overloaded" for one total in fifty (those ending in 7 modulo 50), so
/// failures are steady under load yet predictable for a given order.
async fn simulated_model(
    req: Request<LlmRequest>,
) -> Result<LlmStream<WorkflowError>, WorkflowError> {
    work(40, 160).await;
    let total = req
        .input
        .messages
        .last()
        .map(|m| m.content.clone())
        .unwrap_or_default();
    let amount: u64 = total
        .rsplit(' ')
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    if amount % 50 == 7 {
        return Err(WorkflowError::with_kind(
            "llm_overloaded",
            "simulated overload",
        ));
    }
    let input_tokens = 120 + total.len() as u64 * 3;
    let output_tokens = fastrand::u64(40..220);
    let cached = if fastrand::bool() { 64 } else { 0 };
    let words: Vec<String> = format!("{total}, ready to ship.")
        .split_inclusive(' ')
        .map(str::to_owned)
        .collect();
    let last = words.len();
    let chunks = words.into_iter().enumerate().map(move |(i, word)| {
        let end = i + 1 == last;
        LlmChunk {
            id: (i == 0).then(|| "sim-1".to_owned()),
            model: (i == 0).then(|| format!("{SIMULATED_MODEL}-2025-01-01")),
            delta: word,
            finish_reason: end.then(|| "stop".to_owned()),
            usage: end.then_some(Usage {
                input_tokens,
                output_tokens,
                cache_read_input_tokens: cached,
                ..Usage::default()
            }),
        }
    });
    Ok(LlmStream::new(futures_util::stream::iter(chunks).then(
        |chunk| async move {
            work(5, 15).await;
            Ok(chunk)
        },
    )))
}

/// Sleeps a random time in `[min, max)` milliseconds.
async fn work(min: u64, max: u64) {
    tokio::time::sleep(Duration::from_millis(fastrand::u64(min..max))).await;
}

/// Fails with `kind` with probability `p`.
fn flaky(p: f64, kind: &'static str) -> Result<(), WorkflowError> {
    if fastrand::f64() < p {
        Err(WorkflowError::with_kind(kind, format!("simulated {kind}")))
    } else {
        Ok(())
    }
}

/// The quote workflow: validate, then price, stock and tax in parallel
/// (tax is retried, bounded and cached; stock is guarded by a circuit breaker
/// with a fallback), route to a shipping rate, apply a discount for large
/// orders, summarise with a (simulated) LLM, and take payment in a saga that
/// compensates and falls back to invoicing.
pub fn quote_workflow() -> Result<BoxPrimitive<u64, u64>, ConfigError> {
    let validate = lambda(|items: u64| async move {
        if items == 0 {
            return Err(WorkflowError::with_kind(
                "invalid_order",
                "an order needs at least one item",
            ));
        }
        Ok(items)
    })
    .named("validate");

    let price = lambda(|items: u64| async move {
        work(1, 5).await;
        Ok::<_, WorkflowError>(items * 100)
    })
    .named("price");

    let stock = lambda(|items: u64| async move {
        work(1, 10).await;
        flaky(0.15, "stock_unavailable")?;
        Ok::<_, WorkflowError>(items % 7)
    })
    .named("stock_service")
    .circuit_breaker(
        BreakerConfig::builder()
            .policy(FailurePolicy::ConsecutiveFailures(3))
            .open_duration(Duration::from_secs(5))
            .build()?,
    )
    .named("stock_breaker")
    .fallback(lambda(|_: u64| async { Ok::<_, WorkflowError>(0) }).named("stock_unknown"))
    .named("stock");

    let tax = lambda(|items: u64| async move {
        work(5, 40).await;
        // Now and then the tax service stalls past the deadline below.
        if fastrand::f64() < 0.03 {
            work(150, 200).await;
        }
        flaky(0.3, "tax_service_error")?;
        Ok::<_, WorkflowError>(items * 19)
    })
    .named("tax_service")
    .retry(
        RetryPolicy::builder()
            .max_attempts(3)
            .initial_backoff(Duration::from_millis(5))
            .retry_on_kinds(&["tax_service_error"])
            .build()?,
    )
    .named("tax_retry")
    .timeout(Duration::from_millis(120))?
    .named("tax_deadline")
    .cache(
        |_, items: &u64| *items,
        CacheConfig::builder()
            .ttl(Duration::from_secs(10))
            .capacity(20)
            .build()?,
    )
    .named("tax_cache");

    let shipping = router(|_, parts: &Vec<u64>| if parts[0] > 1500 { "freight" } else { "parcel" })
        .route(
            "freight",
            lambda(|parts: Vec<u64>| async move {
                Ok::<_, WorkflowError>(parts.iter().sum::<u64>() + 250)
            })
            .named("freight"),
        )
        .route(
            "parcel",
            lambda(|parts: Vec<u64>| async move {
                Ok::<_, WorkflowError>(parts.iter().sum::<u64>() + 15)
            })
            .named("parcel"),
        )
        .named("shipping");

    let discount = when(
        |_, total: &u64| *total > 2000,
        lambda(|total: u64| async move { Ok::<_, WorkflowError>(total * 9 / 10) })
            .named("apply_discount"),
    )
    .named("discount");

    // The LLM summary: a prompt built from the total, a (simulated,
    // streamed) model call through the LLM layer, and the total read back
    // from the completion. If the model fails, the quote goes on without a
    // summary.
    let prompt = lambda(|total: u64| async move {
        Ok::<_, WorkflowError>(
            LlmRequest::chat(SIMULATED_PROVIDER, SIMULATED_MODEL)
                .message(Message::new("system", "Summarise the quote in one line."))
                .message(Message::new("user", format!("Quote total: {total}")))
                .max_tokens(200)
                .temperature(0.3)
                .prompt("quote-summary", 1)
                .streaming(),
        )
    })
    .named("llm_prompt");
    let llm = step(llm_layer().layer(tower::service_fn(simulated_model))).named("llm_call");
    let read = lambda(|mut stream: InstrumentedStream<WorkflowError>| async move {
        let mut text = String::new();
        while let Some(chunk) = stream.next().await {
            text.push_str(&chunk?.delta);
        }
        text.split(|c: char| !c.is_ascii_digit())
            .find(|digits| !digits.is_empty())
            .and_then(|digits| digits.parse::<u64>().ok())
            .ok_or_else(|| WorkflowError::with_kind("llm_unreadable", "no total in the summary"))
    })
    .named("llm_read");
    let summarise = (prompt >> llm >> read)
        .named("llm_chain")
        .fallback(
            lambda(|total: u64| async move { Ok::<_, WorkflowError>(total) }).named("no_summary"),
        )
        .named("llm_summary");

    let ok = |name: &'static str| {
        lambda(|total: u64| async move { Ok::<_, WorkflowError>(total) }).named(name)
    };
    let payment = Saga::new(
        ok("reserve_stock")
            .with_compensation(ok("release_stock"))
            .named("reserve_stock"),
    )
    .then(
        lambda(|total: u64| async move {
            work(2, 10).await;
            flaky(0.1, "card_declined")?;
            Ok::<_, WorkflowError>(total)
        })
        .named("charge_card")
        .with_compensation(ok("refund_card"))
        .named("charge_card"),
    )
    .named("payment")
    .fallback(ok("invoice_later"))
    .named("pay_or_invoice");

    Ok((validate
        >> (price | stock | tax).named("gather")
        >> shipping
        >> discount
        >> summarise
        >> payment)
        .named("quote")
        .instrumented()
        .into_boxed())
}

/// The API: `POST /quote` with a number of items in the body.
pub fn app(quote: BoxPrimitive<u64, u64>) -> Router {
    Router::new()
        .route("/quote", post(handle_quote))
        .with_state(quote)
        .layer(
            ServiceBuilder::new()
                .layer(ExtractLayer)
                .layer(TelemetryLayer::http_server("tta-demo", "http")),
        )
}

async fn handle_quote(
    State(quote): State<BoxPrimitive<u64, u64>>,
    body: String,
) -> (StatusCode, String) {
    let Ok(items) = body.trim().parse::<u64>() else {
        return (
            StatusCode::BAD_REQUEST,
            "the body must be a number of items\n".into(),
        );
    };
    let ctx = workflow_context("quote").build();
    match quote.oneshot(Request::new(ctx, items)).await {
        Ok(total) => (
            StatusCode::OK,
            format!("{{\"items\":{items},\"total\":{total}}}\n"),
        ),
        Err(e) if e.kind() == "invalid_order" => {
            (StatusCode::UNPROCESSABLE_ENTITY, format!("{e}\n"))
        }
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, format!("{}\n", e.kind())),
    }
}

/// Counts of the load generator's requests by outcome.
#[derive(Debug, Default)]
pub struct LoadStats {
    /// 2xx answers.
    pub ok: AtomicU64,
    /// Other answers and transport errors.
    pub failed: AtomicU64,
}

/// Sends `rate` quote requests per second to `target` until `stop` fires,
/// each in its own trace (a client span, propagated to the server).
pub async fn generate_load(
    target: SocketAddr,
    rate: u32,
    stats: Arc<LoadStats>,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    let client = ServiceBuilder::new()
        .layer(TelemetryLayer::http_client("tta-demo-load", "quote_client"))
        .layer(InjectLayer)
        .service(Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>());
    let mut ticks = tokio::time::interval(Duration::from_secs_f64(1.0 / f64::from(rate.max(1))));
    loop {
        tokio::select! {
            _ = ticks.tick() => {}
            _ = stop.wait_for(|s| *s) => return,
        }
        // Mostly valid orders, some empty ones (rejected by validation).
        let items = if fastrand::u8(..) < 15 {
            0
        } else {
            fastrand::u64(1..30)
        };
        let request = axum::http::Request::post(format!("http://{target}/quote"))
            .body(Full::new(Bytes::from(items.to_string())))
            .expect("a valid request");
        let (client, stats) = (client.clone(), stats.clone());
        tokio::spawn(async move {
            let ok = matches!(client.oneshot(request).await, Ok(r) if r.status().is_success());
            let counter = if ok { &stats.ok } else { &stats.failed };
            counter.fetch_add(1, Ordering::Relaxed);
        });
    }
}
