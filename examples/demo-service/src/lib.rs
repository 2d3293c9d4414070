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

use axum::{
    Router, error_handling::HandleErrorLayer, extract::State, http::StatusCode, routing::post,
};
use bytes::Bytes;
use futures_util::StreamExt;
use http_body_util::Full;
use hyper_util::{client::legacy::Client, rt::TokioExecutor};
use tower::{Layer, ServiceBuilder, ServiceExt, limit::GlobalConcurrencyLimitLayer};
use tta_langfuse::{
    InstrumentedStream, LlmChunk, LlmLayer, LlmRequest, LlmStream, Message, ModelPrice, PriceTable,
    Usage,
};
use tta_primitives_core::{BoxPrimitive, Request, WorkflowError, prelude::*};
use tta_primitives_obs::{
    InstrumentExt,
    layer::TelemetryLayer,
    propagation::{InjectLayer, workflow_context},
};

/// The largest order the API accepts, in items: larger ones are refused
/// with 400 (every amount derived from it fits a `u64` with room to spare).
pub const MAX_ITEMS: u64 = 1_000_000;

/// The API's default concurrency limit (`--max-concurrency`).
pub const DEFAULT_MAX_CONCURRENCY: u32 = 256;

/// The load generator's default in-flight limit (`--max-in-flight`).
pub const DEFAULT_MAX_IN_FLIGHT: u32 = 256;

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

/// The error of an amount that does not fit: the order is refused.
fn too_large() -> WorkflowError {
    WorkflowError::with_kind("invalid_order", "the order is too large to price")
}

/// `parts` summed, plus `extra`, refusing an overflow.
fn checked_sum(parts: &[u64], extra: u64) -> Result<u64, WorkflowError> {
    parts
        .iter()
        .try_fold(extra, |sum, part| sum.checked_add(*part))
        .ok_or_else(too_large)
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
        items.checked_mul(100).ok_or_else(too_large)
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
        items.checked_mul(19).ok_or_else(too_large)
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
            lambda(|parts: Vec<u64>| async move { checked_sum(&parts, 250) }).named("freight"),
        )
        .route(
            "parcel",
            lambda(|parts: Vec<u64>| async move { checked_sum(&parts, 15) }).named("parcel"),
        )
        .named("shipping");

    let discount = when(
        |_, total: &u64| *total > 2000,
        lambda(
            |total: u64| async move { total.checked_mul(9).map(|t| t / 10).ok_or_else(too_large) },
        )
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

/// The API: `POST /quote` with a number of items in the body. At most
/// `max_concurrency` requests are served at once; more are shed with 503 at
/// once (tower's load shedding), so an overload costs a fast answer, not a
/// queue that grows until the process runs out of memory or file
/// descriptors. Shed requests are traced and counted like any other.
pub fn app(quote: BoxPrimitive<u64, u64>, max_concurrency: usize) -> Router {
    Router::new()
        .route("/quote", post(handle_quote))
        .with_state(quote)
        .layer(
            ServiceBuilder::new()
                .layer(HandleErrorLayer::new(|_: tower::BoxError| async {
                    (
                        StatusCode::SERVICE_UNAVAILABLE,
                        "overloaded: try again later\n",
                    )
                }))
                .load_shed()
                .layer(GlobalConcurrencyLimitLayer::new(max_concurrency)),
        )
        // After the routes, so the route template names spans and labels
        // the HTTP metrics; it also continues the caller's W3C trace.
        .layer(TelemetryLayer::http_server("tta-demo", "http"))
}

async fn handle_quote(
    State(quote): State<BoxPrimitive<u64, u64>>,
    body: String,
) -> (StatusCode, String) {
    let items = match parse_items(&body) {
        Ok(items) => items,
        Err(message) => return (StatusCode::BAD_REQUEST, message),
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

/// Serves the demo API (the quote workflow, the default concurrency limit)
/// on a free 127.0.0.1 port, for tests and tools that run it in-process;
/// returns its address and the server task.
///
/// # Panics
/// When no port is free or the workflow's settings are invalid.
pub async fn serve_on_free_port() -> (SocketAddr, tokio::task::JoinHandle<std::io::Result<()>>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("a free port");
    let addr = listener.local_addr().expect("its address");
    let api = app(
        quote_workflow().expect("valid demo settings"),
        DEFAULT_MAX_CONCURRENCY as usize,
    );
    (
        addr,
        tokio::spawn(async move { axum::serve(listener, api).await }),
    )
}

/// The number of items in a request body, or the 400 answer's text.
///
/// ```
/// assert_eq!(tta_demo::parse_items(" 12\n"), Ok(12));
/// assert!(tta_demo::parse_items("18446744073709551615").unwrap_err().contains("at most"));
/// assert!(tta_demo::parse_items("ten").is_err());
/// ```
///
/// # Errors
/// The text of the 400 answer: not a number, or more than [`MAX_ITEMS`].
pub fn parse_items(body: &str) -> Result<u64, String> {
    match body.trim().parse::<u64>() {
        Ok(items) if items <= MAX_ITEMS => Ok(items),
        Ok(_) => Err(format!("an order has at most {MAX_ITEMS} items\n")),
        Err(_) => Err("the body must be a number of items\n".to_owned()),
    }
}

/// Counts of the load generator's requests by outcome.
#[derive(Debug, Default)]
pub struct LoadStats {
    /// 2xx answers.
    pub ok: AtomicU64,
    /// Other answers and transport errors.
    pub failed: AtomicU64,
    /// 503 answers from the API's load shedding (also counted as failed).
    pub shed: AtomicU64,
    /// Requests not sent: ticks that found `max_in_flight` requests
    /// already waiting, and ticks missed because the generator fell behind
    /// its rate (a machine too busy to keep it).
    pub skipped: AtomicU64,
}

/// Sends `rate` quote requests per second to `target` until `stop` fires,
/// each in its own trace (a client span, propagated to the server). At most
/// `max_in_flight` requests wait at once: a tick that finds them all busy
/// sends nothing and is counted in [`LoadStats::skipped`], so a server that
/// cannot keep up slows the generator instead of piling up connections.
pub async fn generate_load(
    target: SocketAddr,
    rate: u32,
    max_in_flight: usize,
    stats: Arc<LoadStats>,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    let in_flight = Arc::new(tokio::sync::Semaphore::new(max_in_flight.max(1)));
    let client = ServiceBuilder::new()
        .layer(TelemetryLayer::http_client("tta-demo-load", "quote_client"))
        .layer(InjectLayer)
        .service(Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>());
    let mut ticks = tokio::time::interval(Duration::from_secs_f64(1.0 / f64::from(rate.max(1))));
    // Behind schedule, skip the missed ticks rather than bursting to catch
    // up, and count them as not sent.
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let started = tokio::time::Instant::now();
    let mut ticked = 0u64;
    loop {
        tokio::select! {
            _ = ticks.tick() => {}
            _ = stop.wait_for(|s| *s) => return,
        }
        ticked += 1;
        let due = (started.elapsed().as_secs_f64() * f64::from(rate.max(1))) as u64 + 1;
        if due > ticked {
            stats.skipped.fetch_add(due - ticked, Ordering::Relaxed);
            ticked = due;
        }
        let Ok(permit) = Arc::clone(&in_flight).try_acquire_owned() else {
            stats.skipped.fetch_add(1, Ordering::Relaxed);
            continue;
        };
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
            let status = client.oneshot(request).await.ok().map(|r| r.status());
            let ok = status.is_some_and(|s| s.is_success());
            if status == Some(StatusCode::SERVICE_UNAVAILABLE) {
                stats.shed.fetch_add(1, Ordering::Relaxed);
            }
            let counter = if ok { &stats.ok } else { &stats.failed };
            counter.fetch_add(1, Ordering::Relaxed);
            drop(permit);
        });
    }
}
