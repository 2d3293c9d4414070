//! A composed order workflow: every primitive of the algebra in one place,
//! with an observer that prints the events the primitives report.
//!
//! Run with `cargo xtask demo` (or `cargo run -p tta-primitives-core --example order_pipeline`).

use std::{
    io::Write,
    sync::{
        Arc,
        atomic::{AtomicU32, Ordering},
    },
    time::Duration,
};

use tower::ServiceExt;
use tta_primitives_core::{
    observe::{Event, NodeInfo, Observer},
    prelude::*,
};

/// Prints each primitive event on one line.
struct PrintEvents;

impl Observer for PrintEvents {
    fn on_event(&self, node: &NodeInfo<'_>, ctx: &WorkflowContext, event: &Event<'_>) {
        let line = format!(
            "  [{} step {}] {} `{}`: {:?}\n",
            ctx.workflow_name(),
            ctx.step_id(),
            node.primitive_type.as_str(),
            node.name,
            event
        );
        // Ignore a closed stdout: observers must never fail the workflow.
        let _ = std::io::stdout().write_all(line.as_bytes());
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let tax_calls = Arc::new(AtomicU32::new(0));
    let tax = {
        let calls = tax_calls.clone();
        lambda(move |amount: u64| {
            let n = calls.fetch_add(1, Ordering::Relaxed);
            async move {
                if n % 3 == 0 {
                    Err(WorkflowError::msg("tax service returned 503"))
                } else {
                    Ok(amount / 5)
                }
            }
        })
    };
    let tax = tax
        .retry(
            RetryPolicy::builder()
                .max_attempts(3)
                .initial_backoff(Duration::from_millis(5))
                .build()?,
        )
        .named("tax_retry")
        .timeout(Duration::from_millis(500))?
        .cache(
            |_, amount: &u64| *amount,
            CacheConfig::builder()
                .ttl(Duration::from_secs(60))
                .capacity(100)
                .build()?,
        )
        .named("tax_cache");

    let validate = lambda(|order: u64| async move {
        if order == 0 {
            Err(WorkflowError::with_kind("invalid_order", "order id 0"))
        } else {
            Ok(order * 10)
        }
    });
    let shipping = router(|_, amount: &u64| if *amount > 50 { "freight" } else { "parcel" })
        .route(
            "freight",
            lambda(|_: u64| async { Ok::<_, WorkflowError>(25) }),
        )
        .route(
            "parcel",
            lambda(|_: u64| async { Ok::<_, WorkflowError>(5) }),
        )
        .named("shipping");
    let inventory =
        lambda(|_: u64| async { Err::<u64, _>(WorkflowError::msg("inventory db down")) })
            .circuit_breaker(
                BreakerConfig::builder()
                    .policy(FailurePolicy::ConsecutiveFailures(2))
                    .build()?,
            )
            .fallback(lambda(|_: u64| async { Ok::<_, WorkflowError>(0) }))
            .named("inventory");

    let quote = validate >> (tax | shipping | inventory);

    let observer: Arc<dyn Observer> = Arc::new(PrintEvents);
    let mut out = std::io::stdout();
    for order in [3_u64, 8, 3, 0] {
        let ctx = WorkflowContext::builder("quote")
            .observer(observer.clone())
            .build();
        writeln!(out, "order {order}:")?;
        match quote.clone().oneshot(Request::new(ctx, order)).await {
            Ok(parts) => writeln!(out, "  => tax, shipping, stock = {parts:?}")?,
            Err(e) => writeln!(out, "  => failed ({}): {e}", e.kind())?,
        }
    }
    writeln!(
        out,
        "tax service called {} times",
        tax_calls.load(Ordering::Relaxed)
    )?;
    Ok(())
}
